-- The bytes of archived documents, by their SHA-256 in lowercase hex, on
-- PostgreSQL: every instance reads what any of them archived (package
-- archive, Store.Blobs). One row however many archived_documents point
-- at it. On SQLite the bytes stay in files under the data directory's
-- archive/ (this migration does nothing there).
-- +goose Up
CREATE TABLE archive_blobs (
    sha256     TEXT PRIMARY KEY,
    content    BYTEA NOT NULL,
    size       BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE archive_blobs;
