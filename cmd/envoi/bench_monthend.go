package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"envoi"
	"envoi/internal/benchpeer"
)

// The month-end mode of envoi bench: an ERP's month-end run through
// several mailboxes, each with its provider's limits, one of them behind a
// slow server. The sink enforces the limits as Exchange Online does
// (432 4.3.2 past them), so a throttle reply counts a limit envoi did not
// keep; the slow mailbox shows whether one mailbox holds up the others.

// mailboxRun is one mailbox's progress in a month-end run.
type mailboxRun struct {
	sent int
	last time.Time
}

// slowMailbox is the operator whose server is slow: the last one.
func (r *benchRun) slowMailbox() string { return fmt.Sprintf("bench%02d", r.o.operators) }

func (r *benchRun) monthEndSink(so *benchpeer.SinkOptions) {
	slowUser := r.slowMailbox() + "@example.com"
	so.Limits = func(string) (int, int) { return r.o.perMinute, r.o.mbConns }
	so.Delay = func(user string) time.Duration {
		if user == slowUser {
			return r.o.slowDelay
		}
		return 0
	}
}

// monthEndLimits sets the bench flow's limits to the sink's.
func (r *benchRun) monthEndLimits(ctx context.Context, app *App) error {
	f, err := app.Store.AuthFlow(ctx, "BENCH")
	if err != nil {
		return err
	}
	f.RatePerMinute = r.o.perMinute
	f.Limits = envoi.Limits{MessagesPerMinute: r.o.perMinute, Connections: r.o.mbConns}
	return app.Store.PutAuthFlow(ctx, f)
}

func (r *benchRun) sentBy(mailbox string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mailboxes == nil {
		r.mailboxes = map[string]*mailboxRun{}
	}
	mb := r.mailboxes[mailbox]
	if mb == nil {
		mb = &mailboxRun{}
		r.mailboxes[mailbox] = mb
	}
	mb.sent++
	mb.last = at
}

// monthEndReport prints the run against what the limits allow: a mailbox
// of n messages at L a minute cannot finish before (ceil(n/L)-1) minutes
// (its first L go at once, the next L a minute later...).
func (r *benchRun) monthEndReport() {
	w := r.out
	ideal := time.Duration(math.Ceil(float64(r.o.perMailbox)/float64(r.o.perMinute))-1) * time.Minute
	slow := r.slowMailbox()
	slowIdeal := max(ideal, time.Duration(float64(r.o.perMailbox)/float64(r.o.mbConns)*float64(r.o.slowDelay)))
	r.mu.Lock()
	var healthyLast time.Duration
	var lines []string
	for i := 1; i <= r.o.operators; i++ {
		name := fmt.Sprintf("bench%02d", i)
		mb := r.mailboxes[name]
		if mb == nil {
			mb = &mailboxRun{}
		}
		took := mb.last.Sub(r.start)
		if name != slow {
			healthyLast = max(healthyLast, took)
		}
		lines = append(lines, fmt.Sprintf("%s %d sent, last at %.1fs", name, mb.sent, took.Seconds()))
	}
	r.mu.Unlock()
	extra := r.sink.Messages() - r.delivered.Load()
	fmt.Fprintf(w, "month-end: %d mailboxes × %d messages, limits %d a minute and %d connections each (enforced by the sink); %s slow (%s a message)\n",
		r.o.operators, r.o.perMailbox, r.o.perMinute, r.o.mbConns, slow, r.o.slowDelay)
	fmt.Fprintf(w, "healthy mailboxes done after %.1fs; ideal %.1fs (the limits allow no faster): %.1fs over\n",
		healthyLast.Seconds(), ideal.Seconds(), (healthyLast - ideal).Seconds())
	r.mu.Lock()
	slowTook := time.Duration(0)
	if mb := r.mailboxes[slow]; mb != nil {
		slowTook = mb.last.Sub(r.start)
	}
	r.mu.Unlock()
	fmt.Fprintf(w, "slow mailbox done after %.1fs; its own floor %.1fs (%d connections × %s a message)\n",
		slowTook.Seconds(), slowIdeal.Seconds(), r.o.mbConns, r.o.slowDelay)
	fmt.Fprintf(w, "throttle replies received (432 4.3.2): %d (goal 0), %d of them for connections; duplicates at the sink: %d (goal 0)\n",
		r.sink.Throttled(), r.sink.ThrottledConnections(), max(extra, 0))
	fmt.Fprintf(w, "per mailbox: %s\n", strings.Join(lines, "; "))
}
