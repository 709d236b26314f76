package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI drives the commands an administrator types: send, messages,
// test, apply, apikey; each against the same storage as a running server.
func TestCLI(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}

	t.Run("Send", func(t *testing.T) {
		out := e.Run("send", "--flow", "BL", "--operator", "jdupont", "--company", "FORTERRO",
			"--to", "client@example.org", "--set", "SOCIETE=FORTERRO", "--set", "ID_BL=777", "--wait", "20s")
		if !strings.Contains(out, "accepted") || !strings.Contains(out, "sent at") {
			t.Fatalf("send output:\n%s", out)
		}
		found := false
		for _, m := range e.SMTP.Messages() {
			if strings.Contains(string(m.Data), "Envoi du BL : 777") {
				found = true
			}
		}
		if !found {
			t.Error("the SMTP server did not receive BL 777")
		}
		list := e.Run("messages", "list", "--status", "sent")
		if !strings.Contains(list, "BL") {
			t.Errorf("messages list:\n%s", list)
		}
	})

	t.Run("ErrSend", func(t *testing.T) {
		out, code := e.RunCode("send", "--flow", "FACTURE_CLIENT", "--operator", "jdupont", "--to", "client@example.org")
		if code != 1 || !strings.Contains(out, "mail_setting_not_found") || !strings.Contains(out, "what to do") {
			t.Errorf("exit %d, output:\n%s", code, out)
		}
		out, code = e.RunCode("send", "--flow", "BL")
		if code != 2 {
			t.Errorf("missing flags: exit %d, want 2:\n%s", code, out)
		}
	})

	t.Run("Test", func(t *testing.T) {
		out := e.Run("test", "--flow", "O365", "--operator", "jdupont")
		if !strings.Contains(out, "works for jdupont") {
			t.Errorf("test output:\n%s", out)
		}
		e.MustDo(200, "PUT", "/v1/operators/other", map[string]any{"name": "Other", "email": "other@example.com"}, nil)
		out, code := e.RunCode("test", "--flow", "O365", "--operator", "other")
		if code != 1 || !strings.Contains(out, "operator_not_in_flow") {
			t.Errorf("operator outside the flow: exit %d:\n%s", code, out)
		}
	})

	t.Run("Apply", func(t *testing.T) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "envoi.yaml")
		err := os.WriteFile(cfg, []byte(`
companies:
  ACME: {name: Acme, footer_text: "Acme Ltd", language: en, currency: USD}
operators:
  bob: {name: Bob, email: bob@example.com}
mail_settings:
  FACTURE_CLIENT: {subject: "[SOCIETE] invoice [ID_FACTURE]", body: "Hello", priority: low}
file_names:
  FACTURE_CLIENT: {pattern: "INV_[ID_FACTURE].pdf", archive: true, file_type: invoice}
`), 0o600)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // re-appliable
			out := e.Run("apply", "-f", cfg)
			if !strings.Contains(out, "4 objects applied") {
				t.Fatalf("apply output:\n%s", out)
			}
		}
		var ms struct{ Subject, Priority string }
		e.MustDo(200, "GET", "/v1/mail-settings/FACTURE_CLIENT", nil, &ms)
		if ms.Priority != "low" {
			t.Errorf("mail setting after apply: %+v", ms)
		}
		bad := filepath.Join(dir, "bad.yaml")
		_ = os.WriteFile(bad, []byte("mail_settings:\n  BL: {subject: \"[NOPE]\"}\n"), 0o600)
		out, code := e.RunCode("apply", "-f", bad)
		if code != 1 || !strings.Contains(out, "unknown_keyword") {
			t.Errorf("bad keyword: exit %d:\n%s", code, out)
		}
	})

	t.Run("APIKeys", func(t *testing.T) {
		out := e.Run("apikey", "create", "--name", "second")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		key := lines[len(lines)-1]
		if !strings.HasPrefix(key, "envoi_") || strings.Contains(key, " ") {
			t.Fatalf("last line is not the key alone: %q", key)
		}
		list := e.Run("apikey", "list")
		if !strings.Contains(list, "second") || strings.Contains(list, key) {
			t.Errorf("apikey list shows the key or misses it:\n%s", list)
		}
	})
}
