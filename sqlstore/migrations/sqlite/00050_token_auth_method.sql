-- How a flow's client authenticates at the provider's token endpoint
-- (envoi.AuthFlow.TokenAuthMethod), and what "auto" found to work
-- (token_auth_learned, kept so that every instance and every restart skips
-- the refused first try; reset by PutAuthFlow when the endpoint, tenant,
-- client or method changes). Flows stored before sent the secret in the
-- body: the presets keep that (their default), generic flows get auto.

-- +goose Up
ALTER TABLE auth_flows ADD COLUMN token_auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_flows ADD COLUMN token_auth_learned TEXT NOT NULL DEFAULT '';
UPDATE auth_flows SET token_auth_method = CASE WHEN preset IN ('microsoft365', 'gmail') THEN 'client_secret_post' ELSE 'auto' END
    WHERE kind = 'oauth2';

-- +goose Down
ALTER TABLE auth_flows DROP COLUMN token_auth_learned;
ALTER TABLE auth_flows DROP COLUMN token_auth_method;
