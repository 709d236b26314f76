package queue

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"envoi"
)

// Worker sends the messages of the queue. Options are exported fields;
// Store and Transports are required.
type Worker struct {
	Store Store
	// Transports deliver the claimed messages, each by the one its
	// Delivery names (envoi.TransportSMTP: the smtp package's Sender). A
	// message whose transport is not here fails, as internal.
	Transports map[string]envoi.Transport
	// Concurrency is the number of messages sent at once (default 8).
	Concurrency int
	// Lease is how long a job is hidden from other workers while it is
	// being sent; a worker that dies hands it back when the lease lapses
	// (default 2 minutes).
	Lease time.Duration
	// PollInterval is the longest wait between polls of the queue when a
	// poll found less than it had room for (default 100ms). The wait ends
	// sooner when this process frees a slot or accepts a message (Wake):
	// the poll interval only bounds how late the work of other instances,
	// due times and paused mailboxes are seen.
	PollInterval time.Duration
	// MaxAttempts ends a message in failed after that many temporary
	// failures (default 10).
	MaxAttempts int
	// MaxUnfinished ends a message in failed, as delivery_abandoned, when
	// that many claims in a row ended without an outcome: the process died
	// or the lease lapsed mid-send, as a message that crashes the service
	// would make it do at every restart (default 3). Those claims are not
	// the temporary failures MaxAttempts counts; any recorded outcome (a
	// 4xx retry too) and a manual retry start the count again.
	MaxUnfinished int
	// Backoff returns the delay before attempt n+1 after n failures
	// (default: exponential from 30s, doubling, capped at 1h, ±20% jitter).
	Backoff func(attempts int) time.Duration
	// ParkFor is how long a message waiting for consent stays hidden
	// before it is looked at again, if no consent releases it sooner
	// (default 6h).
	ParkFor time.Duration
	// Handoff, when set, holds the bytes of messages this process accepted
	// (the Service's Handoff), so they are not read back from the store.
	Handoff *Handoff
	// Metrics, when set, counts what happens.
	Metrics *Metrics
	Now     func() time.Time
	Logger  *slog.Logger
	// OnChange, when set, is told each status change (for waiting clients).
	OnChange func(m *envoi.Message)
	// ThrottleBackoff returns how long a mailbox waits after its n-th
	// throttling reply in a row that named no time (Retry-After), for
	// reason envoi.WaitRateLimited or WaitQuota (default: 30s doubling
	// to 15m for a rate, 1h doubling to 24h for a quota, ±20% jitter).
	ThrottleBackoff func(reason string, n int) time.Duration
	throttles       throttleCounts
	wakeOnce        sync.Once
	wakeC           chan struct{}
	// OnSent, when set, is called once a message is recorded sent, with
	// its delivery as delivered: the bytes sent in Content, the document
	// located in them, the archive decision (the archive hooks here).
	OnSent func(ctx context.Context, m *envoi.Message, d *envoi.Delivery)
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
	if w.MaxUnfinished <= 0 {
		w.MaxUnfinished = DefaultMaxUnfinished
	}
	if w.Backoff == nil {
		w.Backoff = DefaultBackoff
	}
	if w.ThrottleBackoff == nil {
		w.ThrottleBackoff = DefaultThrottleBackoff
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

// Wake ends the worker's wait between polls now: a message was accepted
// or a send ended, so a poll may find work. Wakes that come while the
// worker is busy are merged into one; Wake never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake() <- struct{}{}:
	default:
	}
}

func (w *Worker) wake() chan struct{} {
	w.wakeOnce.Do(func() { w.wakeC = make(chan struct{}, 1) })
	return w.wakeC
}

// finishClaimer is a Store that records an outcome and claims the next
// due message in one transaction (sqlstore's does).
type finishClaimer interface {
	FinishAndClaim(ctx context.Context, c *envoi.Claim, delay, lease time.Duration) (*envoi.Claim, error)
}

