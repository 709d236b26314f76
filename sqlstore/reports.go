package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"envoi"
)

// The reports that come back to a sending mailbox (see package dsn and
// the report watcher): the messages they are about, what they said, and
// where the watch of each mailbox stopped.

// ReportMailboxes returns the mailboxes (flow, operator; "" for a flow's
// generic mailbox) that sent a message since that time: the ones to watch
// for reports, by flow and operator.
func (s *Store) ReportMailboxes(ctx context.Context, since time.Time) ([]envoi.TokenKey, error) {
	rows, err := s.reads().QueryContext(ctx, `
		SELECT DISTINCT flow, mailbox FROM messages
		WHERE status IN ($1, $2) AND sent_at >= $3 AND flow <> '' AND NOT sensitive
		ORDER BY flow, mailbox`, envoi.StatusSent, envoi.StatusBounced, s.ts(since))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: report mailboxes: %w", err)
	}
	defer rows.Close()
	var out []envoi.TokenKey
	for rows.Next() {
		var k envoi.TokenKey
		if err := rows.Scan(&k.Flow, &k.Operator); err != nil {
			return nil, fmt.Errorf("sqlstore: report mailboxes: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// MatchReport returns the id of the message a report is about, among
// the messages sent from mailbox (a report in one mailbox is about a
// message sent from it, never another's): the first of envoiIDs (the
// private header's values) that names one, else the first of messageIDs
// (Message-IDs, angle brackets included) that is one's. ENotFound when
// none is.
func (s *Store) MatchReport(ctx context.Context, mailbox envoi.TokenKey, envoiIDs, messageIDs []string) (string, error) {
	const q = `SELECT id FROM messages WHERE %s = $1 AND flow = $2 AND mailbox = $3 AND sent_at IS NOT NULL AND NOT sensitive`
	for _, c := range []struct {
		col string
		ids []string
	}{{"id", envoiIDs}, {"message_id", messageIDs}} {
		for _, v := range c.ids {
			var id string
			err := s.reads().QueryRowContext(ctx, fmt.Sprintf(q, c.col), v, mailbox.Flow, mailbox.Operator).Scan(&id)
			if err == nil {
				return id, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return "", fmt.Errorf("sqlstore: match report: %w", err)
			}
		}
	}
	return "", envoi.Errorf(envoi.ENotFound, "no message of mailbox %s/%s is named by the report", mailbox.Flow, mailbox.Operator)
}

// RecordBounce records that message id bounced: status bounced and b, in
// one transaction. Only a sent message bounces, and once: it returns
// false, nil when the message is not sent (still being sent, failed) or
// already bounced, ENotFound when there is no such message.
func (s *Store) RecordBounce(ctx context.Context, id string, b envoi.Bounce) (bool, error) {
	v, err := bounceJSON(b)
	if err != nil {
		return false, err
	}
	changed := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE messages SET status = $2, bounce = $3, updated_at = $4
			WHERE id = $1 AND status = $5 AND bounce = ''`,
			id, envoi.StatusBounced, v, s.ts(s.nowUTC()), envoi.StatusSent)
		if changed, err = recorded(ctx, tx, res, err, id); err != nil || !changed {
			return err
		}
		// The event is written with the state change, in its transaction.
		return s.AppendMessageEvent(ctx, tx, envoi.EventMessageBounced, id, func(d *envoi.EventData) { d.Bounce = b })
	})
	return changed, err
}

// RecordDelay records a delay notice about message id: its status is
// unchanged, the notice is kept (the latest one). It returns false, nil
// when the message is not sent or bounced or the same notice is already
// recorded, ENotFound when there is no such message.
func (s *Store) RecordDelay(ctx context.Context, id string, b envoi.Bounce) (bool, error) {
	v, err := bounceJSON(b)
	if err != nil {
		return false, err
	}
	changed := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE messages SET delay = $2, updated_at = $3
			WHERE id = $1 AND status IN ($4, $5) AND delay <> $2`,
			id, v, s.ts(s.nowUTC()), envoi.StatusSent, envoi.StatusBounced)
		if changed, err = recorded(ctx, tx, res, err, id); err != nil || !changed {
			return err
		}
		return s.AppendMessageEvent(ctx, tx, envoi.EventMessageDelayed, id, func(d *envoi.EventData) { d.Bounce = b })
	})
	return changed, err
}

