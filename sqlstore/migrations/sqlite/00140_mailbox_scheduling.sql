-- Scheduling per mailbox (the identity and server a message is sent
-- through: flow and mailbox), and the provider's limits per flow.
--
-- mailboxes lists every mailbox that ever had a message (a trigger adds it
-- at insert): the claim goes round them, least recently served first
-- (last_claim), and skips one whose wait_until is ahead (a throttling
-- reply, a rate or a daily quota reached), saying why in wait_reason.
-- throttles counts the provider's throttling replies in a row (backoff).
--
-- A claim stamps claimed_at and the message's recipients (rcpt_count):
-- the rate and daily limits count them. wait_reason says why a message
-- that waits does (server_retry, scheduled, rate_limited, quota).

-- +goose Up
ALTER TABLE messages ADD COLUMN claimed_at TEXT;
ALTER TABLE messages ADD COLUMN rcpt_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN wait_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_flows ADD COLUMN messages_per_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_flows ADD COLUMN connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_flows ADD COLUMN recipients_per_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_flows ADD COLUMN recipients_per_message INTEGER NOT NULL DEFAULT 0;
CREATE TABLE mailboxes (
    flow        TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    last_claim  TEXT,
    wait_until  TEXT,
    wait_reason TEXT NOT NULL DEFAULT '',
    throttles   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, mailbox)
) STRICT;
INSERT OR IGNORE INTO mailboxes (flow, mailbox) SELECT DISTINCT flow, mailbox FROM messages;
CREATE INDEX messages_mailbox_due_idx ON messages (flow, mailbox, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX messages_mailbox_claimed_idx ON messages (flow, mailbox, claimed_at) WHERE claimed_at IS NOT NULL;

-- +goose StatementBegin
CREATE TRIGGER messages_insert_mailbox AFTER INSERT ON messages BEGIN
    INSERT OR IGNORE INTO mailboxes (flow, mailbox) VALUES (new.flow, new.mailbox);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER messages_update_mailbox AFTER UPDATE OF flow, mailbox ON messages BEGIN
    INSERT OR IGNORE INTO mailboxes (flow, mailbox) VALUES (new.flow, new.mailbox);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER messages_update_mailbox;
DROP TRIGGER messages_insert_mailbox;
DROP INDEX messages_mailbox_claimed_idx;
DROP INDEX messages_mailbox_due_idx;
DROP TABLE mailboxes;
ALTER TABLE auth_flows DROP COLUMN recipients_per_message;
ALTER TABLE auth_flows DROP COLUMN recipients_per_day;
ALTER TABLE auth_flows DROP COLUMN connections;
ALTER TABLE auth_flows DROP COLUMN messages_per_day;
ALTER TABLE messages DROP COLUMN wait_reason;
ALTER TABLE messages DROP COLUMN rcpt_count;
ALTER TABLE messages DROP COLUMN claimed_at;
