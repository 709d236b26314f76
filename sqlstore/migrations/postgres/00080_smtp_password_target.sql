-- smtp_password_target is the SMTP server (envoi.SMTPServer.Target:
-- "host:port/security", host in lower case) an operator's SMTP password is
-- bound to: the server of their flow when it was given or when they first
-- joined a flow; '' while it was given in no flow. A password whose
-- operator's flow now points elsewhere is dropped (sqlstore/authflow.go),
-- so re-pointing a flow cannot send a stored password to another server.
-- Passwords stored before are bound to their operator's flow of today.

-- +goose Up
ALTER TABLE operators ADD COLUMN smtp_password_target TEXT NOT NULL DEFAULT '';
UPDATE operators SET smtp_password_target = coalesce(
    (SELECT lower(f.smtp_host) || ':' || CAST(f.smtp_port AS TEXT) || '/' || f.smtp_security
        FROM auth_flows f JOIN auth_flow_operators a ON a.flow = f.code WHERE a.operator = operators.code),
    (SELECT lower(f.smtp_host) || ':' || CAST(f.smtp_port AS TEXT) || '/' || f.smtp_security
        FROM auth_flows f JOIN auth_flow_groups g ON g.flow = f.code WHERE g.group_code = operators.group_code),
    '')
WHERE smtp_password IS NOT NULL;

-- +goose Down
ALTER TABLE operators DROP COLUMN smtp_password_target;
