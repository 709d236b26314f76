-- envelope_from, envelope_to and username are no longer written or read:
-- the delivery record (00100) holds the envelope and the identity. Down
-- adds them back, filled from the record.

-- +goose Up
ALTER TABLE messages DROP COLUMN envelope_from;
ALTER TABLE messages DROP COLUMN envelope_to;
ALTER TABLE messages DROP COLUMN username;

-- +goose Down
ALTER TABLE messages ADD COLUMN envelope_from TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN envelope_to TEXT NOT NULL DEFAULT '[]';
ALTER TABLE messages ADD COLUMN username TEXT NOT NULL DEFAULT '';
UPDATE messages SET
    envelope_from = coalesce(json_extract(delivery, '$.envelope.from'), ''),
    envelope_to = coalesce(json_extract(delivery, '$.envelope.recipients'), '[]'),
    username = coalesce(json_extract(delivery, '$.identity.username'), '')
WHERE delivery <> '';
