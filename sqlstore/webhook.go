package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"envoi"
)

// Webhooks: the endpoints (webhooks), the outbox (webhook_events), the
// deliveries of each event to each endpoint (webhook_deliveries, a job
// queue like the messages table) and their attempts (webhook_attempts).
// See migrations/*/00160_webhooks.sql.

var _ envoi.WebhookService = (*Store)(nil)

// webhookSecretAAD binds a sealed webhook secret to its endpoint.
func webhookSecretAAD(code string) string { return aad("webhooks", "secret", code) }

// PutWebhook inserts or replaces the endpoint of w.Code and enables it
// again (after a 410). An empty w.Secret keeps the stored secret; when
// none is stored, a new one is made and left in w.Secret for the caller
// to show once. Returns EInvalidInput naming the wrong field.
func (s *Store) PutWebhook(ctx context.Context, w *envoi.Webhook) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := s.ensureKeys(ctx); err != nil {
		return err
	}
	events, _ := json.Marshal(w.Events)
	now := s.nowUTC()
	return s.tx(ctx, func(tx *sql.Tx) error {
		var stored []byte
		var created time.Time
		err := tx.QueryRowContext(ctx, `SELECT secret, created_at FROM webhooks WHERE code = $1`, w.Code).Scan(&stored, scanTime(&created))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: put webhook %q: %w", w.Code, err)
		}
		if created.IsZero() {
			created = now
		}
		secret := stored
		if w.Secret == "" && stored == nil {
			w.Secret = envoi.NewWebhookSecret()
		}
		if w.Secret != "" {
			sealed, err := s.ring.Seal([]byte(w.Secret), webhookSecretAAD(w.Code))
			if err != nil {
				return fmt.Errorf("sqlstore: seal webhook secret %q: %w", w.Code, err)
			}
			secret = sealed
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO webhooks (code, url, events, secret, enabled, disabled_reason, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, '', $6, $7)
			ON CONFLICT (code) DO UPDATE SET url = excluded.url, events = excluded.events, secret = excluded.secret,
				enabled = excluded.enabled, disabled_reason = '', updated_at = excluded.updated_at`,
			w.Code, w.URL, string(events), secret, true, s.ts(created), s.ts(now))
		if err != nil {
			return fmt.Errorf("sqlstore: put webhook %q: %w", w.Code, err)
		}
		w.SecretSet, w.Enabled, w.DisabledReason, w.CreatedAt, w.UpdatedAt = true, true, "", created, now
		return nil
	})
}

const webhookColumns = `code, url, events, secret, enabled, disabled_reason, created_at, updated_at`

func (s *Store) scanWebhook(row interface{ Scan(...any) error }) (*envoi.Webhook, []byte, error) {
	var w envoi.Webhook
	var events string
	var secret []byte
	err := row.Scan(&w.Code, &w.URL, &events, &secret, &w.Enabled, &w.DisabledReason, scanTime(&w.CreatedAt), scanTime(&w.UpdatedAt))
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return nil, nil, fmt.Errorf("events of webhook %q: %w", w.Code, err)
	}
	w.SecretSet = len(secret) > 0
	return &w, secret, nil
}

// Webhook returns the endpoint of that code with its secret opened;
// ENotFound if none.
func (s *Store) Webhook(ctx context.Context, code string) (*envoi.Webhook, error) {
	w, secret, err := s.scanWebhook(s.reads().QueryRowContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE code = $1`, code))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook", code)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: webhook %q: %w", code, err)
	}
	if w.Secret, err = s.open(secret, webhookSecretAAD(code)); err != nil {
		return nil, fmt.Errorf("sqlstore: open webhook secret %q: %w", code, err)
	}
	return w, nil
}

