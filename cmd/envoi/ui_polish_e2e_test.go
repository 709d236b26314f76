package main_test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"envoi/internal/testmail"
	"envoi/smtp"
)

// Resize sets the browser's viewport width (height 900).
func (b *Browser) Resize(width int) {
	b.T.Helper()
	if err := chromedp.Do(b.ctx, chromedp.EmulateViewport(int64(width), 900)); err != nil {
		b.fail("resize to %d: %v", width, err)
	}
}

// Number evaluates a script that returns a number.
func (b *Browser) Number(js string) float64 {
	b.T.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](js))
	if err != nil {
		b.fail("eval %s: %v", js, err)
	}
	return v
}

// Visible reports whether the element is rendered (not display:none, nor
// inside a hidden parent).
func (b *Browser) Visible(sel string) bool {
	b.T.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(function(){var el=document.querySelector(%s); return !!el && el.getClientRects().length > 0;})()`, jsString(sel))))
	if err != nil {
		b.fail("visible %s: %v", sel, err)
	}
	return ok
}

// signedInBrowser starts envoi with an administrator and the Configure
// data, and a browser signed in as that administrator.
func signedInBrowser(t *testing.T, o EnvOptions) (*Env, *Browser) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skipf("%s is absent: skipping the browser tests (apt-get install chromium)", ChromiumPath)
	}
	e := MustStart(t, o)
	if out, code := RunEnv(e, map[string]string{"ADMIN_PW": e2eAdminPW}, "admin", "create", "--email", e2eAdmin, "--name", "Alice Admin", "--password-env", "ADMIN_PW"); code != 0 {
		t.Fatalf("envoi admin create: exit %d\n%s", code, out)
	}
	b := StartBrowser(t, e.Base)
	b.Go("/login")
	b.Type("#email", e2eAdmin)
	b.Type("#password", e2eAdminPW)
	b.Submit("#signin")
	if b.Path() != "/" {
		b.fail("sign-in failed")
	}
	return e, b
}

// TestUILayoutWidths: at 1366, 1280, 1024 and 390 px wide no screen
// scrolls the page sideways (wide tables scroll inside their box); at 390
// the sidebar is folded behind a Menu button that opens it.
func TestUILayoutWidths(t *testing.T) {
	e, b := signedInBrowser(t, EnvOptions{})
	e.Configure()
	long := strings.Repeat("very-long-operator-name-", 4)
	for i := range 6 {
		e.MustDo(200, "PUT", fmt.Sprintf("/v1/operators/op%d", i), map[string]any{"name": long + strconv.Itoa(i), "email": fmt.Sprintf("operator.with.a.long.address.%d@subsidiary.forterro.example", i), "oauth_enabled": true}, nil)
	}
	ops := []string{"jdupont"}
	for i := range 6 {
		ops = append(ops, fmt.Sprintf("op%d", i))
	}
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso",
		"client_id": e.OAuth.ClientID(), "auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"smtp": e.SMTP.Endpoint(), "operators": ops,
	}, nil)
	e.MustDo(202, "POST", "/v1/messages", blRequest("a.customer.with.a.rather.long.address@customer-domain.example.org"), nil)
	pages := []string{"/", "/auth-flows", "/auth-flows/O365", "/auth-flows/new?preset=microsoft365", "/operators", "/operators/op1",
		"/groups", "/tokens", "/companies", "/companies/FORTERRO", "/document-flows", "/mail-settings", "/mail-settings/BL",
		"/file-names", "/messages", "/api-keys", "/users", "/settings", "/account"}
	for _, w := range []int{1366, 1280, 1024, 390} {
		b.Resize(w)
		for _, p := range pages {
			b.Go(p)
			sw, vw := b.Number(`document.documentElement.scrollWidth`), b.Number(`document.documentElement.clientWidth`)
			if sw > vw {
				b.Shot(fmt.Sprintf("overflow-%d%s", w, strings.ReplaceAll(p, "/", "-")))
				t.Errorf("%d px: %s scrolls sideways (scrollWidth %v > %v)", w, p, sw, vw)
			}
		}
		b.Go("/tokens")
		b.Shot(fmt.Sprintf("tokens-%d", w))
	}
	// 390 px: the navigation is folded behind the Menu button.
	b.Go("/operators")
	if !b.Visible("#menu-toggle") || b.Visible("#side-nav") {
		b.fail("390 px: want the Menu button and the navigation folded")
	}
	if top := b.Number(`document.querySelector("main h1").getBoundingClientRect().top`); top > 300 {
		b.fail("390 px: the page's title starts %v px down", top)
	}
	b.Click("#menu-toggle")
	if !b.Visible("#side-nav") || b.Text(`#menu-toggle[aria-expanded="true"]`) == "" {
		b.fail("390 px: the Menu button does not open the navigation")
	}
	b.Shot("menu-open-390")
	b.Resize(1366)
	if b.Visible("#menu-toggle") || !b.Visible("#side-nav") {
		b.fail("1366 px: want the sidebar, no Menu button")
	}
}

