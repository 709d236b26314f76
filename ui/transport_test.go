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

// authDisabledTester answers every Test as a Microsoft 365 tenant with
// SMTP AUTH disabled does (535 5.7.139, as smtp.Classify codes it).
type authDisabledTester struct{}

func (authDisabledTester) Test(context.Context, string, string) (envoi.TestResult, error) {
	err := envoi.Errorf(envoi.ESMTPAuthDisabled, "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant")
	return envoi.TestResult{Steps: []envoi.TestStep{{Name: "auth", Detail: err.Message}}, Error: err}, err
}

// TestFlowTransportForm: the form stores the transport with the scope it
// needs, shows that Graph keeps the sent copy, and a flow whose Test meets
// 5.7.139 is told that Graph sends without SMTP AUTH.
func TestFlowTransportForm(t *testing.T) {
	e := NewEnv(t, ui.Server{Tester: authDisabledTester{}})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	base := url.Values{"code": {"O365"}, "kind": {"oauth2"}, "preset": {"microsoft365"}, "client_id": {"cid"}, "client_secret": {"s"},
		"tenant": {"contoso"}, "smtp_host": {"smtp.office365.com"}, "smtp_port": {"587"}, "smtp_security": {"starttls"},
		"generic_enabled": {"on"}, "generic_email": {"sales@example.com"}}
	if p := b.Submit("/auth-flows/new", "/auth-flows", base); p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.Status, text(p.Body))
	}
	page := b.Submit("/auth-flows/O365", "/auth-flows/O365/test", url.Values{"operator": {""}})
	if !strings.Contains(page.Body, `id="smtp-auth-disabled"`) || !strings.Contains(page.Body, "Mail.Send offline_access") {
		t.Errorf("after 5.7.139 the page does not propose Graph:\n%s", text(page.Body))
	}

	graph := with(base, "transport", "graph")
	graph.Set("scope", envoi.Presets()[envoi.PresetMicrosoft365].Scope)
	if p := b.Submit("/auth-flows/O365", "/auth-flows/O365", graph); p.Status != http.StatusSeeOther {
		t.Fatalf("switch to graph: %d %s", p.Status, text(p.Body))
	}
	f, err := e.Store.AuthFlow(context.Background(), "O365")
	must(t, err)
	if f.Transport != envoi.TransportGraph || f.Scope != envoi.ScopeGraphSend || f.APIURL != envoi.GraphURL {
		t.Errorf("stored transport %q scope %q api_url %q", f.Transport, f.Scope, f.APIURL)
	}
	page = b.Get("/auth-flows/O365")
	for _, want := range []string{`<option value="graph" selected>`, `id="graph-sent-items"`} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page.Body, `id="smtp-auth-disabled"`) {
		t.Errorf("a Graph flow is still told about SMTP AUTH")
	}
	if list := b.Get("/auth-flows"); !strings.Contains(list.Body, "Microsoft Graph") || strings.Contains(list.Body, "smtp.office365.com:587") {
		t.Errorf("the flows list does not show the Graph transport:\n%s", text(list.Body))
	}
}
