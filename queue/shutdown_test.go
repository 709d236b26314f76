package queue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/sqlstore"
)

// slowFlowStore is the real store whose flow lookups wait for a signal: it
// holds the worker between the claim of a message and its send, the moment
// a shutdown must hand the message back rather than send it.
type slowFlowStore struct {
	*sqlstore.Store
	entered atomic.Int32
	release chan struct{}
}

func (s *slowFlowStore) AuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error) {
	s.entered.Add(1)
	<-s.release
	return s.Store.AuthFlow(ctx, code)
}

// TestWorkerShutdownHandsBack: messages claimed but not yet being sent when
// the worker stops are handed back at once — queued, no attempt counted,
// no lease left — and another instance sends them right away.
func TestWorkerShutdownHandsBack(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin
		slow := &slowFlowStore{Store: in.store, release: make(chan struct{})}
		in.worker.Store = slow
		in.worker.Concurrency = 3
		// Three connections for the mailbox, so that all three are taken.
		w.putFlow(&envoi.AuthFlow{Code: "BASIC", Name: "basic", Kind: envoi.KindSMTPBasic, SMTP: w.smtp.Endpoint(),
			Operators: []string{"jdupont"}, Limits: envoi.Limits{Connections: 3}})
		msgs := in.accept(t, 3)

		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- in.worker.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Second)
		for slow.entered.Load() < 3 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if slow.entered.Load() != 3 {
			t.Fatalf("%d messages claimed, want 3", slow.entered.Load())
		}
		stop()
		close(slow.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got, lease := in.message(t, m.ID), leaseUntil(t, in.store, m.ID)
			if got.Status != envoi.StatusQueued || got.Attempts != 0 || lease.Valid {
				t.Errorf("after shutdown %s: status %s attempts %d lease %v, want queued, 0 attempts, no lease", m.ID, got.Status, got.Attempts, lease.V)
			}
		}
		if n := w.smtp.MessageCount(); n != 0 {
			t.Errorf("%d messages sent after the stop", n)
		}
		// Nothing stays leased: another instance takes them all at once.
		other := w.instance()
		n, err := other.worker.RunOnce(context.Background())
		if err != nil || n != 3 {
			t.Fatalf("another instance handled %d, %v; want the 3 handed back", n, err)
		}
		got := receivedBy(w.smtp)
		for _, m := range msgs {
			if got[m.MessageID] != 1 {
				t.Errorf("%s received %d times, want once", m.MessageID, got[m.MessageID])
			}
		}
	})
}

// TestWorkerShutdownFinishesSends: sends under way when the worker stops
// finish and are recorded; Run returns after them, and nothing is left
// leased or sending.
func TestWorkerShutdownFinishesSends(t *testing.T) {
	w := newWorld(t, sqlstore.DialectSQLite)
	in := w.admin
	in.worker.Concurrency = 2
	// Every reply of the server waits: a send takes a while.
	w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: 40 * time.Millisecond})
	msgs := in.accept(t, 6)
	started := &startedSender{Transport: in.sender}
	in.worker.Transports = map[string]envoi.Transport{envoi.TransportSMTP: started}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.worker.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for started.n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, m := range msgs {
		got := in.message(t, m.ID)
		switch got.Status {
		case envoi.StatusSent:
			sent++
		case envoi.StatusQueued:
		default:
			t.Errorf("after shutdown %s is %s (lease %v), want sent or queued", m.ID, got.Status, leaseUntil(t, in.store, m.ID).V)
		}
	}
	if sent < 2 || sent != w.smtp.MessageCount() {
		t.Errorf("%d recorded sent, server received %d; want the sends under way (at least 2) finished and recorded", sent, w.smtp.MessageCount())
	}
	w.smtp.Heal()
	other := w.instance()
	if n, err := other.worker.RunOnce(context.Background()); err != nil || n != 6-sent {
		t.Errorf("another instance handled %d, %v; want the %d left, due at once", n, err, 6-sent)
	}
	for id, c := range receivedBy(w.smtp) {
		if c != 1 {
			t.Errorf("%s received %d times", id, c)
		}
	}
}

// startedSender counts the sends begun.
type startedSender struct {
	envoi.Transport
	n atomic.Int32
}

func (s *startedSender) Deliver(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
	s.n.Add(1)
	return s.Transport.Deliver(ctx, d)
}
