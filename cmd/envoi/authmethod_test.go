package main_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"envoi/internal/testmail"
)

// TestTokenAuthMethodEndToEnd: a provider that accepts only
// client_secret_basic refuses the Microsoft 365 preset's client_secret_post;
// the callback page names token_auth_method as a possible cause; set by the
// API (or envoi apply) to auto, the consent and a send go through, and the
// flow shows what auto found.
func TestTokenAuthMethodEndToEnd(t *testing.T) {
	e := MustStart(t, EnvOptions{OAuth: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic}})
	e.Configure()
	var flow map[string]any
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	if flow["token_auth_method"] != "client_secret_post" {
		t.Errorf("the preset's token_auth_method: got %v, want client_secret_post", flow["token_auth_method"])
	}
	status, page := e.Consent("O365", "jdupont")
	if status == 200 || !strings.Contains(page, "token_auth_method") || !strings.Contains(page, "client_secret_basic") {
		t.Fatalf("callback page for invalid_client: %d, does not name token_auth_method:\n%s", status, page)
	}

	put := func(method string) (int, APIError) {
		var ae APIError
		code := e.Do("PUT", "/v1/auth-flows/O365", map[string]any{
			"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso", "token_auth_method": method,
			"client_id": e.OAuth.ClientID(), "auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
			"smtp": e.SMTP.Endpoint(), "operators": []string{"jdupont"},
		}, &ae)
		return code, ae
	}
	if code, ae := put("private_key_jwt"); code != 422 && code != 400 || ae.Error.Code != "invalid_flow_data" || ae.Error.Details["field"] != "token_auth_method" {
		t.Errorf("unknown method: %d %+v", code, ae.Error)
	}
	if code, ae := put("auto"); code != 200 {
		t.Fatalf("PUT auto: %d %+v", code, ae.Error)
	}
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent with auto: %d %s", status, page)
	}
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	if flow["token_auth_method"] != "auto" || flow["token_auth_method_learned"] != "client_secret_basic" {
		t.Errorf("flow after the consent: method %v, learned %v", flow["token_auth_method"], flow["token_auth_method_learned"])
	}
	out := e.Run("test", "--flow", "O365", "--operator", "jdupont")
	if !strings.Contains(out, "works for jdupont") {
		t.Errorf("test output:\n%s", out)
	}

	// envoi apply sets it too.
	cfg := filepath.Join(t.TempDir(), "envoi.yaml")
	doc := "auth_flows:\n  O365:\n    kind: oauth2\n    preset: microsoft365\n    tenant: contoso\n" +
		"    client_id: " + e.OAuth.ClientID() + "\n    auth_url: " + e.OAuth.AuthURL() + "\n    token_url: " + e.OAuth.TokenURL() + "\n" +
		"    token_auth_method: client_secret_basic\n" +
		"    smtp: {host: " + e.SMTP.Endpoint().Host + ", port: " + strconv.Itoa(e.SMTP.Endpoint().Port) + ", security: " + e.SMTP.Endpoint().Security + "}\n" +
		"    operators: [jdupont]\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run("apply", "-f", cfg)
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	if flow["token_auth_method"] != "client_secret_basic" {
		t.Errorf("after apply: got %v, want client_secret_basic", flow["token_auth_method"])
	}
}
