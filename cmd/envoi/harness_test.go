package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	main "envoi/cmd/envoi"
	envoihttp "envoi/http"
	"envoi/internal/apischema"
	"envoi/internal/freeport"
	"envoi/internal/pgtest"
	"envoi/internal/testmail"
	"envoi/oauth"
	"envoi/queue"
	"envoi/smtp"
)

// Env is a running envoi with its mail side: a test OAuth provider, a test
// SMTP server that accepts the provider's tokens, and an API key.
type Env struct {
	T       testing.TB
	Base    string
	Key     string
	DataDir string
	DBURL   string
	OAuth   *testmail.OAuthProvider
	SMTP    *testmail.SMTPServer

	cancel context.CancelFunc
	api    *apischema.Doc // set by EnvOptions.CheckAPI
	done   chan int
	logs   *syncBuffer
	setup  main.Setup
}

// EnvOptions adjust MustStart.
type EnvOptions struct {
	DatabaseURL string
	OAuth       testmail.OAuthOptions
	SMTP        testmail.SMTPOptions
	Worker      func(*queue.Worker)
	// Shared reuses another Env's provider, SMTP server and data (several
	// instances on one database).
	Shared *Env
	// Args are more flags for serve (they win over the harness's own).
	Args []string
	// Hooks adjust the SMTP sender and the OAuth service after the
	// harness's own setup (the fault tests shorten their timeouts).
	Hooks Hooks
	// CheckAPI checks every answer Do gets against http/openapi.yaml: its
	// status documented for the route, its JSON as described.
	CheckAPI bool
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	return freeport.Addr(tb, "127.0.0.1")
}

// MustStart boots `envoi serve` in-process through the real Main, with its
// own data directory, and waits until it answers.
func MustStart(tb testing.TB, o EnvOptions) *Env {
	tb.Helper()
	e := &Env{T: tb, DBURL: o.DatabaseURL, logs: &syncBuffer{}}
	if o.CheckAPI {
		doc, err := apischema.Parse(envoihttp.OpenAPI)
		if err != nil {
			tb.Fatalf("openapi.yaml: %v", err)
		}
		e.api = doc
	}
	if o.Shared != nil {
		e.OAuth, e.SMTP, e.DataDir, e.DBURL, e.Key = o.Shared.OAuth, o.Shared.SMTP, tb.TempDir(), o.Shared.DBURL, o.Shared.Key
		if e.DBURL == "" {
			e.DataDir = o.Shared.DataDir
		}
	} else {
		e.DataDir = tb.TempDir()
		e.OAuth = testmail.StartOAuth(tb, o.OAuth)
		so := o.SMTP
		if so.ValidateToken == nil && so.Users == nil {
			so.ValidateToken = e.OAuth.ValidateAccessToken
		}
		e.SMTP = testmail.StartSMTP(tb, so)
	}
	addr := freeAddr(tb)
	e.Base = "http://" + addr
	args := append(e.storageArgs("serve", "--listen", addr, "--public-url", e.Base), o.Args...)
	e.setup = main.Setup{
		SMTP: func(s *smtp.Sender) {
			s.RootCAs = e.SMTP.ClientTLSConfig().RootCAs
			if o.Hooks.SMTP != nil {
				o.Hooks.SMTP(s)
			}
		},
		OAuth: func(s *oauth.Service) {
			s.HTTPClient = e.OAuth.HTTPClient()
			if o.Hooks.OAuth != nil {
				o.Hooks.OAuth(s)
			}
		},
		Worker: func(w *queue.Worker) {
			w.PollInterval = 10 * time.Millisecond
			if o.Worker != nil {
				o.Worker(w)
			}
		},
	}
	e.serve(args)
	if e.Key == "" {
		e.Key = e.newAPIKey("test")
	}
	return e
}

// serve runs envoi with args (a serve command line) through the real Main
// with e.setup, waits until it listens, and stops it when the test ends.
// It fails the test when envoi exits or does not listen within a minute.
func (e *Env) serve(args []string) {
	tb := e.T
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan int, 1)
	ready := make(chan struct{})
	p := &main.Program{
		Stdout: e.logs, Stderr: e.logs, Getenv: func(string) string { return "" },
		OnListen: func(net.Addr) { close(ready) },
		Setup:    e.setup,
	}
	go func() { e.done <- p.Main(ctx, args) }()
	select {
	case <-ready:
	case code := <-e.done:
		tb.Fatalf("envoi serve exited with %d:\n%s", code, e.logs.String())
	case <-time.After(60 * time.Second):
		tb.Fatalf("envoi serve did not start:\n%s", e.logs.String())
	}
	tb.Cleanup(e.Stop)
}

