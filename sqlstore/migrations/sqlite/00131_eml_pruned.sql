-- eml_pruned_at is when the retention of sent messages' bodies
-- (--body-retention) removed the message's composed bytes (its record in
-- the spool, or message_emls); NULL while they are kept.
-- +goose Up
ALTER TABLE messages ADD COLUMN eml_pruned_at TEXT;

-- +goose Down
ALTER TABLE messages DROP COLUMN eml_pruned_at;
