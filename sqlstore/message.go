package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"envoi"
)

// Limits of a message listing.
const (
	DefaultMessageLimit = 100
	MaxMessageLimit     = 1000
)

// validStatus reports whether s is one of the states envoi.Statuses lists.
func validStatus(s string) bool { return slices.Contains(envoi.Statuses, s) }

// CreateMessage stores a's message and its composed bytes (a.EML, when
// set) in one transaction; a message not final is due to be sent at once (the send
// queue is the messages table, see queue.go).
// It sets m.ID ("msg_" + 26 random characters), m.MessageID ("<id@domain>"),
// m.Status (queued) and the timestamps when they are empty. When m.IdempotencyKey was already
// used: with the same a.RequestHash it loads the existing message into m
// (counting the duplicate) and returns created=false, with another hash
// EIdempotencyConflict. A request that does not validate is EInvalidInput.
//
// A sensitive message (m.Sensitive or m.Request.Sensitive: it carries a
// credential) is stored without its keyword values, and its bytes sealed
// with the key ring in message_emls, never in the spool; Finish deletes
// them once it is final, and Message, Messages and EML do not show it.
func (s *Store) CreateMessage(ctx context.Context, a *envoi.Accepted) (created bool, err error) {
	m := a.Message
	if m.Status == "" {
		m.Status = envoi.StatusQueued
	}
	if !validStatus(m.Status) {
		return false, envoi.FieldError(envoi.EInvalidInput, "status", "%q is not a message status", m.Status)
	}
	if len(m.IdempotencyKey) > 255 {
		return false, envoi.FieldError(envoi.EInvalidInput, "idempotency_key", "the idempotency key is longer than 255 characters")
	}
	if m.ID == "" {
		m.ID = envoi.NewID("msg_")
	}
	if m.MessageID == "" {
		m.MessageID = envoi.MessageIDFor(m.ID, s.msgDomain)
	}
	now := s.nowUTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	m.UpdatedAt = now
	m.Sensitive = m.Sensitive || m.Request.Sensitive
	stored := m.Request
	// The bytes message_emls keeps: packed on PostgreSQL (packeml.go).
	plain := a.EML
	if s.spool == nil && plain != nil {
		plain = packEML(plain)
	}
	var eml any = plain
	if m.Sensitive {
		// The keyword values are in the composed bytes; they may hold the
		// credential (a reset link) and are not needed any more.
		stored.Context = nil
		if a.EML != nil {
			if err := s.ensureKeys(ctx); err != nil {
				return false, err
			}
			if eml, err = s.ring.Seal(plain, emlAAD(m.ID)); err != nil {
				return false, fmt.Errorf("sqlstore: seal eml of %s: %w", m.ID, err)
			}
		}
	}
	req, err := json.Marshal(stored)
	if err != nil {
		return false, fmt.Errorf("sqlstore: create message: %w", err)
	}
	to, _ := json.Marshal(m.Request.To)
	if a.EML != nil {
		m.EMLSize = int64(len(a.EML))
	}
	var delivery []byte
	if m.Delivery != nil {
		if delivery, err = json.Marshal(m.Delivery); err != nil {
			return false, fmt.Errorf("sqlstore: create message: %w", err)
		}
	}
	var idem any
	if m.IdempotencyKey != "" {
		idem = m.IdempotencyKey
	}
	var entityType, entityID string
	if e := m.Request.Entity; e != nil {
		entityType, entityID = e.Type, e.ID
	}
	stmts, err := s.writeStmts(ctx, insertMessageSQL, insertEMLSQL)
	if err != nil {
		return false, fmt.Errorf("sqlstore: create message: %w", err)
	}
	// On SQLite the bytes go to the spool first (eml.go); a message not
	// created leaves a record nothing points to.
	var emlAt string
	if s.spool != nil && a.EML != nil && !m.Sensitive {
		if emlAt, err = s.spool.Append(m.ID, a.EML); err != nil {
			return false, fmt.Errorf("sqlstore: store eml of %s: %w", m.ID, err)
		}
	}
	var due any
	if !envoi.Final(m.Status) {
		due = s.ts(now)
		if m.Status == envoi.StatusScheduled && m.NextAttemptAt.After(now) {
			// send_at: due then.
			due = s.ts(m.NextAttemptAt)
		}
	}
	if s.dialect == DialectPostgres && envoi.MessageEvent(m.Status) == "" {
		// The message, its bytes and its event in one statement; the
		// transaction below when the idempotency key was used.
		var emlArg any
		if a.EML != nil {
			emlArg = eml
		}
		ev, err := s.eventArgsPG(envoi.EventMessageAccepted, messageEventRowOf(m).data())
		if err != nil {
			return false, err
		}
		st, err := s.prepared(ctx, s.db, createMessagePGSQL)
		if err != nil {
			return false, fmt.Errorf("sqlstore: create message: %w", err)
		}
		var seq int64
		err = st.QueryRowContext(ctx, append([]any{
			m.ID, idem, a.RequestHash, req, m.Request.Operator, m.Request.DocumentFlow, m.Request.Company, string(to),
			entityType, entityID, m.Status, m.Attempts, m.ErrorCode, m.Error, m.MessageID, m.Flow, m.Mailbox,
			s.ts(m.NextTry), s.ts(m.SentAt), s.ts(m.CreatedAt), s.ts(now),
			string(delivery), m.EMLSize, emlAt, m.Sensitive, due, m.Subject, emlArg}, ev...)...).Scan(&seq)
		if isUniqueViolation(err) {
			return false, envoi.FieldError(envoi.EConflict, "id", "a message with id %s already exists", m.ID)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) || idem == nil {
			return false, fmt.Errorf("sqlstore: create message: %w", err)
		}
	}
	// Committed with the acceptances of other requests that came
	// meanwhile (grouped).
	var existing *envoi.Message
	err = s.grouped(ctx, func(tx *sql.Tx) error {
		existing = nil
		var seq int64
		err := tx.StmtContext(ctx, stmts[0]).QueryRowContext(ctx,
			m.ID, idem, a.RequestHash, req, m.Request.Operator, m.Request.DocumentFlow, m.Request.Company, string(to),
			entityType, entityID, m.Status, m.Attempts, m.ErrorCode, m.Error, m.MessageID, m.Flow, m.Mailbox,
			s.ts(m.NextTry), s.ts(m.SentAt), s.ts(m.CreatedAt), s.ts(now),
			string(delivery), m.EMLSize, emlAt, m.Sensitive, due, m.Subject).Scan(&seq)
		if isUniqueViolation(err) {
			return envoi.FieldError(envoi.EConflict, "id", "a message with id %s already exists", m.ID)
		}
		if errors.Is(err, sql.ErrNoRows) && idem != nil {
			// The key was used: same request, or a conflict.
			existing, err = s.message(ctx, tx, `idempotency_key = $1`, m.IdempotencyKey)
			if err != nil {
				return err
			}
			var hash string
			if err := tx.QueryRowContext(ctx, `SELECT request_hash FROM messages WHERE id = $1`, existing.ID).Scan(&hash); err != nil {
				return fmt.Errorf("sqlstore: create message: %w", err)
			}
			if hash != a.RequestHash {
				return envoi.Errorf(envoi.EIdempotencyConflict, "the idempotency key %q was used for another request (message %s)", m.IdempotencyKey, existing.ID).
					WithDetail("message_id", existing.ID)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlstore: create message: %w", err)
		}
		if a.EML != nil && (s.spool == nil || m.Sensitive) {
			if _, err := tx.StmtContext(ctx, stmts[1]).ExecContext(ctx, m.ID, eml, s.ts(now)); err != nil {
				return fmt.Errorf("sqlstore: store eml of %s: %w", m.ID, err)
			}
		}
		// The event's data is the row just written, from m (as on
		// PostgreSQL): no read of it back.
		if err := s.AppendEvent(ctx, tx, &envoi.Event{Type: envoi.EventMessageAccepted, Data: messageEventRowOf(m).data()}); err != nil {
			return err
		}
		return s.appendStatusEvent(ctx, tx, m.Status, m.ID)
	})
	if err != nil {
		return false, err
	}
	if existing != nil {
		*m = *existing
		return false, nil
	}
	return true, nil
}

// The statements of acceptance, prepared once (see Store.prepared).
const (
	insertMessageSQL = `
		INSERT INTO messages (id, idempotency_key, request_hash, request, operator, document_flow, company, recipients,
			entity_type, entity_id, status, attempts, error_code, error, message_id, flow, mailbox, next_try, sent_at,
			created_at, updated_at, delivery, eml_size, eml_at, sensitive, due_at, subject)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
			$22, $23, $24, $25, $26, $27)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING seq`
	insertEMLSQL    = `INSERT INTO message_emls (message_id, eml, created_at) VALUES ($1, $2, $3)`
	selectEMLSQL    = `SELECT e.eml, m.sensitive FROM message_emls e JOIN messages m ON m.id = e.message_id WHERE e.message_id = $1`
	selectPrunedSQL = `SELECT eml_pruned_at FROM messages WHERE id = $1 AND NOT sensitive`
	selectEMLAtSQL  = `SELECT eml_at, eml_size, sensitive, eml_pruned_at FROM messages WHERE id = $1`
	eraseEMLSQL     = `DELETE FROM message_emls WHERE message_id = $1`
)

// createMessagePGSQL is the acceptance on PostgreSQL in one statement
// (one round trip where the transaction takes seven): insertMessageSQL
// ($1-$27), the bytes ($28, none when NULL) and the event
// message.accepted ($29 and on, see eventCTEsPG), whose data are the
// values inserted. Nothing is written when the idempotency key was
// used (no row).
var createMessagePGSQL = `WITH created AS (` + insertMessageSQL + `, id),
	eml AS (INSERT INTO message_emls (message_id, eml, created_at)
		SELECT id, $28::bytea, $21 FROM created WHERE $28::bytea IS NOT NULL),
	` + eventCTEsPG("created", 29) + `
	SELECT seq FROM created`

// emlAAD is the associated data of a sensitive message's sealed bytes.
func emlAAD(id string) string { return aad("message_emls", "eml", id) }

const messageColumns = `id, coalesce(idempotency_key, ''), status, attempts, error_code, error, message_id,
	flow, mailbox, next_try, sent_at, created_at, updated_at, eml_size, duplicates,
	delivery, provider_message_id,
	operator, document_flow, company, recipients, entity_type, entity_id, sensitive,
	bounce, delay, read_at, due_at, wait_reason, subject`

// scanMessage scans messageColumns, then the request when withRequest,
// then extra.
func scanMessage(row interface{ Scan(...any) error }, withRequest bool, extra ...any) (*envoi.Message, error) {
	var m envoi.Message
	var to, delivery, entityType, entityID, bounce, delay string
	var req []byte
	var due time.Time
	dest := []any{&m.ID, &m.IdempotencyKey, &m.Status, &m.Attempts, &m.ErrorCode, &m.Error, &m.MessageID,
		&m.Flow, &m.Mailbox, scanTime(&m.NextTry), scanTime(&m.SentAt), scanTime(&m.CreatedAt), scanTime(&m.UpdatedAt), &m.EMLSize, &m.Duplicates,
		&delivery, &m.ProviderMessageID,
		&m.Request.Operator, &m.Request.DocumentFlow, &m.Request.Company, &to, &entityType, &entityID, &m.Sensitive,
		&bounce, &delay, scanTime(&m.ReadAt), scanTime(&due), &m.WaitReason, &m.Subject}
	if withRequest {
		dest = append(dest, &req)
	}
	dest = append(dest, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	m.Bounce, m.Delay = parseBounce(bounce), parseBounce(delay)
	waiting(&m, due)
	if withRequest {
		// A message accepted without bytes (the store's own tests) has no
		// delivery record.
		if delivery != "" {
			m.Delivery = new(envoi.Delivery)
			if err := json.Unmarshal([]byte(delivery), m.Delivery); err != nil {
				return nil, fmt.Errorf("delivery of %s: %w", m.ID, err)
			}
		}
		if err := json.Unmarshal(req, &m.Request); err != nil {
			return nil, fmt.Errorf("request of %s: %w", m.ID, err)
		}
		m.Request.Sensitive = m.Sensitive
		return &m, nil
	}
	_ = json.Unmarshal([]byte(to), &m.Request.To)
	if entityType != "" || entityID != "" {
		m.Request.Entity = &envoi.Entity{Type: entityType, ID: entityID}
	}
	return &m, nil
}

// message loads one whole message by a condition on one argument.
func (s *Store) message(ctx context.Context, q queryRower, cond string, arg string) (*envoi.Message, error) {
	m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageColumns+`, request FROM messages WHERE `+cond, arg), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("message", arg)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: message %q: %w", arg, err)
	}
	return m, nil
}

