package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"envoi"
)

// Scheduling per mailbox. A message is sent through a mailbox (its flow
// and mailbox columns: the identity and the server); table mailboxes
// lists them. A claim goes round the mailboxes with due messages, least
// recently served first, and takes one message of each in turn while its
// mailbox has room: a free connection (its flow's limits.connections,
// counted as the live leases of its messages), room in its rate
// (messages claimed in the last minute) and in its daily quotas
// (messages and recipients sent or being sent in the last 24 hours).
// A mailbox found at its rate or quota is paused (wait_until,
// wait_reason) until room comes back; a throttling reply from the
// provider pauses it too (PauseMailbox). Claims are serialised — on
// SQLite by its one writer, on PostgreSQL by a transaction-scoped
// advisory lock — so that the counts hold across every instance.

// rateWindow is the window messages_per_minute counts claims in: a
// minute, and a second for the time between a claim and the provider's
// count of it (the provider's minute starts at its MAIL, later).
const rateWindow = time.Minute + time.Second

// quotaWindow is the window of the daily limits: 24 hours and a minute
// for the time between a claim and the provider's count of it.
const quotaWindow = envoi.QuotaWindow + time.Minute

// claimLockKey is the PostgreSQL advisory lock of the claims, taken by
// claimLockSQL.
const (
	claimLockKey = 0x656e766f69 // "envoi"
	claimLockSQL = `SELECT pg_advisory_xact_lock($1)`
)

// waiting fills a message's NextAttemptAt and WaitReason from its due
// time and stored reason: a message neither final nor being sent waits
// until due.
func waiting(m *envoi.Message, due time.Time) {
	if envoi.Final(m.Status) || m.Status == envoi.StatusSending || m.Status == envoi.StatusBounced || due.IsZero() {
		m.NextAttemptAt, m.WaitReason = time.Time{}, ""
		return
	}
	m.NextAttemptAt = due
	if m.WaitReason == "" {
		switch m.Status {
		case envoi.StatusRetrying:
			m.WaitReason = envoi.WaitServerRetry
		case envoi.StatusScheduled:
			m.WaitReason = envoi.WaitScheduled
		}
	}
}

// MailboxWait is a mailbox's pause: until when and why.
type MailboxWait struct {
	Flow, Mailbox string
	Until         time.Time
	Reason        string
}

// ApplyMailboxWaits shows, on the waiting messages among msgs, their
// mailbox's pause when it ends after their own due time.
func (s *Store) ApplyMailboxWaits(ctx context.Context, msgs ...*envoi.Message) error {
	now := s.nowUTC()
	seen := map[[2]string]*MailboxWait{}
	for _, m := range msgs {
		if m == nil || m.NextAttemptAt.IsZero() {
			continue
		}
		k := [2]string{m.Flow, m.Mailbox}
		w, ok := seen[k]
		if !ok {
			var until time.Time
			var reason string
			err := s.reads().QueryRowContext(ctx, `SELECT wait_until, wait_reason FROM mailboxes WHERE flow = $1 AND mailbox = $2`,
				m.Flow, m.Mailbox).Scan(scanTime(&until), &reason)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: mailbox wait: %w", err)
			}
			if until.After(now) && reason != "" {
				w = &MailboxWait{Flow: m.Flow, Mailbox: m.Mailbox, Until: until, Reason: reason}
			}
			seen[k] = w
		}
		if w != nil && w.Until.After(m.NextAttemptAt) {
			m.NextAttemptAt, m.WaitReason = w.Until, w.Reason
		}
	}
	return nil
}

// PauseMailbox holds the messages of (flow, mailbox) until until, for
// reason (envoi.WaitRateLimited, WaitQuota): a throttling reply or a
// quota found used up. A pause already running longer is kept.
func (s *Store) PauseMailbox(ctx context.Context, flow, mailbox string, until time.Time, reason string) error {
	return locked(s.pauseMailbox(ctx, s.db, flow, mailbox, until, reason))
}

