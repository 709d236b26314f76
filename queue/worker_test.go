package queue_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/queue"
	"envoi/sqlstore"
)

// TestWorkerSends: a message accepted is sent once with its Message-ID,
// recorded sent, and its job is gone.
func TestWorkerSends(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin
		msgs := in.accept(t, 3)
		n, err := in.worker.RunOnce(context.Background())
		if err != nil || n != 3 {
			t.Fatalf("RunOnce = %d, %v; want 3 messages handled", n, err)
		}
		got := receivedBy(w.smtp)
		for _, m := range msgs {
			back := in.message(t, m.ID)
			if back.Status != envoi.StatusSent || back.Attempts != 1 || back.SentAt.IsZero() || back.ErrorCode != "" {
				t.Errorf("message %s: status %s attempts %d sent_at %v error %q, want sent after 1 attempt", m.ID, back.Status, back.Attempts, back.SentAt, back.ErrorCode)
			}
			if got[m.MessageID] != 1 {
				t.Errorf("%s received %d times, want once", m.MessageID, got[m.MessageID])
			}
		}
		if left, _ := in.store.ClaimDue(context.Background(), 10, time.Minute); len(left) != 0 {
			t.Errorf("%d jobs still due after every message was sent", len(left))
		}
	})
}

// TestWorkerRetries: temporary failures are retried with the backoff up to
// MaxAttempts, then the message ends in failed with the code and the
// server's text; a permanent failure ends it at once.
func TestWorkerRetries(t *testing.T) {
	cases := []struct {
		name         string
		fault        testmail.SMTPFault
		wantAttempts int
		wantCode     string
		wantText     string
		wantBackoffs []int
	}{
		{"Temporary451", testmail.SMTPFault{Kind: testmail.SMTPFaultData}, 3, envoi.ESMTPTemporary, "Please try again later", []int{1, 2}},
		{"Unavailable421", testmail.SMTPFault{Kind: testmail.SMTPFaultConnect}, 3, envoi.ESMTPUnavailable, "Service not available", []int{1, 2}},
		{"PermanentRcpt550", testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt}, 1, envoi.ESMTPRecipientRefused, "User unknown", nil},
		{"PermanentData554", testmail.SMTPFault{Kind: testmail.SMTPFaultData, Code: 554, EnhancedCode: "5.6.0", Text: "Message rejected as spam"}, 1, envoi.ESMTPPermanent, "rejected as spam", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, sqlstore.DialectSQLite)
			in := w.admin
			var mu sync.Mutex
			var backoffs []int
			in.worker.MaxAttempts = 3
			in.worker.Backoff = func(n int) time.Duration {
				mu.Lock()
				defer mu.Unlock()
				backoffs = append(backoffs, n)
				return 0 // due again at once
			}
			var seen []string
			in.worker.OnChange = func(m *envoi.Message) { seen = append(seen, m.Status) }
			w.smtp.Fail(c.fault)
			m := in.accept(t, 1)[0]

			if _, err := in.worker.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := in.message(t, m.ID)
			if got.Status != envoi.StatusFailed || got.Attempts != c.wantAttempts || got.ErrorCode != c.wantCode {
				t.Fatalf("status %s attempts %d code %s, want failed after %d with %s (%s)", got.Status, got.Attempts, got.ErrorCode, c.wantAttempts, c.wantCode, got.Error)
			}
			if !strings.Contains(got.Error, c.wantText) {
				t.Errorf("error %q lacks the server's text %q", got.Error, c.wantText)
			}
			if !equalInts(backoffs, c.wantBackoffs) {
				t.Errorf("backoff asked for %v, want %v", backoffs, c.wantBackoffs)
			}
			if c.wantAttempts > 1 && !contains(seen, envoi.StatusRetrying) {
				t.Errorf("statuses seen %v, want retrying between attempts", seen)
			}
			if n := w.smtp.MessageCount(); n != 0 {
				t.Errorf("the server kept %d messages, want none", n)
			}
			if left, _ := in.store.ClaimDue(context.Background(), 10, time.Minute); len(left) != 0 {
				t.Errorf("a failed message's job is still due")
			}
		})
	}
}

// TestWorkerRetryWaitsBackoff: a message that failed temporarily is not
// due before its backoff has passed, and says when it will be tried.
func TestWorkerRetryWaitsBackoff(t *testing.T) {
	w := newWorld(t, sqlstore.DialectSQLite)
	in := w.admin
	in.worker.Backoff = func(int) time.Duration { return time.Hour }
	w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultData, Times: 1})
	m := in.accept(t, 1)[0]
	before := time.Now()
	if n, err := in.worker.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	got := in.message(t, m.ID)
	if got.Status != envoi.StatusRetrying || got.ErrorCode != envoi.ESMTPTemporary {
		t.Fatalf("status %s code %s, want retrying with smtp_temporary", got.Status, got.ErrorCode)
	}
	if d := got.NextTry.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("next try in %s, want the backoff's hour", d)
	}
	if n, _ := in.worker.RunOnce(context.Background()); n != 0 {
		t.Errorf("the message was tried again %d times before its backoff", n)
	}
}

// TestDefaultBackoff: exponential from 30s, capped at one hour, each delay
// within ±20% jitter, and not all alike.
func TestDefaultBackoff(t *testing.T) {
	for _, c := range []struct {
		attempts int
		base     time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {6, 16 * time.Minute}, {8, time.Hour}, {20, time.Hour}} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := queue.DefaultBackoff(c.attempts)
			lo, hi := time.Duration(float64(c.base)*0.8), time.Duration(float64(c.base)*1.2)
			if d < lo || d > hi {
				t.Fatalf("DefaultBackoff(%d) = %s, want within [%s, %s]", c.attempts, d, lo, hi)
			}
			seen[d] = true
		}
		if len(seen) < 10 {
			t.Errorf("DefaultBackoff(%d) gave %d distinct delays in 50 calls: no jitter", c.attempts, len(seen))
		}
	}
}