// RecordRead records that a read receipt says message id was displayed
// at that time. The first receipt counts: it returns false, nil when one
// was recorded already or the message is not sent, ENotFound when there
// is no such message.
func (s *Store) RecordRead(ctx context.Context, id string, at time.Time) (bool, error) {
	if at.IsZero() {
		at = s.nowUTC()
	}
	changed := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE messages SET read_at = $2, updated_at = $3
			WHERE id = $1 AND status IN ($4, $5) AND read_at IS NULL`,
			id, s.ts(at), s.ts(s.nowUTC()), envoi.StatusSent, envoi.StatusBounced)
		if changed, err = recorded(ctx, tx, res, err, id); err != nil || !changed {
			return err
		}
		return s.AppendMessageEvent(ctx, tx, envoi.EventMessageRead, id, func(d *envoi.EventData) { d.ReadAt = at })
	})
	return changed, err
}

// recorded says whether an update of a report changed the message: no
// row changed is ENotFound when there is no message id, else false (the
// report was recorded before, or the message is in no state for it).
func recorded(ctx context.Context, tx *sql.Tx, res sql.Result, err error, id string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("sqlstore: record report on %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: record report on %s: %w", id, err)
	}
	if n > 0 {
		return true, nil
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("message", id)
	}
	if err != nil {
		return false, fmt.Errorf("sqlstore: record report on %s: %w", id, err)
	}
	return false, nil
}

// maxReportField bounds what is kept of a report's fields.
const maxReportField = 1000

func bounceJSON(b envoi.Bounce) (string, error) {
	for _, f := range []*string{&b.Recipient, &b.Status, &b.Diagnostic} {
		if len(*f) > maxReportField {
			*f = strings.ToValidUTF8((*f)[:maxReportField], "")
		}
	}
	if !b.At.IsZero() {
		b.At = b.At.UTC().Truncate(time.Second)
	}
	v, err := json.Marshal(b)
	if err != nil {
		return "", fmt.Errorf("sqlstore: report: %w", err)
	}
	return string(v), nil
}

// parseBounce reads a bounce or delay column (empty: nil).
func parseBounce(v string) *envoi.Bounce {
	if v == "" {
		return nil
	}
	var b envoi.Bounce
	if json.Unmarshal([]byte(v), &b) != nil {
		return nil
	}
	return &b
}

// ReportCursor returns where the watch of mailbox's folder stopped: the
// folder's UIDVALIDITY and the last UID looked at; zeros when it never
// ran.
func (s *Store) ReportCursor(ctx context.Context, mailbox envoi.TokenKey, folder string) (uidValidity, lastUID uint32, err error) {
	var v, u int64
	err = s.db.QueryRowContext(ctx, `SELECT uidvalidity, last_uid FROM report_cursors WHERE flow = $1 AND mailbox = $2 AND folder = $3`,
		mailbox.Flow, mailbox.Operator, folder).Scan(&v, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("sqlstore: report cursor: %w", err)
	}
	return uint32(v), uint32(u), nil
}

// SetReportCursor stores where the watch of mailbox's folder stopped.
func (s *Store) SetReportCursor(ctx context.Context, mailbox envoi.TokenKey, folder string, uidValidity, lastUID uint32) error {
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO report_cursors (flow, mailbox, folder, uidvalidity, last_uid, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (flow, mailbox, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
			updated_at = excluded.updated_at`,
		mailbox.Flow, mailbox.Operator, folder, int64(uidValidity), int64(lastUID), s.ts(s.nowUTC()))
	if err != nil {
		return fmt.Errorf("sqlstore: report cursor: %w", err)
	}
	return nil
}

// TakeReportLease makes holder the one watcher of mailbox until that
// time, unless another holds a lease on it that has not expired: it
// returns false then. A holder extends its own lease the same way.
func (s *Store) TakeReportLease(ctx context.Context, mailbox envoi.TokenKey, holder string, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `
		INSERT INTO report_leases (flow, mailbox, holder, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (flow, mailbox) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE report_leases.holder = excluded.holder OR report_leases.expires_at < $5`,
		mailbox.Flow, mailbox.Operator, holder, s.ts(until), s.ts(s.nowUTC()))
	if err != nil {
		return false, locked(fmt.Errorf("sqlstore: report lease: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: report lease: %w", err)
	}
	return n > 0, nil
}

// ReleaseReportLease ends holder's lease on mailbox, if it still has it.
func (s *Store) ReleaseReportLease(ctx context.Context, mailbox envoi.TokenKey, holder string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM report_leases WHERE flow = $1 AND mailbox = $2 AND holder = $3`,
		mailbox.Flow, mailbox.Operator, holder)
	if err != nil {
		return fmt.Errorf("sqlstore: report lease: %w", err)
	}
	return nil
}