// newAPIKey creates an API key named name by the CLI and returns it.
func (e *Env) newAPIKey(name string) string {
	out := e.Run("apikey", "create", "--name", name)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func (e *Env) storageArgs(args ...string) []string {
	args = append(args, "--data-dir", e.DataDir, "--log-level", "warn")
	if e.DBURL != "" {
		args = append(args, "--database-url", e.DBURL, "--master-key", testMasterKey)
	}
	return args
}

// testMasterKey is shared by instances on one PostgreSQL database.
const testMasterKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// Logs returns what envoi serve logged so far.
func (e *Env) Logs() string { return e.logs.String() }

// Stop shuts envoi down gracefully and waits for it (idempotent).
func (e *Env) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case code := <-e.done:
		if code != 0 {
			e.T.Errorf("envoi serve exited with %d:\n%s", code, e.logs.String())
		}
	case <-time.After(60 * time.Second):
		e.T.Errorf("envoi serve did not stop")
	}
	e.cancel = nil
}

// Run runs another envoi command on the same storage and returns its
// output; it fails the test when the command fails.
func (e *Env) Run(args ...string) string {
	e.T.Helper()
	out, code := e.RunCode(args...)
	if code != 0 {
		e.T.Fatalf("envoi %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// RunCode runs an envoi command and returns its output and exit status.
func (e *Env) RunCode(args ...string) (string, int) {
	var out syncBuffer
	p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, Setup: e.setup}
	code := p.Main(context.Background(), e.storageArgs(args...))
	return out.String(), code
}

// Do calls the API with the key and decodes a JSON answer into out (when
// not nil); it returns the status.
func (e *Env) Do(method, path string, body any, out any, headers ...string) int {
	e.T.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.T.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.Base+path, r)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.Key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if e.api != nil {
		if err := e.api.Check(method, path, resp.StatusCode, resp.Header.Get("Content-Type"), b); err != nil {
			e.T.Errorf("openapi.yaml: %v", err)
		}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.T.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// MustDo is Do that fails the test unless the status is want.
func (e *Env) MustDo(want int, method, path string, body any, out any, headers ...string) {
	e.T.Helper()
	var raw json.RawMessage
	got := e.Do(method, path, body, &raw, headers...)
	if got != want {
		e.T.Fatalf("%s %s: status %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.T.Fatal(err)
		}
	}
}

// APIError is the error body of the API.
type APIError struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Remedy  string         `json:"remedy"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// Configure sets up company FORTERRO, operator jdupont (the provider's
// user), a Microsoft 365 flow O365 on the test provider and SMTP server, and
// the BL mail setting.
func (e *Env) Configure() {
	e.T.Helper()
	e.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro", "footer_text": "Forterro SAS — 1 rue de la Paix, Paris"}, nil)
	e.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne Dupont", "email": "user@example.com", "oauth_enabled": true}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso",
		"client_id": e.OAuth.ClientID(), "client_secret": e.OAuth.ClientSecret(),
		"auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"smtp": e.SMTP.Endpoint(), "max_attachments_mb": 10,
		// The test server has no provider's limits: high ones, so that the
		// tests that send thousands are not paced at 30 a minute.
		"limits":    map[string]any{"messages_per_minute": 1_000_000, "connections": 8},
		"operators": []string{"jdupont"},
	}, nil)
	e.MustDo(200, "PUT", "/v1/mail-settings/BL", map[string]any{
		"subject": "[SOCIETE] : Envoi du BL : [ID_BL]", "body": "Bonjour,\nVeuillez trouver le BL [ID_BL].", "priority": "high",
	}, nil)
}

// Consent runs the web consent of operator on flow as a browser would:
// envoi's consent URL, the provider's page (which consents at once), and
// back to envoi's callback. It returns the callback page's status and body.
func (e *Env) Consent(flow, operator string) (int, string) {
	e.T.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", e.Base+"/v1/auth-flows/"+flow+"/consent?operator="+url.QueryEscape(operator), nil)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	resp, err := noFollow.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.T.Fatalf("consent: status %d, want 302", resp.StatusCode)
	}
	provider := e.OAuth.HTTPClient()
	provider.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = provider.Get(resp.Header.Get("Location"))
	if err != nil {
		e.T.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, e.Base+"/oauth/callback") {
		e.T.Fatalf("provider redirected to %q, want envoi's callback", back)
	}
	resp, err = http.Get(back)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postgresURL(tb testing.TB) string { return pgtest.URL(tb) }

func fmtJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return fmt.Sprintf("%s", b)
}

// freshPostgres creates a database of its own for the test on the
// machine's PostgreSQL and drops it at the end; it skips without one.
func freshPostgres(tb testing.TB) string { return pgtest.Database(tb, "envoi_e2e_") }
