package main_test

// The interoperability suite: envoi serve, through its real Main, against
// peers nobody on this team wrote — Dovecot's submission server (STARTTLS
// required, tokens checked by RFC 7662 introspection, PLAIN/LOGIN from a
// passwd file) relaying to Postfix's smtp-sink, and oidc-provider as the
// OAuth 2.0 provider (basic-only confidential clients, PKCE-only public
// clients, rotating refresh tokens, JWT access tokens over 1 KB living 30
// seconds). See internal/interop. Without the peers these tests skip, and
// fail under ENVOI_INTEROP=require (CI).

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	main "envoi/cmd/envoi"
	"envoi/internal/interop"
	"envoi/queue"
)

// interopEnv is envoi with its independent peers.
type interopEnv struct {
	*Env
	P    *interop.Provider
	D    *interop.Dovecot
	Sink *interop.Sink
	// User signs in at the provider; operator jdupont sends as them.
	User interop.Account
	// Confidential allows client_secret_basic only; Public is a public
	// client (PKCE); App has client credentials for the shared mailbox.
	Confidential, Public, App interop.Client
	// Basic is the passwd-file user of smtp_basic flows.
	Basic interop.Account
}

// Addresses of the scenarios.
const (
	interopShared = "shared@forterro.example"
	interopScope  = "openid email offline_access smtp"
)

type interopOptions struct {
	// Mechanisms Dovecot offers (default all four).
	Mechanisms []string
	// IMAP has Dovecot serve the mailboxes over IMAP too.
	IMAP bool
	// Flags are more flags of envoi serve.
	Flags []string
}

// forEachDB runs a scenario on SQLite and on PostgreSQL (a database of its
// own). Most of a scenario is waiting for a token to expire: the scenario
// runs beside one other (t.Parallel), and its two variants at once.
func forEachDB(t *testing.T, run func(t *testing.T, dbURL string)) {
	interop.Need(t)
	t.Parallel()
	var wg sync.WaitGroup
	for _, db := range []string{"sqlite", "postgres"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(db, func(t *testing.T) {
				var dbURL string
				if db == "postgres" {
					dbURL = freshPostgres(t)
				}
				run(t, dbURL)
			})
		}()
	}
	wg.Wait()
}

func startInterop(t *testing.T, dbURL string, o interopOptions) *interopEnv {
	t.Helper()
	interop.Need(t)
	addr := freeAddr(t)
	base := "http://" + addr
	callback := base + "/oauth/callback"
	ie := &interopEnv{
		User:  interop.Account{Email: "jeanne.dupont@forterro.example", Password: "provider-password-" + randomHex(8)},
		Basic: interop.Account{Email: "basic.user@forterro.example", Password: "smtp-password-" + randomHex(8)},
		Confidential: interop.Client{
			ID: "envoi-confidential", Secret: "client-secret-" + randomHex(16), TokenEndpointAuthMethod: "client_secret_basic",
			RedirectURIs: []string{callback}, ResponseTypes: []string{"code"},
			GrantTypes: []string{interop.GrantAuthorizationCode, interop.GrantRefreshToken, interop.GrantDeviceCode},
		},
		Public: interop.Client{
			ID: "envoi-public", TokenEndpointAuthMethod: "none",
			RedirectURIs: []string{callback}, ResponseTypes: []string{"code"},
			GrantTypes: []string{interop.GrantAuthorizationCode, interop.GrantRefreshToken},
		},
		App: interop.Client{
			ID: "envoi-app", Secret: "app-secret-" + randomHex(16), TokenEndpointAuthMethod: "client_secret_basic",
			RedirectURIs: []string{}, ResponseTypes: []string{}, GrantTypes: []string{interop.GrantClientCredentials},
		},
	}
	ie.P = interop.StartProvider(t, interop.ProviderOptions{
		Accounts:  []interop.Account{ie.User},
		Clients:   []interop.Client{ie.Confidential, ie.Public, ie.App},
		Mailboxes: map[string]string{ie.App.ID: interopShared},
	})
	ie.Sink = interop.StartSink(t)
	ie.D = interop.StartDovecot(t, interop.DovecotOptions{
		Users:            map[string]string{ie.Basic.Email: ie.Basic.Password},
		IntrospectionURL: ie.P.IntrospectionURLWithCredentials(),
		Mechanisms:       o.Mechanisms,
		Relay:            ie.Sink,
		IMAP:             o.IMAP,
	})
	ie.Env = startEnvoiAt(t, addr, dbURL, append([]string{"--smtp-ca-file", ie.D.CAFile, "--log-level", "debug"}, o.Flags...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Dovecot's log:\n%s\noidc-provider:\n%s\nenvoi:\n%s", ie.D.Log(), ie.P.Output(), ie.Logs())
		}
	})
	return ie
}

