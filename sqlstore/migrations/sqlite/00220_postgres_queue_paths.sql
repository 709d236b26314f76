-- On PostgreSQL, 00220 puts seq in messages_mailbox_due_idx and makes the
-- trigger that lists a message's mailbox look before it inserts. On SQLite
-- nothing here: an index there already ends with the rowid (seq), so the
-- claim's ORDER BY due_at, seq reads it in order, and the trigger's
-- INSERT OR IGNORE waits for no one (one writer). The number is kept so
-- that both databases count their migrations alike.
-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