// contrast of two CSS colours "rgb(r, g, b)" (WCAG 2.1).
const contrastJS = `(function(a, b){
  function lum(c){ var m = c.match(/\d+(\.\d+)?/g).slice(0,3).map(function(x){ x = x/255; return x <= 0.03928 ? x/12.92 : Math.pow((x+0.055)/1.055, 2.4); });
    return 0.2126*m[0] + 0.7152*m[1] + 0.0722*m[2]; }
  var la = lum(a), lb = lum(b); return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
})`

// TestUIFormsAndAccessibility: the flow form shows what the kind and
// preset need (Basic SMTP: no preset select; Gmail: no Tenant); an OAuth
// operator has no SMTP password field; a basic operator without password
// shows no red "consent required" and a stored one can be removed; a
// skip link leads to the content; input borders contrast 3:1 with the page.
func TestUIFormsAndAccessibility(t *testing.T) {
	relay := testmail.StartSMTP(t, testmail.SMTPOptions{})
	e, b := signedInBrowser(t, EnvOptions{Hooks: Hooks{SMTP: func(s *smtp.Sender) { s.RootCAs = relay.RootCAs }}})
	e.Configure()

	b.Go("/auth-flows/new?preset=smtp")
	if b.Visible("#preset") || b.Visible("#tenant") || b.Visible("#client_id") {
		b.fail("a Basic SMTP flow shows OAuth fields (preset %v, tenant %v)", b.Visible("#preset"), b.Visible("#tenant"))
	}
	b.Go("/auth-flows/new?preset=gmail")
	if !b.Visible("#preset") || b.Visible("#tenant") {
		b.fail("Gmail: want the preset and no Tenant (tenant visible %v)", b.Visible("#tenant"))
	}
	b.Set("#preset", "microsoft365")
	if !b.Visible("#tenant") {
		b.fail("Microsoft 365: no Tenant field")
	}
	b.Set("#kind", "smtp_basic")
	if b.Visible("#preset") || b.Visible("#tenant") {
		b.fail("switched to Basic SMTP: OAuth fields still shown")
	}
	b.Shot("flow-basic-fields")

	// Input borders against the card and the page.
	b.Go("/operators/jdupont")
	for _, sel := range []string{"#email", "#footer_text"} {
		js := fmt.Sprintf(`%s(getComputedStyle(document.querySelector(%s)).borderTopColor, "rgb(255, 255, 255)")`, contrastJS, jsString(sel))
		if c := b.Number(js); c < 3 {
			b.fail("the border of %s contrasts %.2f:1 with white, want 3:1", sel, c)
		}
	}
	// The skip link is the first focusable element and leads to main.
	if got := b.Text("body > a.skip"); got == "" {
		b.fail("no skip link")
	}
	b.Eval(`document.querySelector("a.skip").click()`)
	if id := b.Text(`main#main`); id == "" || !strings.HasSuffix(b.Path(), "#main") {
		b.fail("the skip link does not lead to main: %s", b.Path())
	}

	// jdupont is in an OAuth flow: no SMTP password field.
	if b.Has("#smtp_password") {
		b.fail("an operator of an OAuth flow shows an SMTP password field")
	}

	// A basic flow to a relay: no password, no red consent_required.
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{"kind": "smtp_basic", "smtp": relay.Endpoint(), "operators": []string{"jdupont"}}, nil)
	b.Go("/operators/jdupont")
	if b.Has("#token .t-consent_required") || !b.Has("#no-password") {
		b.fail("a basic operator without password: want the neutral no-password note, not consent required")
	}
	if !b.Has("#smtp_password") || b.Has("#clear_smtp_password") {
		b.fail("a basic operator without password: want the password field and no Remove box")
	}
	b.Type("#smtp_password", "S3cret-pw")
	b.Submit("#save-operator")
	if !b.Has("#clear_smtp_password") {
		b.fail("a stored password: no Remove box")
	}
	b.Shot("operator-password-stored")
	b.Click("#clear_smtp_password")
	b.Submit("#save-operator")
	var op operatorPasswordJSON
	e.MustDo(200, "GET", "/v1/operators/jdupont", nil, &op)
	if op.SMTPPasswordSet || !b.Has("#no-password") {
		b.fail("the Remove box kept the password")
	}

	// An operator outside any flow: a neutral to-do, not a red error.
	e.MustDo(200, "PUT", "/v1/operators/loner", map[string]any{"name": "Loner", "email": "loner@example.com"}, nil)
	b.Go("/operators/loner")
	if b.Has("#token .flash.error") || !b.Has("#token .flash.todo") {
		b.fail("an operator without flow: want a to-do box")
	}
}

