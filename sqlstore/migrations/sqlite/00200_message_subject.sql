-- The subject a message was sent with, as filled at acceptance
-- (envoi.Message.Subject), so listings show it without reading the
-- stored message; empty for messages accepted before it was recorded and
-- for envoi's own sensitive mails.

-- +goose Up
ALTER TABLE messages ADD COLUMN subject TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN subject;
