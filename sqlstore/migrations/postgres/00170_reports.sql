-- Reports that come back to a sending mailbox (bounces, delay notices,
-- read receipts) and the IMAP watch that finds them.
--
-- messages: bounce and delay are what the report said (envoi.Bounce as
-- JSON: recipient, status, diagnostic, at), '' when none came; read_at is
-- when a read receipt says the message was displayed. message_id is
-- indexed: a report is matched by the Message-ID it returns.
--
-- auth_flows: imap_* is where the flow's mailboxes are watched, and
-- whether they are (off by default: a flow is watched once asked).
--
-- report_cursors: where the watch of one mailbox stopped (per folder: its
-- UIDVALIDITY and the last UID looked at). report_leases: the instance
-- watching a mailbox now, until expires_at (one watcher per mailbox).

-- +goose Up
ALTER TABLE messages ADD COLUMN bounce TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN delay TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN read_at TIMESTAMPTZ;
CREATE INDEX messages_message_id_idx ON messages (message_id);
ALTER TABLE auth_flows ADD COLUMN imap_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE auth_flows ADD COLUMN imap_host TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_flows ADD COLUMN imap_port INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_flows ADD COLUMN imap_security TEXT NOT NULL DEFAULT '';
CREATE TABLE report_cursors (
    flow        TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    folder      TEXT NOT NULL,
    uidvalidity BIGINT NOT NULL,
    last_uid    BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (flow, mailbox, folder)
);
CREATE TABLE report_leases (
    flow       TEXT NOT NULL,
    mailbox    TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (flow, mailbox)
);

-- +goose Down
DROP TABLE report_leases;
DROP TABLE report_cursors;
ALTER TABLE auth_flows DROP COLUMN imap_security;
ALTER TABLE auth_flows DROP COLUMN imap_port;
ALTER TABLE auth_flows DROP COLUMN imap_host;
ALTER TABLE auth_flows DROP COLUMN imap_enabled;
DROP INDEX messages_message_id_idx;
ALTER TABLE messages DROP COLUMN read_at;
ALTER TABLE messages DROP COLUMN delay;
ALTER TABLE messages DROP COLUMN bounce;
