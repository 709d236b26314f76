-- On PostgreSQL, 00130 makes archive_blobs, the bytes of archived
-- documents shared by every instance. On SQLite they stay in files under
-- the data directory's archive/: nothing to do, the number is kept so
-- that both databases count their migrations alike.
-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
