// Package reportwatch watches the mailboxes envoi sends from for the
// reports that come back about its messages (bounces, delay notices, read
// receipts: see package dsn), matches each to the message it is about and
// records it. It reads mailboxes read-only: it never deletes, moves or
// flags a message, its own or another's.
//
// A Source reads one mailbox's new messages: IMAP (imap.go) for now; the
// Graph and Gmail API transports' mailboxes would each be another Source.
package reportwatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"envoi"
	"envoi/dsn"
)

// Mailbox is one mailbox to watch: the identity that sends from it, in
// its flow.
type Mailbox struct {
	Key      envoi.TokenKey
	Flow     *envoi.AuthFlow
	Identity envoi.Identity
}

// Source reads the messages that came to a mailbox since it last did,
// read-only, and passes each one that may be a report to found: its first
// dsn.MaxSize bytes at most. It keeps where it stopped (in the store) and
// goes on from there the next time; a message found returned an error
// for is read again then. Sources: IMAP; Graph and Gmail API later.
type Source interface {
	Reports(ctx context.Context, box Mailbox, found func(raw []byte) error) error
}

// Store is what the watcher reads and writes; sqlstore implements it.
type Store interface {
	ReportMailboxes(ctx context.Context, since time.Time) ([]envoi.TokenKey, error)
	MatchReport(ctx context.Context, mailbox envoi.TokenKey, envoiIDs, messageIDs []string) (string, error)
	RecordBounce(ctx context.Context, id string, b envoi.Bounce) (bool, error)
	RecordDelay(ctx context.Context, id string, b envoi.Bounce) (bool, error)
	RecordRead(ctx context.Context, id string, at time.Time) (bool, error)
	TakeReportLease(ctx context.Context, mailbox envoi.TokenKey, holder string, until time.Time) (bool, error)
	ReleaseReportLease(ctx context.Context, mailbox envoi.TokenKey, holder string) error
	AuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error)
	Operator(ctx context.Context, code string) (*envoi.Operator, error)
}

// Watcher watches every mailbox that sent a message lately, one round at
// a time. Store and Sources are required.
type Watcher struct {
	Store Store
	// Sources by transport ("smtp" mailboxes are read over IMAP).
	Sources map[string]Source
	// Every is the time between rounds (default 5 minutes).
	Every time.Duration
	// Lookback: mailboxes that sent a message in this time are watched
	// (default 30 days).
	Lookback time.Duration
	// Lease is how long a round may hold a mailbox (default 10 minutes):
	// one instance watches a mailbox at a time, another takes over when
	// the lease lapses.
	Lease time.Duration
	// Holder names this instance in leases (random by default).
	Holder string
	Logger *slog.Logger
	Now    func() time.Time
}

// Stats counts what one round did.
type Stats struct {
	Mailboxes, Reports, Matched, Bounced, Delayed, Read int
}

