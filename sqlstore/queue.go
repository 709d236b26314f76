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
// counts a possible duplicate in Duplicates. Returns ENotFound if there is
// no such message.
func (s *Store) ClaimMessage(ctx context.Context, id string, leaseUntil time.Time) (*envoi.Message, bool, error) {
	now := s.nowUTC()
	// One statement: two instances claiming at once cannot both win.
	m, err := scanMessage(s.db.QueryRowContext(ctx, `
		UPDATE messages SET status = $1, attempts = attempts + 1, lease_until = $2, updated_at = $3,
			duplicates = duplicates + CASE WHEN status = $1 THEN 1 ELSE 0 END
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
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE status NOT IN ($1, $2)`, envoi.StatusSent, envoi.StatusFailed).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: queue depth: %w", err)
	}
	return n, nil
}

// SentSince counts the messages sent as (flow, mailbox) since t.
func (s *Store) SentSince(ctx context.Context, flow, mailbox string, t time.Time) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE flow = $1 AND mailbox = $2 AND status = $3 AND sent_at >= $4`,
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

// requeue sets the message queued and makes its job due now.
func (s *Store) requeue(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, `UPDATE messages SET status = $1, next_try = NULL, lease_until = NULL, updated_at = $2 WHERE id = $3`,
		envoi.StatusQueued, s.ts(s.nowUTC()), id)
	if err != nil {
		return fmt.Errorf("sqlstore: requeue %s: %w", id, err)
	}
	// goqite compares job timeouts with the wall clock, not the store's.
	var due any = time.Now().UTC()
	if s.dialect == DialectSQLite {
		due = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	res, err := tx.ExecContext(ctx, `UPDATE goqite SET timeout = $1, received = 0 WHERE queue = $2 AND body = $3`, due, QueueName, []byte(id))
	if err != nil {
		return fmt.Errorf("sqlstore: requeue %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if err := s.queue.SendTx(ctx, tx, goqite.Message{Body: []byte(id)}); err != nil {
			return fmt.Errorf("sqlstore: requeue %s: %w", id, err)
		}
	}
	return nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