// Webhooks returns every endpoint by code, without their secrets.
func (s *Store) Webhooks(ctx context.Context) ([]*envoi.Webhook, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: webhooks: %w", err)
	}
	defer rows.Close()
	out := []*envoi.Webhook{}
	for rows.Next() {
		w, _, err := s.scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook deletes the endpoint and its deliveries; ENotFound if none.
func (s *Store) DeleteWebhook(ctx context.Context, code string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// SQLite's cascade needs foreign_keys on, as it is; deleting the
		// attempts first keeps the delete cheap on both.
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_attempts WHERE delivery IN (SELECT seq FROM webhook_deliveries WHERE webhook = $1)`, code); err != nil {
			return fmt.Errorf("sqlstore: delete webhook %q: %w", code, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook = $1`, code); err != nil {
			return fmt.Errorf("sqlstore: delete webhook %q: %w", code, err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE code = $1`, code)
		return affected(res, err, "webhook", code)
	})
}

// AppendEvent is the one way into the webhook outbox: it writes ev in tx,
// the transaction of the change ev reports, and fans it out to every
// enabled endpoint that wants its type (a delivery due now per endpoint).
// The event and the change commit or roll back together, so an event is
// never lost nor invented. ev.ID and ev.Timestamp are set when empty.
func (s *Store) AppendEvent(ctx context.Context, tx *sql.Tx, ev *envoi.Event) error {
	body, now, err := s.eventBody(ev)
	if err != nil {
		return err
	}
	if s.dialect == DialectPostgres {
		if _, err := s.txExec(ctx, tx, appendEventPGSQL, ev.ID, ev.Type, ev.Data.MessageID, body, s.ts(now),
			envoi.DeliveryPending, eventNeedle(ev.Type)); err != nil {
			return fmt.Errorf("sqlstore: append event %s: %w", ev.Type, err)
		}
		return nil
	}
	if _, err := s.txExec(ctx, tx, insertEventSQL, ev.ID, ev.Type, ev.Data.MessageID, body, s.ts(now)); err != nil {
		return fmt.Errorf("sqlstore: append event %s: %w", ev.Type, err)
	}
	if _, err := s.txExec(ctx, tx, s.fanOutSQL(), ev.ID, envoi.DeliveryPending, s.ts(now), eventNeedle(ev.Type)); err != nil {
		return fmt.Errorf("sqlstore: fan out event %s: %w", ev.Type, err)
	}
	return nil
}

// eventBody sets ev's ID and Timestamp when empty and returns the body
// the receivers get, and the time the event is written at.
func (s *Store) eventBody(ev *envoi.Event) (string, time.Time, error) {
	if ev.ID == "" {
		ev.ID = envoi.NewID("evt_")
	}
	now := s.nowUTC()
	if ev.Timestamp.IsZero() {
		ev.Timestamp = now
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return "", now, fmt.Errorf("sqlstore: event %s: %w", ev.Type, err)
	}
	return string(body), now, nil
}

// On PostgreSQL an event and its fan-out are one statement (data-modifying
// common table expressions): one round trip to the server where SQLite,
// in the process, runs two statements. appendEventPGSQL is AppendEvent's:
// $1-$5 as insertEventSQL's, $6 the deliveries' state (pending), $7 the
// type's needle (eventNeedle).
const appendEventPGSQL = `WITH ev AS (INSERT INTO webhook_events (id, type, message_id, body, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id)
	INSERT INTO webhook_deliveries (event_id, webhook, state, due_at, created_at, updated_at)
		SELECT ev.id, w.code, $6, $5, $5, $5 FROM ev, webhooks w WHERE w.enabled AND strpos(w.events, $7) > 0`

// eventCTEsPG are the common table expressions that write an event about
// the message whose id the expression named src returns, and fan it out,
// for a statement that changes the message and reports it at once (one
// round trip where a transaction would take five). Nothing is written
// when src returns no row. Their parameters are $n and on: the event's
// id, type, body and time, the deliveries' state (pending) and the type's
// needle (eventNeedle); eventArgsPG gives them.
func eventCTEsPG(src string, n int) string {
	p := func(i int) string { return "$" + strconv.Itoa(n+i) }
	at := p(3) + "::timestamptz"
	return `ev AS (INSERT INTO webhook_events (id, type, message_id, body, created_at)
			SELECT ` + p(0) + `::text, ` + p(1) + `::text, ` + src + `.id, ` + p(2) + `::text, ` + at + ` FROM ` + src + ` RETURNING id),
		fan AS (INSERT INTO webhook_deliveries (event_id, webhook, state, due_at, created_at, updated_at)
			SELECT ev.id, w.code, ` + p(4) + `::text, ` + at + `, ` + at + `, ` + at + `
			FROM ev, webhooks w WHERE w.enabled AND strpos(w.events, ` + p(5) + `::text) > 0)`
}

// eventArgsPG are the parameters of eventCTEsPG for the event of type typ
// with data d.
func (s *Store) eventArgsPG(typ string, d envoi.EventData) ([]any, error) {
	ev := &envoi.Event{Type: typ, Data: d}
	body, now, err := s.eventBody(ev)
	if err != nil {
		return nil, err
	}
	return []any{ev.ID, ev.Type, body, s.ts(now), envoi.DeliveryPending, eventNeedle(typ)}, nil
}

// tsArg types the parameter p as a time where the query alone does not
// (a SELECT list feeding an INSERT): PostgreSQL would take it for text.
func (s *Store) tsArg(p string) string {
	if s.dialect == DialectPostgres {
		return p + "::timestamptz"
	}
	return p
}

// The outbox's statements, prepared once on the write handle by Migrate
// (prepareOutbox): every message accepted or finished runs them.
const (
	insertEventSQL  = `INSERT INTO webhook_events (id, type, message_id, body, created_at) VALUES ($1, $2, $3, $4, $5)`
	messageEventSQL = `SELECT id, entity_type, entity_id, document_flow, operator, company, status, attempts,
		error_code, error, sent_at, next_try FROM messages WHERE id = $1`
)

// fanOutSQL queues an event ($1) to every enabled endpoint that wants
// it, due now ($3): its list of types holds $4, the type as a JSON
// string (eventNeedle). A substring test, not LIKE: SQLite compiles a
// LIKE against a parameter again each time the parameter changes (its
// LIKE optimisation), and the type changes from one event to the next.
func (s *Store) fanOutSQL() string {
	find := "instr(events, $4) > 0"
	if s.dialect == DialectPostgres {
		find = "strpos(events, $4) > 0"
	}
	return `INSERT INTO webhook_deliveries (event_id, webhook, state, due_at, created_at, updated_at)
		SELECT $1, code, $2, ` + s.tsArg("$3") + `, $3, $3 FROM webhooks WHERE enabled AND ` + find
}

// prepareHot prepares the statements that transactions of the send path
// run (the outbox's, the claim's) on the write handle, so that they are
// not compiled each time (txExec, txQueryRow). It must run outside any
// transaction (on SQLite a transaction holds the one write connection).
func (s *Store) prepareHot(ctx context.Context) error {
	hot := []string{insertEventSQL, messageEventSQL, s.fanOutSQL(),
		s.candidateMailboxesSQL(), inflightSQL, minuteSQL, daySQL, nextDueSQL, claimOneSQL, servedSQL, pauseMailboxSQL}
	if s.dialect == DialectPostgres {
		hot = append(hot, claimLockSQL, appendEventPGSQL, claimNextPGSQL, rcptCountSQL)
	}
	_, err := s.writeStmts(ctx, hot...)
	return err
}

// txExec runs query in tx through its prepared statement when there is
// one (prepareHot), else as text.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.preparedOnly(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// txQuery is txExec for a query of rows.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := s.preparedOnly(query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// txQueryRow is txExec for a query of one row.
func (s *Store) txQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := s.preparedOnly(query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// preparedOnly returns the statement of query prepared on the write
// handle, or nil; it never prepares (see prepared).
func (s *Store) preparedOnly(query string) *sql.Stmt {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	return s.stmts[stmtKey{s.db, query}]
}

// eventNeedle is what a JSON list of event types that holds typ
// contains: typ as a JSON string, quotes included.
func eventNeedle(typ string) string {
	b, _ := json.Marshal(typ)
	return string(b)
}

// AppendMessageEvent appends an event of type typ about the message id in
// tx (see AppendEvent), its data read from the message's row as tx sees
// it: id, entity, document flow, operator, company, status, attempts,
// error, sent time. more, when not nil, adds to the data (a bounce, a read
// time). Returns ENotFound when there is no such message.
func (s *Store) AppendMessageEvent(ctx context.Context, tx *sql.Tx, typ, id string, more func(*envoi.EventData)) error {
	var r messageEventRow
	err := s.txQueryRow(ctx, tx, messageEventSQL, id).Scan(
		&r.id, &r.entityType, &r.entityID, &r.documentFlow, &r.operator, &r.company, &r.status, &r.attempts,
		&r.errCode, &r.errMsg, scanTime(&r.sentAt), scanTime(&r.nextTry))
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("message", id)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: event %s of %s: %w", typ, id, err)
	}
	d := r.data()
	if more != nil {
		more(&d)
	}
	return s.AppendEvent(ctx, tx, &envoi.Event{Type: typ, Data: d})
}

// messageEventRow is what a message event reports of the message's row
// (messageEventSQL's columns).
type messageEventRow struct {
	id, entityType, entityID, documentFlow, operator, company, status string
	attempts                                                          int
	errCode, errMsg                                                   string
	sentAt, nextTry                                                   time.Time
}

// messageEventRowOf is the row m's columns hold, as its acceptance wrote
// them (times as the database keeps them): what AppendMessageEvent would
// read back.
func messageEventRowOf(m *envoi.Message) messageEventRow {
	r := messageEventRow{id: m.ID, documentFlow: m.Request.DocumentFlow, operator: m.Request.Operator, company: m.Request.Company,
		status: m.Status, attempts: m.Attempts, errCode: m.ErrorCode, errMsg: m.Error,
		sentAt: storedTime(m.SentAt), nextTry: storedTime(m.NextTry)}
	if e := m.Request.Entity; e != nil {
		r.entityType, r.entityID = e.Type, e.ID
	}
	return r
}

// data is the event's data of the row r.
func (r messageEventRow) data() envoi.EventData {
	d := envoi.EventData{MessageID: r.id, DocumentFlow: r.documentFlow, Operator: r.operator, Company: r.company,
		Status: r.status, Attempts: r.attempts, SentAt: r.sentAt, NextTry: r.nextTry}
	if r.entityType != "" || r.entityID != "" {
		d.Entity = &envoi.Entity{Type: r.entityType, ID: r.entityID}
	}
	if r.errCode != "" {
		d.Error = &envoi.EventError{Code: r.errCode, Message: r.errMsg, Remedy: envoi.Remedy(r.errCode, "en")}
	}
	if d.Status == envoi.StatusSent || d.Status == envoi.StatusFailed {
		d.NextTry = time.Time{}
	}
	return d
}

// appendStatusEvent appends the event of the message's status, if that
// status is reported (envoi.MessageEvent).
func (s *Store) appendStatusEvent(ctx context.Context, tx *sql.Tx, status, id string) error {
	if typ := envoi.MessageEvent(status); typ != "" {
		return s.AppendMessageEvent(ctx, tx, typ, id, nil)
	}
	return nil
}

// appendTokenEvent appends flow.consent_required when a token goes from
// valid (or absent) to consent_required, flow.consent_restored when it
// goes from consent_required to valid; nothing otherwise.
func (s *Store) appendTokenEvent(ctx context.Context, tx *sql.Tx, old string, t *envoi.Token) error {
	var typ string
	switch {
	case t.Status == envoi.TokenConsentRequired && old != envoi.TokenConsentRequired:
		typ = envoi.EventFlowConsentRequired
	case t.Status == envoi.TokenValid && old == envoi.TokenConsentRequired:
		typ = envoi.EventFlowConsentRestored
	default:
		return nil
	}
	d := envoi.EventData{Flow: t.Flow, Operator: t.Operator, Email: t.Email, Status: t.Status}
	if t.Status == envoi.TokenConsentRequired {
		d.Error = &envoi.EventError{Code: envoi.EConsentRequired, Message: t.LastError, Remedy: envoi.Remedy(envoi.EConsentRequired, "en")}
	}
	return s.AppendEvent(ctx, tx, &envoi.Event{Type: typ, Data: d})
}

// The dispatcher's statements: a claim leases due deliveries of enabled
// endpoints in one statement, as ClaimDue does for messages.
const (
	claimDeliveriesSet = `attempts = attempts + 1, lease_until = $1, due_at = $1, claim = claim + 1, updated_at = $2`
	claimDeliveriesDue = `SELECT d.seq FROM webhook_deliveries d JOIN webhooks w ON w.code = d.webhook
			WHERE d.due_at <= $2 AND d.state = $3 AND w.enabled ORDER BY d.due_at LIMIT $4`
	claimDeliveriesSQLite = `UPDATE webhook_deliveries SET ` + claimDeliveriesSet + `
		WHERE seq IN (` + claimDeliveriesDue + `)
		RETURNING seq, claim, event_id, webhook, attempts`
	claimDeliveriesPostgres = `WITH due AS (` + claimDeliveriesDue + ` FOR UPDATE OF d SKIP LOCKED)
		UPDATE webhook_deliveries SET ` + claimDeliveriesSet + `
		FROM due WHERE webhook_deliveries.seq = due.seq
		RETURNING webhook_deliveries.seq, claim, event_id, webhook, attempts`
)

// ClaimWebhookDeliveries leases up to n due deliveries for lease and
// returns them with their event's body and their endpoint (secret
// opened). Several instances may claim at once: each delivery goes to
// one; one whose dispatcher died is due again when its lease lapses.
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, n int, lease time.Duration) ([]*envoi.WebhookJob, error) {
	if n <= 0 {
		return nil, nil
	}
	q := claimDeliveriesSQLite
	if s.dialect == DialectPostgres {
		q = claimDeliveriesPostgres
	}
	now := s.nowUTC()
	rows, err := s.db.QueryContext(ctx, q, s.ts(now.Add(lease)), s.ts(now), envoi.DeliveryPending, n)
	if err != nil {
		return nil, locked(fmt.Errorf("sqlstore: claim webhook deliveries: %w", err))
	}
	var jobs []*envoi.WebhookJob
	for rows.Next() {
		j := new(envoi.WebhookJob)
		var seq, claim int64
		var code string
		if err := rows.Scan(&seq, &claim, &j.EventID, &code, &j.Attempt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: claim webhook deliveries: %w", err)
		}
		j.Delivery, j.Token = strconv.FormatInt(seq, 10), strconv.FormatInt(claim, 10)
		j.Webhook = &envoi.Webhook{Code: code}
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, locked(fmt.Errorf("sqlstore: claim webhook deliveries: %w", err))
	}
	endpoints := map[string]*envoi.Webhook{}
	for _, j := range jobs {
		w := endpoints[j.Webhook.Code]
		if w == nil {
			if w, err = s.Webhook(ctx, j.Webhook.Code); err != nil {
				return nil, err
			}
			endpoints[w.Code] = w
		}
		j.Webhook = w
		if err := s.reads().QueryRowContext(ctx, `SELECT type, body FROM webhook_events WHERE id = $1`, j.EventID).Scan(&j.EventType, &j.Body); err != nil {
			return nil, fmt.Errorf("sqlstore: event %s: %w", j.EventID, err)
		}
	}
	return jobs, nil
}

// RecordWebhookAttempt records the attempt of a claimed delivery and its
// outcome: delivered, due again at o.Retry, or given up (o.Retry zero).
// o.Gone disables the endpoint (it answered 410). The outcome is written
// only if j is still the delivery's latest claim; otherwise nothing is,
// and it returns EConflict (another dispatcher holds the delivery now).
func (s *Store) RecordWebhookAttempt(ctx context.Context, j *envoi.WebhookJob, o envoi.WebhookOutcome) error {
	seq, err := strconv.ParseInt(j.Delivery, 10, 64)
	if err != nil {
		return envoi.FieldError(envoi.EInvalidInput, "delivery", "%q is not a delivery", j.Delivery)
	}
	claim, err := strconv.ParseInt(j.Token, 10, 64)
	if err != nil {
		return envoi.FieldError(envoi.EInvalidInput, "claim", "%q is not a claim token", j.Token)
	}
	now := s.nowUTC()
	at := o.At
	if at.IsZero() {
		at = now
	}
	state, due, delivered := envoi.DeliveryFailed, any(nil), any(nil)
	switch {
	case o.Delivered:
		state, delivered = envoi.DeliveryDelivered, s.ts(at)
	case !o.Retry.IsZero() && !o.Gone:
		state, due = envoi.DeliveryPending, s.ts(o.Retry)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery, at, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5)`,
			seq, s.ts(at), o.StatusCode, o.Error, o.Duration.Milliseconds()); err != nil {
			return fmt.Errorf("sqlstore: record webhook attempt %d: %w", seq, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = $1, due_at = $2, lease_until = NULL, delivered_at = $3, updated_at = $4
			WHERE seq = $5 AND claim = $6`, state, due, delivered, s.ts(now), seq, claim)
		if err != nil {
			return fmt.Errorf("sqlstore: record webhook attempt %d: %w", seq, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlstore: record webhook attempt %d: %w", seq, err)
		} else if n == 0 {
			return envoi.Errorf(envoi.EConflict, "delivery %d was claimed again since (its lease lapsed): the outcome is not recorded", seq)
		}
		if o.Gone {
			reason := fmt.Sprintf("the endpoint answered %d Gone at %s", o.StatusCode, at.Format(time.RFC3339))
			if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET enabled = $1, disabled_reason = $2, updated_at = $3 WHERE code = $4`,
				false, reason, s.ts(now), j.Webhook.Code); err != nil {
				return fmt.Errorf("sqlstore: disable webhook %q: %w", j.Webhook.Code, err)
			}
		}
		return nil
	})
}

