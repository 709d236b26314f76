package queue

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"envoi"
)

// DefaultThrottleBackoff is Worker.ThrottleBackoff's default: after the
// n-th throttling reply in a row without Retry-After, 30s doubling up to
// 15 minutes for a rate, 1 hour doubling up to 24 hours for a daily
// quota, with ±20% jitter.
func DefaultThrottleBackoff(reason string, n int) time.Duration {
	d, limit := 30*time.Second, 15*time.Minute
	if reason == envoi.WaitQuota {
		d, limit = time.Hour, envoi.QuotaWindow
	}
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// throttleCounts counts each mailbox's throttling replies in a row.
type throttleCounts struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (t *throttleCounts) next(flow, mailbox string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == nil {
		t.n = map[[2]string]int{}
	}
	t.n[[2]string{flow, mailbox}]++
	return t.n[[2]string{flow, mailbox}]
}

func (t *throttleCounts) reset(flow, mailbox string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.n, [2]string{flow, mailbox})
}

// throttle handles a provider's "not now" about m's mailbox: the mailbox
// is paused for what the provider asked (Retry-After) or a backoff, so
// its other messages wait too, and m waits queued until then without an
// attempt spent.
func (w *Worker) throttle(ctx context.Context, log *slog.Logger, m *envoi.Claim, th *envoi.Throttle, err error) {
	reason := th.Reason
	if reason != envoi.WaitQuota {
		reason = envoi.WaitRateLimited
	}
	n := w.throttles.next(m.Flow, m.Mailbox)
	delay := th.RetryAfter
	if delay <= 0 {
		delay = w.ThrottleBackoff(reason, n)
	}
	until := w.Now().Add(delay)
	if perr := w.Store.PauseMailbox(ctx, m.Flow, m.Mailbox, until, reason); perr != nil {
		log.Warn("queue: pausing the mailbox failed", "err", perr)
	}
	m.Status = envoi.StatusQueued
	m.Attempts-- // pacing, not a failed attempt
	m.WaitReason = reason
	m.ErrorCode, m.Error = envoi.ErrorCode(err), err.Error()
	m.NextTry = until
	if w.finish(ctx, log, m, delay, nil) {
		w.Metrics.throttled(reason)
		log.Info("queue: the provider throttles this mailbox; its messages wait", "flow", m.Flow, "mailbox", m.Mailbox,
			"reason", reason, "until", until, "reply", th.Reply)
	}
}

// heartbeat extends m's lease while its send runs, every third of the
// lease. It cancels the send (cancel) when the lease is lost: another
// claim took the message, or the lease could not be extended before it
// would lapse (a margin of a tenth of the lease). The returned function
// stops it and reports whether the lease was lost.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelFunc, log *slog.Logger, m *envoi.Claim) func() bool {
	var lost bool
	done := make(chan struct{})
	stopped := make(chan struct{})
	margin := w.Lease / 10
	// Measured on the wall clock (w.Now may be a test's frozen clock).
	left := w.Lease
	if !m.LeaseUntil.IsZero() {
		left = m.LeaseUntil.Sub(w.Now())
	}
	deadline := time.Now().Add(left - margin)
	go func() {
		defer close(stopped)
		interval := max(w.Lease/3, 10*time.Millisecond)
		t := time.NewTimer(min(interval, time.Until(deadline)))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			err := w.Store.ExtendLease(context.WithoutCancel(ctx), m, w.Now().Add(w.Lease))
			switch {
			case err == nil:
				deadline = time.Now().Add(w.Lease - margin)
			case envoi.ErrorCode(err) == envoi.EConflict:
				lost = true
				cancel()
				return
			default:
				log.Warn("queue: extending the lease failed", "err", err)
				if !time.Now().Before(deadline) {
					// Another worker may claim it from now on: stop.
					lost = true
					cancel()
					return
				}
			}
			t.Reset(max(min(interval, time.Until(deadline)), time.Millisecond))
		}
	}()
	return func() bool {
		close(done)
		<-stopped
		return lost
	}
}
