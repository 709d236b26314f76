package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"envoi"
	"envoi/ui"
)

// TestFlowRepointed saves a flow whose token URL changes without its
// secret through the form: the page says the secrets were dropped, the
// store holds none, and the flow's page shows its internal addresses.
func TestFlowRepointed(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	form := url.Values{"code": {"O365"}, "kind": {"oauth2"}, "preset": {"microsoft365"}, "client_id": {"cid"}, "client_secret": {"the-secret"},
		"tenant": {"contoso"}, "smtp_host": {"smtp.office365.com"}, "smtp_port": {"587"}, "smtp_security": {"starttls"}, "max_attachments_mb": {"25"}}
	if p := b.Submit("/auth-flows/new", "/auth-flows", form); p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.Status, text(p.Body))
	}
	if p := b.Get("/auth-flows/O365"); strings.Contains(p.Body, `id="flow-warnings"`) {
		t.Errorf("a flow on public hosts shows warnings: %s", text(p.Body))
	}

	moved := with(with(form, "client_secret", ""), "token_url", "http://10.0.0.7/token")
	p := b.Submit("/auth-flows/O365", "/auth-flows/O365", moved)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", p.Status, text(p.Body))
	}
	f, err := e.Store.AuthFlow(context.Background(), "O365")
	must(t, err)
	if f.ClientSecretSet || f.ClientSecret != "" {
		t.Error("the client secret is still stored after the token URL changed")
	}
	page := b.Get(p.Location)
	for _, want := range []string{"secrets bound to the old place were dropped", `id="flow-warnings"`, "token_url is 10.0.0.7, an internal address"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the flow's page lacks %q: %s", want, text(page.Body))
		}
	}
}

// TestFlowMadeBasic turns an OAuth flow into smtp_basic through the form,
// which still posts the OAuth fields: the store keeps none of them, nor the
// client secret (the rule is the store's, as for the API and envoi apply).
func TestFlowMadeBasic(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	form := url.Values{"code": {"O365"}, "kind": {"oauth2"}, "preset": {"microsoft365"}, "client_id": {"cid"}, "client_secret": {"the-secret"},
		"tenant": {"contoso"}, "smtp_host": {"smtp.office365.com"}, "smtp_port": {"587"}, "smtp_security": {"starttls"}, "max_attachments_mb": {"25"}}
	if p := b.Submit("/auth-flows/new", "/auth-flows", form); p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.Status, text(p.Body))
	}
	basic := with(with(form, "kind", "smtp_basic"), "smtp_host", "127.0.0.1")
	if p := b.Submit("/auth-flows/O365", "/auth-flows/O365", basic); p.Status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", p.Status, text(p.Body))
	}
	f, err := e.Store.AuthFlow(context.Background(), "O365")
	must(t, err)
	if f.Kind != envoi.KindSMTPBasic || f.Preset != "" || f.ClientID != "" || f.Tenant != "" || f.Scope != "" || f.TokenURL != "" || f.ClientSecretSet {
		t.Errorf("the basic flow kept OAuth settings: %+v", f)
	}
}
