-- The send queue is the messages table itself: goqite's table goes.
--
-- due_at is when a worker may claim the message next: set at acceptance,
-- after a retry's backoff, at the end of a park on consent; NULL once the
-- message is final (nothing left to send). A claim sets due_at and
-- lease_until to the same time in one statement, so a sending message
-- whose worker died is due again exactly when its lease lapses: a job has
-- one lease, not goqite's timeout beside the message's lease. Instances
-- claim with FOR UPDATE SKIP LOCKED: each message goes to one of them.
--
-- claim counts the claims of the message; the worker holding the latest
-- one is the only one whose outcome Finish records (fencing: a worker
-- whose lease lapsed mid-send cannot overwrite the outcome of the worker
-- that claimed the message after it).
--
-- Pending jobs move over: a message not final is due when its goqite job
-- was (a sending one when its lease lapses), or now if it had none.

-- +goose Up
ALTER TABLE messages ADD COLUMN due_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN claim BIGINT NOT NULL DEFAULT 0;
UPDATE messages SET due_at = coalesce(
    CASE WHEN status = 'sending' THEN lease_until END,
    (SELECT min(g.timeout) FROM goqite g WHERE g.queue = 'send' AND g.body = convert_to(messages.id, 'UTF8')),
    now())
WHERE status NOT IN ('sent', 'failed');
CREATE INDEX messages_due_idx ON messages (due_at) WHERE due_at IS NOT NULL;
DROP TABLE goqite;
DROP FUNCTION goqite_update_timestamp();

-- +goose Down
CREATE TABLE goqite (
    id       TEXT PRIMARY KEY DEFAULT ('m_' || replace(gen_random_uuid()::text, '-', '')),
    created  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated  TIMESTAMPTZ NOT NULL DEFAULT now(),
    queue    TEXT NOT NULL,
    body     BYTEA NOT NULL,
    timeout  TIMESTAMPTZ NOT NULL DEFAULT now(),
    received INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0
);

-- +goose StatementBegin
CREATE FUNCTION goqite_update_timestamp() RETURNS trigger AS $$
BEGIN
    NEW.updated = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER goqite_updated_timestamp BEFORE UPDATE ON goqite
    FOR EACH ROW EXECUTE FUNCTION goqite_update_timestamp();
CREATE INDEX goqite_queue_priority_created_idx ON goqite (queue, priority DESC, created);
INSERT INTO goqite (queue, body, timeout)
    SELECT 'send', convert_to(id, 'UTF8'), due_at FROM messages WHERE due_at IS NOT NULL ORDER BY seq;
DROP INDEX messages_due_idx;
ALTER TABLE messages DROP COLUMN claim;
ALTER TABLE messages DROP COLUMN due_at;