// Run watches every Every until ctx ends.
func (w *Watcher) Run(ctx context.Context) {
	every := w.Every
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if st, err := w.Once(ctx); err != nil && ctx.Err() == nil {
			w.log().Warn("reports: watching the sending mailboxes", "err", err)
		} else if st.Reports > 0 {
			w.log().Info("reports: read", "mailboxes", st.Mailboxes, "reports", st.Reports, "matched", st.Matched,
				"bounced", st.Bounced, "delayed", st.Delayed, "read", st.Read)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once runs one round: each mailbox that sent lately, whose flow watches
// reports and that no other instance is watching, is read from where it
// stopped. A mailbox that fails is logged and the others are read; the
// error returned is the first.
func (w *Watcher) Once(ctx context.Context) (Stats, error) {
	var st Stats
	lookback := w.Lookback
	if lookback <= 0 {
		lookback = 30 * 24 * time.Hour
	}
	keys, err := w.Store.ReportMailboxes(ctx, w.now().Add(-lookback))
	if err != nil {
		return st, err
	}
	var first error
	for _, k := range keys {
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		if err := w.mailbox(ctx, k, &st); err != nil {
			w.log().Warn("reports: mailbox not read", "flow", k.Flow, "operator", k.Operator, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return st, first
}

// mailbox reads one mailbox under its lease.
func (w *Watcher) mailbox(ctx context.Context, k envoi.TokenKey, st *Stats) error {
	flow, err := w.Store.AuthFlow(ctx, k.Flow)
	if envoi.ErrorCode(err) == envoi.ENotFound {
		return nil // the flow was deleted since
	}
	if err != nil {
		return err
	}
	if !flow.IMAP.Enabled {
		return nil
	}
	transport := envoi.TransportSMTP
	src := w.Sources[transport]
	if src == nil {
		return nil
	}
	var op *envoi.Operator
	if k.Operator != "" {
		if op, err = w.Store.Operator(ctx, k.Operator); err != nil {
			if envoi.ErrorCode(err) == envoi.ENotFound {
				return nil
			}
			return err
		}
	}
	id, err := envoi.SendingIdentity(flow, op)
	if err != nil {
		return err
	}
	if id.Key != k {
		return nil // the operator sends from another mailbox now
	}
	holder := w.holder()
	lease := w.Lease
	if lease <= 0 {
		lease = 10 * time.Minute
	}
	ok, err := w.Store.TakeReportLease(ctx, k, holder, w.now().Add(lease))
	if err != nil || !ok {
		return err
	}
	defer func() {
		// Released even when ctx ended: a lease left would only lapse.
		_ = w.Store.ReleaseReportLease(context.WithoutCancel(ctx), k, holder)
	}()
	// The round stops when the lease would lapse: past it another
	// instance may be reading the same mailbox.
	ctx, cancel := context.WithTimeout(ctx, lease)
	defer cancel()
	st.Mailboxes++
	return src.Reports(ctx, Mailbox{Key: k, Flow: flow, Identity: id}, func(raw []byte) error {
		return w.record(ctx, k, raw, st)
	})
}

// record reads one message found in mailbox k and records what it
// reports about a message of k. A message that is no report, or names
// no message of k, is left alone.
func (w *Watcher) record(ctx context.Context, k envoi.TokenKey, raw []byte, st *Stats) error {
	r, err := dsn.Parse(bytesReader(raw))
	if errors.Is(err, dsn.ErrNotReport) {
		return nil
	}
	if err != nil {
		return nil // unreadable: not ours to worry about
	}
	st.Reports++
	id, err := w.Store.MatchReport(ctx, k, r.EnvoiIDs, r.MessageIDs)
	if envoi.ErrorCode(err) == envoi.ENotFound {
		w.log().Debug("reports: a report about no message of this mailbox", "flow", k.Flow, "operator", k.Operator,
			"kind", r.Kind, "format", r.Format)
		return nil
	}
	if err != nil {
		return err
	}
	st.Matched++
	at := r.At
	if at.IsZero() || at.After(w.now().Add(24*time.Hour)) {
		at = w.now()
	}
	b := envoi.Bounce{Recipient: r.Recipient, Status: r.Status, Diagnostic: r.Diagnostic, At: at}
	var changed bool
	switch r.Kind {
	case dsn.KindFailed:
		if changed, err = w.Store.RecordBounce(ctx, id, b); changed {
			st.Bounced++
		}
	case dsn.KindDelayed:
		if changed, err = w.Store.RecordDelay(ctx, id, b); changed {
			st.Delayed++
		}
	case dsn.KindRead:
		if changed, err = w.Store.RecordRead(ctx, id, at); changed {
			st.Read++
		}
	}
	if envoi.ErrorCode(err) == envoi.ENotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reports: record %s of %s: %w", r.Kind, id, err)
	}
	if changed {
		w.log().Info("reports: recorded", "message", id, "kind", r.Kind, "format", r.Format, "status", r.Status)
	}
	return nil
}

func (w *Watcher) holder() string {
	if w.Holder == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		w.Holder = "watch-" + hex.EncodeToString(b)
	}
	return w.Holder
}

func (w *Watcher) now() time.Time {
	if w.Now == nil {
		return time.Now()
	}
	return w.Now()
}

func (w *Watcher) log() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}
