-- How a flow's messages leave (envoi.AuthFlow.Transport): smtp, graph
-- (Microsoft Graph's sendMail) or gmail_api (the Gmail API), and the base
-- URL of the mail API (api_url, empty: the transport's global endpoint).
-- Flows stored before sent over SMTP and keep doing so.

-- +goose Up
ALTER TABLE auth_flows ADD COLUMN transport TEXT NOT NULL DEFAULT 'smtp';
ALTER TABLE auth_flows ADD COLUMN api_url TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_flows DROP COLUMN api_url;
ALTER TABLE auth_flows DROP COLUMN transport;
