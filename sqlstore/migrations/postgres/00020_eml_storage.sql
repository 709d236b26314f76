-- The composed messages are stored as they are sent: attachments in
-- base64, which pglz barely compresses but spends most of an insert's time
-- trying to. EXTERNAL keeps them out of line, uncompressed. (envoi bench,
-- 100 KB PDF: about 180 accepted a second with compression, 450 without.)
-- +goose Up
ALTER TABLE message_emls ALTER COLUMN eml SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE message_emls ALTER COLUMN eml SET STORAGE EXTENDED;
