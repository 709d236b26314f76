-- unfinished counts the claims of a message that ended without an outcome
-- in a row (the worker died or its lease lapsed mid-send); the worker fails
-- the message as delivery_abandoned past a bound (queue.Worker.MaxUnfinished).
-- Any recorded outcome, and a manual retry, set it back to 0.
--
-- sensitive marks a mail that carries a credential (a password reset
-- link): its composed bytes are sealed in message_emls (never in the
-- spool) until it is final, then deleted; its keyword values are not
-- stored; no listing or read of the API, the UI or the CLI shows it.
-- +goose Up
ALTER TABLE messages ADD COLUMN unfinished INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN sensitive BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE messages DROP COLUMN sensitive;
ALTER TABLE messages DROP COLUMN unfinished;
