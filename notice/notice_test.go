package notice_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/notice"
	"envoi/secret"
	"envoi/sqlstore"
)

// accepted records the messages a notice queues.
type accepted struct {
	mu   sync.Mutex
	reqs []*envoi.SendRequest
	keys []string
}

func (a *accepted) Accept(_ context.Context, req *envoi.SendRequest, key string) (*envoi.Message, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, req)
	a.keys = append(a.keys, key)
	return &envoi.Message{ID: "msg_x", Request: *req}, true, nil
}

// mustOpenAlerts returns consent alerts on a store holding flow MAIL
// (operators jdupont and system, generic mailbox boite@example.com), flow
// RELAY (operator relay) and an administrator, the clock at 2026-03-02.
func mustOpenAlerts(tb testing.TB) (*notice.ConsentAlerts, *accepted, *sqlstore.Store) {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: tb.TempDir(), MasterKey: secret.NewKey(), KeyReloadInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(store.Migrate(ctx))
	must(store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Name: "Jeanne Dupont", Email: "jeanne@example.com"}))
	must(store.PutOperator(ctx, &envoi.Operator{Code: "system", Name: "envoi", Email: "envoi@example.com"}))
	must(store.PutAuthFlow(ctx, &envoi.AuthFlow{
		Code: "MAIL", Name: "Mail", Kind: envoi.KindSMTPBasic, Operators: []string{"jdupont", "system"},
		SMTP:           envoi.SMTPServer{Host: "127.0.0.1", Port: 587, Security: envoi.SecuritySTARTTLS},
		GenericMailbox: envoi.GenericMailbox{Enabled: true, Email: "boite@example.com"},
	}))
	must(store.PutOperator(ctx, &envoi.Operator{Code: "relay", Name: "relay", Email: "relay@example.com"}))
	must(store.PutAuthFlow(ctx, &envoi.AuthFlow{
		Code: "RELAY", Name: "Relay", Kind: envoi.KindSMTPBasic, Operators: []string{"relay"},
		SMTP: envoi.SMTPServer{Host: "127.0.0.1", Port: 587, Security: envoi.SecuritySTARTTLS},
	}))
	must(store.CreateUser(ctx, &envoi.User{Email: "admin@example.com", Name: "Admin", Role: envoi.RoleAdmin}))
	must(store.CreateUser(ctx, &envoi.User{Email: "op@example.com", Name: "Op", Role: envoi.RoleOperator, Operator: "jdupont"}))
	acc := &accepted{}
	return &notice.ConsentAlerts{
		Store: store, Messages: acc, PublicURL: "https://envoi.example.com",
		Now: func() time.Time { return time.Date(2026, 3, 2, 23, 30, 0, 0, time.UTC) },
	}, acc, store
}