// startEnvoiAt is MustStart without the team's own test peers: envoi
// serve on addr, talking to the real network stack with its default HTTP
// client and the system's roots plus extra flags.
func startEnvoiAt(tb testing.TB, addr, dbURL string, extra ...string) *Env {
	tb.Helper()
	e := &Env{T: tb, DBURL: dbURL, logs: &syncBuffer{}, DataDir: tb.TempDir(), Base: "http://" + addr}
	e.setup = main.Setup{Worker: func(w *queue.Worker) { w.PollInterval = 10 * time.Millisecond }}
	e.serve(append(e.storageArgs("serve", "--listen", addr, "--public-url", e.Base), extra...))
	e.Key = e.newAPIKey("interop")
	return e
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// configure sets up company FORTERRO, the BL mail setting, and operator
// jdupont (the provider's user) in an OAuth flow IDP on the provider with
// the given client; more fields adjust the flow.
func (ie *interopEnv) configure(client interop.Client, more map[string]any) {
	ie.T.Helper()
	ie.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro", "footer_text": "Forterro SAS — Paris"}, nil)
	ie.MustDo(200, "PUT", "/v1/mail-settings/BL", map[string]any{
		"subject": "[SOCIETE] : Envoi du BL : [ID_BL]", "body": "Bonjour,\nVeuillez trouver le BL [ID_BL].", "priority": "normal",
	}, nil)
	ie.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne Dupont", "email": ie.User.Email, "oauth_enabled": true}, nil)
	flow := map[string]any{
		"kind": "oauth2", "preset": "generic", "name": "oidc-provider",
		"client_id": client.ID, "client_secret": client.Secret, "scope": interopScope,
		"auth_url": ie.P.AuthURL(), "token_url": ie.P.TokenURL(), "device_url": ie.P.DeviceURL(),
		"smtp":               map[string]any{"host": ie.D.Host, "port": ie.D.Port, "security": "starttls"},
		"max_attachments_mb": 10, "operators": []string{"jdupont"},
	}
	for k, v := range more {
		flow[k] = v
	}
	ie.MustDo(200, "PUT", "/v1/auth-flows/IDP", flow, nil)
}

// consent runs the web consent of jdupont on flow IDP as a person at a
// browser: envoi's consent link, the provider's sign-in and consent pages
// (a browser with no cookie of the provider's), envoi's callback.
func (ie *interopEnv) consent() {
	ie.T.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", ie.Base+"/v1/auth-flows/IDP/consent?operator=jdupont", nil)
	req.Header.Set("Authorization", "Bearer "+ie.Key)
	resp, err := noFollow.Do(req)
	if err != nil {
		ie.T.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		ie.T.Fatalf("consent: status %d, want 302", resp.StatusCode)
	}
	back := ie.P.NewBrowser(ie.User).Authorize(ie.T, resp.Header.Get("Location"))
	if !strings.HasPrefix(back, ie.Base+"/oauth/callback?") {
		ie.T.Fatalf("the provider sent the browser to %q, want envoi's callback", back)
	}
	resp, err = http.Get(back)
	if err != nil {
		ie.T.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), ie.User.Email) {
		ie.T.Fatalf("envoi's callback page: %d\n%s\nprovider:\n%s", resp.StatusCode, page, ie.P.Output())
	}
}

// send posts a delivery note to `to` and waits for its outcome.
func (ie *interopEnv) send(to string) messageJSON {
	ie.T.Helper()
	var m messageJSON
	got := ie.Do("POST", "/v1/messages?wait=30s", blRequest(to), &m)
	if got != 200 && got != 202 {
		ie.T.Fatalf("POST /v1/messages: %d %s", got, fmtJSON(m))
	}
	return m
}