const pauseMailboxSQL = `INSERT INTO mailboxes (flow, mailbox, wait_until, wait_reason) VALUES ($1, $2, $3, $4)
		ON CONFLICT (flow, mailbox) DO UPDATE SET
			wait_until = CASE WHEN mailboxes.wait_until IS NOT NULL AND mailboxes.wait_until > excluded.wait_until THEN mailboxes.wait_until ELSE excluded.wait_until END,
			wait_reason = CASE WHEN mailboxes.wait_until IS NOT NULL AND mailboxes.wait_until > excluded.wait_until THEN mailboxes.wait_reason ELSE excluded.wait_reason END`

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) pauseMailbox(ctx context.Context, db execer, flow, mailbox string, until time.Time, reason string) error {
	_, err := db.ExecContext(ctx, pauseMailboxSQL, flow, mailbox, s.ts(until), reason)
	if err != nil {
		return fmt.Errorf("sqlstore: pause mailbox %s/%s: %w", flow, mailbox, err)
	}
	return nil
}

// ExtendLease extends a claim's lease to until (the worker's heartbeat
// while it sends). Returns EConflict when c is no longer the message's
// latest claim or the message is no longer being sent: the lease was
// lost, and the holder must stop.
func (s *Store) ExtendLease(ctx context.Context, c *envoi.Claim, until time.Time) error {
	claim, err := strconv.ParseInt(c.Token, 10, 64)
	if err != nil {
		return envoi.FieldError(envoi.EInvalidInput, "claim", "%q is not a claim token", c.Token)
	}
	st, err := s.prepared(ctx, s.db, extendLeaseSQL)
	if err != nil {
		return locked(fmt.Errorf("sqlstore: extend lease of %s: %w", c.ID, err))
	}
	res, err := st.ExecContext(ctx, s.ts(until), s.ts(s.nowUTC()), c.ID, claim, envoi.StatusSending)
	if err != nil {
		return locked(fmt.Errorf("sqlstore: extend lease of %s: %w", c.ID, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlstore: extend lease of %s: %w", c.ID, err)
	} else if n != 1 {
		return envoi.Errorf(envoi.EConflict, "message %s: this worker's lease is lost (claimed again or no longer sending)", c.ID).
			WithDetail("claim", c.Token)
	}
	c.LeaseUntil = until
	return nil
}

const extendLeaseSQL = `UPDATE messages SET lease_until = $1, due_at = $1, updated_at = $2
	WHERE id = $3 AND claim = $4 AND status = $5`

// mailboxState is a candidate mailbox during one claim.
type mailboxState struct {
	flow, mailbox string
	limits        envoi.Limits
	room          int // connections free
	minute        int // claimed in the last minute
	minuteOldest  time.Time
	dayMsgs       int
	dayRcpts      int
	dayOldest     time.Time
	done          bool
	served        bool
}

const (
	candidateMailboxesSQL = `SELECT b.flow, b.mailbox FROM mailboxes b
		WHERE (b.wait_until IS NULL OR b.wait_until <= $1)
		AND EXISTS (SELECT 1 FROM messages m WHERE m.flow = b.flow AND m.mailbox = b.mailbox AND m.due_at <= $1 AND m.status NOT IN ($2, $3))
		ORDER BY (b.last_claim IS NOT NULL), b.last_claim`
	// candidateMailboxesPGSQL is candidateMailboxesSQL for PostgreSQL. A
	// prepared EXISTS there gets a generic plan that hashes every due
	// message of every mailbox (a scan of the table, 460 buffers a claim
	// with 3,000 messages); the lateral LIMIT 1 reads the first due entry
	// of each mailbox's messages_mailbox_due_idx, whatever the plan.
	candidateMailboxesPGSQL = `SELECT b.flow, b.mailbox FROM mailboxes b
		CROSS JOIN LATERAL (SELECT 1 FROM messages m WHERE m.flow = b.flow AND m.mailbox = b.mailbox AND m.due_at <= $1 AND m.status NOT IN ($2, $3) LIMIT 1) due
		WHERE (b.wait_until IS NULL OR b.wait_until <= $1)
		ORDER BY (b.last_claim IS NOT NULL), b.last_claim`
	// inflightSQL counts the live leases of the mailbox. A message being
	// sent is due when its lease ends (due_at = lease_until), so the
	// count walks messages_mailbox_due_idx past now: the messages sent
	// now and those scheduled later, not every message of the mailbox.
	inflightSQL = `SELECT count(*) FROM messages WHERE flow = $1 AND mailbox = $2 AND due_at > $4 AND status = $3 AND lease_until > $4`
	// minuteSQL counts the mailbox's messages handed to the provider in
	// the rate's window: being sent now, or whose last outcome came in
	// it (an outcome comes after the provider counted the message, a
	// claim before: counting outcomes keeps a slow hand-over from
	// pushing one past the provider's minute). A message left sending by
	// an instance that died (its lease lapsed) is not being sent: it
	// counts again when claimed again. $6 bounds the scan.
	minuteSQL = `SELECT count(*), min(CASE WHEN status = $4 THEN $5 ELSE updated_at END) FROM messages
		WHERE flow = $1 AND mailbox = $2 AND claimed_at > $6
		AND ((status = $4 AND lease_until > $5) OR (status <> $4 AND updated_at > $3))`
	daySQL = `SELECT count(*), coalesce(sum(rcpt_count), 0), min(claimed_at) FROM messages
		WHERE flow = $1 AND mailbox = $2 AND claimed_at > $3 AND status IN ($4, $5, $6)`
	nextDueSQL = `SELECT seq, delivery FROM messages WHERE flow = $1 AND mailbox = $2 AND due_at <= $3 AND status NOT IN ($4, $5)
		ORDER BY due_at, seq LIMIT 1`
	claimOneSQL = `UPDATE messages SET ` + claimSet + `, claimed_at = $3, rcpt_count = $4, wait_reason = ''
		WHERE seq = $5 AND due_at <= $3 AND status NOT IN ($6, $7)
		RETURNING ` + messageColumns + `, request, claim, lease_until, unfinished`
	servedSQL = `UPDATE mailboxes SET last_claim = $1, wait_until = NULL, wait_reason = '' WHERE flow = $2 AND mailbox = $3`
)

// ClaimDue claims up to n due messages, round the mailboxes that have
// room (see the top of this file): each is marked sending, its attempts
// counted, leased for lease, and returned as a claim with its token. It
// returns no EML (see EMLToSend).
func (s *Store) ClaimDue(ctx context.Context, n int, lease time.Duration) ([]*envoi.Claim, error) {
	if n <= 0 {
		return nil, nil
	}
	// The flows' limits are read at one version of the configuration.
	ctx = s.ConfigSnapshot(ctx)
	now := s.nowUTC()
	// Looked for outside the transaction first: an idle queue costs a
	// read, not a write transaction.
	rows, err := s.reads().QueryContext(ctx, s.candidateMailboxesSQL(), s.ts(now), envoi.StatusSent, envoi.StatusFailed)
	if err != nil {
		return nil, locked(fmt.Errorf("sqlstore: claim due messages: %w", err))
	}
	cands, err := s.candidates(ctx, rows)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	// Committed with the outcomes and acceptances that came meanwhile
	// (grouped): a claim follows each send that ends.
	var won []*envoi.Claim
	err = s.grouped(ctx, func(tx *sql.Tx) error {
		var err error
		won, err = s.claimIn(ctx, tx, cands, n, now, lease)
		return err
	})
	if err != nil {
		return nil, locked(fmt.Errorf("sqlstore: claim due messages: %w", err))
	}
	return won, nil
}

// candidateMailboxesSQL is the dialect's query of the mailboxes with due
// messages.
func (s *Store) candidateMailboxesSQL() string {
	if s.dialect == DialectPostgres {
		return candidateMailboxesPGSQL
	}
	return candidateMailboxesSQL
}

// candidates reads the mailboxes with due messages from rows (of
// candidateMailboxesSQL), with their flows' limits, and closes rows.
func (s *Store) candidates(ctx context.Context, rows *sql.Rows) ([]*mailboxState, error) {
	var cands []*mailboxState
	for rows.Next() {
		c := new(mailboxState)
		if err := rows.Scan(&c.flow, &c.mailbox); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: claim due messages: %w", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, locked(fmt.Errorf("sqlstore: claim due messages: %w", err))
	}
	for _, c := range cands {
		if f, err := s.AuthFlow(ctx, c.flow); err == nil {
			c.limits = f.Limits
		}
	}
	return cands, nil
}

// claimNextIn claims up to n due messages in tx, the mailboxes with due
// messages looked for in tx (FinishAndClaim).
func (s *Store) claimNextIn(ctx context.Context, tx *sql.Tx, n int, lease time.Duration) ([]*envoi.Claim, error) {
	now := s.nowUTC()
	rows, err := s.txQuery(ctx, tx, s.candidateMailboxesSQL(), s.ts(now), envoi.StatusSent, envoi.StatusFailed)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim due messages: %w", err)
	}
	cands, err := s.candidates(ctx, rows)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	return s.claimIn(ctx, tx, cands, n, now, lease)
}

// claimIn claims up to n due messages of cands in tx: round the mailboxes
// while they have room (see the top of this file).
func (s *Store) claimIn(ctx context.Context, tx *sql.Tx, cands []*mailboxState, n int, now time.Time, lease time.Duration) ([]*envoi.Claim, error) {
	var won []*envoi.Claim
	// ClaimDue's transaction may run twice (grouped): each run counts
	// afresh.
	for _, c := range cands {
		c.done, c.served = false, false
	}
	if s.dialect == DialectPostgres {
		if _, err := s.txExec(ctx, tx, claimLockSQL, claimLockKey); err != nil {
			return nil, fmt.Errorf("sqlstore: claim lock: %w", err)
		}
	}
	for _, c := range cands {
		if err := s.loadMailbox(ctx, tx, c, now); err != nil {
			return nil, err
		}
	}
	for progress := true; progress && len(won) < n; {
		progress = false
		for _, c := range cands {
			if len(won) >= n {
				break
			}
			if c.done {
				continue
			}
			m, err := s.claimOne(ctx, tx, c, now, lease)
			if err != nil {
				return nil, err
			}
			if m == nil {
				c.done = true
				continue
			}
			won = append(won, m)
			progress = true
		}
	}
	for _, c := range cands {
		if c.served {
			if _, err := s.txExec(ctx, tx, servedSQL, s.ts(now), c.flow, c.mailbox); err != nil {
				return nil, fmt.Errorf("sqlstore: claim due messages: %w", err)
			}
		}
	}
	return won, nil
}

// loadMailbox counts what limits c: connections in use, claims of the
// last minute, sends of the last 24 hours.
func (s *Store) loadMailbox(ctx context.Context, tx *sql.Tx, c *mailboxState, now time.Time) error {
	var inflight int
	if err := s.txQueryRow(ctx, tx, inflightSQL, c.flow, c.mailbox, envoi.StatusSending, s.ts(now)).Scan(&inflight); err != nil {
		return fmt.Errorf("sqlstore: mailbox %s/%s: %w", c.flow, c.mailbox, err)
	}
	c.room = c.limits.EffectiveConnections() - inflight
	if c.limits.MessagesPerMinute > 0 {
		if err := s.txQueryRow(ctx, tx, minuteSQL, c.flow, c.mailbox, s.ts(now.Add(-rateWindow)), envoi.StatusSending, s.ts(now),
			s.ts(now.Add(-envoi.QuotaWindow))).
			Scan(&c.minute, scanTime(&c.minuteOldest)); err != nil {
			return fmt.Errorf("sqlstore: mailbox %s/%s rate: %w", c.flow, c.mailbox, err)
		}
	}
	if c.limits.MessagesPerDay > 0 || c.limits.RecipientsPerDay > 0 {
		if err := s.txQueryRow(ctx, tx, daySQL, c.flow, c.mailbox, s.ts(now.Add(-quotaWindow)),
			envoi.StatusSending, envoi.StatusSent, envoi.StatusBounced).Scan(&c.dayMsgs, &c.dayRcpts, scanTime(&c.dayOldest)); err != nil {
			return fmt.Errorf("sqlstore: mailbox %s/%s quota: %w", c.flow, c.mailbox, err)
		}
	}
	return nil
}

// claimOne claims c's next due message if c has room for it; nil when
// it has none due or no room (pausing it at its rate or quota).
func (s *Store) claimOne(ctx context.Context, tx *sql.Tx, c *mailboxState, now time.Time, lease time.Duration) (*envoi.Claim, error) {
	if c.room <= 0 {
		return nil, nil
	}
	if l := c.limits.MessagesPerMinute; l > 0 && c.minute >= l {
		until := c.minuteOldest.Add(rateWindow)
		if c.minuteOldest.IsZero() || !until.After(now) {
			until = now.Add(time.Minute / time.Duration(l))
		}
		return nil, s.pauseMailbox(ctx, tx, c.flow, c.mailbox, until, envoi.WaitRateLimited)
	}
	if s.dialect == DialectPostgres && c.limits.MessagesPerDay == 0 && c.limits.RecipientsPerDay == 0 {
		return s.claimNextPG(ctx, tx, c, now, lease)
	}
	var seq int64
	var delivery string
	err := s.txQueryRow(ctx, tx, nextDueSQL, c.flow, c.mailbox, s.ts(now), envoi.StatusSent, envoi.StatusFailed).Scan(&seq, &delivery)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: next message of %s/%s: %w", c.flow, c.mailbox, err)
	}
	rcpts := recipientCount(delivery)
	quotaUntil := c.dayOldest.Add(quotaWindow)
	if c.dayOldest.IsZero() || !quotaUntil.After(now) {
		quotaUntil = now.Add(time.Minute)
	}
	if l := c.limits.MessagesPerDay; l > 0 && c.dayMsgs+1 > l {
		return nil, s.pauseMailbox(ctx, tx, c.flow, c.mailbox, quotaUntil, envoi.WaitQuota)
	}
	if l := c.limits.RecipientsPerDay; l > 0 && c.dayRcpts+rcpts > l && c.dayMsgs > 0 {
		return nil, s.pauseMailbox(ctx, tx, c.flow, c.mailbox, quotaUntil, envoi.WaitQuota)
	}
	cl, err := scanClaimed(s.txQueryRow(ctx, tx, claimOneSQL, envoi.StatusSending, s.ts(now.Add(lease)), s.ts(now),
		rcpts, seq, envoi.StatusSent, envoi.StatusFailed))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim a message of %s/%s: %w", c.flow, c.mailbox, err)
	}
	c.took(rcpts, now)
	return cl, nil
}

