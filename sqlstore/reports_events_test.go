package sqlstore_test

import (
	"context"
	"encoding/json"
	"sort"
	"testing"
	"time"

	"envoi"
)

// TestReportsEmitEvents: a bounce, a delay notice and a read receipt
// recorded from the mailbox each write their webhook event in the same
// transaction (message.bounced, message.delayed, message.read, carrying
// the report), once however often the mailbox is read again.
func TestReportsEmitEvents(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		must(t, s.PutWebhook(ctx, &envoi.Webhook{Code: "erp", URL: "http://127.0.0.1:1/hook",
			Events: []string{envoi.EventMessageBounced, envoi.EventMessageDelayed, envoi.EventMessageRead}}))
		a := newMessage("jdupont", "", "h")
		a.Message.Flow, a.Message.Mailbox = "M365", "jdupont"
		a.Message.Status, a.Message.SentAt = envoi.StatusSent, clk.Now()
		_, err := s.CreateMessage(ctx, a)
		must(t, err)
		id := a.Message.ID

		b := envoi.Bounce{Recipient: "nobody@client.test", Status: "5.1.1", Diagnostic: "no such user", At: clk.Now()}
		for range 2 {
			_, err = s.RecordDelay(ctx, id, envoi.Bounce{Recipient: "nobody@client.test", Status: "4.4.1", At: clk.Now()})
			must(t, err)
			_, err = s.RecordBounce(ctx, id, b)
			must(t, err)
			_, err = s.RecordRead(ctx, id, clk.Now())
			must(t, err)
		}
		jobs, err := s.ClaimWebhookDeliveries(ctx, 100, time.Minute)
		must(t, err)
		var types []string
		for _, j := range jobs {
			types = append(types, j.EventType)
			var body struct {
				Type string `json:"type"`
				Data struct {
					MessageID string        `json:"message_id"`
					Bounce    *envoi.Bounce `json:"bounce"`
				} `json:"data"`
			}
			must(t, json.Unmarshal(j.Body, &body))
			if body.Data.MessageID != id {
				t.Errorf("%s: message_id %q, want %q", j.EventType, body.Data.MessageID, id)
			}
			if j.EventType == envoi.EventMessageBounced && (body.Data.Bounce == nil || body.Data.Bounce.Status != "5.1.1") {
				t.Errorf("message.bounced carries %+v, want the bounce", body.Data.Bounce)
			}
		}
		sort.Strings(types)
		want := []string{envoi.EventMessageBounced, envoi.EventMessageDelayed, envoi.EventMessageRead}
		if len(types) != len(want) || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
			t.Errorf("events %v, want each of %v once", types, want)
		}
	})
}
