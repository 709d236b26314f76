package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileSignature has what the signature policy takes out: a script, an
// overlay, a CSS escape hiding url(, an event handler.
const hostileSignature = `<p><b>Jeanne</b></p><script>alert(1)</script>` +
	`<div style="position:fixed;top:0;left:0;width:100%;height:100%">Pay here</div>` +
	`<span style="color: u\72l(https://x.example/a)" onclick="x()">s</span>`

func checkSanitizedSignature(t *testing.T, where, sig string) {
	t.Helper()
	for _, bad := range []string{"script", "position", "fixed", "x.example", `\72`, "onclick"} {
		if strings.Contains(sig, bad) {
			t.Errorf("%s: the stored signature has %q: %s", where, bad, sig)
		}
	}
	if !strings.Contains(sig, "<p><b>Jeanne</b></p>") {
		t.Errorf("%s: the formatting was lost: %s", where, sig)
	}
}

// TestSignatureSanitizedWhenSaved: an operator's (and a company's) signature is sanitized
// when it is saved through the API and by envoi apply (the UI in package
// ui), not only when it is sent.
func TestSignatureSanitizedWhenSaved(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	var op struct {
		SignatureHTML string `json:"signature_html"`
	}
	e.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne", "email": "jd@example.org", "signature_html": hostileSignature}, &op)
	checkSanitizedSignature(t, "API answer", op.SignatureHTML)
	e.MustDo(200, "GET", "/v1/operators/jdupont", nil, &op)
	checkSanitizedSignature(t, "API", op.SignatureHTML)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "envoi.yaml")
	quoted := "'" + strings.ReplaceAll(hostileSignature, "'", "''") + "'"
	yaml := "operators:\n  mmartin:\n    name: Marc\n    email: mm@example.org\n    signature_html: " + quoted + "\n" +
		"companies:\n  ACME:\n    name: Acme\n    signature_html: " + quoted + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run("apply", "-f", cfg)
	e.MustDo(200, "GET", "/v1/operators/mmartin", nil, &op)
	checkSanitizedSignature(t, "apply", op.SignatureHTML)
	// A company's signature follows the same rule.
	e.MustDo(200, "GET", "/v1/companies/ACME", nil, &op)
	checkSanitizedSignature(t, "apply, company", op.SignatureHTML)
}
