package ui_test

import (
	"net/url"
	"strings"
	"testing"

	"envoi"
	"envoi/ui"
)

// TestSignaturePreviewFrame: the signature preview is the signature as
// mails carry it (the sends' allow-list: scripts and fixed overlays gone,
// plain colours kept), answered with a policy that lets its inline styles
// apply and nothing run, framed only by envoi.
func TestSignaturePreviewFrame(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	token := b.CSRF("/operators/new")
	p := b.Post("/signature-preview", url.Values{"signature_html": {`<p style="color: #1d4e89">Jeanne</p><script>alert(1)</script><div style="position:fixed;top:0">Pay</div>`}}, "X-CSRF-Token", token)
	if p.Status != 200 || !strings.Contains(p.Body, `style="color: #1d4e89"`) || strings.Contains(p.Body, "<script") || strings.Contains(p.Body, "position:fixed") {
		t.Fatalf("preview: %d %s", p.Status, p.Body)
	}
	csp := p.Header.Get("Content-Security-Policy")
	for _, want := range []string{"style-src 'unsafe-inline'", "sandbox", "frame-ancestors 'self'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the frame's policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || p.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("the frame's policy allows scripts or refuses its own page: %q, %q", csp, p.Header.Get("X-Frame-Options"))
	}
	if p := b.Post("/signature-preview", url.Values{"signature_html": {"x"}}); p.Status == 200 {
		t.Errorf("a preview without the form token: %d", p.Status)
	}
}
