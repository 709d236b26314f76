-- eml_pruned_at is when the retention of sent messages' bodies
-- (--body-retention) removed the message's composed bytes (message_emls,
-- or its record in the spool on SQLite); NULL while they are kept.
-- +goose Up
ALTER TABLE messages ADD COLUMN eml_pruned_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE messages DROP COLUMN eml_pruned_at;