func TestConsentAlerts(t *testing.T) {
	ctx := context.Background()
	refused := envoi.Errorf(envoi.EConsentRequired, "the grant was revoked").WithDetail("provider_text", "AADSTS50173: the grant has expired")

	t.Run("Operator", func(t *testing.T) {
		a, acc, store := mustOpenAlerts(t)
		if err := store.PutSetting(ctx, envoi.SettingSystemSender, "system"); err != nil {
			t.Fatal(err)
		}
		if err := store.PutSetting(ctx, envoi.SettingSystemCompany, "FORTERRO"); err != nil {
			t.Fatal(err)
		}
		a.Notify(ctx, envoi.TokenKey{Flow: "MAIL", Operator: "jdupont"}, refused)
		if len(acc.reqs) != 1 {
			t.Fatalf("alerts queued: got %d, want 1", len(acc.reqs))
		}
		req := acc.reqs[0]
		if got, want := req.To, []string{"admin@example.com", "jeanne@example.com"}; !slices.Equal(got, want) {
			t.Errorf("To: got %v, want %v", got, want)
		}
		if req.DocumentFlow != notice.ConsentAlertFlow || req.Operator != "system" || req.Company != "FORTERRO" {
			t.Errorf("sent as flow %q operator %q company %q, want %s, system, FORTERRO", req.DocumentFlow, req.Operator, req.Company, notice.ConsentAlertFlow)
		}
		for k, want := range map[string]string{"OPERATEUR": "jdupont", "FLUX": "MAIL", "EMAIL": "jeanne@example.com", "ERREUR": "AADSTS50173: the grant has expired", "LIEN": "https://envoi.example.com/operators/jdupont"} {
			if got := req.Context[k]; got != want {
				t.Errorf("keyword %s: got %q, want %q", k, got, want)
			}
		}
		if got, want := acc.keys[0], "consent-alert/MAIL/jdupont/2026-03-02"; got != want {
			t.Errorf("idempotency key: got %q, want %q (one a day, by the injected clock)", got, want)
		}
	})

	t.Run("Languages", func(t *testing.T) {
		a, acc, store := mustOpenAlerts(t)
		if err := store.PutSetting(ctx, envoi.SettingSystemSender, "system"); err != nil {
			t.Fatal(err)
		}
		if err := store.CreateUser(ctx, &envoi.User{Email: "admin.fr@example.com", Name: "Admin FR", Role: envoi.RoleAdmin, Language: "fr"}); err != nil {
			t.Fatal(err)
		}
		if err := store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Name: "Jeanne Dupont", Email: "jeanne@example.com", Language: "es"}); err != nil {
			t.Fatal(err)
		}
		a.Notify(ctx, envoi.TokenKey{Flow: "MAIL", Operator: "jdupont"}, refused)
		got := map[string][]string{}
		keys := map[string]string{}
		for i, r := range acc.reqs {
			got[r.Language] = r.To
			keys[r.Language] = acc.keys[i]
		}
		want := map[string][]string{"": {"admin@example.com"}, "fr": {"admin.fr@example.com"}, "es": {"jeanne@example.com"}}
		if len(got) != len(want) {
			t.Fatalf("alerts by language: %v, want %v", got, want)
		}
		for l, to := range want {
			if !slices.Equal(got[l], to) {
				t.Errorf("language %q: To %v, want %v", l, got[l], to)
			}
		}
		if keys["fr"] != "consent-alert/MAIL/jdupont/2026-03-02/fr" || keys[""] != "consent-alert/MAIL/jdupont/2026-03-02" {
			t.Errorf("idempotency keys: %v", keys)
		}
	})

	t.Run("GenericMailbox", func(t *testing.T) {
		a, acc, store := mustOpenAlerts(t)
		if err := store.PutSetting(ctx, envoi.SettingSystemSender, "relay"); err != nil {
			t.Fatal(err)
		}
		a.Notify(ctx, envoi.TokenKey{Flow: "MAIL"}, envoi.Errorf(envoi.EConsentRequired, "revoked"))
		if len(acc.reqs) != 1 {
			t.Fatalf("alerts queued: got %d, want 1", len(acc.reqs))
		}
		req := acc.reqs[0]
		if !slices.Equal(req.To, []string{"admin@example.com"}) || req.Context["EMAIL"] != "boite@example.com" ||
			req.Context["LIEN"] != "https://envoi.example.com/auth-flows/MAIL" || req.Context["ERREUR"] != "revoked" {
			t.Errorf("alert: To %v, keywords %v", req.To, req.Context)
		}
	})

	t.Run("NoSystemSender", func(t *testing.T) {
		a, acc, _ := mustOpenAlerts(t)
		a.Notify(ctx, envoi.TokenKey{Flow: "MAIL", Operator: "jdupont"}, refused)
		if len(acc.reqs) != 0 {
			t.Fatalf("alerts queued without a system sender: %d", len(acc.reqs))
		}
	})

	t.Run("SystemSenderOwnToken", func(t *testing.T) {
		a, acc, store := mustOpenAlerts(t)
		if err := store.PutSetting(ctx, envoi.SettingSystemSender, "system"); err != nil {
			t.Fatal(err)
		}
		// Its own token, or the generic mailbox its flow sends as.
		a.Notify(ctx, envoi.TokenKey{Flow: "MAIL", Operator: "system"}, refused)
		a.Notify(ctx, envoi.TokenKey{Flow: "MAIL"}, refused)
		if len(acc.reqs) != 0 {
			t.Fatalf("alerts queued through the dead sender itself: %d", len(acc.reqs))
		}
	})
}
