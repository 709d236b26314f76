package queue

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"maragu.dev/goqite"

	"envoi"
)

// Worker sends the messages of the queue. Options are exported fields;
// Store, Jobs and Sender are required.
type Worker struct {
	Store  Store
	Jobs   Jobs
	Sender envoi.Sender
	// Concurrency is the number of messages sent at once (default 8).
	Concurrency int
	// Lease is how long a job is hidden from other workers while it is
	// being sent; a worker that dies hands it back when the lease lapses
	// (default 2 minutes).
	Lease time.Duration
	// PollInterval is the wait between polls of an empty queue (default 100ms).
	PollInterval time.Duration
	// MaxAttempts ends a message in failed after that many temporary
	// failures (default 10).
	MaxAttempts int
	// Backoff returns the delay before attempt n+1 after n failures
	// (default: exponential from 30s, doubling, capped at 1h, ±20% jitter).
	Backoff func(attempts int) time.Duration
	// ParkFor is how long a message waiting for consent stays hidden
	// before it is looked at again, if no consent releases it sooner
	// (default 6h).
	ParkFor time.Duration
	// Metrics, when set, counts what happens.
	Metrics *Metrics
	Now     func() time.Time
	Logger  *slog.Logger
	// OnChange, when set, is told each status change (for waiting clients).
	OnChange func(m *envoi.Message)
	// OnSent, when set, is called once a message is recorded sent, with the
	// bytes sent (the archive hooks here).
	OnSent func(ctx context.Context, m *envoi.Message, eml []byte)
}