// mustSend sends and fails the test unless the message went out, once,
// through Dovecot to the sink, from wantFrom.
func (ie *interopEnv) mustSend(to, wantFrom string) messageJSON {
	ie.T.Helper()
	m := ie.send(to)
	if m.Status != "sent" {
		ie.T.Fatalf("message to %s: %s, want sent", to, fmtJSON(m))
	}
	ie.mustReceiveOnce(m, to, wantFrom)
	return m
}

func (ie *interopEnv) mustReceiveOnce(m messageJSON, to, wantFrom string) {
	ie.T.Helper()
	got := ie.Sink.WithMessageID(ie.T, m.MessageID)
	if len(got) != 1 {
		ie.T.Fatalf("smtp-sink received %s %d times, want once", m.MessageID, len(got))
	}
	if got[0].MailFrom != wantFrom || len(got[0].Rcpt) != 1 || got[0].Rcpt[0] != to {
		ie.T.Errorf("envelope MAIL FROM %q RCPT %v, want %q → %q", got[0].MailFrom, got[0].Rcpt, wantFrom, to)
	}
	for _, want := range []string{"Subject: FORTERRO : Envoi du BL : 12345", "by dovecot.test with ESMTPSA"} {
		if !strings.Contains(got[0].Data, want) {
			ie.T.Errorf("the relayed message lacks %q:\n%s", want, got[0].Data)
		}
	}
}

// logins returns Dovecot's logins of user with mechanism.
func (ie *interopEnv) logins(user, method string) []interop.Login {
	var out []interop.Login
	for _, l := range ie.D.Logins() {
		if l.User == user && l.Method == method {
			if !l.TLS || l.RemoteIP != "127.0.0.1" {
				ie.T.Errorf("login %+v: want TLS from 127.0.0.1 (a remote client for Dovecot)", l)
			}
			out = append(out, l)
		}
	}
	return out
}

// waitLogins waits until Dovecot has logged at least n logins of user
// with method (its log process writes a moment after the session began)
// and returns them; after 10 seconds it returns what there is.
func (ie *interopEnv) waitLogins(user, method string, n int) []interop.Login {
	ie.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := ie.logins(user, method)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStatus polls a message until it has status or the deadline passes.
func (ie *interopEnv) waitStatus(id, status string, within time.Duration) messageJSON {
	ie.T.Helper()
	var m messageJSON
	deadline := time.Now().Add(within)
	for {
		ie.MustDo(200, "GET", "/v1/messages/"+id, nil, &m)
		if m.Status == status || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m.Status != status {
		ie.T.Fatalf("message %s: %s, want %s", id, fmtJSON(m), status)
	}
	return m
}

// afterLastTokenExpires waits until the access token the provider issued
// last has expired (its exp claim, plus a second): a pooled connection it
// authenticated may no longer be used.
func (ie *interopEnv) afterLastTokenExpires() {
	ie.T.Helper()
	var exp int64
	for _, c := range ie.P.TokenCalls("") {
		if c.AccessToken == "" {
			continue
		}
		parts := strings.Split(c.AccessToken, ".")
		if len(parts) != 3 {
			ie.T.Fatalf("the access token is not a JWT")
		}
		b, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			ie.T.Fatal(err)
		}
		var claims struct {
			Exp int64 `json:"exp"`
		}
		if err := json.Unmarshal(b, &claims); err != nil {
			ie.T.Fatal(err)
		}
		exp = max(exp, claims.Exp)
	}
	if exp == 0 {
		ie.T.Fatal("the provider issued no access token")
	}
	time.Sleep(time.Until(time.Unix(exp+1, 0)))
	ie.T.Logf("the access token issued last expired at %s; now %s", time.Unix(exp, 0).UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339Nano))
}

