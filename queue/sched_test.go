package queue_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/sqlstore"
)

// addMailbox adds operator op with its own flow (smtp_basic) to server
// srv, with limits: another mailbox than jdupont's.
func (w *world) addMailbox(op string, srv *testmail.SMTPServer, limits envoi.Limits) {
	w.t.Helper()
	ctx := context.Background()
	must(w.t, w.admin.store.PutOperator(ctx, &envoi.Operator{Code: op, Name: op, Email: operatorEmail, SMTPPassword: operatorPass}))
	w.putFlow(&envoi.AuthFlow{Code: "F_" + op, Name: op, Kind: envoi.KindSMTPBasic, SMTP: srv.Endpoint(), Operators: []string{op}, Limits: limits})
}

// acceptAs accepts n messages sent by operator op, to rcpts recipients
// each.
func (in *instance) acceptAs(t testing.TB, op string, n int, rcpts ...string) []*envoi.Message {
	t.Helper()
	if len(rcpts) == 0 {
		rcpts = []string{op + "@example.org"}
	}
	out := make([]*envoi.Message, n)
	for i := range out {
		r := bl(op+strconv.Itoa(i), rcpts[0])
		r.Operator, r.To = op, rcpts
		m, created, err := in.service.Accept(context.Background(), r, "")
		if err != nil || !created {
			t.Fatalf("accept as %s: created %v, %v", op, created, err)
		}
		out[i] = m
	}
	return out
}

// waitFor polls cond until it holds; it fails the test after a minute
// (a bound against hanging, not a measure).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

func (in *instance) statuses(t testing.TB, msgs []*envoi.Message) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range msgs {
		got[in.message(t, m.ID).Status]++
	}
	return got
}

// TestLeaseOutlivedBySlowSend: a lease of one second and a server that
// takes seconds to accept a message; two instances run their workers.
// The heartbeat keeps the lease while the send runs: the message goes
// out once, with no possible duplicate.
func TestLeaseOutlivedBySlowSend(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		a, b := w.admin, w.instance()
		for _, in := range []*instance{a, b} {
			in.worker.Lease = time.Second
		}
		w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: 700 * time.Millisecond})
		msgs := a.accept(t, 1)
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, in := range []*instance{a, b} {
			wg.Go(func() { _ = in.worker.Run(ctx) })
		}
		waitFor(t, "the message sent", func() bool { return a.message(t, msgs[0].ID).Status == envoi.StatusSent })
		// Give a second claim the time it would need to go out again.
		w.smtp.Heal(testmail.SMTPFaultSlow)
		time.Sleep(1500 * time.Millisecond)
		stop()
		wg.Wait()
		got := a.message(t, msgs[0].ID)
		if n := w.smtp.MessageCount(); n != 1 || got.Duplicates != 0 || got.Attempts != 1 {
			t.Errorf("server received %d copies; message %s attempts %d duplicates %d; want 1 copy, 1 attempt, no duplicate",
				n, got.Status, got.Attempts, got.Duplicates)
		}
	})
}

// noHeartbeat is a store on which leases cannot be extended (the
// database unreachable for the heartbeat only), and that gives its
// worker one claim only.
type noHeartbeat struct {
	*sqlstore.Store
	claimed atomic.Bool
}

func (s *noHeartbeat) ClaimDue(ctx context.Context, n int, lease time.Duration) ([]*envoi.Claim, error) {
	if s.claimed.Swap(true) {
		return nil, nil
	}
	return s.Store.ClaimDue(ctx, n, lease)
}

func (*noHeartbeat) ExtendLease(context.Context, *envoi.Claim, time.Time) error {
	e := envoi.Errorf(envoi.EUnavailable, "the database is unavailable")
	e.Temporary = true
	return e
}

// TestLostLeaseStopsTheSend: a worker that cannot extend its lease stops
// its send before the lease lapses and records nothing; the instance
// that claims the message after the lapse sends it: never two live
// attempts, one copy received, the second claim flagged.
func TestLostLeaseStopsTheSend(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		a, b := w.admin, w.instance()
		a.worker.Store = &noHeartbeat{Store: a.store}
		for _, in := range []*instance{a, b} {
			in.worker.Lease = 800 * time.Millisecond
		}
		w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: 400 * time.Millisecond})
		msgs := a.accept(t, 1)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			// a alone first: it claims the message.
			_, _ = a.worker.RunOnce(context.Background())
			close(done)
		}()
		<-done
		if got := a.message(t, msgs[0].ID); got.Status != envoi.StatusSending || w.smtp.MessageCount() != 0 {
			t.Fatalf("after the lost lease: %s, %d received; want still sending (nothing recorded), none received", got.Status, w.smtp.MessageCount())
		}
		var wg sync.WaitGroup
		wg.Go(func() { _ = b.worker.Run(ctx) })
		waitFor(t, "the message sent by the other instance", func() bool { return a.message(t, msgs[0].ID).Status == envoi.StatusSent })
		stop()
		wg.Wait()
		if got := a.message(t, msgs[0].ID); w.smtp.MessageCount() != 1 || got.Duplicates != 1 {
			t.Errorf("%d copies received, duplicates %d; want 1 copy, the second claim flagged", w.smtp.MessageCount(), got.Duplicates)
		}
	})
}

