package main_test

import (
	"os"
	"path/filepath"
	"testing"
)

// basicFlowLeftovers are OAuth settings a client may leave on a flow it
// turns into smtp_basic (the UI form posts them hidden).
var basicFlowLeftovers = map[string]any{
	"kind": "smtp_basic", "preset": "microsoft365", "scope": "offline_access https://outlook.office.com/SMTP.Send",
	"auth_url": "https://login.example.org/authorize", "token_url": "https://login.example.org/token",
	"client_id": "leftover-client", "tenant": "contoso.example", "redirect_url": "https://login.example.org/cb",
	"grant": "authorization_code", "token_auth_method": "client_secret_post", "client_secret": "leftover-secret",
	"smtp": map[string]any{"host": "127.0.0.1", "port": 587, "security": "starttls"},
}

type basicFlowJSON struct {
	Kind                 string `json:"kind"`
	Preset               string `json:"preset"`
	Scope                string `json:"scope"`
	AuthURL              string `json:"auth_url"`
	TokenURL             string `json:"token_url"`
	ClientID             string `json:"client_id"`
	Tenant               string `json:"tenant"`
	RedirectURL          string `json:"redirect_url"`
	Grant                string `json:"grant"`
	TokenAuthMethod      string `json:"token_auth_method"`
	ClientSecretSet      bool   `json:"client_secret_set"`
	ServiceAccountKeySet bool   `json:"service_account_key_set"`
	SMTP                 struct {
		Host string `json:"host"`
	} `json:"smtp"`
}

func checkNoOAuth(t *testing.T, where string, f basicFlowJSON) {
	t.Helper()
	if f.Kind != "smtp_basic" || f.SMTP.Host != "127.0.0.1" {
		t.Fatalf("%s: kind %q, smtp host %q", where, f.Kind, f.SMTP.Host)
	}
	left := basicFlowJSON{Kind: f.Kind, SMTP: f.SMTP}
	if f != left {
		t.Errorf("%s: a smtp_basic flow kept OAuth settings: %+v", where, f)
	}
}

// TestBasicFlowStoresNoOAuth: a smtp_basic flow is stored without OAuth
// settings whichever front-end saves it — the API, envoi apply, and the UI
// (package ui) — and an OAuth flow turned into a basic one loses its OAuth
// settings and client secret.
func TestBasicFlowStoresNoOAuth(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	// Each answer is read into a new value: omitted fields stay empty.
	do := func(method, path string, body any) basicFlowJSON {
		var f basicFlowJSON
		e.MustDo(200, method, path, body, &f)
		return f
	}
	checkNoOAuth(t, "API answer", do("PUT", "/v1/auth-flows/RELAY", basicFlowLeftovers))
	checkNoOAuth(t, "API", do("GET", "/v1/auth-flows/RELAY", nil))

	e.Configure() // O365: an OAuth flow with a client secret
	checkNoOAuth(t, "OAuth flow made basic", do("PUT", "/v1/auth-flows/O365", basicFlowLeftovers))
	checkNoOAuth(t, "OAuth flow made basic, read again", do("GET", "/v1/auth-flows/O365", nil))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "envoi.yaml")
	yaml := "auth_flows:\n  APPLIED:\n    kind: smtp_basic\n    client_id: leftover-client\n    tenant: contoso.example\n" +
		"    scope: https://mail.example.org/\n    token_auth_method: client_secret_basic\n    smtp: {host: 127.0.0.1, port: 587, security: starttls}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run("apply", "-f", cfg)
	checkNoOAuth(t, "apply", do("GET", "/v1/auth-flows/APPLIED", nil))
}
