-- messages_due_idx (due_at) served the claim before it went round the
-- mailboxes: every query of the due time now names the mailbox and walks
-- messages_mailbox_due_idx (flow, mailbox, due_at). The index was one
-- more entry to write at each acceptance, claim and outcome.

-- +goose Up
DROP INDEX messages_due_idx;

-- +goose Down
CREATE INDEX messages_due_idx ON messages (due_at) WHERE due_at IS NOT NULL;