// took counts a message of rcpts recipients claimed now in c's limits.
func (c *mailboxState) took(rcpts int, now time.Time) {
	c.room--
	c.minute++
	c.dayMsgs++
	c.dayRcpts += rcpts
	if c.minuteOldest.IsZero() {
		c.minuteOldest = now
	}
	if c.dayOldest.IsZero() {
		c.dayOldest = now
	}
	c.served = true
}

// On PostgreSQL, a mailbox without a daily quota has its next due message
// found and claimed in one statement (nextDueSQL and claimOneSQL in one
// round trip): only the quotas need the message's recipients before it is
// claimed. The statement counts one recipient (rcpt_count, which the
// quotas sum); claimNextPG corrects it for a message of several.
const (
	claimNextPGSQL = `UPDATE messages SET ` + claimSet + `, claimed_at = $3, rcpt_count = 1, wait_reason = ''
		WHERE seq = (SELECT seq FROM messages WHERE flow = $4 AND mailbox = $5 AND due_at <= $3 AND status NOT IN ($6, $7)
			ORDER BY due_at, seq LIMIT 1)
		RETURNING ` + messageColumns + `, request, claim, lease_until, unfinished`
	rcptCountSQL = `UPDATE messages SET rcpt_count = $1 WHERE id = $2`
)

