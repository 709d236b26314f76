package main_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"envoi/secret"
	"envoi/sqlstore"
	"envoi/ui"
)

// TestConsentAlert revokes an operator's grant at the provider: the next
// send parks on consent_required, and envoi mails the administrators and the
// operator through the system sender, once.
func TestConsentAlert(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	e.Run("admin", "create", "--email", "admin@example.com", "--name", "Admin")

	// The system sender: an operator of the same flow with its own mailbox.
	e.MustDo(200, "PUT", "/v1/operators/system", map[string]any{"name": "envoi", "email": "envoi@example.com", "oauth_enabled": true}, nil)
	var flow map[string]any
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	flow["operators"] = []string{"jdupont", "system"}
	for _, k := range []string{"code", "client_secret_set", "service_account_key_set", "updated_at"} {
		delete(flow, k)
	}
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", flow, nil)
	e.OAuth.SetUser("envoi@example.com")
	if status, page := e.Consent("O365", "system"); status != 200 {
		t.Fatalf("consent of the system sender: %d %s", status, page)
	}
	e.OAuth.SetUser("user@example.com")
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
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
	if err := store.PutSetting(context.Background(), ui.SettingSystemSender, "system"); err != nil {
		t.Fatal(err)
	}

	e.OAuth.Revoke("user@example.com")
	for range 2 {
		var m messageJSON
		e.MustDo(202, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &m)
		if m.Status != "consent_required" {
			t.Fatalf("after revocation: %s, want consent_required", fmtJSON(m))
		}
	}

	var alert string
	alerts := 0
	for deadline := time.Now().Add(10 * time.Second); alert == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, sm := range e.SMTP.Messages() {
			if strings.Contains(string(sm.Data), "must authenticate again") {
				alert = string(sm.Data)
				alerts++
				if sm.AuthUser != "envoi@example.com" {
					t.Errorf("alert sent as %q, want the system sender", sm.AuthUser)
				}
			}
		}
	}
	if alert == "" {
		t.Fatalf("no consent alert was mailed\n%s", e.Logs())
	}
	for _, want := range []string{"admin@example.com", "user@example.com", "/operators/jdupont"} {
		if !strings.Contains(alert, want) {
			t.Errorf("the alert lacks %q:\n%s", want, alert)
		}
	}
	if alerts != 1 {
		t.Errorf("%d alerts mailed, want 1", alerts)
	}
}
