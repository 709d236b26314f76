package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"envoi"
)

// The send queue is the messages table: a message not final is a job,
// due at due_at; a claim leases it (status sending, due_at = lease_until)
// and counts a claim token (claim) that Finish compares, so only the
// holder of the latest claim records an outcome. The methods the queue's
// workers need beyond envoi.MessageService: claims across instances, the
// count behind per-mailbox rate limits, and making messages due again.

// ClaimMessage marks the message sending, counts an attempt and leases it
// until leaseUntil, unless it is final (sent, failed) or another worker's
// lease is still running; it returns the message and whether this caller
// won it: a won claim has its token (see Finish), a lost one none. A
// claim over a lapsed "sending" lease (a worker died mid-send) counts a
// possible duplicate in Duplicates, and a claim that ended without an
// outcome in Unfinished. Returns ENotFound if there is no such message.
func (s *Store) ClaimMessage(ctx context.Context, id string, leaseUntil time.Time) (*envoi.Claim, bool, error) {
	now := s.nowUTC()
	// One statement: two instances claiming at once cannot both win.
	c, err := scanClaimed(s.db.QueryRowContext(ctx, `
		UPDATE messages SET `+claimSet+`
		WHERE id = $4 AND status NOT IN ($5, $6) AND NOT (status = $1 AND lease_until IS NOT NULL AND lease_until > $3)
		RETURNING `+messageColumns+`, request, claim, lease_until, unfinished`,
		envoi.StatusSending, s.ts(leaseUntil), s.ts(now), id, envoi.StatusSent, envoi.StatusFailed))
	if err == nil {
		return c, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, locked(fmt.Errorf("sqlstore: claim message %s: %w", id, err))
	}
	m, err := s.message(ctx, s.db, `id = $1`, id)
	if err != nil {
		return nil, false, err
	}
	return &envoi.Claim{Message: m}, false, nil
}

// QueueDepth counts the messages not yet in a final state: queued,
// sending, retrying or parked on consent.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := s.reads().QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE status NOT IN ($1, $2)`, envoi.StatusSent, envoi.StatusFailed).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: queue depth: %w", err)
	}
	return n, nil
}