// claimNextPG claims c's next due message with claimNextPGSQL; nil when
// it has none due.
func (s *Store) claimNextPG(ctx context.Context, tx *sql.Tx, c *mailboxState, now time.Time, lease time.Duration) (*envoi.Claim, error) {
	cl, err := scanClaimed(s.txQueryRow(ctx, tx, claimNextPGSQL, envoi.StatusSending, s.ts(now.Add(lease)), s.ts(now),
		c.flow, c.mailbox, envoi.StatusSent, envoi.StatusFailed))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: claim a message of %s/%s: %w", c.flow, c.mailbox, err)
	}
	rcpts := 1
	if d := cl.Message.Delivery; d != nil {
		rcpts = max(len(d.Envelope.Recipients), 1)
	}
	if rcpts != 1 {
		if _, err := s.txExec(ctx, tx, rcptCountSQL, rcpts, cl.ID); err != nil {
			return nil, fmt.Errorf("sqlstore: claim a message of %s/%s: %w", c.flow, c.mailbox, err)
		}
	}
	c.took(rcpts, now)
	return cl, nil
}

// recipientCount is the number of envelope recipients of a stored
// delivery record, 1 when it has none.
func recipientCount(delivery string) int {
	var d struct {
		Envelope struct {
			Recipients []string `json:"recipients"`
		} `json:"envelope"`
	}
	if delivery == "" || json.Unmarshal([]byte(delivery), &d) != nil || len(d.Envelope.Recipients) == 0 {
		return 1
	}
	return len(d.Envelope.Recipients)
}

