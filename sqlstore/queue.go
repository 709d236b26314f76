package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"maragu.dev/goqite"

	"envoi"
)

// The methods the queue's workers need beyond envoi.MessageService: a claim
// on a message across instances, the count behind per-mailbox rate limits,
// and making jobs due again.

// ClaimMessage marks the message sending, counts an attempt and leases it
// until leaseUntil, unless it is final (sent, failed) or another worker's
// lease is still running; it returns the message and whether this caller
// won it. A claim over a lapsed "sending" lease (a worker died mid-send)
// counts a possible duplicate in Duplicates, and a claim that ended
// without an outcome in Unfinished. Returns ENotFound if there is no such
// message.
func (s *Store) ClaimMessage(ctx context.Context, id string, leaseUntil time.Time) (*envoi.Message, bool, error) {
	now := s.nowUTC()
	// One statement: two instances claiming at once cannot both win.
	m, err := scanMessage(s.db.QueryRowContext(ctx, `
		UPDATE messages SET status = $1, attempts = attempts + 1, lease_until = $2, updated_at = $3,
			duplicates = duplicates + CASE WHEN status = $1 THEN 1 ELSE 0 END,
			unfinished = unfinished + CASE WHEN status = $1 THEN 1 ELSE 0 END
		WHERE id = $4 AND status NOT IN ($5, $6) AND NOT (status = $1 AND lease_until IS NOT NULL AND lease_until > $3)
		RETURNING `+messageColumns+`, request`,
		envoi.StatusSending, s.ts(leaseUntil), s.ts(now), id, envoi.StatusSent, envoi.StatusFailed), true)
	if err == nil {
		return m, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("sqlstore: claim message %s: %w", id, err)
	}
	m, err = s.message(ctx, s.db, `id = $1`, id)
	if err != nil {
		return nil, false, err
	}
	return m, false, nil
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
// their jobs due now (after the operator consented again); it returns how
// many.
func (s *Store) ReleaseParked(ctx context.Context, key envoi.TokenKey) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM messages WHERE flow = $1 AND mailbox = $2 AND status = $3`,
			key.Flow, key.Operator, envoi.StatusConsentRequired)
		if err != nil {
			return fmt.Errorf("sqlstore: release parked: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: release parked: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: release parked: %w", err)
		}
		for _, id := range ids {
			if err := s.requeue(ctx, tx, id); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// RequeueMessage makes the message queued and its job due now (a manual
// retry), creating the job again if a final outcome had deleted it.
// Returns ENotFound if there is no such message and EConflict when it was
// sent or a worker is sending it now.
func (s *Store) RequeueMessage(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		m, err := s.message(ctx, tx, `id = $1`, id)
		if err != nil {
			return err
		}
		if m.Status == envoi.StatusSent {
			return envoi.Errorf(envoi.EConflict, "message %s was already sent", id).WithDetail("status", m.Status)
		}
		if m.Status == envoi.StatusSending && m.LeaseUntil.After(s.nowUTC()) {
			return envoi.Errorf(envoi.EConflict, "message %s is being sent now", id).WithDetail("status", m.Status)
		}
		return s.requeue(ctx, tx, id)
	})
}

// requeue makes the message's job due now and sets the message queued
// (the job first: the order ClaimDue locks them in), with a new budget of
// claims without an outcome (Unfinished).
func (s *Store) requeue(ctx context.Context, tx *sql.Tx, id string) error {
	// goqite compares job timeouts with the wall clock, not the store's.
	res, err := tx.ExecContext(ctx, `UPDATE goqite SET timeout = $1, received = 0 WHERE queue = $2 AND body = $3`, s.goqiteTime(time.Now()), QueueName, []byte(id))
	if err != nil {
		return fmt.Errorf("sqlstore: requeue %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if err := s.queue.SendTx(ctx, tx, goqite.Message{Body: []byte(id)}); err != nil {
			return fmt.Errorf("sqlstore: requeue %s: %w", id, err)
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE messages SET status = $1, next_try = NULL, lease_until = NULL, unfinished = 0, updated_at = $2 WHERE id = $3`,
		envoi.StatusQueued, s.ts(s.nowUTC()), id)
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

