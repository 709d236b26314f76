-- On PostgreSQL, 00220 puts seq in messages_mailbox_due_idx, drops
-- messages_due_idx, which no query reads, and makes the trigger that lists
-- a message's mailbox look before it inserts. On SQLite nothing here: the
-- number is kept so that both databases count their migrations alike.
-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
