-- Fewer index entries for each change of a message's state. Every claim
-- and every outcome changes status (and an outcome sent_at), and each
-- index holding a changed column takes a new entry: two of them held
-- status. Now:
-- - messages_status_idx holds only the messages not sent: the listing by
--   any other state finds them there (the query says status <> 'sent'),
--   a listing of sent ones walks seq, where nearly all messages are sent;
--   the outcome sent adds nothing to it.
-- - messages_mailbox_idx, the count of what a mailbox sent in the last
--   minute, becomes (flow, mailbox, sent_at) over the messages with a
--   sent_at: a claim adds nothing to it.

-- +goose Up
DROP INDEX messages_status_idx;
CREATE INDEX messages_status_idx ON messages (status, seq) WHERE status <> 'sent';
DROP INDEX messages_mailbox_idx;
CREATE INDEX messages_mailbox_idx ON messages (flow, mailbox, sent_at) WHERE sent_at IS NOT NULL;

-- +goose Down
DROP INDEX messages_status_idx;
CREATE INDEX messages_status_idx ON messages (status, seq);
DROP INDEX messages_mailbox_idx;
CREATE INDEX messages_mailbox_idx ON messages (flow, mailbox, status, sent_at);
