package queue_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/compose"
	"envoi/internal/pgtest"
	"envoi/internal/testmail"
	"envoi/oauth"
	"envoi/queue"
	"envoi/secret"
	"envoi/smtp"
	"envoi/sqlstore"
)

// The queue's tests run the real parts: the store on SQLite in a temporary
// directory (or on the machine's PostgreSQL), the composer, the SMTP
// sender, and a test SMTP server on loopback that checks the credentials.

const (
	operatorEmail = "user@example.com"
	operatorPass  = "s3cret-pass"
	goodToken     = "token-of-user"
)

// world is one database with its SMTP server; instances are envoi
// processes sharing it.
type world struct {
	t      testing.TB
	opts   sqlstore.Options
	smtp   *testmail.SMTPServer
	tokens sync.Map // access tokens the SMTP server accepts -> user
	admin  *instance
}

// instance is one envoi instance: its own store handle, sender, service and
// worker on the shared database.
type instance struct {
	store   *sqlstore.Store
	sender  *smtp.Sender
	oauth   *oauth.Service
	service *queue.Service
	worker  *queue.Worker
}

// newWorld starts an SMTP server and makes a new database of dialect, then
// configures company FORTERRO, operator jdupont, the BL mail setting and
// two flows: BASIC (PLAIN with a password) and OAUTH (XOAUTH2, its token
// not yet given). jdupont is in BASIC; moveTo puts them in OAUTH.
func newWorld(t testing.TB, dialect string) *world {
	t.Helper()
	w := &world{t: t}
	w.smtp = testmail.StartSMTP(t, testmail.SMTPOptions{
		Users: map[string]string{operatorEmail: operatorPass},
		ValidateToken: func(user, token string) error {
			if u, ok := w.tokens.Load(token); ok && (user == "" || u.(string) == user) {
				return nil
			}
			return errors.New("invalid token")
		},
	})
	w.opts = sqlstore.Options{MasterKey: secret.NewKey(), KeyReloadInterval: -1}
	switch dialect {
	case sqlstore.DialectSQLite:
		w.opts.DataDir = t.TempDir()
	case sqlstore.DialectPostgres:
		w.opts.DatabaseURL = freshPostgres(t)
	}
	w.admin = w.instance()
	in := w.admin
	ctx := context.Background()
	must(t, in.store.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "Forterro", FooterText: "Forterro SAS"}))
	must(t, in.store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Name: "Jeanne Dupont", Email: operatorEmail, OAuthEnabled: true, SMTPPassword: operatorPass}))
	must(t, in.store.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "[SOCIETE] : Envoi du BL : [ID_BL]", Body: "Bonjour,\nLe BL [ID_BL]."}))
	w.putFlow(&envoi.AuthFlow{Code: "BASIC", Name: "basic", Kind: envoi.KindSMTPBasic, SMTP: w.smtp.Endpoint(), Operators: []string{"jdupont"}})
	w.putFlow(w.oauthFlow(0))
	return w
}

// oauthFlow is the OAUTH flow: the Microsoft 365 preset with its
// endpoints on loopback (never called: the tests store fresh tokens).
func (w *world) oauthFlow(rate int, operators ...string) *envoi.AuthFlow {
	return &envoi.AuthFlow{
		Code: "OAUTH", Name: "oauth", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Tenant: "contoso",
		AuthURL: "http://127.0.0.1:1/authorize", TokenURL: "http://127.0.0.1:1/token",
		ClientID: "client", ClientSecret: "secret", RedirectURL: "http://127.0.0.1:8025/oauth/callback",
		SMTP: w.smtp.Endpoint(), RatePerMinute: rate, Operators: operators,
	}
}

func (w *world) putFlow(f *envoi.AuthFlow) {
	w.t.Helper()
	must(w.t, w.admin.store.PutAuthFlow(context.Background(), f))
}

// moveTo assigns jdupont to the OAUTH flow (with a rate per minute; 0
// keeps the preset's).
func (w *world) moveToOAuth(rate int) {
	w.t.Helper()
	ctx := context.Background()
	must(w.t, w.admin.store.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "BASIC", Name: "basic", Kind: envoi.KindSMTPBasic, SMTP: w.smtp.Endpoint()}))
	w.putFlow(w.oauthFlow(rate, "jdupont"))
}

// consent stores a fresh token for jdupont on OAUTH, as a consent would,
// and makes the SMTP server accept it.
func (w *world) consent(in *instance) {
	w.t.Helper()
	w.tokens.Store(goodToken, operatorEmail)
	now := time.Now()
	must(w.t, in.store.SaveToken(context.Background(), &envoi.Token{
		Flow: "OAUTH", Operator: "jdupont", ClientID: "client", Provider: envoi.PresetMicrosoft365, Email: operatorEmail,
		Expiry: now.Add(time.Hour), AccessToken: goodToken, RefreshToken: "refresh", Status: envoi.TokenValid,
		ConsentedAt: now, RefreshedAt: now, StatusChanged: now,
	}))
}

// instance opens another store on the world's database and wires a
// service and a worker on it, as envoi serve does.
func (w *world) instance() *instance {
	w.t.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, w.opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close() })
	must(w.t, s.Migrate(ctx))
	in := &instance{store: s}
	in.oauth = &oauth.Service{Store: s}
	in.sender = &smtp.Sender{RootCAs: w.smtp.RootCAs, Tokens: in.oauth}
	w.t.Cleanup(func() { in.sender.Close() })
	handoff := &queue.Handoff{}
	in.service = &queue.Service{Store: s, Composer: &compose.Composer{Store: s}, Handoff: handoff}
	in.worker = &queue.Worker{
		Store: s, Transports: map[string]envoi.Transport{envoi.TransportSMTP: in.sender}, Handoff: handoff, Concurrency: 4,
		PollInterval: 5 * time.Millisecond, Backoff: func(int) time.Duration { return 0 },
		OnChange: in.service.Changed,
	}
	return in
}

// bl is a send request for the delivery note number, to rcpt.
func bl(number, rcpt string) *envoi.SendRequest {
	return &envoi.SendRequest{
		DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO", To: []string{rcpt},
		Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": number},
	}
}

// accept accepts n messages and returns them.
func (in *instance) accept(t testing.TB, n int) []*envoi.Message {
	t.Helper()
	out := make([]*envoi.Message, n)
	for i := range out {
		m, created, err := in.service.Accept(context.Background(), bl(strings.Repeat("1", i+1), "client@example.org"), "")
		if err != nil || !created {
			t.Fatalf("accept: created %v, %v", created, err)
		}
		out[i] = m
	}
	return out
}

// message reads a message back.
func (in *instance) message(t testing.TB, id string) *envoi.Message {
	t.Helper()
	m, err := in.store.Message(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// receivedBy counts the copies of each Message-ID the SMTP server accepted.
func receivedBy(s *testmail.SMTPServer) map[string]int {
	got := map[string]int{}
	for _, m := range s.Messages() {
		msg, err := m.Parse()
		if err != nil {
			continue
		}
		got[msg.Header.Get("Message-Id")]++
	}
	return got
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// forEachDialect runs fn on SQLite, and on PostgreSQL when
// ENVOI_TEST_POSTGRES_URL is set.
func forEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range []string{sqlstore.DialectSQLite, sqlstore.DialectPostgres} {
		t.Run(d, func(t *testing.T) {
			fn(t, d)
		})
	}
}

// freshPostgres creates a database for the test on the machine's
// PostgreSQL and drops it at the end; it skips without one.
func freshPostgres(tb testing.TB) string { return pgtest.Database(tb, "envoi_queue_") }
