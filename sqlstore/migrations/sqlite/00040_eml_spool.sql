-- Where a message's composed bytes are in the spool of segment files
-- ("segment:offset"), on SQLite (see sqlstore/eml.go); empty when they are
-- in message_emls, as always on PostgreSQL.
-- +goose Up
ALTER TABLE messages ADD COLUMN eml_at TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE messages DROP COLUMN eml_at;
