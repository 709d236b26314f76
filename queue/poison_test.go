package queue_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/queue"
	"envoi/sqlstore"
)

// deadClaim claims the message of id as a worker that dies at once would:
// with a short lease, recording nothing. It waits until the message is due
// (a previous dead claim's lease lapsed) and returns the claimed message.
func deadClaim(t *testing.T, in *instance, id string) *envoi.Claim {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		claimed, err := in.store.ClaimDue(context.Background(), 5, 30*time.Millisecond)
		must(t, err)
		for _, m := range claimed {
			if m.ID != id {
				t.Fatalf("claimed %s, want %s", m.ID, id)
			}
			return m
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("message %s never came back to be claimed", id)
	return nil
}

// runUntilHandled runs the worker until it handled one message (the last
// dead claim's lease must lapse first).
func runUntilHandled(t *testing.T, in *instance) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n, err := in.worker.RunOnce(context.Background())
		must(t, err)
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	list, _ := in.store.Messages(context.Background(), envoi.MessageFilter{})
	for _, m := range list {
		t.Logf("message %s: %s, %d attempts, %d without an outcome", m.ID, m.Status, m.Attempts, unfinished(t, in.store, m.ID))
	}
	t.Fatal("the worker found nothing to send")
}

// TestWorkerAbandonsUnfinished: a message whose claims keep ending without
// an outcome — its worker dies each time, as a message that crashes the
// process would make it — is failed as delivery_abandoned at the claim
// after MaxUnfinished such claims, without being sent again, and stays
// counted as a possible duplicate. A manual retry gives it a new budget.
func TestWorkerAbandonsUnfinished(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin
		m := in.accept(t, 1)[0]
		for i := range queue.DefaultMaxUnfinished {
			if c := deadClaim(t, in, m.ID); c.Unfinished != i {
				t.Fatalf("claim %d: %d claims without an outcome, want %d", i+1, c.Unfinished, i)
			}
		}
		runUntilHandled(t, in)
		got := in.message(t, m.ID)
		if got.Status != envoi.StatusFailed || got.ErrorCode != envoi.EDeliveryAbandoned {
			t.Fatalf("status %s %s (%s), want failed delivery_abandoned", got.Status, got.ErrorCode, got.Error)
		}
		if got.Duplicates != queue.DefaultMaxUnfinished || got.Attempts != queue.DefaultMaxUnfinished {
			t.Errorf("%d possible duplicates, %d attempts; want %d of each (the abandoning claim is no attempt)",
				got.Duplicates, got.Attempts, queue.DefaultMaxUnfinished)
		}
		if d := envoi.Describe(got.ErrorCode, "fr"); d.Message == "" || d.Remedy == "" {
			t.Errorf("delivery_abandoned has no French text")
		}
		if c := receivedBy(w.smtp)[m.MessageID]; c != 0 {
			t.Errorf("an abandoned message was sent %d times", c)
		}

		// Retried by hand once the cause is fixed, it goes out.
		if _, err := in.service.Retry(context.Background(), m.ID); err != nil {
			t.Fatal(err)
		}
		runUntilHandled(t, in)
		if got, n := in.message(t, m.ID), unfinished(t, in.store, m.ID); got.Status != envoi.StatusSent || n != 0 {
			t.Errorf("after a retry: %s with %d claims without an outcome, want sent", got.Status, n)
		}
		if c := receivedBy(w.smtp)[m.MessageID]; c != 1 {
			t.Errorf("received %d times after the retry, want once", c)
		}
	})
}

// TestWorkerTemporaryRetriesNotAbandoned: temporary failures (4xx) are
// attempts with an outcome: many of them do not abandon a message, and an
// outcome recorded between dead claims starts their count again, so only
// claims without an outcome in a row abandon it.
func TestWorkerTemporaryRetriesNotAbandoned(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin

		// More 451s in a row than MaxUnfinished: retried, then sent.
		w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultData, Times: queue.DefaultMaxUnfinished + 2})
		first := in.accept(t, 1)[0]
		runUntilHandled(t, in)
		got := in.message(t, first.ID)
		if n := unfinished(t, in.store, first.ID); got.Status != envoi.StatusSent || got.Attempts != queue.DefaultMaxUnfinished+3 || n != 0 || got.Duplicates != 0 {
			t.Fatalf("after %d temporary failures: %s, %d attempts, %d unfinished, %d duplicates; want sent after %d attempts",
				queue.DefaultMaxUnfinished+2, got.Status, got.Attempts, n, got.Duplicates, queue.DefaultMaxUnfinished+3)
		}

		// Dead claims, a 451 recorded, dead claims again: never
		// MaxUnfinished in a row.
		m := in.accept(t, 1)[0]
		for range queue.DefaultMaxUnfinished - 1 {
			deadClaim(t, in, m.ID)
		}
		w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultData, Times: 1})
		in.worker.Backoff = func(int) time.Duration { return time.Hour }
		runUntilHandled(t, in)
		if got, n := in.message(t, m.ID), unfinished(t, in.store, m.ID); got.Status != envoi.StatusRetrying || n != 0 {
			t.Fatalf("after a 451: %s with %d claims without an outcome, want retrying with 0", got.Status, n)
		}
		makeDue(t, in.store)
		in.worker.Backoff = func(int) time.Duration { return 0 }
		for range queue.DefaultMaxUnfinished - 1 {
			deadClaim(t, in, m.ID)
		}
		runUntilHandled(t, in)
		got = in.message(t, m.ID)
		if got.Status != envoi.StatusSent {
			t.Fatalf("status %s %s (%s), want sent: the 451 was an outcome", got.Status, got.ErrorCode, got.Error)
		}
		if want := 2 * (queue.DefaultMaxUnfinished - 1); got.Duplicates != want {
			t.Errorf("%d possible duplicates, want %d (each claim over a lapsed lease)", got.Duplicates, want)
		}
		if c := receivedBy(w.smtp)[m.MessageID]; c != 1 {
			t.Errorf("received %d times, want once", c)
		}
	})
}

// unfinished reads the message's count of claims without an outcome: the
// queue's bookkeeping, which no reader of a message sees.
func unfinished(t *testing.T, s *sqlstore.Store, id string) int {
	t.Helper()
	var n int
	must(t, s.DB().QueryRow(`SELECT unfinished FROM messages WHERE id = $1`, id).Scan(&n))
	return n
}

// leaseUntil reads the message's lease as stored (NULL: none), as text or
// time whatever the dialect.
func leaseUntil(t *testing.T, s *sqlstore.Store, id string) sql.Null[any] {
	t.Helper()
	var at sql.Null[any]
	must(t, s.DB().QueryRow(`SELECT lease_until FROM messages WHERE id = $1`, id).Scan(&at))
	return at
}

// makeDue makes every message waiting for its next try due now (a retry's
// backoff elapsed).
func makeDue(t *testing.T, s *sqlstore.Store) {
	t.Helper()
	var due any = time.Now().Add(-time.Second).UTC()
	if s.Dialect() == sqlstore.DialectSQLite {
		due = time.Now().Add(-time.Second).UTC().Format("2006-01-02T15:04:05.000000Z")
	}
	_, err := s.DB().Exec(`UPDATE messages SET due_at = $1 WHERE due_at IS NOT NULL AND status <> $2`, due, envoi.StatusSending)
	must(t, err)
}
