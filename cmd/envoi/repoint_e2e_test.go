package main_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"envoi"
	"envoi/internal/testmail"
	"envoi/secret"
	"envoi/sqlstore"
)

// tokenRecorder is an "attacker" token endpoint on loopback: it records
// every request body and refuses them all.
type tokenRecorder struct {
	mu     sync.Mutex
	bodies []string
}

func startTokenRecorder(t *testing.T) (*tokenRecorder, string) {
	rec := &tokenRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.bodies = append(rec.bodies, r.URL.RawQuery+" "+r.Header.Get("Authorization")+" "+string(b))
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL + "/token"
}

func (r *tokenRecorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// flowBody turns a flow's API answer into the body of its PUT.
func flowBody(flow map[string]any) map[string]any {
	for _, k := range []string{"code", "client_secret_set", "service_account_key_set", "updated_at", "warnings"} {
		delete(flow, k)
	}
	return flow
}

type flowAnswer struct {
	ClientSecretSet bool                `json:"client_secret_set"`
	Warnings        []envoi.FlowWarning `json:"warnings"`
}

func (a flowAnswer) warned(code string) bool {
	for _, w := range a.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

type testAnswer struct {
	OK    bool `json:"ok"`
	Steps []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"steps"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// TestRepointSMTPDropsPassword re-points a basic SMTP flow at another
// server through the API: the operators' stored passwords are dropped, and
// the Test action then sends no credential to the new server.
func TestRepointSMTPDropsPassword(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	const email, password = "ops@example.com", "S3cret-pw"
	legit := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone, Users: map[string]string{email: password}})
	attacker := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone, Users: map[string]string{email: "whatever"}})

	e.MustDo(200, "PUT", "/v1/operators/ops", map[string]any{"name": "Ops", "email": email, "smtp_password": password}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/BASIC", map[string]any{"kind": "smtp_basic", "smtp": legit.Endpoint(), "operators": []string{"ops"}}, nil)
	var res testAnswer
	e.MustDo(200, "POST", "/v1/auth-flows/BASIC/test", map[string]any{"operator": "ops"}, &res)
	if !res.OK || legit.AuthCommands() == 0 {
		t.Fatalf("test on the flow's own server: %+v (AUTH commands %d)", res, legit.AuthCommands())
	}

	var answer flowAnswer
	e.MustDo(200, "PUT", "/v1/auth-flows/BASIC", map[string]any{"kind": "smtp_basic", "smtp": attacker.Endpoint(), "operators": []string{"ops"}}, &answer)
	if !answer.warned(envoi.WarnSecretsDropped) {
		t.Errorf("the PUT's answer does not say the password was dropped: %+v", answer.Warnings)
	}
	var op struct {
		SMTPPasswordSet bool `json:"smtp_password_set"`
	}
	e.MustDo(200, "GET", "/v1/operators/ops", nil, &op)
	if op.SMTPPasswordSet {
		t.Error("smtp_password_set is still true after the flow's server changed")
	}

	// Without a password the Test probes as sending would: it connects
	// and asks no AUTH, and this server, which insists on AUTH, refuses.
	res = testAnswer{}
	e.MustDo(200, "POST", "/v1/auth-flows/BASIC/test", map[string]any{"operator": "ops"}, &res)
	if res.OK {
		t.Errorf("test passed without a password on a server that insists on AUTH: %+v", res)
	}
	if n := attacker.AuthCommands(); n != 0 {
		t.Errorf("the new server received %d AUTH commands, want none", n)
	}
}