// SentSince counts the messages sent as (flow, mailbox) since t.
func (s *Store) SentSince(ctx context.Context, flow, mailbox string, t time.Time) (int, error) {
	var n int
	err := s.reads().QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE flow = $1 AND mailbox = $2 AND status = $3 AND sent_at >= $4`,
		flow, mailbox, envoi.StatusSent, s.ts(t)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: sent since: %w", err)
	}
	return n, nil
}

// ReleaseParked makes the messages parked on consent for key queued and
// due now (after the operator consented again); it returns how many.
func (s *Store) ReleaseParked(ctx context.Context, key envoi.TokenKey) (int, error) {
	now := s.ts(s.nowUTC())
	res, err := s.db.ExecContext(ctx, `UPDATE messages SET status = $1, next_try = NULL, lease_until = NULL, unfinished = 0,
		due_at = $2, claim = claim + 1, updated_at = $2 WHERE flow = $3 AND mailbox = $4 AND status = $5`,
		envoi.StatusQueued, now, key.Flow, key.Operator, envoi.StatusConsentRequired)
	if err != nil {
		return 0, locked(fmt.Errorf("sqlstore: release parked: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: release parked: %w", err)
	}
	return int(n), nil
}

// RequeueMessage makes the message queued and due now (a manual retry),
// also after a final outcome.
// Returns ENotFound if there is no such message and EConflict when it was
// sent or a worker is sending it now.
func (s *Store) RequeueMessage(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var status string
		var lease, pruned time.Time
		err := tx.QueryRowContext(ctx, `SELECT status, lease_until, eml_pruned_at FROM messages WHERE id = $1`, id).Scan(&status, scanTime(&lease), scanTime(&pruned))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("message", id)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: message %q: %w", id, err)
		}
		if status == envoi.StatusSent {
			return envoi.Errorf(envoi.EConflict, "message %s was already sent", id).WithDetail("status", status)
		}
		if status == envoi.StatusSending && lease.After(s.nowUTC()) {
			return envoi.Errorf(envoi.EConflict, "message %s is being sent now", id).WithDetail("status", status)
		}
		if !pruned.IsZero() {
			return prunedError(id, pruned)
		}
		return s.requeue(ctx, tx, id)
	})
}

// requeue makes the message queued and due now, with a new budget of
// claims without an outcome (Unfinished). It counts a claim: a worker
// still holding an older one cannot record an outcome over it.
func (s *Store) requeue(ctx context.Context, tx *sql.Tx, id string) error {
	now := s.ts(s.nowUTC())
	_, err := tx.ExecContext(ctx, `UPDATE messages SET status = $1, next_try = NULL, lease_until = NULL, unfinished = 0,
		due_at = $2, claim = claim + 1, updated_at = $2 WHERE id = $3`,
		envoi.StatusQueued, now, id)
	if err != nil {
		return fmt.Errorf("sqlstore: requeue %s: %w", id, err)
	}
	return nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// stmtKey names a prepared statement of one handle.
type stmtKey struct {
	db    *sql.DB
	query string
}

// prepared returns the statement of query prepared on db, preparing it on
// first use. database/sql prepares it again on each connection it runs on.
func (s *Store) prepared(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{db, query}
	s.stmtMu.Lock()
	st := s.stmts[k]
	s.stmtMu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	if s.stmts == nil {
		s.stmts = map[stmtKey]*sql.Stmt{}
	}
	old := s.stmts[k]
	if old == nil {
		s.stmts[k] = st
	}
	s.stmtMu.Unlock()
	if old != nil {
		// Another caller prepared it meanwhile. Closed outside stmtMu:
		// closing waits for the connections the statement was prepared
		// on, one of which may be a transaction's that needs stmtMu to
		// go on (txExec), which would deadlock.
		st.Close()
		return old, nil
	}
	return st, nil
}

// writeStmts returns the queries prepared on the write handle. Call it
// before a transaction begins: on SQLite the transaction holds the one
// write connection, which preparing would wait for.
func (s *Store) writeStmts(ctx context.Context, queries ...string) ([]*sql.Stmt, error) {
	out := make([]*sql.Stmt, len(queries))
	for i, q := range queries {
		st, err := s.prepared(ctx, s.db, q)
		if err != nil {
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// The send path's statements. A claim (ClaimDue, schedule.go) leases
// each message it takes with claimSet, in one transaction serialised
// across instances, so two instances never get the same message.
const (
	// claimSet leases a message: $1 sending, $2 the lease's end, $3 now.
	// due_at is the lease's end too: a message whose worker died is due
	// again when its lease lapses, and then claimed as a possible
	// duplicate and a claim without an outcome.
	claimSet = `status = $1, attempts = attempts + 1, lease_until = $2, due_at = $2, claim = claim + 1, updated_at = $3,
			duplicates = duplicates + CASE WHEN status = $1 THEN 1 ELSE 0 END,
			unfinished = unfinished + CASE WHEN status = $1 THEN 1 ELSE 0 END`
	// finishSet records an outcome: $8 sending (the lease and due time
	// stay while the message is still being sent), $9 the next due time
	// (NULL when final).
	finishSet = `status = $1, attempts = $2, error_code = $3, error = $4, next_try = $5, sent_at = $6, updated_at = $7,
			lease_until = CASE WHEN $1 = $8 THEN lease_until ELSE NULL END,
			unfinished = CASE WHEN $1 = $8 THEN unfinished ELSE 0 END,
			due_at = CASE WHEN $1 = $8 THEN due_at ELSE $9 END, wait_reason = $10,
			provider_message_id = $11`
	finishSQL       = `UPDATE messages SET ` + finishSet + ` WHERE id = $12`
	finishFencedSQL = `UPDATE messages SET ` + finishSet + ` WHERE id = $12 AND claim = $13 AND status = $8`
	claimOfSQL      = `SELECT claim FROM messages WHERE id = $1`
)

// scanClaimed scans messageColumns, the request, and the claim's token,
// lease and count of claims without an outcome.
func scanClaimed(row interface{ Scan(...any) error }) (*envoi.Claim, error) {
	var claim int64
	c := new(envoi.Claim)
	m, err := scanMessage(row, true, &claim, scanTime(&c.LeaseUntil), &c.Unfinished)
	if err != nil {
		return nil, err
	}
	c.Message, c.Token = m, strconv.FormatInt(claim, 10)
	return c, nil
}

// Finish records the outcome of a claimed message — c's status, attempts,
// error, next try and sent time — and when it is due again: never when c
// is final, after delay otherwise. The lease is dropped unless m is still
// sending, and with it the count of claims without an outcome (an outcome
// was recorded). A sensitive message's bytes are deleted once it is
// final: sent or failed, nothing reads them again.
//
// The outcome is recorded only if c (its Token, set by ClaimDue) is still
// the message's latest claim: a worker whose lease lapsed while another
// claimed the message gets EConflict and changes nothing. A c without a
// Token is recorded whatever the claim. Returns ENotFound when
// the message is gone, EInvalidInput for an unknown status.
func (s *Store) Finish(ctx context.Context, c *envoi.Claim, delay time.Duration) error {
	_, err := s.finish(ctx, c, delay, 0)
	return err
}

// FinishAndClaim is Finish, then ClaimDue for one message, in the same
// transaction: a worker whose send ended takes its next message with the
// commit that records the outcome, instead of a commit of its own. The
// claim goes round the mailboxes as ClaimDue's does. next is nil when
// nothing is due or no mailbox has room, and on PostgreSQL when the
// outcome went in one statement of its own (no transaction to claim in);
// with an error, nothing was recorded or claimed.
func (s *Store) FinishAndClaim(ctx context.Context, c *envoi.Claim, delay, lease time.Duration) (next *envoi.Claim, err error) {
	if lease <= 0 {
		return nil, envoi.FieldError(envoi.EInvalidInput, "lease", "the lease must be positive")
	}
	return s.finish(ctx, c, delay, lease)
}

// finish records c's outcome (Finish) and, with lease > 0, claims the
// next message in the same transaction (FinishAndClaim).
func (s *Store) finish(ctx context.Context, c *envoi.Claim, delay, lease time.Duration) (*envoi.Claim, error) {
	m := c.Message
	if !validStatus(m.Status) {
		return nil, envoi.FieldError(envoi.EInvalidInput, "status", "%q is not a message status", m.Status)
	}
	var claim int64
	query := finishSQL
	if c.Token != "" {
		var err error
		if claim, err = strconv.ParseInt(c.Token, 10, 64); err != nil {
			return nil, envoi.FieldError(envoi.EInvalidInput, "claim", "%q is not a claim token", c.Token)
		}
		query = finishFencedSQL
	}
	queries := []string{query}
	erase := envoi.Final(m.Status) && m.Sensitive
	if erase {
		queries = append(queries, eraseEMLSQL)
	}
	now := s.nowUTC()
	var due any
	if !envoi.Final(m.Status) {
		due = s.ts(now.Add(max(delay, 0)))
	}
	wait := m.WaitReason
	if envoi.Final(m.Status) || m.Status == envoi.StatusSending {
		wait = ""
	}
	args := []any{m.Status, m.Attempts, m.ErrorCode, m.Error, s.ts(m.NextTry), s.ts(m.SentAt), s.ts(now), envoi.StatusSending, due, wait, m.ProviderMessageID, m.ID}
	if c.Token != "" {
		args = append(args, claim)
	}
	finished := func() {
		m.UpdatedAt = now
		if m.Status != envoi.StatusSending {
			c.LeaseUntil = time.Time{}
			c.Unfinished = 0
		}
	}
	if event := envoi.MessageEvent(m.Status); s.dialect == DialectPostgres && c.Token != "" && !erase && event != "" {
		if ok, err := s.finishPG(ctx, m, event, args); err != nil {
			return nil, fmt.Errorf("sqlstore: finish message %s: %w", m.ID, err)
		} else if ok {
			// One statement, no transaction to claim in: the worker's
			// next claim is its own (FinishAndClaim then claims none).
			finished()
			return nil, nil
		}
		// Nothing changed: the transaction below says why, or records
		// the outcome of a message whose request no longer matches its
		// columns.
	}
	stmts, err := s.writeStmts(ctx, queries...)
	if err != nil {
		return nil, locked(fmt.Errorf("sqlstore: finish message %s: %w", m.ID, err))
	}
	if lease > 0 {
		// The claim reads the flows' limits at one version of the
		// configuration.
		ctx = s.ConfigSnapshot(ctx)
	}
	record := func(st *sql.Stmt, q queryRower) error {
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return fmt.Errorf("sqlstore: finish message %s: %w", m.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		// No row: the message is gone, or another worker claimed it since.
		var latest int64
		err = q.QueryRowContext(ctx, claimOfSQL, m.ID).Scan(&latest)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("message", m.ID)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: finish message %s: %w", m.ID, err)
		}
		return envoi.Errorf(envoi.EConflict, "message %s was claimed again since this worker's claim (its lease lapsed): the outcome %s is not recorded", m.ID, m.Status).
			WithDetail("claim", c.Token).WithDetail("latest_claim", strconv.FormatInt(latest, 10))
	}
	// The outcome and its webhook event (AppendMessageEvent) commit
	// together, with the outcomes of other sends that ended meanwhile
	// (grouped).
	var next *envoi.Claim
	if event := envoi.MessageEvent(m.Status); erase || event != "" || lease > 0 {
		err = s.grouped(ctx, func(tx *sql.Tx) error {
			next = nil
			if err := record(tx.StmtContext(ctx, stmts[0]), tx); err != nil {
				return err
			}
			if erase {
				if _, err := tx.StmtContext(ctx, stmts[1]).ExecContext(ctx, m.ID); err != nil {
					return fmt.Errorf("sqlstore: erase eml of %s: %w", m.ID, err)
				}
			}
			if event != "" {
				if err := s.AppendMessageEvent(ctx, tx, event, m.ID, nil); err != nil {
					return err
				}
			}
			if lease > 0 {
				won, err := s.claimNextIn(ctx, tx, 1, lease)
				if err != nil {
					return err
				}
				if len(won) > 0 {
					next = won[0]
				}
			}
			return nil
		})
	} else {
		err = locked(record(stmts[0], s.db))
	}
	if err != nil {
		return nil, err
	}
	finished()
	return next, nil
}

// finishEventPGSQL is finishFencedSQL and the event of the outcome in one
// statement, on PostgreSQL: one round trip where the transaction of
// Finish takes six (begin, the outcome, the read of the row the event
// reports, the event, its fan-out, commit). The event's data are the
// outcome's own values and the message's identity columns, which the
// statement checks ($14-$18: entity type and id, document flow,
// operator, company), so that they are what the row holds, as
// AppendMessageEvent would read them; the check is one row comparison
// with IS NOT DISTINCT FROM, which no index answers, so that the plan
// finds the row by id (a generic plan took messages_entity_idx for
// column equalities, and read every message of the entity). $19 and on:
// eventCTEsPG's.
var finishEventPGSQL = `WITH done AS (UPDATE messages SET ` + finishSet + `
		WHERE id = $12 AND claim = $13 AND status = $8
		AND (entity_type, entity_id, document_flow, operator, company) IS NOT DISTINCT FROM ($14, $15, $16, $17, $18)
		RETURNING id),
	` + eventCTEsPG("done", 19) + `
	SELECT count(*) FROM done`

// finishPG records the outcome of m and its event of type event with
// finishEventPGSQL; args are finishFencedSQL's. It returns false when the
// statement changed nothing: the claim is no longer the latest, the
// message is gone, or its identity columns differ from its request.
func (s *Store) finishPG(ctx context.Context, m *envoi.Message, event string, args []any) (bool, error) {
	r := messageEventRowOf(m)
	ev, err := s.eventArgsPG(event, r.data())
	if err != nil {
		return false, err
	}
	st, err := s.prepared(ctx, s.db, finishEventPGSQL)
	if err != nil {
		return false, err
	}
	all := append(slices.Clone(args), r.entityType, r.entityID, r.documentFlow, r.operator, r.company)
	var n int
	if err := st.QueryRowContext(ctx, append(all, ev...)...).Scan(&n); err != nil {
		return false, err
	}
	return n == 1, nil
}

// storedTime is t as the database keeps it and gives it back: UTC, to
// the microsecond (see Store.ts).
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}