// DefaultMaxUnfinished is Worker.MaxUnfinished's default.
const DefaultMaxUnfinished = 3

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

// Run sends messages until ctx is cancelled, then lets the sends under way
// finish (they are bounded by the SMTP timeouts) and returns. A message
// claimed but not yet being sent when ctx ends is handed back at once, due
// now, for this or another instance.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	slots := make(chan struct{}, w.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// Wait for one free slot, then take as many jobs as slots are free:
		// one transaction receives and claims them all.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	more:
		for n < w.Concurrency {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		msgs, err := w.Store.ClaimDue(ctx, n, w.Lease)
		for range n - len(msgs) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.Logger.Warn("queue: receive failed", "err", err)
			if !sleep(ctx, time.Second, nil) {
				return nil
			}
			continue
		}
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					<-slots
					// A connection of its mailbox is free: its next
					// message may be claimed now, not at the next poll.
					w.Wake()
				}()
				// The slot goes on to the message claimed with the
				// outcome (FinishAndClaim), if any.
				for m != nil {
					m = w.handle(ctx, m)
				}
			}()
		}
		if len(msgs) < n && !sleep(ctx, w.PollInterval, w.wake()) {
			return nil
		}
	}
}

// RunOnce sends due messages until the queue has none due; for tests and
// the CLI. Returns the number of messages handled.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.defaults()
	n := 0
	for {
		msgs, err := w.Store.ClaimDue(ctx, 1, w.Lease)
		if err != nil {
			return n, err
		}
		if len(msgs) == 0 {
			return n, nil
		}
		for m := msgs[0]; m != nil; n++ {
			m = w.handle(ctx, m)
		}
	}
}

// sleep waits d, or less when wake receives (a nil wake never does);
// false when ctx ended.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-wake:
		return true
	}
}

