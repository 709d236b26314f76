-- The send queue is the messages table itself: goqite's table goes.
--
-- due_at is when a worker may claim the message next: set at acceptance,
-- after a retry's backoff, at the end of a park on consent; NULL once the
-- message is final (nothing left to send). A claim sets due_at and
-- lease_until to the same time in one statement, so a sending message
-- whose worker died is due again exactly when its lease lapses: a job has
-- one lease, not goqite's timeout beside the message's lease.
--
-- claim counts the claims of the message; the worker holding the latest
-- one is the only one whose outcome Finish records (fencing: a worker
-- whose lease lapsed mid-send cannot overwrite the outcome of the worker
-- that claimed the message after it).
--
-- Pending jobs move over: a message not final is due when its goqite job
-- was (a sending one when its lease lapses), or now if it had none.

-- +goose Up
ALTER TABLE messages ADD COLUMN due_at TEXT;
ALTER TABLE messages ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET due_at = coalesce(
    CASE WHEN status = 'sending' THEN lease_until END,
    (SELECT strftime('%Y-%m-%dT%H:%M:%f', min(g.timeout)) || '000Z' FROM goqite g
        WHERE g.queue = 'send' AND CAST(g.body AS TEXT) = messages.id),
    strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')
WHERE status NOT IN ('sent', 'failed');
CREATE INDEX messages_due_idx ON messages (due_at) WHERE due_at IS NOT NULL;
DROP TABLE goqite;

-- +goose Down
CREATE TABLE goqite (
    id       TEXT PRIMARY KEY DEFAULT ('m_' || lower(hex(randomblob(16)))),
    created  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
    updated  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
    queue    TEXT NOT NULL,
    body     BLOB NOT NULL,
    timeout  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')),
    received INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0
) STRICT;

-- +goose StatementBegin
CREATE TRIGGER goqite_updated_timestamp AFTER UPDATE ON goqite BEGIN
    UPDATE goqite SET updated = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = old.id;
END;
-- +goose StatementEnd

CREATE INDEX goqite_queue_priority_created_idx ON goqite (queue, priority DESC, created);
INSERT INTO goqite (queue, body, timeout)
    SELECT 'send', CAST(id AS BLOB), strftime('%Y-%m-%dT%H:%M:%fZ', due_at) FROM messages WHERE due_at IS NOT NULL ORDER BY seq;
DROP INDEX messages_due_idx;
ALTER TABLE messages DROP COLUMN claim;
ALTER TABLE messages DROP COLUMN due_at;
