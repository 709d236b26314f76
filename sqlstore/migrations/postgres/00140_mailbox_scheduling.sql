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
ALTER TABLE messages ADD COLUMN claimed_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN rcpt_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN wait_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_flows ADD COLUMN messages_per_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_flows ADD COLUMN connections INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_flows ADD COLUMN recipients_per_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_flows ADD COLUMN recipients_per_message INTEGER NOT NULL DEFAULT 0;
CREATE TABLE mailboxes (
    flow        TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    last_claim  TIMESTAMPTZ,
    wait_until  TIMESTAMPTZ,
    wait_reason TEXT NOT NULL DEFAULT '',
    throttles   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (flow, mailbox)
);
INSERT INTO mailboxes (flow, mailbox) SELECT DISTINCT flow, mailbox FROM messages ON CONFLICT DO NOTHING;
CREATE INDEX messages_mailbox_due_idx ON messages (flow, mailbox, due_at) WHERE due_at IS NOT NULL;
CREATE INDEX messages_mailbox_claimed_idx ON messages (flow, mailbox, claimed_at) WHERE claimed_at IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION messages_insert_mailbox() RETURNS trigger AS $$
BEGIN
    INSERT INTO mailboxes (flow, mailbox) VALUES (NEW.flow, NEW.mailbox) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER messages_insert_mailbox AFTER INSERT OR UPDATE OF flow, mailbox ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_insert_mailbox();

-- +goose Down
DROP TRIGGER messages_insert_mailbox ON messages;
DROP FUNCTION messages_insert_mailbox();
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