func (w *Worker) defaults() {
	if w.Concurrency <= 0 {
		w.Concurrency = 8
	}
	if w.Lease <= 0 {
		w.Lease = 2 * time.Minute
	}
	if w.PollInterval <= 0 {
		w.PollInterval = 100 * time.Millisecond
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = 10
	}
	if w.Backoff == nil {
		w.Backoff = DefaultBackoff
	}
	if w.ParkFor <= 0 {
		w.ParkFor = 6 * time.Hour
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
}

// DefaultBackoff waits 30s after the first failure, doubling up to an hour,
// with ±20% jitter so messages that failed together do not retry together.
func DefaultBackoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// Run sends messages until ctx is cancelled, then lets the sends in flight
// finish (they are bounded by the SMTP timeouts) and returns. Jobs it
// received but did not start are handed back at once.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	jobs := make(chan *goqite.Message)
	var wg sync.WaitGroup
	for range w.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range jobs {
				w.handle(context.WithoutCancel(ctx), job)
			}
		}()
	}
	defer wg.Wait()
	defer close(jobs)
	for {
		job, err := w.Jobs.Receive(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.Logger.Warn("queue: receive failed", "err", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if job == nil {
			if !sleep(ctx, w.PollInterval) {
				return nil
			}
			continue
		}
		select {
		case jobs <- job:
		case <-ctx.Done():
			// Hand the job back now rather than when its lease lapses.
			_ = w.Jobs.Extend(context.WithoutCancel(ctx), job.ID, 0)
			return nil
		}
	}
}

// RunOnce sends due messages until the queue has none due; for tests and
// the CLI. Returns the number of jobs handled.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	n := 0
	for {
		job, err := w.Jobs.Receive(ctx)
		if err != nil {
			return n, err
		}
		if job == nil {
			return n, nil
		}
		w.handle(ctx, job)
		n++
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// handle sends the message of one job and records the outcome. Every path
// ends with the job deleted (final state) or hidden until its next try:
// nothing is dropped.
func (w *Worker) handle(ctx context.Context, job *goqite.Message) {
	id := string(job.Body)
	log := w.Logger.With("message", id)
	m, won, err := w.Store.ClaimMessage(ctx, id, w.Now().Add(w.Lease))
	if err != nil {
		if envoi.ErrorCode(err) == envoi.ENotFound {
			log.Warn("queue: job for an unknown message dropped")
			_ = w.Jobs.Delete(ctx, job.ID)
			return
		}
		log.Warn("queue: claim failed; the job comes back after its lease", "err", err)
		return
	}
	if !won {
		if m != nil && envoi.Final(m.Status) {
			_ = w.Jobs.Delete(ctx, job.ID)
		}
		return // another worker holds it; its lease covers the job
	}
	w.notify(m)

	if wait, err := w.rateWait(ctx, m); err != nil {
		log.Warn("queue: rate check failed", "err", err)
	} else if wait > 0 {
		m.Status = envoi.StatusQueued
		m.Attempts--
		m.NextTry = w.Now().Add(wait)
		w.save(ctx, log, m)
		_ = w.Jobs.Extend(ctx, job.ID, wait)
		return
	}

	start := w.Now()
	eml, err := w.send(ctx, m)
	w.Metrics.observeSend(w.Now().Sub(start))
	switch {
	case err == nil:
		m.Status = envoi.StatusSent
		m.SentAt = w.Now()
		m.ErrorCode, m.Error = "", ""
		w.save(ctx, log, m)
		w.Metrics.sent()
		_ = w.Jobs.Delete(ctx, job.ID)
		if w.OnSent != nil {
			w.OnSent(ctx, m, eml)
		}
	case envoi.ErrorCode(err) == envoi.EConsentRequired:
		m.Status = envoi.StatusConsentRequired
		m.Attempts-- // waiting for a person is not a failed attempt
		m.ErrorCode, m.Error = envoi.EConsentRequired, err.Error()
		m.NextTry = time.Time{}
		w.save(ctx, log, m)
		w.Metrics.parked()
		_ = w.Jobs.Extend(ctx, job.ID, w.ParkFor)
	case envoi.IsTemporary(err) && m.Attempts < w.MaxAttempts:
		delay := w.Backoff(m.Attempts)
		m.Status = envoi.StatusRetrying
		m.ErrorCode, m.Error = envoi.ErrorCode(err), err.Error()
		m.NextTry = w.Now().Add(delay)
		w.save(ctx, log, m)
		w.Metrics.retried(m.ErrorCode)
		_ = w.Jobs.Extend(ctx, job.ID, delay)
	default:
		m.Status = envoi.StatusFailed
		m.ErrorCode, m.Error = envoi.ErrorCode(err), err.Error()
		m.NextTry = time.Time{}
		w.save(ctx, log, m)
		w.Metrics.failed(m.ErrorCode)
		log.Warn("queue: message failed", "code", m.ErrorCode, "err", err, "attempts", m.Attempts)
		_ = w.Jobs.Delete(ctx, job.ID)
	}
}

func (w *Worker) save(ctx context.Context, log *slog.Logger, m *envoi.Message) {
	if err := w.Store.UpdateMessage(ctx, m); err != nil {
		// The job stays leased: it comes back and the outcome is recorded
		// then (a sent message may be sent twice, with the same Message-ID).
		log.Error("queue: recording the outcome failed", "status", m.Status, "err", err)
		return
	}
	w.notify(m)
}

func (w *Worker) notify(m *envoi.Message) {
	if w.OnChange != nil {
		c := *m
		w.OnChange(&c)
	}
}

// rateWait returns how long to wait before sending as m's mailbox so the
// flow's per-minute limit holds across every instance (it counts in the
// database what was sent in the last minute).
func (w *Worker) rateWait(ctx context.Context, m *envoi.Message) (time.Duration, error) {
	flow, err := w.Store.AuthFlow(ctx, m.Flow)
	if err != nil || flow.RatePerMinute <= 0 {
		return 0, nil
	}
	n, err := w.Store.SentSince(ctx, m.Flow, m.Mailbox, w.Now().Add(-time.Minute))
	if err != nil {
		return 0, err
	}
	if n < flow.RatePerMinute {
		return 0, nil
	}
	return time.Duration(60/float64(flow.RatePerMinute)*float64(time.Second)) + time.Duration(rand.IntN(500))*time.Millisecond, nil
}

// send sends the stored bytes of m as its identity and returns them.
func (w *Worker) send(ctx context.Context, m *envoi.Message) ([]byte, error) {
	flow, err := w.Store.AuthFlow(ctx, m.Flow)
	if err != nil {
		if envoi.ErrorCode(err) == envoi.ENotFound {
			return nil, envoi.Errorf(envoi.ENoFlowForOperator, "the flow %q of this message no longer exists", m.Flow)
		}
		return nil, tempIfInternal(err)
	}
	id := envoi.Identity{Flow: flow, Key: envoi.TokenKey{Flow: flow.Code, Operator: m.Mailbox}, Username: m.Username}
	if flow.Kind == envoi.KindSMTPBasic {
		op, err := w.Store.Operator(ctx, m.Request.Operator)
		if err != nil {
			return nil, tempIfInternal(err)
		}
		id.Password = op.SMTPPassword
	}
	eml := m.EML
	if eml == nil {
		if eml, err = w.Store.EML(ctx, m.ID); err != nil {
			return nil, tempIfInternal(err)
		}
	}
	env := m.Envelope
	env.Size = int64(len(eml))
	return eml, w.Sender.Send(ctx, id, env, bytes.NewReader(eml))
}

// tempIfInternal makes a store error retryable: the database may be back
// next time; a message is not failed because of our own outage.
func tempIfInternal(err error) error {
	if envoi.ErrorCode(err) != envoi.EInternal {
		return err
	}
	e := envoi.Errorf(envoi.EUnavailable, "the database is unavailable")
	e.Temporary = true
	e.Err = err
	return e
}