// Limits of a listing of deliveries.
const (
	DefaultDeliveryLimit = 50
	MaxDeliveryLimit     = 500
)

// WebhookDeliveries returns the endpoint's latest deliveries, newest
// first (at most limit: 50 by default, 500 at most), each with its
// attempts in order. Returns ENotFound when there is no such endpoint.
func (s *Store) WebhookDeliveries(ctx context.Context, code string, limit int) ([]*envoi.WebhookDelivery, error) {
	if limit <= 0 {
		limit = DefaultDeliveryLimit
	}
	limit = min(limit, MaxDeliveryLimit)
	var n int
	if err := s.reads().QueryRowContext(ctx, `SELECT count(*) FROM webhooks WHERE code = $1`, code).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlstore: webhook deliveries %q: %w", code, err)
	}
	if n == 0 {
		return nil, notFound("webhook", code)
	}
	rows, err := s.reads().QueryContext(ctx, fmt.Sprintf(`
		SELECT d.seq, d.webhook, d.event_id, e.type, d.state, d.attempts, d.due_at, d.created_at, d.delivered_at
		FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
		WHERE d.webhook = $1 ORDER BY d.seq DESC LIMIT %d`, limit), code)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: webhook deliveries %q: %w", code, err)
	}
	out := []*envoi.WebhookDelivery{}
	bySeq := map[int64]*envoi.WebhookDelivery{}
	var seqs []string
	for rows.Next() {
		d := &envoi.WebhookDelivery{AttemptLog: []*envoi.WebhookAttempt{}}
		var seq int64
		if err := rows.Scan(&seq, &d.Webhook, &d.EventID, &d.EventType, &d.State, &d.Attempts, scanTime(&d.NextTry), scanTime(&d.CreatedAt), scanTime(&d.Delivered)); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: webhook deliveries %q: %w", code, err)
		}
		d.ID = strconv.FormatInt(seq, 10)
		out = append(out, d)
		bySeq[seq] = d
		seqs = append(seqs, d.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: webhook deliveries %q: %w", code, err)
	}
	if len(seqs) == 0 {
		return out, nil
	}
	// The seqs are integers this function formatted: safe to inline.
	rows, err = s.reads().QueryContext(ctx, `SELECT delivery, at, status_code, error, duration_ms FROM webhook_attempts
		WHERE delivery IN (`+strings.Join(seqs, ",")+`) ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: webhook attempts %q: %w", code, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		a := new(envoi.WebhookAttempt)
		if err := rows.Scan(&seq, scanTime(&a.At), &a.StatusCode, &a.Error, &a.DurationMS); err != nil {
			return nil, fmt.Errorf("sqlstore: webhook attempts %q: %w", code, err)
		}
		if d := bySeq[seq]; d != nil {
			d.AttemptLog = append(d.AttemptLog, a)
		}
	}
	return out, rows.Err()
}

// ReplayWebhook queues again, to the endpoint code, the event r.EventID
// (whatever its type), or the events of the endpoint's types written in
// [r.Since, r.Until) (Until: now when zero). A delivery queued to a
// disabled endpoint waits for it to be enabled again. Returns how many
// deliveries were queued; ENotFound for an unknown endpoint or event,
// EInvalidInput when r names neither an event nor a start.
func (s *Store) ReplayWebhook(ctx context.Context, code string, r envoi.Replay) (int, error) {
	if r.EventID == "" && r.Since.IsZero() {
		return 0, envoi.FieldError(envoi.EInvalidInput, "event_id", "name an event_id, or a time range with since (and until)")
	}
	if !r.Until.IsZero() && !r.Until.After(r.Since) {
		return 0, envoi.FieldError(envoi.EInvalidInput, "until", "until must be after since")
	}
	w, err := s.Webhook(ctx, code)
	if err != nil {
		return 0, err
	}
	now := s.nowUTC()
	var n int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var a args
		q := `INSERT INTO webhook_deliveries (event_id, webhook, state, due_at, created_at, updated_at)
			SELECT id, ` + a.add(code) + `, ` + a.add(envoi.DeliveryPending) + `, ` + s.tsArg(a.add(s.ts(now))) + `, $3, $3 FROM webhook_events WHERE `
		if r.EventID != "" {
			q += `id = ` + a.add(r.EventID)
		} else {
			until := r.Until
			if until.IsZero() {
				until = now.Add(time.Microsecond)
			}
			var types []string
			for _, e := range w.Events {
				types = append(types, a.add(e))
			}
			q += `created_at >= ` + a.add(s.ts(r.Since)) + ` AND created_at < ` + a.add(s.ts(until)) + ` AND type IN (` + strings.Join(types, ", ") + `)`
		}
		res, err := tx.ExecContext(ctx, q, a...)
		if err != nil {
			return fmt.Errorf("sqlstore: replay webhook %q: %w", code, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlstore: replay webhook %q: %w", code, err)
		}
		if n == 0 && r.EventID != "" {
			return notFound("event", r.EventID)
		}
		return nil
	})
	return int(n), err
}

// PurgeWebhookEvents deletes the events written before t that have no
// delivery pending, with their deliveries and attempts, in batches; it
// returns how many events went. The outbox would otherwise keep every
// event of every message.
func (s *Store) PurgeWebhookEvents(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM webhook_events WHERE seq IN (
			SELECT e.seq FROM webhook_events e WHERE e.created_at < $1
				AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.state = $2)
			ORDER BY e.seq LIMIT 500)`, s.ts(before), envoi.DeliveryPending)
		if err != nil {
			return total, locked(fmt.Errorf("sqlstore: purge webhook events: %w", err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlstore: purge webhook events: %w", err)
		}
		total += int(n)
		if n < 500 || ctx.Err() != nil {
			return total, nil
		}
	}
}
