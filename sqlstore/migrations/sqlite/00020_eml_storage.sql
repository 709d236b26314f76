-- PostgreSQL's 00020 stops compressing the stored messages; SQLite never
-- compresses. Kept so both databases share their schema versions.
-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
