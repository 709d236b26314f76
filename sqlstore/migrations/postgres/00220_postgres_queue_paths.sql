-- The send path on PostgreSQL (issue 20; profile: pg_stat_statements of
-- envoi bench, 3,000 messages).
--
-- messages_mailbox_due_idx holds seq after due_at: the claim takes a
-- mailbox's next message ORDER BY due_at, seq LIMIT 1, which the index
-- now gives in order, one entry read. Without seq PostgreSQL read every
-- due message of the mailbox and sorted them (about 1,200 buffers a
-- claim with a backlog of 1,500, the second entry of the profile).
--
-- (messages_due_idx, which no query reads since the claim goes round the
-- mailboxes, went in 00210: pg_stat_user_indexes showed no scan of it in
-- a run.)
--
-- The trigger that lists a message's mailbox looks before it inserts. An
-- INSERT ... ON CONFLICT DO NOTHING that meets the mailbox's row waits
-- for any transaction that changed it, and every claim does (last_claim):
-- each acceptance waited for the claim under way (Lock:transactionid in
-- pg_stat_activity). The look sees the committed row without waiting;
-- the insert stays for a mailbox not seen yet.

-- +goose Up
DROP INDEX messages_mailbox_due_idx;
CREATE INDEX messages_mailbox_due_idx ON messages (flow, mailbox, due_at, seq) WHERE due_at IS NOT NULL;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION messages_insert_mailbox() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM mailboxes WHERE flow = NEW.flow AND mailbox = NEW.mailbox) THEN
        INSERT INTO mailboxes (flow, mailbox) VALUES (NEW.flow, NEW.mailbox) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION messages_insert_mailbox() RETURNS trigger AS $$
BEGIN
    INSERT INTO mailboxes (flow, mailbox) VALUES (NEW.flow, NEW.mailbox) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
DROP INDEX messages_mailbox_due_idx;
CREATE INDEX messages_mailbox_due_idx ON messages (flow, mailbox, due_at) WHERE due_at IS NOT NULL;