// The send path's own queue statements. goqite stays the queue's library
// (its table, SendTx, Extend, Delete), but a worker receives through
// ClaimDue: on PostgreSQL goqite's receive (UPDATE ... WHERE id = (SELECT
// ... LIMIT 1)) hands one job to every instance that asks at the same
// moment, and each then claims and loses; FOR UPDATE SKIP LOCKED gives
// each instance other jobs. And one transaction receives several jobs and
// claims their messages, where goqite would take one transaction per job
// and the claim another.

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
	defer s.stmtMu.Unlock()
	if s.stmts == nil {
		s.stmts = map[stmtKey]*sql.Stmt{}
	}
	if old := s.stmts[k]; old != nil {
		st.Close()
		return old, nil
	}
	s.stmts[k] = st
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

// goqiteTime is a job timeout as goqite writes it: the wall clock (goqite
// compares timeouts with time.Now, not with the store's clock), as text
// with milliseconds on SQLite.
func (s *Store) goqiteTime(t time.Time) any {
	t = t.UTC()
	if s.dialect == DialectSQLite {
		return t.Format("2006-01-02T15:04:05.000Z07:00")
	}
	return t
}

const (
	receiveSQLite = `
		UPDATE goqite SET timeout = $1, received = received + 1
		WHERE id IN (
			SELECT id FROM goqite WHERE queue = $2 AND $3 >= timeout AND received < $4
			ORDER BY priority DESC, created LIMIT $5)
		RETURNING id, body`
	receivePostgres = `
		WITH due AS (
			SELECT id FROM goqite WHERE queue = $2 AND $3 >= timeout AND received < $4
			ORDER BY priority DESC, created LIMIT $5
			FOR UPDATE SKIP LOCKED)
		UPDATE goqite g SET timeout = $1, received = g.received + 1 FROM due WHERE g.id = due.id
		RETURNING g.id, g.body`
	claimSQL = `
		UPDATE messages SET status = $1, attempts = attempts + 1, lease_until = $2, updated_at = $3,
			duplicates = duplicates + CASE WHEN status = $1 THEN 1 ELSE 0 END,
			unfinished = unfinished + CASE WHEN status = $1 THEN 1 ELSE 0 END
		WHERE id = $4 AND status NOT IN ($5, $6) AND NOT (status = $1 AND lease_until IS NOT NULL AND lease_until > $3)
		RETURNING ` + messageColumns + `, request`
	claimLostSQL = `SELECT status, lease_until FROM messages WHERE id = $1`
	deleteJobSQL = `DELETE FROM goqite WHERE id = $1`
	delayJobSQL  = `UPDATE goqite SET timeout = $1 WHERE id = $2`
	finishSQL    = `
		UPDATE messages SET status = $1, attempts = $2, error_code = $3, error = $4, next_try = $5, sent_at = $6,
			updated_at = $7, lease_until = CASE WHEN $1 = $8 THEN lease_until ELSE NULL END,
			unfinished = CASE WHEN $1 = $8 THEN unfinished ELSE 0 END
		WHERE id = $9`
)

