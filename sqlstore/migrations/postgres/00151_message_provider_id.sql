-- The provider's own id of a sent message (envoi.Message.ProviderMessageID):
-- an SMTP server's queue id, Microsoft Graph's internetMessageId, the Gmail
-- API's message id; empty when the provider named none or the message was
-- sent before it was recorded.

-- +goose Up
ALTER TABLE messages ADD COLUMN provider_message_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN provider_message_id;
