-- The mail envoi sends by itself when a token dies: to the administrators
-- and the operator, through the system sender, with a default text the
-- administrator may change.

-- +goose Up
INSERT INTO document_flows (code, name, keywords, report, builtin, updated_at) VALUES
    ('CONSENT_REQUIRED', 'Consent required (sent by envoi)', '["SOCIETE","OPERATEUR","FLUX","EMAIL","ERREUR","LIEN"]', '', TRUE, now());
INSERT INTO mail_settings (document_flow, subject, body, priority, read_receipt, copy_to_sender, updated_at) VALUES
    ('CONSENT_REQUIRED', 'envoi: [EMAIL] must authenticate again ([FLUX])',
     'The provider refused the token of [EMAIL] (operator [OPERATEUR], flow [FLUX]); mail sent as this mailbox waits until someone authenticates again.' || chr(10) || chr(10) ||
     'Provider''s answer: [ERREUR]' || chr(10) || chr(10) ||
     'Authenticate again: [LIEN]',
     'high', FALSE, FALSE, now());

-- +goose Down
DELETE FROM mail_settings WHERE document_flow = 'CONSENT_REQUIRED';
DELETE FROM document_flows WHERE code = 'CONSENT_REQUIRED';