// TestSlowMailboxDoesNotHoldOthers: a mailbox whose server never answers
// holds its own messages (as many as its connections) and no worker
// beyond them: another mailbox's messages all go out meanwhile.
func TestSlowMailboxDoesNotHoldOthers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		slow := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone, Users: map[string]string{operatorEmail: operatorPass}})
		slow.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: time.Hour})
		w.addMailbox("slowop", slow, envoi.Limits{Connections: 2})
		in := w.admin
		in.worker.Concurrency = 4
		stuck := in.acceptAs(t, "slowop", 12)
		healthy := in.accept(t, 5)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- in.worker.Run(ctx) }()
		waitFor(t, "the healthy mailbox's messages sent", func() bool { return in.statuses(t, healthy)[envoi.StatusSent] == 5 })
		st := in.statuses(t, stuck)
		if st[envoi.StatusSending] > 2 || st[envoi.StatusSent] != 0 {
			t.Errorf("slow mailbox: %v; want at most its 2 connections sending, the rest waiting", st)
		}
		stop()
		slow.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestRoundRobinAcrossMailboxes: a mailbox with many messages queued
// first does not starve one with a few: the claims alternate.
func TestRoundRobinAcrossMailboxes(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		w.addMailbox("small", w.smtp, envoi.Limits{})
		in := w.admin
		in.acceptAs(t, "jdupont", 40)
		in.acceptAs(t, "small", 4)
		if _, err := in.worker.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		last := -1
		for i, m := range w.smtp.Messages() {
			if m.Recipients[0] == "small@example.org" {
				last = i
			}
		}
		if w.smtp.MessageCount() != 44 || last < 0 || last > 8 {
			t.Errorf("%d sent; the small mailbox's last message went out %d-th; want all 44, the small mailbox's done within the first 8", w.smtp.MessageCount(), last+1)
		}
	})
}

// TestThrottleIsPacing: a throttling reply (Microsoft's 432 4.3.2,
// Gmail's 550 5.4.5) spends no attempt and fails nothing: the message
// waits queued with its reason and time, its mailbox's other messages
// wait too, another mailbox goes on; after the wait it goes out.
func TestThrottleIsPacing(t *testing.T) {
	for _, tc := range []struct {
		name, enh, reason string
		code              int
	}{
		{"Microsoft432", "4.3.2", envoi.WaitRateLimited, 432},
		{"GmailQuota", "5.4.5", envoi.WaitQuota, 550},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, dialect string) {
				w := newWorld(t, dialect)
				other := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone, Users: map[string]string{operatorEmail: operatorPass}})
				w.addMailbox("other", other, envoi.Limits{})
				in := w.admin
				const pause = 2 * time.Second
				var mu sync.Mutex
				in.worker.ThrottleBackoff = func(reason string, n int) time.Duration {
					mu.Lock()
					defer mu.Unlock()
					if reason != tc.reason || n != 1 {
						t.Errorf("backoff for %s #%d, want %s #1", reason, n, tc.reason)
					}
					return pause
				}
				w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultMail, Code: tc.code, EnhancedCode: tc.enh, Text: "slow down", Times: 1})
				mine := in.accept(t, 3)
				theirs := in.acceptAs(t, "other", 2)
				before := time.Now()
				if _, err := in.worker.RunOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, m := range mine {
					got := in.message(t, m.ID)
					if got.Status != envoi.StatusQueued || got.Attempts != 0 || got.WaitReason != tc.reason || got.NextAttemptAt.Before(before.Add(pause)) {
						t.Errorf("throttled mailbox's %s: %s attempts %d wait %q until %v; want queued, no attempt, %s for the backoff",
							m.ID, got.Status, got.Attempts, got.WaitReason, got.NextAttemptAt, tc.reason)
					}
				}
				if st := in.statuses(t, theirs); st[envoi.StatusSent] != 2 {
					t.Errorf("other mailbox: %v, want both sent", st)
				}
				// The pause over, the mailbox goes on.
				waitFor(t, "the throttled mailbox's messages sent after the pause", func() bool {
					if _, err := in.worker.RunOnce(context.Background()); err != nil {
						t.Fatal(err)
					}
					return in.statuses(t, mine)[envoi.StatusSent] == 3
				})
				for _, m := range mine {
					if got := in.message(t, m.ID); got.Attempts != 1 {
						t.Errorf("%s: %d attempts, want 1 (the throttled one not counted)", m.ID, got.Attempts)
					}
				}
			})
		})
	}
}

