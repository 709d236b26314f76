package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/oauth"
)

// publicURL is envoi's public base in the tests; nothing listens there and
// nothing follows redirects to it (a loopback port, refused if ever tried).
const publicURL = "http://127.0.0.1:9/envoi"

const (
	flowCode  = "MAIL"
	jdupont   = "jdupont"
	jdupontAt = "jean.dupont@example.com"
	mmartin   = "mmartin"
	mmartinAt = "marie.martin@example.com"
)

// testStore is what the tests need of a store: oauth's part plus saving
// configuration.
type testStore interface {
	oauth.Store
	PutAuthFlow(ctx context.Context, f *envoi.AuthFlow) error
	PutOperator(ctx context.Context, o *envoi.Operator) error
}

// clock is a manual clock shared by envoi, the store and the provider.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// notes records Notify calls.
type notes struct {
	mu   sync.Mutex
	keys []envoi.TokenKey
	errs []*envoi.Error
}

func (n *notes) notify(_ context.Context, key envoi.TokenKey, err *envoi.Error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.keys = append(n.keys, key)
	n.errs = append(n.errs, err)
}

func (n *notes) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.keys)
}

type env struct {
	clock *clock
	p     *testmail.OAuthProvider
	store testStore
	svc   *oauth.Service
	notes *notes
	flow  *envoi.AuthFlow
	// handle opens another handle on the store's database, for another
	// instance (the same handle for the in-memory store and SQLite).
	handle func() testStore
}

type envOptions struct {
	provider testmail.OAuthOptions
	preset   string // microsoft365 (default) or gmail
	flow     func(f *envoi.AuthFlow)
	// backend is the store (memory when unset).
	backend backend
}

// newEnv starts a provider and a service on a store holding one flow
// (MAIL) with operators jdupont (direct) and mmartin (through group
// sales), both OAuth-enabled, and OTHER's operator ndupuis.
func newEnv(tb testing.TB, o envOptions) *env {
	tb.Helper()
	e := &env{clock: newClock(), notes: &notes{}}
	if o.preset == "" {
		o.preset = envoi.PresetMicrosoft365
	}
	po := o.provider
	po.Now = e.clock.Now
	if po.User == "" {
		po.User = jdupontAt
	}
	if po.Style == "" && o.preset == envoi.PresetGmail {
		po.Style = testmail.OAuthGoogle
	}
	if po.RedirectURIs == nil {
		po.RedirectURIs = []string{publicURL + oauth.CallbackPath, "http://127.0.0.1", oauth.MicrosoftNativeRedirect}
	}
	e.p = testmail.StartOAuth(tb, po)
	if o.backend.open == nil {
		o.backend = memoryBackend
	}
	e.store, e.handle = o.backend.open(tb, e.clock.Now)
	ctx := context.Background()
	f := &envoi.AuthFlow{
		Code: flowCode, Name: "Mail", Kind: envoi.KindOAuth2, Preset: o.preset,
		AuthURL: e.p.AuthURL(), TokenURL: e.p.TokenURL(), DeviceURL: e.p.DeviceURL(),
		ClientID: e.p.ClientID(), ClientSecret: e.p.ClientSecret(),
		SMTP:      envoi.SMTPServer{Host: "127.0.0.1", Port: 587, Security: envoi.SecuritySTARTTLS},
		Operators: []string{jdupont}, Groups: []string{"sales"},
	}
	if o.preset == envoi.PresetMicrosoft365 {
		f.Tenant = "contoso"
	} else {
		f.UserinfoURL = e.p.UserinfoURL()
	}
	if o.flow != nil {
		o.flow(f)
	}
	must(tb, f.ApplyPreset())
	for _, op := range []*envoi.Operator{
		{Code: jdupont, Name: "Jean Dupont", Email: jdupontAt, OAuthEnabled: true, Language: "fr"},
		{Code: mmartin, Name: "Marie Martin", Email: mmartinAt, Group: "sales", OAuthEnabled: true},
		{Code: "ndupuis", Name: "Nicolas Dupuis", Email: "nicolas.dupuis@example.com", OAuthEnabled: true},
	} {
		must(tb, e.store.PutOperator(ctx, op))
	}
	must(tb, e.store.PutAuthFlow(ctx, f))
	other := &envoi.AuthFlow{
		Code: "OTHER", Name: "Other", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail,
		ClientID: "x", ClientSecret: "y", Operators: []string{"ndupuis"},
		SMTP: envoi.SMTPServer{Host: "127.0.0.1", Port: 587, Security: envoi.SecuritySTARTTLS},
	}
	must(tb, other.ApplyPreset())
	must(tb, e.store.PutAuthFlow(ctx, other))
	e.flow, _ = e.store.AuthFlow(ctx, flowCode)
	e.svc = e.service(e.store)
	return e
}

// service returns another oauth.Service (an instance) on store.
func (e *env) service(store oauth.Store) *oauth.Service {
	return &oauth.Service{
		Store:      store,
		PublicURL:  publicURL,
		HTTPClient: e.p.HTTPClient(),
		Now:        e.clock.Now,
		Notify:     e.notes.notify,
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// browser GETs url like a browser that stops at the redirect back to
// envoi, and returns where it was sent.
func (e *env) browser(tb testing.TB, authURL string) *url.URL {
	tb.Helper()
	c := &http.Client{
		Transport:     e.p.HTTPClient().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(authURL)
	if err != nil {
		tb.Fatalf("GET consent page: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		tb.Fatalf("consent page: got status %d, want 302", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// consent runs a whole web consent of operator and returns Callback's
// answer.
func (e *env) consent(tb testing.TB, operator string) (*envoi.Token, string, error) {
	tb.Helper()
	ctx := context.Background()
	authURL, err := e.svc.StartConsent(ctx, flowCode, operator, "/ui/operators")
	if err != nil {
		tb.Fatalf("StartConsent: %v", err)
	}
	q := e.browser(tb, authURL).Query()
	return e.svc.Callback(ctx, q.Get("state"), q.Get("code"), q.Get("error"), q.Get("error_description"))
}

func (e *env) mustConsent(tb testing.TB, operator string) *envoi.Token {
	tb.Helper()
	tok, _, err := e.consent(tb, operator)
	if err != nil {
		tb.Fatalf("consent of %s: %v", operator, err)
	}
	return tok
}

func (e *env) stored(tb testing.TB, operator string) *envoi.Token {
	tb.Helper()
	t, err := e.store.Token(context.Background(), envoi.TokenKey{Flow: flowCode, Operator: operator})
	if err != nil {
		tb.Fatalf("stored token of %s: %v", operator, err)
	}
	return t
}

func wantCode(tb testing.TB, err error, code string) *envoi.Error {
	tb.Helper()
	if got := envoi.ErrorCode(err); got != code {
		tb.Fatalf("error code: got %q, want %q (%v)", got, code, err)
	}
	var e *envoi.Error
	errors.As(err, &e)
	return e
}