// MailboxStats are one mailbox's counts for the metrics.
type MailboxStats struct {
	Flow, Mailbox string
	Queued        int
	InFlight      int
	// Throttled: paused by the rate limit or a throttling reply.
	Throttled bool
	// WaitingQuota: paused until its daily quota's window rolls.
	WaitingQuota bool
}

// MailboxStats counts, per mailbox with messages not final, the messages
// waiting and being sent, and says whether it is paused.
func (s *Store) MailboxStats(ctx context.Context) ([]MailboxStats, error) {
	now := s.nowUTC()
	rows, err := s.reads().QueryContext(ctx, `SELECT b.flow, b.mailbox, b.wait_until, b.wait_reason,
		(SELECT count(*) FROM messages m WHERE m.flow = b.flow AND m.mailbox = b.mailbox AND m.due_at IS NOT NULL AND m.status <> $1),
		(SELECT count(*) FROM messages m WHERE m.flow = b.flow AND m.mailbox = b.mailbox AND m.due_at > $2 AND m.status = $1 AND m.lease_until > $2)
		FROM mailboxes b ORDER BY b.flow, b.mailbox`, envoi.StatusSending, s.ts(now))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: mailbox stats: %w", err)
	}
	defer rows.Close()
	var out []MailboxStats
	for rows.Next() {
		var st MailboxStats
		var until time.Time
		var reason string
		if err := rows.Scan(&st.Flow, &st.Mailbox, scanTime(&until), &reason, &st.Queued, &st.InFlight); err != nil {
			return nil, fmt.Errorf("sqlstore: mailbox stats: %w", err)
		}
		if until.After(now) {
			st.Throttled = reason == envoi.WaitRateLimited
			st.WaitingQuota = reason == envoi.WaitQuota
		}
		out = append(out, st)
	}
	return out, rows.Err()
}
