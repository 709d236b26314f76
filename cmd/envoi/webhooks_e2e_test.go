package main_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi/client"
	"envoi/internal/freeport"
)

// hookReceiver is the ERP's webhook endpoint on loopback: it verifies each
// delivery with the Go client and keeps the events by id, counting the
// deliveries of each.
type hookReceiver struct {
	t      testing.TB
	mu     sync.Mutex
	secret string
	status int // answered to a verified delivery; 204 when 0
	counts map[string]int
	events map[string]*client.Event
	log    []*client.Event // in the order received
	bad    []string
	got    chan *client.Event
}

func newHookReceiver(t testing.TB) *hookReceiver {
	return &hookReceiver{t: t, counts: map[string]int{}, events: map[string]*client.Event{}, got: make(chan *client.Event, 100)}
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	secret, status := h.secret, h.status
	h.mu.Unlock()
	ev, err := client.VerifyWebhook(secret, r.Header, body)
	if err != nil {
		h.mu.Lock()
		h.bad = append(h.bad, err.Error())
		h.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if ev.ID != r.Header.Get("webhook-id") {
		h.mu.Lock()
		h.bad = append(h.bad, "webhook-id "+r.Header.Get("webhook-id")+" is not the event's id "+ev.ID)
		h.mu.Unlock()
	}
	if status == 0 {
		status = http.StatusNoContent
	}
	if status/100 == 2 {
		h.mu.Lock()
		h.counts[ev.ID]++
		if h.events[ev.ID] == nil {
			h.log = append(h.log, ev)
		}
		h.events[ev.ID] = ev
		h.mu.Unlock()
		select { // wakes await; a full channel wakes it anyway
		case h.got <- ev:
		default:
		}
	}
	w.WriteHeader(status)
}

// await returns the event of type typ about message id once it has been
// delivered n times (the events come in any order: two deliveries run at
// once).
func (h *hookReceiver) await(typ, id string, n int) *client.Event {
	h.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		h.mu.Lock()
		for _, ev := range h.log {
			if ev.Type == typ && ev.Data.MessageID == id && h.counts[ev.ID] >= n {
				h.mu.Unlock()
				return ev
			}
		}
		h.mu.Unlock()
		select {
		case <-h.got:
		case <-deadline:
			h.t.Fatalf("no %s event for %s came (%d times)", typ, id, n)
			return nil
		}
	}
}

func (h *hookReceiver) count(eventID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[eventID]
}