// ClaimDue receives up to n due send jobs, hides each for lease, and claims
// their messages as ClaimMessage does, all in one transaction. It returns
// the messages this caller won, each with its Job set, and no EML (see
// EML). Jobs whose message is final or gone are deleted on the way; a job
// whose message another worker holds stays hidden until that worker's
// lease lapses.
func (s *Store) ClaimDue(ctx context.Context, n int, lease time.Duration) ([]*envoi.Message, error) {
	if n <= 0 {
		return nil, nil
	}
	receive := receiveSQLite
	if s.dialect == DialectPostgres {
		receive = receivePostgres
	}
	stmts, err := s.writeStmts(ctx, receive, claimSQL)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: receive send jobs: %w", err)
	}
	var won []*envoi.Message
	err = s.tx(ctx, func(tx *sql.Tx) error {
		won = won[:0]
		wall := time.Now()
		rows, err := tx.StmtContext(ctx, stmts[0]).QueryContext(ctx, s.goqiteTime(wall.Add(lease)), QueueName, s.goqiteTime(wall), s.maxReceive, n)
		if err != nil {
			return fmt.Errorf("sqlstore: receive send jobs: %w", err)
		}
		type job struct{ id, msg string }
		var jobs []job
		for rows.Next() {
			var j job
			var body []byte
			if err := rows.Scan(&j.id, &body); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: receive send jobs: %w", err)
			}
			j.msg = string(body)
			jobs = append(jobs, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: receive send jobs: %w", err)
		}
		if len(jobs) == 0 {
			return nil
		}
		claim := tx.StmtContext(ctx, stmts[1])
		now := s.nowUTC()
		for _, j := range jobs {
			m, err := scanMessage(claim.QueryRowContext(ctx, envoi.StatusSending, s.ts(now.Add(lease)), s.ts(now), j.msg, envoi.StatusSent, envoi.StatusFailed), true)
			if err == nil {
				m.Job = j.id
				won = append(won, m)
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: claim message %s: %w", j.msg, err)
			}
			var status string
			var leaseUntil time.Time
			err = tx.QueryRowContext(ctx, claimLostSQL, j.msg).Scan(&status, scanTime(&leaseUntil))
			if errors.Is(err, sql.ErrNoRows) || (err == nil && envoi.Final(status)) {
				// Nothing left to send for this job.
				if _, err := tx.ExecContext(ctx, deleteJobSQL, j.id); err != nil {
					return fmt.Errorf("sqlstore: delete job of %s: %w", j.msg, err)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("sqlstore: claim message %s: %w", j.msg, err)
			}
			// Another worker's lease runs: the job stays hidden as long,
			// and no longer. The job's timeout and the message's lease were
			// set a moment apart by that worker's claim; received in
			// between, the job would otherwise stay hidden for a whole
			// lease more (a message whose worker died, twice as long).
			if left := leaseUntil.Sub(now); status == envoi.StatusSending && left < lease {
				if _, err := tx.ExecContext(ctx, delayJobSQL, s.goqiteTime(wall.Add(max(left, 0))), j.id); err != nil {
					return fmt.Errorf("sqlstore: delay job of %s: %w", j.msg, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return won, nil
}

// Finish records the outcome of a claimed message — m's status, attempts,
// error, next try and sent time — and settles its job (m.Job) in the same
// transaction: deleted when m is final, due again after delay otherwise.
// The lease is dropped unless m is still sending, and with it the count of
// claims without an outcome (an outcome was recorded). A sensitive
// message's bytes are deleted once it is final: sent or failed, nothing
// reads them again. Returns ENotFound when the message is gone,
// EInvalidInput for an unknown status.
func (s *Store) Finish(ctx context.Context, m *envoi.Message, delay time.Duration) error {
	if !validStatus(m.Status) {
		return envoi.FieldError(envoi.EInvalidInput, "status", "%q is not a message status", m.Status)
	}
	settle := delayJobSQL
	if envoi.Final(m.Status) {
		settle = deleteJobSQL
	}
	queries := []string{finishSQL, settle}
	erase := envoi.Final(m.Status) && m.Sensitive
	if erase {
		queries = append(queries, eraseEMLSQL)
	}
	stmts, err := s.writeStmts(ctx, queries...)
	if err != nil {
		return fmt.Errorf("sqlstore: finish message %s: %w", m.ID, err)
	}
	now := s.nowUTC()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// The job first, then the message: the order ClaimDue locks them
		// in, so that two transactions never wait for each other.
		if m.Job != "" {
			settle := tx.StmtContext(ctx, stmts[1])
			var err error
			if envoi.Final(m.Status) {
				_, err = settle.ExecContext(ctx, m.Job)
			} else {
				_, err = settle.ExecContext(ctx, s.goqiteTime(time.Now().Add(delay)), m.Job)
			}
			if err != nil {
				return fmt.Errorf("sqlstore: settle job of %s: %w", m.ID, err)
			}
		}
		res, err := tx.StmtContext(ctx, stmts[0]).ExecContext(ctx, m.Status, m.Attempts, m.ErrorCode, m.Error, s.ts(m.NextTry), s.ts(m.SentAt), s.ts(now), envoi.StatusSending, m.ID)
		if err := affected(res, err, "message", m.ID); err != nil {
			return err
		}
		if erase {
			if _, err := tx.StmtContext(ctx, stmts[2]).ExecContext(ctx, m.ID); err != nil {
				return fmt.Errorf("sqlstore: erase eml of %s: %w", m.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.UpdatedAt = now
	if m.Status != envoi.StatusSending {
		m.LeaseUntil = time.Time{}
		m.Unfinished = 0
	}
	return nil
}