// TestInteropWebConsent: the authorization code flow with PKCE on a
// confidential client that allows client_secret_basic only, then a send by
// XOAUTH2 with a JWT access token over 1 KB (too long for an initial
// response on one line: Dovecot answers 500 "Line too long" to that), then
// the same for an operator whose server offers OAUTHBEARER only.
func TestInteropWebConsent(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.configure(ie.Confidential, nil)

		parked := ie.send("early@example.org")
		if parked.Status != "consent_required" {
			t.Fatalf("before consent: %s, want consent_required", fmtJSON(parked))
		}
		ie.consent()
		auth := ie.P.TokenCalls("authorization_code")
		if len(auth) != 1 || auth[0].Status != 200 || !auth[0].Basic || auth[0].AccessTokenLength < 1024 || auth[0].RefreshToken == "" {
			t.Fatalf("the code exchange: %+v, want one success with HTTP Basic, an access token over 1 KB and a refresh token", auth)
		}
		m := ie.mustSend("client@example.org", ie.User.Email)
		if n := len(ie.waitLogins(ie.User.Email, "XOAUTH2", 1)); n < 1 {
			t.Fatalf("Dovecot logged no XOAUTH2 login of %s:\n%s", ie.User.Email, ie.D.Log())
		}
		in := ie.P.Introspections()
		if len(in) == 0 || !in[len(in)-1].Active || in[len(in)-1].Email != ie.User.Email || in[len(in)-1].Length < 1024 {
			t.Errorf("introspections %+v: want the user's token of over 1 KB, active", in)
		}
		// The message parked before the consent goes out by itself, once.
		p := ie.waitStatus(parked.ID, "sent", 20*time.Second)
		ie.mustReceiveOnce(p, "early@example.org", ie.User.Email)
		_ = m

		// A server offering OAUTHBEARER and not XOAUTH2.
		bearer := interop.StartDovecot(t, interop.DovecotOptions{
			IntrospectionURL: ie.P.IntrospectionURLWithCredentials(),
			Mechanisms:       []string{"plain", "oauthbearer"},
			Relay:            ie.Sink,
			SameCertAs:       ie.D,
		})
		ie.D = bearer
		ie.MustDo(200, "PUT", "/v1/auth-flows/IDP", map[string]any{
			"kind": "oauth2", "preset": "generic", "name": "oidc-provider",
			"client_id": ie.Confidential.ID, "scope": interopScope,
			"auth_url": ie.P.AuthURL(), "token_url": ie.P.TokenURL(), "device_url": ie.P.DeviceURL(),
			"smtp":               map[string]any{"host": bearer.Host, "port": bearer.Port, "security": "starttls"},
			"max_attachments_mb": 10, "operators": []string{"jdupont"},
		}, nil)
		// A new SMTP server would receive the access token: the re-point
		// dropped the stored tokens, and the operator consents again.
		var tokens []struct{ Flow string }
		ie.MustDo(200, "GET", "/v1/tokens", nil, &tokens)
		if len(tokens) != 0 {
			t.Fatalf("tokens after re-pointing the flow's SMTP server: %+v, want none", tokens)
		}
		ie.consent()
		ie.mustSend("bearer@example.org", ie.User.Email)
		if n := len(ie.waitLogins(ie.User.Email, "OAUTHBEARER", 1)); n != 1 {
			t.Fatalf("Dovecot (OAUTHBEARER only) logged %d OAUTHBEARER logins, want 1:\n%s", n, bearer.Log())
		}
	})
}

// TestInteropPublicClient: consent and send with a public client (no
// secret, PKCE required by the provider).
func TestInteropPublicClient(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.configure(ie.Public, map[string]any{"token_auth_method": "none"})
		ie.consent()
		ie.mustSend("client@example.org", ie.User.Email)
		for _, c := range ie.P.TokenCalls("") {
			if c.Status != 200 || c.Basic || c.ClientID != ie.Public.ID {
				t.Errorf("token call %+v: want a public client's, successful", c)
			}
		}
	})
}

