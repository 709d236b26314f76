package ui_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"envoi"
	"envoi/ui"
)

// TestMessageReports: a sent message's page shows its bounce, its delay
// notice and its read receipt, and offers no retry once it bounced.
func TestMessageReports(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	ctx := context.Background()
	m := &envoi.Message{Status: envoi.StatusSent, SentAt: e.Clock.Now(), Flow: "F", Mailbox: "jdupont",
		Request: envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"achtas@client.test"}}}
	if _, err := e.Store.CreateMessage(ctx, &envoi.Accepted{Message: m}); err != nil {
		t.Fatal(err)
	}
	at := e.Clock.Now().Add(time.Hour)
	_, err := e.Store.RecordDelay(ctx, m.ID, envoi.Bounce{Recipient: "achtas@client.test", Status: "4.4.1", Diagnostic: "connection timed out", At: at})
	must(t, err)
	_, err = e.Store.RecordBounce(ctx, m.ID, envoi.Bounce{Recipient: "achtas@client.test", Status: "5.1.1", Diagnostic: "550 5.1.1 User unknown", At: at})
	must(t, err)
	_, err = e.Store.RecordRead(ctx, m.ID, at)
	must(t, err)

	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", "admin password")
	b := e.Browser()
	b.SignIn("admin@forterro.example", "admin password")
	p := b.Get("/messages/" + m.ID)
	if p.Status != 200 {
		t.Fatalf("GET /messages/%s: %d", m.ID, p.Status)
	}
	for _, want := range []string{`id="message-bounce"`, "550 5.1.1 User unknown", `id="message-delay"`, "connection timed out", `id="message-read"`, "bounced"} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the message page lacks %q:\n%s", want, text(p.Body))
		}
	}
	if strings.Contains(p.Body, `id="retry"`) {
		t.Error("a bounced message offers a retry")
	}
}
