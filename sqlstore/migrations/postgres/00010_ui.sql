-- The admin web UI: its users, their sessions, password resets and the UI's
-- settings. Passwords are argon2id hashes (PHC strings); session and reset
-- tokens are stored as their SHA-256 only, the tokens themselves live in
-- the browser's cookie or the recovery link.

-- +goose Up
CREATE TABLE ui_users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE, -- lower case
    name          TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator')),
    operator      TEXT NOT NULL DEFAULT '', -- the operator code of role operator
    language      TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  TIMESTAMPTZ,
    last_login_at TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE ui_sessions (
    token_hash   BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES ui_users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX ui_sessions_user_idx ON ui_sessions (user_id);
CREATE INDEX ui_sessions_expires_idx ON ui_sessions (expires_at);

CREATE TABLE ui_password_resets (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES ui_users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ui_password_resets_user_idx ON ui_password_resets (user_id);

CREATE TABLE ui_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE ui_settings;
DROP TABLE ui_password_resets;
DROP TABLE ui_sessions;
DROP TABLE ui_users;
