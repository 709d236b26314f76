-- Variants of a mail setting for a company and/or a language (a language
-- is a primary language subtag: fr, es, de...; '' for any). The send
-- request's language (else its company's) picks one: company and
-- language, company only, language only, then mail_settings' default.
-- Configuration: its trigger bumps config_version like mail_settings'.
-- +goose Up
CREATE TABLE mail_setting_variants (
    document_flow  TEXT NOT NULL REFERENCES document_flows (code) ON DELETE CASCADE,
    company        TEXT NOT NULL DEFAULT '',
    language       TEXT NOT NULL DEFAULT '',
    subject        TEXT NOT NULL DEFAULT '',
    body           TEXT NOT NULL DEFAULT '',
    priority       TEXT NOT NULL DEFAULT 'normal',
    read_receipt   BOOLEAN NOT NULL DEFAULT FALSE,
    copy_to_sender BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (document_flow, company, language),
    CHECK (company <> '' OR language <> '')
);
CREATE TRIGGER mail_setting_variants_config_version BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON mail_setting_variants
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

-- The consent alert (CONSENT_REQUIRED, 00004) in French and Spanish: each
-- recipient gets it in their language (notice.ConsentAlerts).
INSERT INTO mail_setting_variants (document_flow, company, language, subject, body, priority, read_receipt, copy_to_sender, updated_at) VALUES
    ('CONSENT_REQUIRED', '', 'fr', 'envoi : [EMAIL] doit s''authentifier de nouveau ([FLUX])',
     'Le fournisseur a refusé le jeton de [EMAIL] (opérateur [OPERATEUR], flux [FLUX]) ; les mails envoyés depuis cette boîte attendent qu''une personne s''authentifie de nouveau.' || chr(10) || chr(10) ||
     'Réponse du fournisseur : [ERREUR]' || chr(10) || chr(10) ||
     'S''authentifier de nouveau : [LIEN]',
     'high', FALSE, FALSE, now()),
    ('CONSENT_REQUIRED', '', 'es', 'envoi: [EMAIL] debe autenticarse de nuevo ([FLUX])',
     'El proveedor rechazó el token de [EMAIL] (usuario [OPERATEUR], flujo [FLUX]); los correos enviados desde este buzón esperan a que alguien se autentique de nuevo.' || chr(10) || chr(10) ||
     'Respuesta del proveedor: [ERREUR]' || chr(10) || chr(10) ||
     'Autenticarse de nuevo: [LIEN]',
     'high', FALSE, FALSE, now());

-- +goose Down
DROP TRIGGER mail_setting_variants_config_version ON mail_setting_variants;
DROP TABLE mail_setting_variants;
