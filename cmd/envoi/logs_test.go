package main_test

import (
	"strings"
	"testing"
)

// TestLogsHoldNoSecret runs a consent and sends at debug level, then checks
// that no secret envoi was given appears in its logs.
func TestLogsHoldNoSecret(t *testing.T) {
	e := MustStart(t, EnvOptions{Args: []string{"--log-level", "debug"}})
	e.Configure()
	const password = "Sup3r-Secret-Passw0rd!"
	e.MustDo(200, "PUT", "/v1/operators/pat", map[string]any{"name": "Pat", "email": "pat@example.com", "smtp_password": password}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/BASIC", map[string]any{
		"kind": "smtp_basic", "smtp": map[string]any{"host": "127.0.0.1", "port": 1, "security": "starttls"},
		"operators": []string{"pat"},
	}, nil)
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	var m messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &m)
	if m.Status != "sent" {
		t.Fatalf("message: %s", fmtJSON(m))
	}
	logs := e.Logs()
	if !strings.Contains(logs, "level=") {
		t.Fatalf("no log captured at debug level:\n%s", logs)
	}
	for name, secret := range map[string]string{"client secret": e.OAuth.ClientSecret(), "smtp password": password, "api key": e.Key} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}
