-- Webhooks: the ERP's endpoints, the outbox of events and their deliveries.
--
-- webhook_events is the outbox: a row is written in the transaction of the
-- change it reports (a message accepted, a status recorded, a token dying
-- or restored), so an event is never lost nor invented. body is the JSON
-- the receivers get, fixed when the event is written.
--
-- webhook_deliveries fans an event out to each enabled endpoint that wants
-- its type, in the same transaction. A delivery is a job like a message:
-- due at due_at (NULL once delivered or given up), claimed with a lease
-- (due_at = lease_until) and a claim counter that fences the outcome.
-- webhook_attempts keeps every POST made. Events whose deliveries are all
-- settled are purged after a retention (webhook.Dispatcher.Retention).

-- +goose Up
CREATE TABLE webhooks (
    code            TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          BYTEA NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE webhook_events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    message_id TEXT NOT NULL DEFAULT '',
    body       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_events_created_idx ON webhook_events (created_at);
CREATE TABLE webhook_deliveries (
    seq          BIGSERIAL PRIMARY KEY,
    event_id     TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    webhook      TEXT NOT NULL REFERENCES webhooks (code) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    due_at       TIMESTAMPTZ,
    lease_until  TIMESTAMPTZ,
    claim        INTEGER NOT NULL DEFAULT 0,
    delivered_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook, seq);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
CREATE TABLE webhook_attempts (
    seq         BIGSERIAL PRIMARY KEY,
    delivery    BIGINT NOT NULL REFERENCES webhook_deliveries (seq) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhooks;
