-- envoi's schema on SQLite. Timestamps are TEXT in UTC, RFC 3339 with
-- microseconds ("2006-01-02T15:04:05.000000Z"), so they sort as text.
-- Secret columns are BLOBs sealed by package secret; their associated data
-- is "table/column/<row key>".

-- +goose Up
CREATE TABLE data_keys (
    id         INTEGER PRIMARY KEY,
    wrapped    BLOB NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);

CREATE TABLE companies (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    footer_text TEXT NOT NULL DEFAULT '',
    logo        BLOB,
    logo_type   TEXT NOT NULL DEFAULT '',
    language    TEXT NOT NULL DEFAULT '',
    currency    TEXT NOT NULL DEFAULT '',
    address     TEXT NOT NULL DEFAULT '',
    updated_at  TEXT NOT NULL
);

CREATE TABLE operator_groups (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

CREATE TABLE operators (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    group_code     TEXT REFERENCES operator_groups (code),
    footer_text    TEXT NOT NULL DEFAULT '',
    signature_html TEXT NOT NULL DEFAULT '',
    oauth_enabled  INTEGER NOT NULL DEFAULT 0,
    language       TEXT NOT NULL DEFAULT '',
    smtp_password  BLOB,
    updated_at     TEXT NOT NULL
);
CREATE INDEX operators_group_idx ON operators (group_code);

CREATE TABLE auth_flows (
    code                TEXT PRIMARY KEY,
    name                TEXT NOT NULL DEFAULT '',
    kind                TEXT NOT NULL,
    preset              TEXT NOT NULL DEFAULT '',
    scope               TEXT NOT NULL DEFAULT '',
    auth_url            TEXT NOT NULL DEFAULT '',
    token_url           TEXT NOT NULL DEFAULT '',
    device_url          TEXT NOT NULL DEFAULT '',
    userinfo_url        TEXT NOT NULL DEFAULT '',
    client_id           TEXT NOT NULL DEFAULT '',
    client_secret       BLOB,
    tenant              TEXT NOT NULL DEFAULT '',
    redirect_url        TEXT NOT NULL DEFAULT '',
    grant_type          TEXT NOT NULL DEFAULT '',
    service_account_key BLOB,
    smtp_host           TEXT NOT NULL DEFAULT '',
    smtp_port           INTEGER NOT NULL DEFAULT 0,
    smtp_security       TEXT NOT NULL DEFAULT '',
    generic_enabled     INTEGER NOT NULL DEFAULT 0,
    generic_email       TEXT NOT NULL DEFAULT '',
    max_attachments_mb  INTEGER NOT NULL DEFAULT 0,
    rate_per_minute     INTEGER NOT NULL DEFAULT 0,
    updated_at          TEXT NOT NULL
);

-- An operator is assigned directly to at most one flow, a group to at most
-- one flow: the primary keys say so. The rule across the two tables (an
-- operator directly in one flow and through their group in another) is
-- checked by the store in the same transaction.
CREATE TABLE auth_flow_operators (
    operator TEXT PRIMARY KEY REFERENCES operators (code) ON DELETE CASCADE,
    flow     TEXT NOT NULL REFERENCES auth_flows (code) ON DELETE CASCADE
);
CREATE INDEX auth_flow_operators_flow_idx ON auth_flow_operators (flow);

CREATE TABLE auth_flow_groups (
    group_code TEXT PRIMARY KEY REFERENCES operator_groups (code),
    flow       TEXT NOT NULL REFERENCES auth_flows (code) ON DELETE CASCADE
);
CREATE INDEX auth_flow_groups_flow_idx ON auth_flow_groups (flow);

-- The seed's "Emails" table. operator is '' for the flow's generic mailbox.
CREATE TABLE tokens (
    flow              TEXT NOT NULL REFERENCES auth_flows (code) ON DELETE CASCADE,
    operator          TEXT NOT NULL DEFAULT '',
    client_id         BLOB,
    provider          TEXT NOT NULL DEFAULT '',
    email             TEXT NOT NULL DEFAULT '',
    expiry            TEXT,
    access_token      BLOB,
    refresh_token     BLOB,
    row_version       INTEGER NOT NULL DEFAULT 1,
    status            TEXT NOT NULL DEFAULT 'valid',
    last_error        TEXT NOT NULL DEFAULT '',
    consented_at      TEXT,
    refreshed_at      TEXT,
    status_changed_at TEXT,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (flow, operator)
);

-- Pending consents, by the SHA-256 of the state (the state itself is a
-- bearer value and is not stored).
CREATE TABLE oauth_states (
    state_hash   TEXT PRIMARY KEY,
    flow         TEXT NOT NULL,
    operator     TEXT NOT NULL DEFAULT '',
    verifier     BLOB,
    redirect_uri TEXT NOT NULL DEFAULT '',
    return_to    TEXT NOT NULL DEFAULT '',
    language     TEXT NOT NULL DEFAULT '',
    expires_at   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at);

-- keywords is a JSON array of names.
CREATE TABLE document_flows (
    code       TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    keywords   TEXT NOT NULL DEFAULT '[]',
    report     TEXT NOT NULL DEFAULT '',
    builtin    INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);

CREATE TABLE mail_settings (
    document_flow  TEXT PRIMARY KEY REFERENCES document_flows (code) ON DELETE CASCADE,
    subject        TEXT NOT NULL DEFAULT '',
    body           TEXT NOT NULL DEFAULT '',
    priority       TEXT NOT NULL DEFAULT 'normal',
    read_receipt   INTEGER NOT NULL DEFAULT 0,
    copy_to_sender INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL
);

CREATE TABLE file_name_rules (
    document_flow TEXT PRIMARY KEY REFERENCES document_flows (code) ON DELETE CASCADE,
    pattern       TEXT NOT NULL DEFAULT '',
    archive       INTEGER NOT NULL DEFAULT 0,
    file_type     TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL
);

-- Accepted messages. request is the send request as JSON; the columns
-- after it copy the request's fields that listings filter on. The envelope
-- (envelope_to: a JSON array) and username are decided at acceptance, with
-- the composed message in message_emls. lease_until is when a worker's
-- claim lapses. seq orders messages by acceptance.
CREATE TABLE messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    idempotency_key TEXT UNIQUE,
    request_hash    TEXT NOT NULL DEFAULT '',
    request         BLOB NOT NULL,
    operator        TEXT NOT NULL DEFAULT '',
    document_flow   TEXT NOT NULL DEFAULT '',
    company         TEXT NOT NULL DEFAULT '',
    recipients      TEXT NOT NULL DEFAULT '',
    entity_type     TEXT NOT NULL DEFAULT '',
    entity_id       TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT NOT NULL DEFAULT '',
    error           TEXT NOT NULL DEFAULT '',
    message_id      TEXT NOT NULL DEFAULT '',
    flow            TEXT NOT NULL DEFAULT '',
    mailbox         TEXT NOT NULL DEFAULT '',
    envelope_from   TEXT NOT NULL DEFAULT '',
    envelope_to     TEXT NOT NULL DEFAULT '[]',
    username        TEXT NOT NULL DEFAULT '',
    lease_until     TEXT,
    next_try        TEXT,
    sent_at         TEXT,
    eml_size        INTEGER NOT NULL DEFAULT 0,
    duplicates      INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX messages_status_idx ON messages (status, seq);
CREATE INDEX messages_operator_idx ON messages (operator, seq);
CREATE INDEX messages_document_flow_idx ON messages (document_flow, seq);
CREATE INDEX messages_entity_idx ON messages (entity_type, entity_id, seq);
CREATE INDEX messages_created_idx ON messages (created_at);
CREATE INDEX messages_mailbox_idx ON messages (flow, mailbox, status, sent_at);

CREATE TABLE message_emls (
    message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    eml        BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE archived_documents (
    id            TEXT PRIMARY KEY,
    entity_type   TEXT NOT NULL,
    entity_id     TEXT NOT NULL,
    document_flow TEXT NOT NULL DEFAULT '',
    message_id    TEXT NOT NULL DEFAULT '',
    file_name     TEXT NOT NULL,
    file_type     TEXT NOT NULL DEFAULT '',
    content_type  TEXT NOT NULL DEFAULT '',
    size          INTEGER NOT NULL DEFAULT 0,
    sha256        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL
);
CREATE INDEX archived_documents_entity_idx ON archived_documents (entity_type, entity_id, created_at);

-- hash is the SHA-256 of the key; the key itself is shown once and dropped.
CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL DEFAULT '',
    hash       BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used  TEXT,
    revoked_at TEXT
);

-- The send queue of maragu.dev/goqite, in the shape of its schema_sqlite.sql.
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

-- +goose Down
DROP TABLE goqite;
DROP TABLE api_keys;
DROP TABLE archived_documents;
DROP TABLE message_emls;
DROP TABLE messages;
DROP TABLE file_name_rules;
DROP TABLE mail_settings;
DROP TABLE document_flows;
DROP TABLE oauth_states;
DROP TABLE tokens;
DROP TABLE auth_flow_groups;
DROP TABLE auth_flow_operators;
DROP TABLE auth_flows;
DROP TABLE operators;
DROP TABLE operator_groups;
DROP TABLE companies;
DROP TABLE data_keys;