// TestUIFlowTestProgress: the Test of a server that never answers shows
// the step under way, and Cancel ends it with the step named.
func TestUIFlowTestProgress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	e, b := signedInBrowser(t, EnvOptions{Args: []string{"--test-timeout", "10m"}})
	e.MustDo(200, "PUT", "/v1/operators/ops", map[string]any{"name": "Ops", "email": "ops@example.com"}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/MUTE", map[string]any{"kind": "smtp_basic",
		"smtp": map[string]any{"host": "127.0.0.1", "port": ln.Addr().(*net.TCPAddr).Port, "security": "none"}, "operators": []string{"ops"}}, nil)
	b.Go("/auth-flows/MUTE")
	b.Set("#test-operator", "ops")
	b.Click("#run-test")
	b.Wait("#test-live", "waiting for the server's greeting", false)
	if !b.Has("#test-result.running") || !b.Has("#cancel-test") {
		b.fail("a running test: no progress or no Cancel button")
	}
	b.Shot("flow-test-running")
	b.Click("#cancel-test")
	b.Wait("#test-live", "The test failed", false)
	if got := b.Text("#test-result"); !strings.Contains(got, "cancelled") || !strings.Contains(got, "connect") {
		b.fail("a cancelled test says %q", got)
	}
	b.Shot("flow-test-cancelled")
}

// TestUIValidationErrors: a flow form with several wrong fields is refused
// with every wrong field marked at once, next to the field, by its label,
// with a fix for it; the typed values stay.
func TestUIValidationErrors(t *testing.T) {
	_, b := signedInBrowser(t, EnvOptions{})
	b.Go("/auth-flows/new?preset=microsoft365")
	b.Eval(`document.querySelectorAll("#flow-form [max], #flow-form [required]").forEach(function(el){ el.removeAttribute("max"); el.removeAttribute("required"); })`) // the server's checks, not the browser's
	b.Type("#code", "NEWFLOW")
	b.Type("#name", "Typed name")
	b.Set("#client_id", "")
	b.Set("#tenant", "")
	b.Set("#smtp_port", "70000")
	b.Submit("#save-flow")
	b.Shot("flow-validation-errors")
	n := int(b.Number(`document.querySelectorAll(".field.invalid .field-error").length`))
	if n < 3 {
		b.fail("%d fields marked, want client ID, tenant and port at least", n)
	}
	for _, c := range []struct{ id, label string }{{"client_id", "Client ID"}, {"tenant", "Tenant"}, {"smtp_port", "Port"}} {
		if !b.Has("#" + c.id + `[aria-invalid="true"]`) {
			b.fail("%s is not marked invalid", c.id)
		}
		msg := b.Text("#error-" + c.id)
		if !strings.HasPrefix(msg, c.label) || len(msg) < len(c.label)+20 {
			b.fail("the error next to %s says %q, want its label %q, the reason and a fix", c.id, msg, c.label)
		}
	}
	if got := b.Text("#errbox"); strings.Contains(got, "smtp.port") || strings.Contains(got, "Correct the field named in the details") {
		b.fail("the error box names fields by their codes or gives the generic remedy: %q", got)
	}
	if b.Value("#code") != "NEWFLOW" || b.Value("#name") != "Typed name" {
		b.fail("the typed values are lost: code %q name %q", b.Value("#code"), b.Value("#name"))
	}
}

