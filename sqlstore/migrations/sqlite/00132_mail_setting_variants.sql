-- Variants of a mail setting for a company and/or a language (a language
-- is a primary language subtag: fr, es, de...; '' for any). The send
-- request's language (else its company's) picks one: company and
-- language, company only, language only, then mail_settings' default.
-- Configuration: its triggers bump config_version like mail_settings'.
-- +goose Up
CREATE TABLE mail_setting_variants (
    document_flow  TEXT NOT NULL REFERENCES document_flows (code) ON DELETE CASCADE,
    company        TEXT NOT NULL DEFAULT '',
    language       TEXT NOT NULL DEFAULT '',
    subject        TEXT NOT NULL DEFAULT '',
    body           TEXT NOT NULL DEFAULT '',
    priority       TEXT NOT NULL DEFAULT 'normal',
    read_receipt   INTEGER NOT NULL DEFAULT 0,
    copy_to_sender INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (document_flow, company, language),
    CHECK (company <> '' OR language <> '')
);

-- +goose StatementBegin
CREATE TRIGGER mail_setting_variants_insert_config_version AFTER INSERT ON mail_setting_variants BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER mail_setting_variants_update_config_version AFTER UPDATE ON mail_setting_variants BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER mail_setting_variants_delete_config_version AFTER DELETE ON mail_setting_variants BEGIN
    UPDATE config_version SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER mail_setting_variants_insert_config_version;
DROP TRIGGER mail_setting_variants_update_config_version;
DROP TRIGGER mail_setting_variants_delete_config_version;
DROP TABLE mail_setting_variants;
