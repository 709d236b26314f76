-- A company's signature (HTML, sanitized like an operator's when saved):
-- the mail's signature when the operator has none (seed §4.1).

-- +goose Up
ALTER TABLE companies ADD COLUMN signature_html TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE companies DROP COLUMN signature_html;
