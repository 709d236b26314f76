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

-- The consent alert (CONSENT_REQUIRED, 00004) in French and Spanish: each
-- recipient gets it in their language (notice.ConsentAlerts).
INSERT INTO mail_setting_variants (document_flow, company, language, subject, body, priority, read_receipt, copy_to_sender, updated_at) VALUES
    ('CONSENT_REQUIRED', '', 'fr', 'envoi : [EMAIL] doit s''authentifier de nouveau ([FLUX])',
     'Le fournisseur a refusé le jeton de [EMAIL] (opérateur [OPERATEUR], flux [FLUX]) ; les mails envoyés depuis cette boîte attendent qu''une personne s''authentifie de nouveau.' || char(10) || char(10) ||
     'Réponse du fournisseur : [ERREUR]' || char(10) || char(10) ||
     'S''authentifier de nouveau : [LIEN]',
     'high', 0, 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('CONSENT_REQUIRED', '', 'es', 'envoi: [EMAIL] debe autenticarse de nuevo ([FLUX])',
     'El proveedor rechazó el token de [EMAIL] (usuario [OPERATEUR], flujo [FLUX]); los correos enviados desde este buzón esperan a que alguien se autentique de nuevo.' || char(10) || char(10) ||
     'Respuesta del proveedor: [ERREUR]' || char(10) || char(10) ||
     'Autenticarse de nuevo: [LIEN]',
     'high', 0, 0, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- +goose Down
DROP TRIGGER mail_setting_variants_insert_config_version;
DROP TRIGGER mail_setting_variants_update_config_version;
DROP TRIGGER mail_setting_variants_delete_config_version;
DROP TABLE mail_setting_variants;