// TestRepointTokenURLDropsSecret re-points OAuth flows' token URL at
// another server through the API: the client secret and the tokens are
// dropped, and neither the Test action nor a new consent sends the old
// secret or a refresh token there.
func TestRepointTokenURLDropsSecret(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	var tokens []envoi.Token
	e.MustDo(200, "GET", "/v1/tokens", nil, &tokens)
	if len(tokens) != 1 {
		t.Fatalf("tokens before: %+v", tokens)
	}
	rec, attackerURL := startTokenRecorder(t)
	leaked := func(t *testing.T) {
		t.Helper()
		for _, body := range rec.requests() {
			if strings.Contains(body, e.OAuth.ClientSecret()) || strings.Contains(body, "refresh_token=") {
				t.Errorf("the new token URL received a credential: %s", body)
			}
		}
	}

	t.Run("Consent", func(t *testing.T) {
		var flow map[string]any
		e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
		flow["token_url"] = attackerURL
		var answer flowAnswer
		e.MustDo(200, "PUT", "/v1/auth-flows/O365", flowBody(flow), &answer)
		if answer.ClientSecretSet || !answer.warned(envoi.WarnSecretsDropped) {
			t.Errorf("PUT answer: %+v", answer)
		}
		e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &answer)
		if answer.ClientSecretSet {
			t.Error("GET: client_secret_set is still true")
		}
		if !answer.warned(envoi.WarnInternalAddress) {
			t.Errorf("GET: no internal_address warning for a loopback token URL: %+v", answer.Warnings)
		}
		tokens = nil
		e.MustDo(200, "GET", "/v1/tokens", nil, &tokens)
		if len(tokens) != 0 {
			t.Errorf("tokens after: %+v", tokens)
		}

		var res testAnswer
		e.MustDo(200, "POST", "/v1/auth-flows/O365/test", map[string]any{"operator": "jdupont"}, &res)
		if res.OK || res.Error == nil || res.Error.Code != envoi.EConsentRequired {
			t.Errorf("test: %+v, want consent_required", res)
		}
		if n := len(rec.requests()); n != 0 {
			t.Errorf("the test called the new token URL %d times", n)
		}
		// Consent again: the code goes to the new token URL, without the
		// old secret.
		e.Consent("O365", "jdupont")
		leaked(t)
	})

	t.Run("AppOnly", func(t *testing.T) {
		app := map[string]any{
			"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso", "grant": "client_credentials",
			"client_id": e.OAuth.ClientID(), "client_secret": e.OAuth.ClientSecret(),
			"token_url": e.OAuth.TokenURL(), "smtp": e.SMTP.Endpoint(),
			"generic_mailbox": map[string]any{"enabled": true, "email": "user@example.com"},
		}
		e.MustDo(200, "PUT", "/v1/auth-flows/APP", app, nil)
		app["client_secret"], app["token_url"] = "", attackerURL
		e.MustDo(200, "PUT", "/v1/auth-flows/APP", app, nil)
		before := len(rec.requests())
		var res testAnswer
		e.MustDo(200, "POST", "/v1/auth-flows/APP/test", map[string]any{}, &res)
		if res.OK {
			t.Errorf("test passed against the new token URL: %+v", res)
		}
		if len(rec.requests()) == before {
			t.Fatal("the app-only test did not reach the new token URL (the check below would prove nothing)")
		}
		leaked(t)
	})
}

// TestApplyRepointDropsPassword re-points a flow with envoi apply: without
// the password in the file it is dropped (checked in the store) and the
// Test action sends nothing to the new server; with it, the new one is kept.
func TestApplyRepointDropsPassword(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	legit := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone, Users: map[string]string{"ops@example.com": "S3cret-pw"}})
	attacker := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone, Users: map[string]string{"ops@example.com": "whatever"}})
	dir := t.TempDir()
	apply := func(t *testing.T, port int, passwordEnv string, env map[string]string) string {
		t.Helper()
		cfg := filepath.Join(dir, "envoi.yaml")
		pw := ""
		if passwordEnv != "" {
			pw = ", smtp_password_env: " + passwordEnv
		}
		doc := fmt.Sprintf(`
operators:
  ops: {name: Ops, email: ops@example.com%s}
auth_flows:
  BASIC: {kind: smtp_basic, smtp: {host: 127.0.0.1, port: %d, security: none}, operators: [ops]}
`, pw, port)
		if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := RunEnv(e, env, "apply", "-f", cfg)
		if code != 0 {
			t.Fatalf("apply: exit %d\n%s", code, out)
		}
		return out
	}
	key, err := secret.LoadMasterKey("", e.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.Open(context.Background(), sqlstore.Options{DataDir: e.DataDir, MasterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored := func(t *testing.T) string {
		t.Helper()
		o, err := store.Operator(context.Background(), "ops")
		if err != nil {
			t.Fatal(err)
		}
		return o.SMTPPassword
	}

	out := apply(t, legit.Port, "OPS_PW", map[string]string{"OPS_PW": "S3cret-pw"})
	if !strings.Contains(out, "2 objects applied") || stored(t) != "S3cret-pw" {
		t.Fatalf("first apply: password %q\n%s", stored(t), out)
	}

	out = apply(t, attacker.Port, "", nil)
	if got := stored(t); got != "" {
		t.Errorf("the password stayed after the flow was re-pointed: %q", got)
	}
	if !strings.Contains(out, "warning: auth flow BASIC") || !strings.Contains(out, "SMTP passwords of ops") {
		t.Errorf("apply did not say the password was dropped:\n%s", out)
	}
	var res testAnswer
	e.MustDo(200, "POST", "/v1/auth-flows/BASIC/test", map[string]any{"operator": "ops"}, &res)
	if res.OK || attacker.AuthCommands() != 0 {
		t.Errorf("test: ok %v, the new server saw %d AUTH commands, want none", res.OK, attacker.AuthCommands())
	}

	// Re-pointed with the password in the same file: the file's password
	// is kept.
	apply(t, legit.Port, "", nil)
	apply(t, attacker.Port, "OPS_PW", map[string]string{"OPS_PW": "new-pw"})
	if got := stored(t); got != "new-pw" {
		t.Errorf("a password given with the re-pointing: stored %q, want new-pw", got)
	}
}