// TestLimitsAcrossInstances: three instances on one database send a
// mailbox's messages: its rate (messages a minute), its connections and
// its daily recipients hold across them.
func TestLimitsAcrossInstances(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		w.addMailbox("rated", w.smtp, envoi.Limits{MessagesPerMinute: 7, Connections: 2})
		w.addMailbox("quota", w.smtp, envoi.Limits{RecipientsPerDay: 9})
		ins := []*instance{w.admin, w.instance(), w.instance()}
		rated := ins[0].acceptAs(t, "rated", 20)
		quota := ins[0].acceptAs(t, "quota", 6, "a@example.org", "b@example.org")
		var inflight, peak int
		var mu sync.Mutex
		for _, in := range ins {
			in.worker.OnChange = func(m *envoi.Message) {
				if m.Flow != "F_rated" {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch m.Status {
				case envoi.StatusSending:
					inflight++
					peak = max(peak, inflight)
				case envoi.StatusSent, envoi.StatusQueued, envoi.StatusRetrying, envoi.StatusFailed:
					inflight--
				}
			}
		}
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, in := range ins {
			wg.Go(func() { _ = in.worker.Run(ctx) })
		}
		waitFor(t, "the rate and the quota reached", func() bool {
			return ins[0].statuses(t, rated)[envoi.StatusSent] >= 7 && ins[0].statuses(t, quota)[envoi.StatusSent] >= 4
		})
		time.Sleep(300 * time.Millisecond) // room for a send past the limits, if any
		stop()
		wg.Wait()
		if st := ins[0].statuses(t, rated); st[envoi.StatusSent] != 7 || st[envoi.StatusQueued] != 13 {
			t.Errorf("rated mailbox: %v; want 7 sent in the minute, 13 queued", st)
		}
		if peak > 2 {
			t.Errorf("rated mailbox: %d sends at once, want at most its 2 connections", peak)
		}
		if st := ins[0].statuses(t, quota); st[envoi.StatusSent] != 4 || st[envoi.StatusQueued] != 2 {
			t.Errorf("quota mailbox: %v; want 4 sent (8 recipients of 9 a day), 2 queued", st)
		}
		held := ins[0].message(t, quota[5].ID)
		if held.WaitReason != envoi.WaitQuota || held.NextAttemptAt.Before(time.Now().Add(23*time.Hour)) {
			t.Errorf("held message: wait %q until %v; want quota until the window rolls (a day)", held.WaitReason, held.NextAttemptAt)
		}
	})
}

// TestSendAtWaits: a request's send_at makes the message wait as
// scheduled until then (its time and reason shown); a past one is now;
// more than a year ahead is refused.
func TestSendAtWaits(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin
		ctx := context.Background()
		later, soon, past := time.Now().Add(time.Hour).Truncate(time.Second), time.Now().Add(1500*time.Millisecond), time.Now().Add(-time.Hour)
		accept := func(at time.Time) (*envoi.Message, error) {
			r := bl("42", "client@example.org")
			r.SendAt = &at
			m, _, err := in.service.Accept(ctx, r, "")
			return m, err
		}
		_, err := accept(time.Now().Add(400 * 24 * time.Hour))
		if e := envoi.AsError(err); e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != "send_at" {
			t.Fatalf("send_at 400 days ahead: %v, want invalid_input on send_at", err)
		}
		mLater, err := accept(later)
		must(t, err)
		mSoon, err := accept(soon)
		must(t, err)
		mPast, err := accept(past)
		must(t, err)
		if _, err := in.worker.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		got := in.message(t, mLater.ID)
		if got.Status != envoi.StatusScheduled || got.WaitReason != envoi.WaitScheduled || !got.NextAttemptAt.Equal(later) {
			t.Errorf("send_at in an hour: %s, wait %q until %v; want scheduled until %v", got.Status, got.WaitReason, got.NextAttemptAt, later)
		}
		if got := in.message(t, mPast.ID); got.Status != envoi.StatusSent {
			t.Errorf("send_at in the past: %s, want sent now", got.Status)
		}
		waitFor(t, "the message due in a second and a half sent", func() bool {
			if _, err := in.worker.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			return in.message(t, mSoon.ID).Status == envoi.StatusSent
		})
		if got := in.message(t, mLater.ID); got.Status != envoi.StatusScheduled || w.smtp.MessageCount() != 2 {
			t.Errorf("later: %s with %d sent; want still scheduled, 2 sent", got.Status, w.smtp.MessageCount())
		}
	})
}

// TestRecipientsPerMessageRefused: a request with more recipients than
// its flow's provider accepts in one message is refused at acceptance,
// saying the limit; nothing is stored.
func TestRecipientsPerMessageRefused(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		w.putFlow(&envoi.AuthFlow{Code: "BASIC", Name: "basic", Kind: envoi.KindSMTPBasic, SMTP: w.smtp.Endpoint(),
			Operators: []string{"jdupont"}, Limits: envoi.Limits{RecipientsPerMessage: 2}})
		r := bl("1", "a@example.org")
		r.Cc = []string{"b@example.org", "c@example.org"}
		_, _, err := w.admin.service.Accept(context.Background(), r, "")
		e := envoi.AsError(err)
		if e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != "to" || e.Details["limit"] != 2 {
			t.Fatalf("3 recipients with a limit of 2: %v, want invalid_input on to with the limit", err)
		}
		r.Cc = r.Cc[:1]
		if _, _, err := w.admin.service.Accept(context.Background(), r, ""); err != nil {
			t.Fatalf("2 recipients: %v", err)
		}
	})
}
