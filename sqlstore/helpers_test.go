package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/internal/pgtest"
	"envoi/secret"
	"envoi/sqlstore"
)

// PostgresURLEnv names the environment variable with the URL of a
// PostgreSQL server the tests may create databases on; when it is unset the
// PostgreSQL half of the suite is skipped.
const PostgresURLEnv = "ENVOI_TEST_POSTGRES_URL"

// Dialects are the databases every conformance test runs on.
var Dialects = []string{sqlstore.DialectSQLite, sqlstore.DialectPostgres}

// ForEachDialect runs fn as a subtest per dialect, skipping PostgreSQL with
// a clear message when no server is configured.
func ForEachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			if d == sqlstore.DialectPostgres && os.Getenv(PostgresURLEnv) == "" {
				t.Skip(PostgresURLEnv + " is not set: PostgreSQL half of the suite skipped (e.g. " + PostgresURLEnv + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')")
			}
			fn(t, d)
		})
	}
}

// Clock is a settable clock for Options.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock {
	return &Clock{t: time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)}
}

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// NewTestOptions returns the options of a new, empty database of dialect: a
// temporary directory for SQLite, a fresh database on the PostgreSQL server
// (dropped when the test ends).
func NewTestOptions(tb testing.TB, dialect string) sqlstore.Options {
	tb.Helper()
	o := sqlstore.Options{MasterKey: secret.NewKey(), KeyReloadInterval: -1}
	switch dialect {
	case sqlstore.DialectSQLite:
		o.DataDir = tb.TempDir()
	case sqlstore.DialectPostgres:
		o.DatabaseURL = createPostgresDatabase(tb)
	default:
		tb.Fatalf("unknown dialect %q", dialect)
	}
	return o
}

func createPostgresDatabase(tb testing.TB) string { return pgtest.Database(tb, "envoi_test_") }

// MustOpen opens and migrates a store with o, closed when the test ends.
func MustOpen(tb testing.TB, o sqlstore.Options) *sqlstore.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, o)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

// MustOpenStore returns a migrated store on a new database of dialect, with
// a settable clock.
func MustOpenStore(tb testing.TB, dialect string) (*sqlstore.Store, *Clock) {
	tb.Helper()
	clk := NewClock()
	o := NewTestOptions(tb, dialect)
	o.Now = clk.Now
	return MustOpen(tb, o), clk
}

// wantCode fails unless err carries code; it returns the *envoi.Error.
func wantCode(tb testing.TB, err error, code string) *envoi.Error {
	tb.Helper()
	if got := envoi.ErrorCode(err); got != code {
		tb.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
	return envoi.AsError(err)
}

// wantField fails unless err carries code and names field.
func wantField(tb testing.TB, err error, code, field string) *envoi.Error {
	tb.Helper()
	e := wantCode(tb, err, code)
	if got := e.Details["field"]; got != field {
		tb.Fatalf("error %v names field %v, want %q", err, got, field)
	}
	return e
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// randomToken returns n characters that look like a provider's token.
func randomToken(n int) string {
	b := make([]byte, n/2+1)
	_, _ = rand.Read(b)
	return ("eyJ0" + hex.EncodeToString(b))[:n]
}

// Fixtures.

func operator(code, group string) *envoi.Operator {
	return &envoi.Operator{Code: code, Name: strings.ToUpper(code), Email: code + "@forterro.example", Group: group}
}

func smtpFlow(code string, operators, groups []string) *envoi.AuthFlow {
	return &envoi.AuthFlow{
		Code: code, Name: code, Kind: envoi.KindSMTPBasic,
		SMTP:      envoi.SMTPServer{Host: "127.0.0.1", Port: 2525, Security: envoi.SecurityNone},
		Operators: operators, Groups: groups,
	}
}

func m365Flow(code string, operators ...string) *envoi.AuthFlow {
	return &envoi.AuthFlow{
		Code: code, Name: "Microsoft 365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365,
		ClientID: "11111111-2222-3333-4444-555555555555", ClientSecret: "client-secret-" + randomToken(24),
		Tenant: "forterro.onmicrosoft.com", MaxAttachmentsMB: 25, Operators: operators,
	}
}

func sendRequest(operator string) envoi.SendRequest {
	return envoi.SendRequest{
		DocumentFlow: "BL", Operator: operator, Company: "FORTERRO",
		To:      []string{"client@customer.example"},
		Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12345"},
		Entity:  &envoi.Entity{Type: "BL", ID: "12345"},
		Attachments: []envoi.Attachment{
			{Filename: "BL-12345.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4 ...")},
		},
	}
}