// Message returns the message of that id with its whole request and its
// envelope (not its bytes: see EML); ENotFound if none, and for a
// sensitive message (it carries a credential: no reader sees it).
// A waiting message shows its mailbox's pause when that ends later than
// its own due time (NextAttemptAt, WaitReason).
func (s *Store) Message(ctx context.Context, id string) (*envoi.Message, error) {
	m, err := s.message(ctx, s.reads(), `id = $1 AND NOT sensitive`, id)
	if err != nil {
		return nil, err
	}
	return m, s.ApplyMailboxWaits(ctx, m)
}

// Messages returns the messages f selects, newest first, at most f.Limit
// (100 by default, 1000 at most). Their Request holds only the operator,
// document flow, company, To and entity; Message gives the whole request.
// Sensitive messages are left out. Returns EInvalidInput when f.Before
// names no message.
func (s *Store) Messages(ctx context.Context, f envoi.MessageFilter) ([]*envoi.Message, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultMessageLimit
	}
	limit = min(limit, MaxMessageLimit)
	var a args
	where := []string{"NOT sensitive"}
	for _, c := range []struct{ col, v string }{
		{"status", f.Status}, {"operator", f.Operator}, {"document_flow", f.DocumentFlow},
		{"entity_type", f.EntityType}, {"entity_id", f.EntityID},
	} {
		if c.v != "" {
			where = append(where, c.col+" = "+a.add(c.v))
		}
	}
	if f.Status != "" && f.Status != envoi.StatusSent {
		// Said outright, so the planner may use messages_status_idx,
		// which holds only the messages not sent (migration 00190).
		where = append(where, "status <> '"+envoi.StatusSent+"'")
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+a.add(s.ts(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < "+a.add(s.ts(f.Until)))
	}
	if f.Before != "" {
		var seq int64
		err := s.reads().QueryRowContext(ctx, `SELECT seq FROM messages WHERE id = $1`, f.Before).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, envoi.FieldError(envoi.EInvalidInput, "before", "no message %s to page from", f.Before)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: messages: %w", err)
		}
		where = append(where, "seq < "+a.add(seq))
	}
	q := `SELECT ` + messageColumns + ` FROM messages WHERE ` + strings.Join(where, " AND ")
	q += fmt.Sprintf(` ORDER BY seq DESC LIMIT %d`, limit)
	rows, err := s.reads().QueryContext(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: messages: %w", err)
	}
	defer rows.Close()
	out := []*envoi.Message{}
	for rows.Next() {
		m, err := scanMessage(rows, false)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: messages: %w", err)
	}
	rows.Close()
	return out, s.ApplyMailboxWaits(ctx, out...)
}