// handle sends one claimed message and records the outcome. Every path
// ends with the message final or due again at its next try: nothing is
// dropped. stop ends only the waiting: a send under way
// finishes. It returns the message claimed with the outcome, to send
// next (FinishAndClaim), or nil.
func (w *Worker) handle(stop context.Context, m *envoi.Claim) (next *envoi.Claim) {
	ctx := context.WithoutCancel(stop)
	// The flow, the operator and the token's flow: at one version.
	ctx = w.Store.ConfigSnapshot(ctx)
	log := w.Logger.With("message", m.ID)
	w.notify(m.Message)
	if m.Unfinished >= w.MaxUnfinished {
		w.abandon(ctx, log, m)
		return nil
	}

	flow, err := w.Store.AuthFlow(ctx, m.Flow)
	if err != nil && envoi.ErrorCode(err) != envoi.ENotFound {
		err = tempIfInternal(err)
	}
	if stop.Err() != nil {
		// Shutting down: not started, so handed back now.
		w.handBack(ctx, log, m, 0)
		return nil
	}

	var d *envoi.Delivery
	var out envoi.Outcome
	if err == nil {
		// The send runs under a heartbeat that extends the lease; if the
		// lease is lost (claimed again, or not extended in time) the send
		// is cancelled and its outcome not recorded: the message never
		// has two live attempts.
		sendCtx, cancel := context.WithCancel(ctx)
		hb := w.heartbeat(sendCtx, cancel, log, m)
		start := w.Now()
		d, out, err = w.send(sendCtx, flow, m.Message)
		w.Metrics.observeSend(w.Now().Sub(start))
		lost := hb()
		cancel()
		if lost {
			w.Metrics.leaseLost()
			if err != nil {
				log.Warn("queue: the lease was lost during the send; the send was stopped and its outcome is not recorded", "outcome_err", err)
				return nil
			}
			// The provider took it just before: recorded if no other
			// claim took the message since (Finish is fenced).
			log.Warn("queue: the lease was lost as the provider accepted the message; recording it if the claim is still the latest")
		}
	} else if envoi.ErrorCode(err) == envoi.ENotFound {
		err = envoi.Errorf(envoi.ENoFlowForOperator, "the flow %q of this message no longer exists", m.Flow)
	}
	if err == nil {
		w.throttles.reset(m.Flow, m.Mailbox)
	}
	if th := envoi.AsThrottle(err); th != nil {
		w.throttle(ctx, log, m, th, err)
		return nil
	}
	m.WaitReason = ""
	// The outcome's commit claims the next message, unless stopping.
	then := &next
	if stop.Err() != nil {
		then = nil
	}
	switch {
	case err == nil:
		m.Status = envoi.StatusSent
		m.SentAt = w.Now()
		m.ProviderMessageID = out.ProviderMessageID
		m.ErrorCode, m.Error = "", ""
		m.NextTry = time.Time{}
		if w.finish(ctx, log, m, 0, then) {
			w.Metrics.sent()
			log.Info("queue: message sent", "transport", d.Transport, "provider_message_id", out.ProviderMessageID, "reply", out.Reply)
			if w.OnSent != nil && !m.Sensitive {
				w.OnSent(ctx, m.Message, d)
			}
		}
	case envoi.ErrorCode(err) == envoi.EConsentRequired:
		m.Status = envoi.StatusConsentRequired
		m.Attempts-- // waiting for a person is not a failed attempt
		m.ErrorCode, m.Error = envoi.EConsentRequired, err.Error()
		m.NextTry = time.Time{}
		if w.finish(ctx, log, m, w.ParkFor, then) {
			log.Info("queue: message parked until the identity consents again", "flow", m.Flow, "mailbox", m.Mailbox)
		}
		w.Metrics.parked()
	case envoi.IsTemporary(err) && m.Attempts < w.MaxAttempts:
		delay := w.Backoff(m.Attempts)
		m.Status = envoi.StatusRetrying
		m.WaitReason = envoi.WaitServerRetry
		m.ErrorCode, m.Error = envoi.ErrorCode(err), err.Error()
		m.NextTry = w.Now().Add(delay)
		if w.finish(ctx, log, m, delay, then) {
			log.Info("queue: message will be tried again", "code", m.ErrorCode, "reason", m.Error,
				"attempts", m.Attempts, "next_attempt_at", m.NextTry.UTC().Format(time.RFC3339))
		}
		w.Metrics.retried(m.ErrorCode)
	default:
		m.Status = envoi.StatusFailed
		m.ErrorCode, m.Error = envoi.ErrorCode(err), err.Error()
		m.NextTry = time.Time{}
		w.finish(ctx, log, m, 0, then)
		w.Metrics.failed(m.ErrorCode)
		log.Warn("queue: message failed", "code", m.ErrorCode, "err", err, "attempts", m.Attempts)
	}
	return next
}

// abandon fails a message whose last claims all ended without an outcome,
// without sending it again: it may be what makes the process die. This
// claim was not an attempt; the message stays counted as a possible
// duplicate (Duplicates).
func (w *Worker) abandon(ctx context.Context, log *slog.Logger, m *envoi.Claim) {
	err := envoi.Errorf(envoi.EDeliveryAbandoned, "the message was being sent %d times and each attempt ended without an outcome (the service stopped mid-send)", m.Unfinished).
		WithDetail("attempts_without_outcome", m.Unfinished)
	m.Attempts--
	m.Status = envoi.StatusFailed
	m.ErrorCode, m.Error = envoi.EDeliveryAbandoned, err.Error()
	m.NextTry = time.Time{}
	n := m.Unfinished
	if w.finish(ctx, log, m, 0, nil) {
		w.Metrics.failed(m.ErrorCode)
		log.Error("queue: message abandoned: its sends kept ending without an outcome; look for a crash or a restart at each of its attempts",
			"code", m.ErrorCode, "attempts_without_outcome", n, "attempts", m.Attempts, "possible_duplicates", m.Duplicates)
	}
}

