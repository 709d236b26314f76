package ui_test

import (
	"context"
	"crypto/sha256"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/secret"
	"envoi/signature"
	"envoi/sqlstore"
	"envoi/ui"
)

// Clock is a settable clock shared by the UI and the store.
type Clock struct {
	mu sync.Mutex
	t  time.Time
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

// Env is a UI served by httptest on a real SQLite store.
type Env struct {
	T     *testing.T
	Store *sqlstore.Store
	UI    *ui.Server
	URL   string
	Clock *Clock
	Sent  *Recorder
}

// Recorder stands in for the send queue where a test needs to see what
// the UI asks to send (the password recovery mail); the real queue is
// driven by cmd/envoi's browser tests.
type Recorder struct {
	mu   sync.Mutex
	reqs []envoi.SendRequest
}

func (r *Recorder) Accept(_ context.Context, req *envoi.SendRequest, _ string) (*envoi.Message, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, *req)
	return &envoi.Message{ID: "msg_test", Status: envoi.StatusQueued}, true, nil
}

func (r *Recorder) Preview(_ context.Context, req *envoi.SendRequest) ([]byte, error) {
	return []byte("Subject: preview of " + req.DocumentFlow + "\r\n\r\nbody"), nil
}

func (r *Recorder) Retry(_ context.Context, id string) (*envoi.Message, error) {
	return nil, envoi.Errorf(envoi.ENotFound, "message %s not found", id)
}

func (r *Recorder) Requests() []envoi.SendRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]envoi.SendRequest(nil), r.reqs...)
}

// NewEnv starts the UI with o's options (Store, Now, Messages and
// PublicURL are filled in).
func NewEnv(t *testing.T, o ui.Server) *Env {
	t.Helper()
	clk := &Clock{t: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)}
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: t.TempDir(), MasterKey: secret.NewKey(), Now: clk.Now, KeyReloadInterval: -1,
		SanitizeHTML: signature.Sanitize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{}
	srv := httptest.NewUnstartedServer(nil)
	o.Store, o.Now, o.Messages = store, clk.Now, rec
	o.PublicURL = "http://" + srv.Listener.Addr().String()
	if o.NewAPIKey == nil {
		o.NewAPIKey = func(name string) (string, *envoi.APIKey) {
			key := "envoi_" + strings.Repeat("k", 20) + name
			h := sha256.Sum256([]byte(key))
			return key, &envoi.APIKey{Name: name, Prefix: key[:12], Hash: h[:]}
		}
	}
	s := &o
	h, err := s.Handler()
	if err != nil {
		t.Fatalf("ui handler: %v", err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return &Env{T: t, Store: store, UI: s, URL: srv.URL, Clock: clk, Sent: rec}
}

// MustUser creates a user with password pw.
func (e *Env) MustUser(email, role, operator, pw string) *envoi.User {
	e.T.Helper()
	hash, err := ui.HashPassword(pw)
	if err != nil {
		e.T.Fatal(err)
	}
	u := &envoi.User{Email: email, Role: role, Operator: operator, PasswordHash: hash}
	if err := e.Store.CreateUser(context.Background(), u); err != nil {
		e.T.Fatal(err)
	}
	return u
}

// Browser is a client with its own cookies that does not follow
// redirects, so tests see them.
type Browser struct {
	e    *Env
	c    *http.Client
	Lang string
}

func (e *Env) Browser() *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// BrowserFrom is a browser whose connections come from ip, another
// loopback address (127.0.0.0/8): another client as envoi sees it.
func (e *Env) BrowserFrom(ip string) *Browser {
	b := e.Browser()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	b.c.Transport = &http.Transport{DialContext: d.DialContext}
	return b
}

// Page is an answer: status, Location and body.
type Page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

func (b *Browser) do(req *http.Request) Page {
	b.e.T.Helper()
	if b.Lang != "" {
		req.Header.Set("Accept-Language", b.Lang)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.T.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return Page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body), Header: resp.Header}
}

// Get loads a page.
func (b *Browser) Get(path string) Page {
	b.e.T.Helper()
	req, _ := http.NewRequest("GET", b.e.URL+path, nil)
	return b.do(req)
}

// Post submits a form as a browser on the same site does (Origin set);
// the form's token must be in v when the test wants one.
func (b *Browser) Post(path string, v url.Values, headers ...string) Page {
	b.e.T.Helper()
	req, _ := http.NewRequest("POST", b.e.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF returns the form token of the page at path.
func (b *Browser) CSRF(path string) string {
	b.e.T.Helper()
	p := b.Get(path)
	m := csrfInput.FindStringSubmatch(p.Body)
	if m == nil {
		b.e.T.Fatalf("GET %s (%d): no form token in the page", path, p.Status)
	}
	return html.UnescapeString(m[1])
}

// Submit posts a form of the page at from to path, with its token.
func (b *Browser) Submit(from, path string, v url.Values) Page {
	b.e.T.Helper()
	if v == nil {
		v = url.Values{}
	}
	v.Set("csrf", b.CSRF(from))
	return b.Post(path, v)
}

// SignIn signs in and fails the test unless it worked.
func (b *Browser) SignIn(email, pw string) Page {
	b.e.T.Helper()
	p := b.Submit("/login", "/login", url.Values{"email": {email}, "password": {pw}})
	if p.Status != http.StatusSeeOther {
		b.e.T.Fatalf("sign in as %s: status %d, want 303\n%s", email, p.Status, text(p.Body))
	}
	return p
}

var tags = regexp.MustCompile(`(?s)<[^>]*>`)
var spaces = regexp.MustCompile(`\s+`)

// text is a page's visible text, for failure messages and checks.
func text(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	return strings.TrimSpace(spaces.ReplaceAllString(html.UnescapeString(tags.ReplaceAllString(body, " ")), " "))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serve runs one request through h in-process.
func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}