// UpdateMessage writes m's status, attempts, error, next try, sent time,
// flow and mailbox; a final status takes the message out of the send
// queue (it is due no more). Returns ENotFound if there is no such message and
// EInvalidInput for an unknown status.
func (s *Store) UpdateMessage(ctx context.Context, m *envoi.Message) error {
	if !validStatus(m.Status) {
		return envoi.FieldError(envoi.EInvalidInput, "status", "%q is not a message status", m.Status)
	}
	now := s.nowUTC()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, `SELECT status FROM messages WHERE id = $1`, m.ID).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("message", m.ID)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: message %q: %w", m.ID, err)
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE messages SET status = $1, attempts = $2, error_code = $3, error = $4, next_try = $5, sent_at = $6,
				flow = $7, mailbox = $8, updated_at = $9, due_at = CASE WHEN $1 IN ($11, $12) THEN NULL ELSE due_at END
			WHERE id = $10`,
			m.Status, m.Attempts, m.ErrorCode, m.Error, s.ts(m.NextTry), s.ts(m.SentAt), m.Flow, m.Mailbox, s.ts(now), m.ID,
			envoi.StatusSent, envoi.StatusFailed)
		if err := affected(res, err, "message", m.ID); err != nil {
			return err
		}
		// A status written again (an edit of the error) is no news; a
		// retry is, each time.
		if old == m.Status && m.Status != envoi.StatusRetrying {
			return nil
		}
		return s.appendStatusEvent(ctx, tx, m.Status, m.ID)
	})
	if err != nil {
		return err
	}
	m.UpdatedAt = now
	return nil
}