// TestInteropExpiryAndRotation: the access token expires (30 seconds);
// the next send authenticates again (a new Dovecot login with a new token,
// not the old session reused), after a silent refresh whose rotated refresh
// token envoi stored: the provider revokes the whole grant when a used
// refresh token comes back, so every refresh succeeding proves the
// rotated one was kept.
func TestInteropExpiryAndRotation(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.configure(ie.Confidential, nil)
		ie.consent()
		ie.mustSend("first@example.org", ie.User.Email)
		ie.mustSend("second@example.org", ie.User.Email)
		before := ie.waitLogins(ie.User.Email, "XOAUTH2", 1)
		jtis := activeJTIs(ie.P.Introspections())

		ie.afterLastTokenExpires()
		ie.mustSend("after-expiry@example.org", ie.User.Email)
		after := ie.waitLogins(ie.User.Email, "XOAUTH2", len(before)+1)
		if len(after) <= len(before) {
			t.Fatalf("after the token expired, Dovecot logged no new login (%d before, %d after): the old session was reused\n%s", len(before), len(after), ie.D.Log())
		}
		in := ie.P.Introspections()
		if last := in[len(in)-1]; !last.Active || jtis[last.JTI] {
			t.Fatalf("the login after expiry presented no new token: introspected %v", ie.P.Introspections())
		}
		// The rotated refresh token was stored: a second refresh with it
		// succeeds. envoi refreshes a token that expires within its
		// 2-minute margin at each AUTH, so the first send may already have
		// refreshed once; otherwise wait for one more expiry.
		if len(ie.P.TokenCalls("refresh_token")) < 2 {
			ie.afterLastTokenExpires()
			ie.mustSend("after-second-expiry@example.org", ie.User.Email)
		}
		refreshes := ie.P.TokenCalls("refresh_token")
		if len(refreshes) < 2 {
			t.Fatalf("%d refreshes at the provider after two expiries, want 2 or more", len(refreshes))
		}
		seen := map[string]bool{}
		for _, r := range refreshes {
			if r.Status != 200 || r.RefreshToken == "" || seen[r.RefreshToken] || !r.Basic {
				t.Errorf("refresh %+v: want a success by HTTP Basic with a new refresh token", r)
			}
			seen[r.RefreshToken] = true
		}
		ie.checkNoSecret()
	})
}

func activeJTIs(in []interop.Event) map[string]bool {
	m := map[string]bool{}
	for _, e := range in {
		if e.Active {
			m[e.JTI] = true
		}
	}
	return m
}

// TestInteropConsentRevoked: the user removes envoi's consent at the
// provider. Once the access token in use has expired, the next message
// parks as consent_required and nothing is sent; a new consent releases it
// and it goes out once.
func TestInteropConsentRevoked(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.configure(ie.Confidential, nil)
		ie.consent()
		ie.mustSend("before@example.org", ie.User.Email)
		received := len(ie.Sink.Messages(t))

		ie.P.Revoke(t, ie.User.Email)
		ie.afterLastTokenExpires()
		m := ie.send("after-revoke@example.org")
		if m.Status != "consent_required" || m.Error == nil || m.Error.Code != "consent_required" {
			t.Fatalf("after the consent was revoked: %s, want parked on consent_required", fmtJSON(m))
		}
		if got := len(ie.Sink.Messages(t)); got != received {
			t.Fatalf("smtp-sink received %d messages after the revocation", got-received)
		}
		var last interop.Event
		if calls := ie.P.TokenCalls("refresh_token"); len(calls) > 0 {
			last = calls[len(calls)-1]
		}
		if last.Error != "invalid_grant" {
			t.Errorf("the last refresh: %+v, want refused with invalid_grant", last)
		}

		ie.consent()
		m = ie.waitStatus(m.ID, "sent", 30*time.Second)
		ie.mustReceiveOnce(m, "after-revoke@example.org", ie.User.Email)
		if m.Attempts < 1 {
			t.Errorf("attempts %d", m.Attempts)
		}
	})
}

