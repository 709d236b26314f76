package queue_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"envoi"
	"envoi/queue"
	"envoi/sqlstore"
)

// finishFaults is the store with Finish failing its first fails calls
// with err, as a database that restarts right after a send.
type finishFaults struct {
	queue.Store
	err   error
	fails int32
	calls atomic.Int32
}

func (f *finishFaults) Finish(ctx context.Context, c *envoi.Claim, delay time.Duration) error {
	if f.calls.Add(1) <= f.fails {
		return f.err
	}
	return f.Store.Finish(ctx, c, delay)
}

// TestWorkerFinishRetries: when recording a sent message's outcome fails
// because the store is unavailable, the worker tries again while the lease
// lasts, so the message is recorded sent and not sent a second time; any
// other failure is not retried (the job comes back after its lease).
func TestWorkerFinishRetries(t *testing.T) {
	unavailable := envoi.Errorf(envoi.EUnavailable, "the database cannot be reached")
	unavailable.Temporary = true
	cases := []struct {
		name       string
		err        error
		wantCalls  int32
		wantStatus string
	}{
		{"Unavailable", unavailable, 4, envoi.StatusSent},
		{"Internal", errors.New("sqlstore: finish: disk full"), 1, envoi.StatusSending},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, sqlstore.DialectSQLite)
			in := w.admin
			faults := &finishFaults{Store: in.store, err: c.err, fails: 3}
			in.worker.Store = faults
			in.worker.Lease = 10 * time.Second
			m := in.accept(t, 1)[0]
			if _, err := in.worker.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := faults.calls.Load(); got != c.wantCalls {
				t.Errorf("Finish called %d times, want %d", got, c.wantCalls)
			}
			if back := in.message(t, m.ID); back.Status != c.wantStatus {
				t.Errorf("message %s is %s, want %s", m.ID, back.Status, c.wantStatus)
			}
			if got := receivedBy(w.smtp)[m.MessageID]; got != 1 {
				t.Errorf("received %d times, want once", got)
			}
		})
	}
}