// handBack returns a claimed message unsent, due again after delay; the
// claim was not an attempt.
func (w *Worker) handBack(ctx context.Context, log *slog.Logger, m *envoi.Claim, delay time.Duration) {
	m.Status = envoi.StatusQueued
	m.Attempts--
	w.finish(ctx, log, m, delay, nil)
}

// finish records the outcome and settles the job; it reports whether it
// was recorded. While the store is unavailable (a database restarting) it
// tries again as long as the message's lease leaves time, 30 seconds at
// most: an outcome given up is a sent message sent again.
//
// With next not nil, and a Store that can (FinishAndClaim), the same
// commit claims the next due message into *next.
func (w *Worker) finish(ctx context.Context, log *slog.Logger, m *envoi.Claim, delay time.Duration, next **envoi.Claim) bool {
	fc, _ := w.Store.(finishClaimer)
	left := w.Lease
	if !m.LeaseUntil.IsZero() {
		left = m.LeaseUntil.Sub(w.Now())
	}
	// Measured on the wall clock: w.Now may be a test's frozen clock.
	until := time.Now().Add(min(left-w.Lease/10, 30*time.Second))
	wait := 50 * time.Millisecond
	for {
		var err error
		if fc != nil && next != nil {
			*next, err = fc.FinishAndClaim(ctx, m, delay, w.Lease)
		} else {
			err = w.Store.Finish(ctx, m, delay)
		}
		if err == nil {
			w.notify(m.Message)
			return true
		}
		if envoi.ErrorCode(err) == envoi.EConflict {
			// Fenced: the lease lapsed and another worker claimed the
			// message; its outcome is the one recorded.
			log.Warn("queue: outcome not recorded: the message was claimed again after this worker's lease lapsed", "status", m.Status, "err", err)
			return false
		}
		if !envoi.IsTemporary(err) || !time.Now().Add(wait).Before(until) {
			// The message stays leased: it comes back when the lease
			// lapses and the outcome is recorded then (a sent message may
			// be sent twice, with the same Message-ID).
			log.Error("queue: recording the outcome failed", "status", m.Status, "err", err)
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

func (w *Worker) notify(m *envoi.Message) {
	if w.OnChange != nil {
		c := *m
		w.OnChange(&c)
	}
}

// send hands m's delivery record, as acceptance stored it, to the
// transport it names with what is not stored with it: the flow as it
// stands (its server), the password of basic SMTP and the composed bytes.
// It returns the delivery as handed over and the transport's outcome.
func (w *Worker) send(ctx context.Context, flow *envoi.AuthFlow, m *envoi.Message) (*envoi.Delivery, envoi.Outcome, error) {
	if m.Delivery == nil {
		return nil, envoi.Outcome{}, envoi.Errorf(envoi.EInternal, "message %s has no delivery record", m.ID)
	}
	d := *m.Delivery
	tr := w.Transports[d.Transport]
	if tr == nil {
		return nil, envoi.Outcome{}, envoi.Errorf(envoi.EInternal, "message %s is to be delivered by the transport %q, which this instance does not have", m.ID, d.Transport).
			WithDetail("transport", d.Transport)
	}
	d.Identity.Flow = flow
	if flow.Kind == envoi.KindSMTPBasic {
		op, err := w.Store.Operator(ctx, d.Identity.Operator)
		if err != nil {
			return nil, envoi.Outcome{}, tempIfInternal(err)
		}
		d.Identity.Password = op.SMTPPassword
	}
	eml := w.Handoff.Take(m.ID)
	if eml == nil {
		var err error
		if eml, err = w.Store.EMLToSend(ctx, m.ID); err != nil {
			return nil, envoi.Outcome{}, tempIfInternal(err)
		}
	}
	d.Content = eml
	d.Envelope.Size = int64(len(eml))
	out, err := tr.Deliver(ctx, &d)
	return &d, out, err
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