// TestUISentMailViews: the sent-mail log shows recipients and times in the
// viewer's zone and pages both ways; a message's page shows the message
// as read (subject, HTML in a sandboxed frame with its own styles, the
// text part, the attachments) with the raw source one click away, and
// says what is kept of its attempts; the mail setting's whole-message
// preview shows the same.
func TestUISentMailViews(t *testing.T) {
	relay := testmail.StartSMTP(t, testmail.SMTPOptions{})
	e, b := signedInBrowser(t, EnvOptions{Hooks: Hooks{SMTP: func(s *smtp.Sender) { s.RootCAs = relay.RootCAs }}})
	e.Configure()
	// A relay of its own, without the Microsoft 365 preset's limits (30 a
	// minute would hold the 53 messages past a minute).
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{"operators": []string{}}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/RELAY", map[string]any{"kind": "smtp_basic", "smtp": relay.Endpoint(), "operators": []string{"jdupont"}}, nil)
	var ids []string
	for i := range 53 {
		req := blRequest(fmt.Sprintf("client%d@example.org", i))
		req["cc"] = []string{"copy@example.org"}
		req["attachments"] = []map[string]any{{"filename": "BL_12345.pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCnRyYWlsZXIKPDwvUm9vdCAxIDAgUj4+CiUlRU9G"}}
		var m messageJSON
		e.MustDo(202, "POST", "/v1/messages", req, &m)
		ids = append(ids, m.ID)
	}
	last := ids[len(ids)-1]
	if got := e.waitStatus(last, "sent", 30*time.Second); got.Status != "sent" {
		t.Fatalf("message %s is %s", last, got.Status)
	}

	if _, err := chromedp.Call(b.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"}); err != nil {
		t.Fatal(err)
	}
	b.Go("/messages")
	if !strings.Contains(b.Text("#log thead"), "RECIPIENTS") || !strings.Contains(b.Text("#log tbody tr:first-child .recipients"), "client52@example.org") {
		b.fail("the log has no recipients column with the copies: %q / %q", b.Text("#log thead"), b.Text("#log tbody tr:first-child .recipients"))
	}
	shown, utc := b.Text("#log tbody tr:first-child time"), b.Number(`document.querySelectorAll("#log time[title$='UTC']").length`)
	if strings.HasSuffix(shown, "UTC") || utc == 0 {
		b.fail("times are not in the viewer's zone: %q", shown)
	}
	if b.Has("#newer") || !b.Has("#older") {
		b.fail("first page: want Older and no Newer")
	}
	b.Submit("#older")
	if !b.Has("#newer") || b.Has("#older") {
		b.fail("second (last) page: want Newer and no Older")
	}
	b.Submit("#newer")
	if b.Has("#newer") || !b.Has("#older") || !b.Has(`#log tr[data-id="`+last+`"]`) {
		b.fail("back to the first page: want the newest message and no Newer")
	}

	b.Go("/messages/" + last)
	b.Shot("message-view")
	if got := b.Text("#mail-subject"); got != "FORTERRO : Envoi du BL : 12345" {
		b.fail("subject %q", got)
	}
	if !b.Has(`iframe#mail-html[sandbox=""]`) || !strings.Contains(b.Text("#mail-attachments"), "BL_12345.pdf") || !b.Has("#view-source") {
		b.fail("the message view lacks the frame, the attachment or the source link")
	}
	if !strings.Contains(b.Text("#attempts"), "not each attempt apart") {
		b.fail("the attempts do not say what is kept")
	}
	b.Go("/messages/" + last + "/html")
	if !strings.Contains(b.Text("body"), "Veuillez trouver le BL") {
		b.fail("the frame's page does not show the message")
	}
	b.Go("/messages/" + last + "/source")
	if !strings.Contains(b.Text("body"), "Content-Type: multipart/") {
		b.fail("the source is not the raw message")
	}

	// The mail setting's whole message.
	b.Go("/mail-settings/BL")
	b.Set("#pv-operator", "jdupont")
	b.Submit(`#full-preview button[type="submit"]`)
	if got := b.Text("#mail-subject"); !strings.Contains(got, "Envoi du BL") || !b.Has("iframe#mail-html") || !b.Has("details#raw-source") {
		b.fail("the whole-message preview: subject %q, frame %v", got, b.Has("iframe#mail-html"))
	}
	b.Shot("mail-setting-whole-message")
}