// TestWorkerParksOnConsent: a message whose token needs consent parks
// without counting an attempt, stays out of the queue, and goes out once
// the consent is stored and the parked messages are released.
func TestWorkerParksOnConsent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		w.moveToOAuth(1000)
		in := w.admin
		msgs := in.accept(t, 2)
		if _, err := in.worker.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got := in.message(t, m.ID)
			if got.Status != envoi.StatusConsentRequired || got.Attempts != 0 || got.ErrorCode != envoi.EConsentRequired {
				t.Fatalf("parked: status %s attempts %d code %s, want consent_required, 0 attempts", got.Status, got.Attempts, got.ErrorCode)
			}
		}
		if n, _ := in.worker.RunOnce(context.Background()); n != 0 {
			t.Fatalf("a parked message was taken again (%d) before consent", n)
		}

		// Another instance stores the consent and releases the messages.
		other := w.instance()
		w.consent(other)
		n, err := other.store.ReleaseParked(context.Background(), envoi.TokenKey{Flow: "OAUTH", Operator: "jdupont"})
		if err != nil || n != 2 {
			t.Fatalf("ReleaseParked = %d, %v; want 2", n, err)
		}
		if n, err := in.worker.RunOnce(context.Background()); err != nil || n != 2 {
			t.Fatalf("after consent RunOnce = %d, %v; want 2", n, err)
		}
		got := receivedBy(w.smtp)
		for _, m := range msgs {
			back := in.message(t, m.ID)
			if back.Status != envoi.StatusSent || back.Attempts != 1 || got[m.MessageID] != 1 {
				t.Errorf("%s: status %s attempts %d received %d times, want sent once after 1 attempt", m.ID, back.Status, back.Attempts, got[m.MessageID])
			}
		}
		for _, sm := range w.smtp.Messages() {
			if sm.AuthMechanism != "XOAUTH2" || sm.AuthUser != operatorEmail {
				t.Errorf("sent with %s as %s, want XOAUTH2 as %s", sm.AuthMechanism, sm.AuthUser, operatorEmail)
			}
		}
	})
}

// TestWorkerRateLimit: a mailbox's messages a minute hold across
// instances, since the count is in the database. The Microsoft 365 preset
// allows 30; the rest wait, queued, with their next try set.
func TestWorkerRateLimit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		w.moveToOAuth(0) // the preset's limit
		flow, err := w.admin.store.AuthFlow(context.Background(), "OAUTH")
		if err != nil || flow.RatePerMinute != 30 {
			t.Fatalf("Microsoft 365 flow: rate %d, %v; want the preset's 30 a minute", flow.RatePerMinute, err)
		}
		a, b := w.instance(), w.instance()
		w.consent(a)
		msgs := a.accept(t, 34)
		// The two instances take turns, each sending what it may.
		for range 20 {
			if _, err := a.worker.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := b.worker.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		sent, held := 0, 0
		for _, m := range msgs {
			got := a.message(t, m.ID)
			switch got.Status {
			case envoi.StatusSent:
				sent++
			case envoi.StatusQueued:
				held++
				if got.NextAttemptAt.IsZero() || got.WaitReason != envoi.WaitRateLimited || got.Attempts != 0 {
					t.Errorf("held message %s: next attempt %v (%q) attempts %d, want a next attempt, rate_limited and no attempt counted",
						m.ID, got.NextAttemptAt, got.WaitReason, got.Attempts)
				}
			default:
				t.Errorf("message %s is %s", m.ID, got.Status)
			}
		}
		if sent != 30 || held != 4 || w.smtp.MessageCount() != 30 {
			t.Errorf("sent %d, held %d, server received %d; want 30 sent in the minute and 4 held", sent, held, w.smtp.MessageCount())
		}
	})
}

// TestWorkerDuplicateAfterCrash: a worker that claims a message and dies
// before recording the outcome leaves it sending; once the lease lapses
// the message is claimed again, counted as a possible duplicate, and sent
// with the same Message-ID.
func TestWorkerDuplicateAfterCrash(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin
		m := in.accept(t, 1)[0]
		claimed, err := in.store.ClaimDue(context.Background(), 5, 200*time.Millisecond)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("ClaimDue = %d, %v", len(claimed), err)
		}
		// The "crashed" worker sends nothing and records nothing. While its
		// lease runs, nobody else gets the message.
		if again, _ := in.store.ClaimDue(context.Background(), 5, time.Minute); len(again) != 0 {
			t.Fatalf("a leased message was claimed twice")
		}
		time.Sleep(300 * time.Millisecond)
		if n, err := in.worker.RunOnce(context.Background()); err != nil || n != 1 {
			t.Fatalf("after the lease RunOnce = %d, %v", n, err)
		}
		got := in.message(t, m.ID)
		if got.Status != envoi.StatusSent || got.Duplicates != 1 || got.Attempts != 2 {
			t.Errorf("status %s duplicates %d attempts %d, want sent, 1 possible duplicate, 2 attempts", got.Status, got.Duplicates, got.Attempts)
		}
		if c := receivedBy(w.smtp)[m.MessageID]; c != 1 {
			t.Errorf("received %d times", c)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