// TestInteropDeviceLogin: `envoi auth login --device` against the
// provider's device authorization endpoint; the person enters the code on
// the provider's page, signs in and consents; then a send.
func TestInteropDeviceLogin(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.configure(ie.Confidential, nil)

		var out syncBuffer
		p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }, Setup: ie.setup}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		done := make(chan int, 1)
		go func() {
			done <- p.Main(ctx, ie.storageArgs("auth", "login", "--device", "--flow", "IDP", "--operator", "jdupont"))
		}()
		shown := regexp.MustCompile(`open (\S+) and enter the code (\S+)`)
		var uri, code string
		deadline := time.Now().Add(30 * time.Second)
		for uri == "" && time.Now().Before(deadline) {
			if m := shown.FindStringSubmatch(out.String()); m != nil {
				uri, code = m[1], m[2]
				break
			}
			select {
			case c := <-done:
				t.Fatalf("envoi auth login --device ended with %d:\n%s", c, out.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		if uri == "" {
			t.Fatalf("envoi auth login --device showed no code:\n%s", out.String())
		}
		if !strings.HasPrefix(uri, ie.P.Issuer+"/") {
			t.Fatalf("verification URI %q is not the provider's", uri)
		}
		ie.P.NewBrowser(ie.User).Device(t, uri, code)
		select {
		case c := <-done:
			if c != 0 || !strings.Contains(out.String(), "Authenticated as "+ie.User.Email) {
				t.Fatalf("envoi auth login --device: exit %d\n%s", c, out.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("envoi auth login --device did not end:\n%s", out.String())
		}
		calls := ie.P.TokenCalls(interop.GrantDeviceCode)
		if len(calls) == 0 || calls[len(calls)-1].Status != 200 {
			t.Fatalf("device code token calls %+v", calls)
		}
		ie.mustSend("client@example.org", ie.User.Email)
	})
}

// TestInteropClientCredentials: an app-only flow (client credentials,
// client_secret_basic only) sending from a shared mailbox; the provider's
// token names that mailbox, and Dovecot checks it by introspection.
func TestInteropClientCredentials(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.configure(ie.App, map[string]any{
			"grant": "client_credentials", "scope": "smtp", "auth_url": "", "device_url": "",
			"generic_mailbox": map[string]any{"enabled": true, "email": interopShared},
		})
		ie.mustSend("client@example.org", interopShared)
		if n := len(ie.waitLogins(interopShared, "XOAUTH2", 1)); n != 1 {
			t.Fatalf("%d XOAUTH2 logins of the shared mailbox, want 1:\n%s", n, ie.D.Log())
		}
		calls := ie.P.TokenCalls("client_credentials")
		if len(calls) != 1 || calls[0].Status != 200 || !calls[0].Basic || calls[0].AccessTokenLength < 1024 {
			t.Fatalf("client credentials calls %+v, want one success by HTTP Basic with a token over 1 KB", calls)
		}
		ie.checkNoSecret()
	})
}

// TestInteropBasicAuth: a password flow, PLAIN on a server offering it,
// LOGIN on one offering only LOGIN; and the Test action on it.
func TestInteropBasicAuth(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro", "footer_text": "Forterro SAS — Paris"}, nil)
		ie.MustDo(200, "PUT", "/v1/mail-settings/BL", map[string]any{"subject": "[SOCIETE] : Envoi du BL : [ID_BL]", "body": "Bonjour", "priority": "normal"}, nil)
		ie.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Basic User", "email": ie.Basic.Email, "smtp_password": ie.Basic.Password}, nil)
		flow := func(d *interop.Dovecot) {
			ie.MustDo(200, "PUT", "/v1/auth-flows/BASIC", map[string]any{
				"kind": "smtp_basic", "name": "Dovecot", "operators": []string{"jdupont"},
				"smtp": map[string]any{"host": d.Host, "port": d.Port, "security": "starttls"},
			}, nil)
		}
		flow(ie.D)
		ie.mustSend("plain@example.org", ie.Basic.Email)
		if n := len(ie.waitLogins(ie.Basic.Email, "PLAIN", 1)); n != 1 {
			t.Fatalf("%d PLAIN logins, want 1:\n%s", n, ie.D.Log())
		}
		ie.mustTest("BASIC", "jdupont")

		login := interop.StartDovecot(t, interop.DovecotOptions{
			Users: map[string]string{ie.Basic.Email: ie.Basic.Password}, Mechanisms: []string{"login"}, Relay: ie.Sink, SameCertAs: ie.D,
		})
		ie.D = login
		flow(login)
		// The password was bound to the first server: re-pointing the flow
		// dropped it, and it is given again for the new one.
		var op struct {
			SMTPPasswordSet bool `json:"smtp_password_set"`
		}
		ie.MustDo(200, "GET", "/v1/operators/jdupont", nil, &op)
		if op.SMTPPasswordSet {
			t.Fatal("the operator's SMTP password survived the re-pointing of its flow to another server")
		}
		ie.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Basic User", "email": ie.Basic.Email, "smtp_password": ie.Basic.Password}, nil)
		ie.mustSend("login@example.org", ie.Basic.Email)
		if n := len(ie.waitLogins(ie.Basic.Email, "LOGIN", 1)); n != 1 {
			t.Fatalf("%d LOGIN logins, want 1:\n%s", n, login.Log())
		}
		ie.checkNoSecret()
	})
}

