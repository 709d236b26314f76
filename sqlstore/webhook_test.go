package sqlstore_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/sqlstore"
)

// claimAll claims every due delivery and returns the event types by
// endpoint, with the jobs.
func claimAll(tb testing.TB, s *sqlstore.Store) (map[string][]string, []*envoi.WebhookJob) {
	tb.Helper()
	jobs, err := s.ClaimWebhookDeliveries(context.Background(), 100, 24*time.Hour)
	must(tb, err)
	got := map[string][]string{}
	for _, j := range jobs {
		got[j.Webhook.Code] = append(got[j.Webhook.Code], j.EventType)
	}
	return got, jobs
}

func TestWebhooks(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)

		t.Run("ErrInvalidInput", func(t *testing.T) {
			for name, w := range map[string]*envoi.Webhook{
				"url":     {Code: "erp", URL: "ftp://erp.example/hook", Events: []string{envoi.EventMessageSent}},
				"events":  {Code: "erp", URL: "https://erp.example/hook", Events: []string{"message.exploded"}},
				"none":    {Code: "erp", URL: "https://erp.example/hook"},
				"secret":  {Code: "erp", URL: "https://erp.example/hook", Events: []string{envoi.EventMessageSent}, Secret: "hunter2"},
				"creds":   {Code: "erp", URL: "https://u:p@erp.example/hook", Events: []string{envoi.EventMessageSent}},
				"badcode": {Code: "a b", URL: "https://erp.example/hook", Events: []string{envoi.EventMessageSent}},
			} {
				t.Run(name, func(t *testing.T) { wantCode(t, s.PutWebhook(ctx, w), envoi.EInvalidInput) })
			}
		})

		t.Run("SecretMadeOnceAndKept", func(t *testing.T) {
			w := &envoi.Webhook{Code: "erp", URL: "https://erp.example/hook", Events: []string{envoi.EventMessageSent}}
			must(t, s.PutWebhook(ctx, w))
			if !strings.HasPrefix(w.Secret, "whsec_") || !w.SecretSet || !w.Enabled {
				t.Fatalf("secret %q set %v enabled %v, want a new whsec_ secret", w.Secret, w.SecretSet, w.Enabled)
			}
			made := w.Secret
			again := &envoi.Webhook{Code: "erp", URL: "https://erp.example/v2", Events: []string{envoi.EventMessageSent, envoi.EventMessageAccepted}}
			must(t, s.PutWebhook(ctx, again))
			if again.Secret != "" {
				t.Errorf("a second PUT without secret made %q, want the stored one kept", again.Secret)
			}
			got, err := s.Webhook(ctx, "erp")
			must(t, err)
			if got.Secret != made || got.URL != "https://erp.example/v2" || len(got.Events) != 2 {
				t.Errorf("got %+v, want the first secret and the new URL", got)
			}
			var raw []byte
			must(t, s.DB().QueryRow(`SELECT secret FROM webhooks WHERE code = 'erp'`).Scan(&raw))
			if strings.Contains(string(raw), strings.TrimPrefix(made, "whsec_")) {
				t.Error("the secret is stored in clear")
			}
			list, err := s.Webhooks(ctx)
			must(t, err)
			if len(list) != 1 || list[0].Secret != "" || !list[0].SecretSet {
				t.Errorf("Webhooks = %+v, want one without its secret", list)
			}
		})

		must(t, s.PutWebhook(ctx, &envoi.Webhook{Code: "all", URL: "https://erp.example/all", Events: envoi.EventTypes()}))
		must(t, s.PutWebhook(ctx, &envoi.Webhook{Code: "sent", URL: "https://erp.example/sent", Events: []string{envoi.EventMessageSent}}))
		must(t, s.DeleteWebhook(ctx, "erp"))
		wantCode(t, s.DeleteWebhook(ctx, "erp"), envoi.ENotFound)

		var msgID string
		t.Run("OutboxWithTheChange", func(t *testing.T) {
			m := newMessage("jdupont", "", "h1")
			_, err := s.CreateMessage(ctx, m)
			must(t, err)
			msgID = m.Message.ID
			got, jobs := claimAll(t, s)
			if strings.Join(got["all"], ",") != envoi.EventMessageAccepted || len(got["sent"]) != 0 {
				t.Fatalf("after acceptance: %v, want message.accepted to all only", got)
			}
			var ev envoi.Event
			must(t, json.Unmarshal(jobs[0].Body, &ev))
			if ev.ID != jobs[0].EventID || ev.Data.MessageID != msgID || ev.Data.Entity == nil || ev.Data.Entity.ID != "12345" ||
				ev.Data.DocumentFlow != "BL" || ev.Data.Status != envoi.StatusQueued {
				t.Errorf("event = %+v", ev)
			}
			must(t, s.RecordWebhookAttempt(ctx, jobs[0], envoi.WebhookOutcome{Delivered: true, StatusCode: 204}))

			c, won, err := s.ClaimMessage(ctx, msgID, clk.Now().Add(time.Minute))
			must(t, err)
			if !won {
				t.Fatal("claim lost")
			}
			c.Message.Status, c.Message.ErrorCode, c.Message.Error = envoi.StatusRetrying, envoi.ESMTPUnavailable, "451 try later"
			must(t, s.Finish(ctx, c, time.Minute))
			got, jobs = claimAll(t, s)
			if strings.Join(got["all"], ",") != envoi.EventMessageRetrying || len(got["sent"]) != 0 {
				t.Fatalf("after a retry: %v", got)
			}
			must(t, json.Unmarshal(jobs[0].Body, &ev))
			if ev.Data.Error == nil || ev.Data.Error.Code != envoi.ESMTPUnavailable || ev.Data.Error.Remedy == "" || ev.Data.Attempts != 1 {
				t.Errorf("retrying event data = %+v, want the error with its remedy", ev.Data)
			}
			for _, j := range jobs {
				must(t, s.RecordWebhookAttempt(ctx, j, envoi.WebhookOutcome{Delivered: true, StatusCode: 200}))
			}

			clk.Advance(time.Minute)
			c, _, err = s.ClaimMessage(ctx, msgID, clk.Now().Add(time.Minute))
			must(t, err)
			c.Message.Status, c.Message.ErrorCode, c.Message.Error, c.Message.SentAt = envoi.StatusSent, "", "", clk.Now()
			must(t, s.Finish(ctx, c, 0))
			got, _ = claimAll(t, s)
			if strings.Join(got["all"], ",") != envoi.EventMessageSent || strings.Join(got["sent"], ",") != envoi.EventMessageSent {
				t.Fatalf("after sent: %v, want message.sent to both", got)
			}
		})

		t.Run("NoEventWithoutTheChange", func(t *testing.T) {
			var before int
			must(t, s.DB().QueryRow(`SELECT count(*) FROM webhook_events`).Scan(&before))
			// A fenced Finish that loses writes neither the outcome nor its event.
			m := newMessage("jdupont", "", "h2")
			_, err := s.CreateMessage(ctx, m)
			must(t, err)
			c, _, err := s.ClaimMessage(ctx, m.Message.ID, clk.Now().Add(time.Minute))
			must(t, err)
			c.Message.Status = envoi.StatusSent
			c.Token = "0"
			wantCode(t, s.Finish(ctx, c, 0), envoi.EConflict)
			var after int
			must(t, s.DB().QueryRow(`SELECT count(*) FROM webhook_events`).Scan(&after))
			if after != before+1 {
				t.Errorf("events %d -> %d, want only message.accepted added", before, after)
			}
		})

		t.Run("RetryAndGone", func(t *testing.T) {
			_, _ = claimAll(t, s) // drain
			m := newMessage("jdupont", "", "h3")
			_, err := s.CreateMessage(ctx, m)
			must(t, err)
			_, jobs := claimAll(t, s)
			if len(jobs) != 1 {
				t.Fatalf("%d jobs, want 1", len(jobs))
			}
			must(t, s.RecordWebhookAttempt(ctx, jobs[0], envoi.WebhookOutcome{StatusCode: 503, Retry: clk.Now().Add(time.Minute)}))
			if _, again := claimAll(t, s); len(again) != 0 {
				t.Fatalf("claimed %d before the retry is due", len(again))
			}
			clk.Advance(2 * time.Minute)
			_, again := claimAll(t, s)
			if len(again) != 1 || again[0].Attempt != 2 {
				t.Fatalf("after the backoff: %d jobs, want the one delivery's second attempt", len(again))
			}
			// A stale claim's outcome is refused.
			wantCode(t, s.RecordWebhookAttempt(ctx, jobs[0], envoi.WebhookOutcome{Delivered: true}), envoi.EConflict)
			must(t, s.RecordWebhookAttempt(ctx, again[0], envoi.WebhookOutcome{StatusCode: 410, Gone: true}))
			w, err := s.Webhook(ctx, "all")
			must(t, err)
			if w.Enabled || !strings.Contains(w.DisabledReason, "410") {
				t.Errorf("after 410: enabled %v reason %q", w.Enabled, w.DisabledReason)
			}
			// A disabled endpoint gets no new delivery.
			m2 := newMessage("jdupont", "", "h4")
			_, err = s.CreateMessage(ctx, m2)
			must(t, err)
			if got, _ := claimAll(t, s); len(got["all"]) != 0 {
				t.Errorf("disabled endpoint claimed %v", got)
			}
			ds, err := s.WebhookDeliveries(ctx, "all", 0)
			must(t, err)
			d := ds[0]
			if d.State != envoi.DeliveryFailed || len(d.AttemptLog) != 2 || d.AttemptLog[0].StatusCode != 503 || d.AttemptLog[1].StatusCode != 410 {
				t.Errorf("latest delivery %+v with %d attempts, want failed after 503 then 410", d, len(d.AttemptLog))
			}
		})

		t.Run("Replay", func(t *testing.T) {
			must(t, s.PutWebhook(ctx, &envoi.Webhook{Code: "all", URL: "https://erp.example/all", Events: envoi.EventTypes()}))
			_, _ = claimAll(t, s)
			var evID string
			must(t, s.DB().QueryRow(`SELECT id FROM webhook_events WHERE message_id = $1 AND type = $2`, msgID, envoi.EventMessageSent).Scan(&evID))
			n, err := s.ReplayWebhook(ctx, "sent", envoi.Replay{EventID: evID})
			must(t, err)
			if got, _ := claimAll(t, s); n != 1 || strings.Join(got["sent"], ",") != envoi.EventMessageSent {
				t.Errorf("replay of one event: %d queued, claimed %v", n, got)
			}
			n, err = s.ReplayWebhook(ctx, "sent", envoi.Replay{Since: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
			must(t, err)
			if got, _ := claimAll(t, s); n != 1 || len(got["sent"]) != 1 {
				t.Errorf("replay of a range to an endpoint of message.sent: %d queued, claimed %v; want the one sent event", n, got)
			}
			_, err = s.ReplayWebhook(ctx, "sent", envoi.Replay{EventID: "evt_nope"})
			wantCode(t, err, envoi.ENotFound)
			_, err = s.ReplayWebhook(ctx, "sent", envoi.Replay{})
			wantCode(t, err, envoi.EInvalidInput)
			_, err = s.ReplayWebhook(ctx, "nope", envoi.Replay{EventID: evID})
			wantCode(t, err, envoi.ENotFound)
		})

		t.Run("TokenEvents", func(t *testing.T) {
			must(t, s.PutOperator(ctx, operator("jdupont", "")))
			must(t, s.PutAuthFlow(ctx, m365Flow("M365", "jdupont")))
			_, _ = claimAll(t, s)
			tok := &envoi.Token{Flow: "M365", Operator: "jdupont", ClientID: "c", Provider: envoi.PresetMicrosoft365,
				Email: "jdupont@forterro.example", AccessToken: "a", RefreshToken: "r", ConsentedAt: clk.Now()}
			must(t, s.SaveToken(ctx, tok))
			if got, _ := claimAll(t, s); len(got["all"]) != 0 {
				t.Errorf("a first consent reported %v", got)
			}
			tok.Status, tok.LastError = envoi.TokenConsentRequired, "invalid_grant"
			must(t, s.UpdateToken(ctx, tok))
			got, jobs := claimAll(t, s)
			if strings.Join(got["all"], ",") != envoi.EventFlowConsentRequired {
				t.Fatalf("token died: %v", got)
			}
			var ev envoi.Event
			must(t, json.Unmarshal(jobs[0].Body, &ev))
			if ev.Data.Flow != "M365" || ev.Data.Operator != "jdupont" || ev.Data.Error == nil || ev.Data.Error.Code != envoi.EConsentRequired {
				t.Errorf("event data %+v", ev.Data)
			}
			tok.Status, tok.LastError = envoi.TokenValid, ""
			must(t, s.SaveToken(ctx, tok))
			if got, _ := claimAll(t, s); strings.Join(got["all"], ",") != envoi.EventFlowConsentRestored {
				t.Errorf("consent again: %v", got)
			}
		})
	})
}

// TestWebhookClaimsConcurrently: dispatchers claiming at once never get
// the same delivery.
func TestWebhookClaimsConcurrently(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		must(t, s.PutWebhook(ctx, &envoi.Webhook{Code: "all", URL: "https://erp.example/all", Events: envoi.EventTypes()}))
		const n = 40
		for i := range n {
			_, err := s.CreateMessage(ctx, newMessage("jdupont", "", "h"+string(rune('a'+i))))
			must(t, err)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					jobs, err := s.ClaimWebhookDeliveries(ctx, 3, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						seen[j.Delivery]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("%d deliveries claimed, want %d", len(seen), n)
		}
		for d, k := range seen {
			if k != 1 {
				t.Errorf("delivery %s claimed %d times", d, k)
			}
		}
	})
}
