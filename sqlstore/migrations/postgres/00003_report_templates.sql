-- Report templates added by administrators (the built-in ones are embedded
-- in the binary).

-- +goose Up
CREATE TABLE report_templates (
    name       TEXT PRIMARY KEY,
    body       BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE report_templates;