// TestInteropTestAction: the flow's Test action through Dovecot, from the
// API and from the command line: token, connection, STARTTLS, AUTH with
// the long token, MAIL FROM / RCPT TO / RSET, and nothing sent.
func TestInteropTestAction(t *testing.T) {
	forEachDB(t, func(t *testing.T, dbURL string) {
		ie := startInterop(t, dbURL, interopOptions{})
		ie.configure(ie.Confidential, nil)
		ie.consent()
		ie.mustTest("IDP", "jdupont")
		if n := len(ie.waitLogins(ie.User.Email, "XOAUTH2", 1)); n < 1 {
			t.Fatalf("the Test action logged no XOAUTH2 login:\n%s", ie.D.Log())
		}
		if out, code := ie.RunCode("test", "--flow", "IDP", "--operator", "jdupont", "--smtp-ca-file", ie.D.CAFile); code != 0 {
			t.Fatalf("envoi test: exit %d\n%s", code, out)
		}
		if got := ie.Sink.Messages(t); len(got) != 0 {
			t.Fatalf("the Test action sent %d messages", len(got))
		}
	})
}

// mustTest runs a flow's Test action through the API and fails unless
// every step passed.
func (ie *interopEnv) mustTest(flow, operator string) {
	ie.T.Helper()
	var res struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"steps"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	ie.MustDo(200, "POST", "/v1/auth-flows/"+flow+"/test", map[string]any{"operator": operator}, &res)
	if !res.OK || len(res.Steps) == 0 {
		ie.T.Fatalf("Test action of %s: %s", flow, fmtJSON(res))
	}
	for _, s := range res.Steps {
		if !s.OK {
			ie.T.Errorf("Test step %s failed: %s", s.Name, s.Detail)
		}
	}
}

// checkNoSecret looks for every secret of the scenario — client secrets,
// the SMTP password, each access and refresh token the provider issued —
// in envoi's data directory (database, spool, archive, key files), in a
// dump of the PostgreSQL database, and in envoi's logs (at debug level).
func (ie *interopEnv) checkNoSecret() {
	ie.T.Helper()
	t := ie.T
	needles := map[string]string{
		"confidential client secret": ie.Confidential.Secret,
		"app client secret":          ie.App.Secret,
		"SMTP password":              ie.Basic.Password,
	}
	for i, c := range ie.P.TokenCalls("") {
		if c.AccessToken != "" {
			// A JWT's header and claims prefix are alike from one token
			// to the next: its signature is what is secret to it.
			needles[fmt.Sprintf("access token %d", i)] = c.AccessToken[strings.LastIndexByte(c.AccessToken, '.')+1:]
		}
		if c.RefreshToken != "" {
			needles[fmt.Sprintf("refresh token %d", i)] = c.RefreshToken
		}
	}
	haystacks := map[string][]byte{"envoi's log": []byte(ie.Logs())}
	err := filepath.WalkDir(ie.DataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		haystacks["file "+strings.TrimPrefix(path, ie.DataDir)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ie.DBURL != "" {
		haystacks["PostgreSQL"] = dumpPostgres(t, ie.DBURL)
	}
	var all []byte
	for _, h := range haystacks {
		all = append(all, h...)
	}
	if !bytes.Contains(all, []byte("Envoi du BL")) || len(ie.Logs()) == 0 {
		t.Fatal("the dump holds none of the messages sent: it read nothing")
	}
	for where, h := range haystacks {
		for what, secret := range needles {
			probe := secret
			if len(probe) > 32 {
				probe = probe[len(probe)-32:]
			}
			if bytes.Contains(h, []byte(probe)) || bytes.Contains(h, []byte(hex.EncodeToString([]byte(probe)))) {
				t.Errorf("%s: the %s is in clear", where, what)
			}
		}
	}
}

// dumpPostgres returns the database as pg_dump prints it, or every row of
// every table as text without pg_dump.
func dumpPostgres(tb testing.TB, dbURL string) []byte {
	tb.Helper()
	if path, err := exec.LookPath("pg_dump"); err == nil {
		out, err := exec.Command(path, "--no-owner", dbURL).Output()
		if err != nil {
			tb.Fatalf("pg_dump: %v", err)
		}
		return out
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	var out bytes.Buffer
	for _, table := range tables {
		rows, err := db.Query(`SELECT row_to_json(t)::text FROM "` + table + `" t`)
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			out.WriteString(s + "\n")
		}
		rows.Close()
	}
	return out.Bytes()
}