// listen serves h on addr until the test ends.
func (h *hookReceiver) listen(t testing.TB, addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// TestWebhooksEndToEnd: envoi serve delivers message.accepted and
// message.sent, signed, to a loopback endpoint that the Go client
// verifies; an endpoint that is down gets the event once it is up, exactly
// once; one answering 410 is disabled; replay delivers again.
func TestWebhooksEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL, Args: []string{"--webhook-poll", "20ms", "--webhook-backoff", "50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms,50ms"}})
			e.Configure()
			if status, page := e.Consent("O365", "jdupont"); status != 200 {
				t.Fatalf("consent: %d %s", status, page)
			}
			c := client.New(e.Base, e.Key)
			ctx := context.Background()

			// The endpoint is down: nothing listens on its address yet.
			addr := freeport.Addr(t, "127.0.0.1")
			rcv := newHookReceiver(t)
			wh, err := c.PutWebhook(ctx, "erp", &client.WebhookInput{URL: "http://" + addr + "/envoi",
				Events: []string{client.EventMessageAccepted, client.EventMessageSent, client.EventMessageFailed}})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(wh.Secret, "whsec_") || !wh.SecretSet {
				t.Fatalf("PUT answered secret %q set %v, want a whsec_ secret shown once", wh.Secret, wh.SecretSet)
			}
			rcv.mu.Lock()
			rcv.secret = wh.Secret
			rcv.mu.Unlock()
			if got, err := c.GetWebhook(ctx, "erp"); err != nil || got.Secret != "" || !got.SecretSet {
				t.Fatalf("GET shows secret %q (err %v), want it never shown again", got.Secret, err)
			}

			m, err := c.Send(ctx, &client.SendRequest{DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO",
				To: []string{"client@example.org"}, Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12345"},
				Entity: &client.Entity{Type: "BL", ID: "12345"}}, &client.SendOptions{Wait: 20 * time.Second})
			if err != nil || m.Status != client.StatusSent {
				t.Fatalf("send: %+v %v", m, err)
			}
			// Failed attempts are recorded while the endpoint is down.
			for {
				ds, err := c.WebhookDeliveries(ctx, "erp")
				if err != nil {
					t.Fatal(err)
				}
				if len(ds) == 2 && len(ds[0].AttemptLog) > 0 && len(ds[1].AttemptLog) > 0 {
					if a := ds[0].AttemptLog[0]; a.StatusCode != 0 || a.Error == "" {
						t.Errorf("an attempt on a closed port: %+v, want no status and an error", a)
					}
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			rcv.listen(t, addr)
			accepted := rcv.await(client.EventMessageAccepted, m.ID, 1)
			sent := rcv.await(client.EventMessageSent, m.ID, 1)
			if d := accepted.Data; d.Entity == nil || d.Entity.Type != "BL" || d.Entity.ID != "12345" || d.DocumentFlow != "BL" || d.Status != "queued" {
				t.Errorf("message.accepted data %+v", d)
			}
			if d := sent.Data; d.Status != "sent" || d.SentAt == nil || d.Error != nil {
				t.Errorf("message.sent data %+v", d)
			}

			// A second message's events after: by then any duplicate of
			// the first's would have come.
			m2, err := c.Send(ctx, &client.SendRequest{DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO",
				To: []string{"client2@example.org"}, Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12346"}}, &client.SendOptions{Wait: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			rcv.await(client.EventMessageSent, m2.ID, 1)
			if n, k := rcv.count(accepted.ID), rcv.count(sent.ID); n != 1 || k != 1 {
				t.Errorf("the events of the message sent while the endpoint was down came %d and %d times, want once each", n, k)
			}
			ds, err := c.WebhookDeliveries(ctx, "erp")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.EventID == sent.ID && (d.State != "delivered" || len(d.AttemptLog) < 2 || d.AttemptLog[len(d.AttemptLog)-1].StatusCode != 204) {
					t.Errorf("delivery of message.sent: %+v", d)
				}
			}

			t.Run("Replay", func(t *testing.T) {
				n, err := c.ReplayWebhook(ctx, "erp", client.Replay{EventID: sent.ID})
				if err != nil || n != 1 {
					t.Fatalf("replay of one event: %d, %v", n, err)
				}
				again := rcv.await(client.EventMessageSent, m.ID, 2)
				if again.ID != sent.ID || rcv.count(sent.ID) != 2 {
					t.Errorf("replayed %s (count %d), want %s again", again.ID, rcv.count(sent.ID), sent.ID)
				}
				n, err = c.ReplayWebhook(ctx, "erp", client.Replay{Since: accepted.Timestamp.Add(-time.Second)})
				if err != nil || n != 4 {
					t.Fatalf("replay of a range: %d, %v; want the 4 events of both messages", n, err)
				}
				rcv.await(client.EventMessageSent, m2.ID, 2)
				if _, err := c.ReplayWebhook(ctx, "erp", client.Replay{EventID: "evt_unknown"}); !client.IsCode(err, "not_found") {
					t.Errorf("replay of an unknown event: %v, want not_found", err)
				}
			})

			t.Run("Gone", func(t *testing.T) {
				rcv.mu.Lock()
				rcv.status = http.StatusGone
				rcv.mu.Unlock()
				if _, err := c.Send(ctx, &client.SendRequest{DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO",
					To: []string{"client3@example.org"}, Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "3"}}, nil); err != nil {
					t.Fatal(err)
				}
				for {
					w, err := c.GetWebhook(ctx, "erp")
					if err != nil {
						t.Fatal(err)
					}
					if !w.Enabled {
						if !strings.Contains(w.DisabledReason, "410") {
							t.Errorf("disabled reason %q", w.DisabledReason)
						}
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			})

			t.Run("ErrInvalidInput", func(t *testing.T) {
				_, err := c.PutWebhook(ctx, "bad", &client.WebhookInput{URL: "http://127.0.0.1:1/x", Events: []string{"message.exploded"}})
				if !client.IsCode(err, "invalid_input") {
					t.Errorf("unknown event: %v, want invalid_input", err)
				}
				var apiErr *client.Error
				if e, ok := err.(*client.Error); ok {
					apiErr = e
				}
				if apiErr == nil || apiErr.StatusCode != 400 {
					t.Errorf("unknown event: %v, want a 400", err)
				}
				_, err = c.PutWebhook(ctx, "bad", &client.WebhookInput{URL: "http://127.0.0.1:1/x", Events: []string{"message.sent"}, Secret: "not-a-secret"})
				if !client.IsCode(err, "invalid_input") {
					t.Errorf("bad secret: %v", err)
				}
			})
			rcv.mu.Lock()
			if len(rcv.bad) > 0 {
				t.Errorf("deliveries that did not verify: %v", rcv.bad)
			}
			rcv.mu.Unlock()
		})
	}
}

// TestWebhooksApply: envoi apply saves an endpoint; without secret_env
// it prints the secret envoi made, once; with one it uses it.
func TestWebhooksApply(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "envoi.yaml")
	if err := os.WriteFile(cfg, []byte("webhooks:\n  erp: {url: \"https://erp.example/envoi\", events: [message.sent, message.failed]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := e.Run("apply", "-f", cfg)
	if !strings.Contains(out, "applied webhook erp") || !strings.Contains(out, "whsec_") {
		t.Fatalf("first apply:\n%s", out)
	}
	out = e.Run("apply", "-f", cfg)
	if strings.Contains(out, "whsec_") {
		t.Errorf("a second apply shows a secret again:\n%s", out)
	}
	var w struct {
		URL       string   `json:"url"`
		Events    []string `json:"events"`
		SecretSet bool     `json:"secret_set"`
	}
	e.MustDo(200, "GET", "/v1/webhooks/erp", nil, &w)
	if w.URL != "https://erp.example/envoi" || len(w.Events) != 2 || !w.SecretSet {
		t.Errorf("after apply: %+v", w)
	}
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("webhooks:\n  erp: {url: \"https://erp.example/envoi\", events: [message.nope]}\n"), 0o600)
	if out, code := e.RunCode("apply", "-f", bad); code == 0 || !strings.Contains(out, "message.nope") {
		t.Errorf("unknown event: exit %d:\n%s", code, out)
	}
}
