package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"envoi"
	"envoi/internal/pgtest"
	"envoi/secret"
	"envoi/sqlstore"
	"envoi/webhook"
)

// TestSignStandardVector checks Sign against the test vector the Standard
// Webhooks specification's reference libraries publish (for instance
// standard-webhooks/standard-webhooks, libraries/go/webhook_test.go,
// TestWebhookSign): this secret, id, timestamp and body sign as below.
func TestSignStandardVector(t *testing.T) {
	got, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if _, err := webhook.Sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "id", 1, nil); envoi.ErrorCode(err) != envoi.EInvalidInput {
		t.Errorf("a secret without whsec_: %v, want invalid_input", err)
	}
}

func openStore(t *testing.T, dialect string) *sqlstore.Store {
	t.Helper()
	o := sqlstore.Options{MasterKey: secret.NewKey(), KeyReloadInterval: -1}
	if dialect == sqlstore.DialectPostgres {
		o.DatabaseURL = pgtest.Database(t, "webhook_")
	} else {
		o.DataDir = t.TempDir()
	}
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// receiver is a loopback endpoint answering status() to each POST and
// keeping what it received.
type receiver struct {
	mu     sync.Mutex
	status atomic.Int32
	got    []http.Header
	bodies [][]byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	st := int(r.status.Load())
	r.mu.Lock()
	if st/100 == 2 {
		r.got = append(r.got, req.Header.Clone())
		r.bodies = append(r.bodies, body)
	}
	r.mu.Unlock()
	w.WriteHeader(st)
}

func TestDispatcher(t *testing.T) {
	for _, dialect := range []string{sqlstore.DialectSQLite, sqlstore.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, dialect)
			rcv := &receiver{}
			rcv.status.Store(http.StatusServiceUnavailable)
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			w := &envoi.Webhook{Code: "erp", URL: srv.URL + "/hook", Events: []string{envoi.EventMessageAccepted}}
			if err := s.PutWebhook(ctx, w); err != nil {
				t.Fatal(err)
			}
			// No wait between attempts: the test drives them.
			d := &webhook.Dispatcher{Store: s, Backoff: []time.Duration{0, 0, 0}}

			a := &envoi.Accepted{Message: &envoi.Message{Request: envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"c@customer.example"}}}}
			if _, err := s.CreateMessage(ctx, a); err != nil {
				t.Fatal(err)
			}
			// The receiver is down: the attempt fails, and is due again.
			if n, err := d.DeliverDue(ctx); n != 1 || err != nil {
				t.Fatalf("DeliverDue = %d, %v; want 1 attempt", n, err)
			}
			rcv.status.Store(http.StatusNoContent)
			for range 3 {
				if _, err := d.DeliverDue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			rcv.mu.Lock()
			if len(rcv.got) != 1 {
				t.Fatalf("the receiver got %d deliveries once up, want exactly 1", len(rcv.got))
			}
			h, body := rcv.got[0], rcv.bodies[0]
			rcv.mu.Unlock()
			ts, _ := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
			want, _ := webhook.Sign(w.Secret, h.Get("webhook-id"), ts, body)
			if h.Get("webhook-signature") != want || h.Get("webhook-id") == "" {
				t.Errorf("headers %v, want signature %s", h, want)
			}
			ds, err := s.WebhookDeliveries(ctx, "erp", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].State != envoi.DeliveryDelivered || len(ds[0].AttemptLog) != 2 || ds[0].AttemptLog[0].StatusCode != 503 {
				t.Errorf("deliveries %+v, want one delivered after a 503", ds)
			}

			// 410 disables the endpoint.
			rcv.status.Store(http.StatusGone)
			if _, err := s.CreateMessage(ctx, &envoi.Accepted{Message: &envoi.Message{Request: a.Message.Request}}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := s.Webhook(ctx, "erp")
			if err != nil {
				t.Fatal(err)
			}
			if got.Enabled {
				t.Error("the endpoint is still enabled after 410")
			}

			// Gives up once the backoff is spent.
			if err := s.PutWebhook(ctx, &envoi.Webhook{Code: "erp", URL: srv.URL + "/hook", Events: []string{envoi.EventMessageAccepted}}); err != nil {
				t.Fatal(err)
			}
			rcv.status.Store(http.StatusInternalServerError)
			if _, err := s.CreateMessage(ctx, &envoi.Accepted{Message: &envoi.Message{Request: a.Message.Request}}); err != nil {
				t.Fatal(err)
			}
			for range 6 {
				if _, err := d.DeliverDue(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ds, _ = s.WebhookDeliveries(ctx, "erp", 1)
			if ds[0].State != envoi.DeliveryFailed || len(ds[0].AttemptLog) != 4 {
				t.Errorf("after the backoff: %s with %d attempts, want failed after 4", ds[0].State, len(ds[0].AttemptLog))
			}
		})
	}
}

// TestPurge: events whose deliveries are all settled go after the
// retention; an event still pending stays, whatever its age.
func TestPurge(t *testing.T) {
	for _, dialect := range []string{sqlstore.DialectSQLite, sqlstore.DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			s := openStore(t, dialect)
			rcv := &receiver{}
			rcv.status.Store(http.StatusOK)
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			if err := s.PutWebhook(ctx, &envoi.Webhook{Code: "erp", URL: srv.URL, Events: []string{envoi.EventMessageAccepted}}); err != nil {
				t.Fatal(err)
			}
			req := envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"c@customer.example"}}
			if _, err := s.CreateMessage(ctx, &envoi.Accepted{Message: &envoi.Message{Request: req}}); err != nil {
				t.Fatal(err)
			}
			d := &webhook.Dispatcher{Store: s}
			if n, err := d.DeliverDue(ctx); n != 1 || err != nil {
				t.Fatalf("DeliverDue = %d, %v", n, err)
			}
			// A second event, pending: the endpoint is down.
			rcv.status.Store(http.StatusServiceUnavailable)
			if _, err := s.CreateMessage(ctx, &envoi.Accepted{Message: &envoi.Message{Request: req}}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			n, err := s.PurgeWebhookEvents(ctx, time.Now().Add(time.Hour))
			if err != nil || n != 1 {
				t.Fatalf("purge = %d, %v; want the delivered event only", n, err)
			}
			ds, err := s.WebhookDeliveries(ctx, "erp", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].State != envoi.DeliveryPending {
				t.Errorf("left %+v, want the pending delivery", ds)
			}
			var attempts int
			if err := s.DB().QueryRow(`SELECT count(*) FROM webhook_attempts`).Scan(&attempts); err != nil || attempts != 1 {
				t.Errorf("attempts left %d (%v), want the pending one's", attempts, err)
			}
		})
	}
}
