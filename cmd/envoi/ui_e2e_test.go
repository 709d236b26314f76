package main_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"envoi/internal/testmail"
)

const (
	e2eAdmin   = "admin@example.com"
	e2eAdminPW = "correct horse battery staple"
)

// TestAdminUIInBrowser drives the admin UI in headless Chromium through
// the real Main: sign in, create a Microsoft 365 flow from its preset (on
// the test provider and SMTP server), add an operator, Authenticate, Test
// the flow, write a mail setting with keywords, send through the API and
// find the message in the log, retry a failed one, recover a password by
// e-mail, and check the operator role. Each screen is saved to
// artifacts/screenshots.
func TestAdminUIInBrowser(t *testing.T) {
	if _, err := os.Stat(ChromiumPath); err != nil {
		t.Skipf("%s is absent: skipping the browser tests (apt-get install chromium)", ChromiumPath)
	}
	e := MustStart(t, EnvOptions{})
	if out, code := RunEnv(e, map[string]string{"ADMIN_PW": e2eAdminPW}, "admin", "create", "--email", e2eAdmin, "--name", "Alice Admin", "--password-env", "ADMIN_PW"); code != 0 {
		t.Fatalf("envoi admin create: exit %d\n%s", code, out)
	}
	b := StartBrowser(t, e.Base)

	// Sign in: a wrong password first, then the right one.
	b.Go("/")
	if p := b.Path(); !strings.HasPrefix(p, "/login") {
		t.Fatalf("signed out, / leads to %s, want the sign-in page", p)
	}
	b.Shot("login")
	b.Type("#email", e2eAdmin)
	b.Type("#password", "not the password")
	if st := b.Submit("#signin"); st != http.StatusUnauthorized || !strings.Contains(b.Text("main"), "Wrong e-mail address or password") {
		b.fail("wrong password: status %d", st)
	}
	b.Shot("login-wrong-password")
	b.Type("#password", e2eAdminPW)
	b.Submit("#signin")
	if b.Path() != "/" || !strings.Contains(b.Text("main"), "What to do first") {
		b.fail("after sign-in: want the dashboard with its getting-started list")
	}
	b.Shot("dashboard-new")

	// A Microsoft 365 flow from its preset.
	b.Go("/auth-flows")
	if !strings.Contains(b.Text("main"), "No flow yet: create one from a preset") {
		b.fail("flows: no empty state")
	}
	b.Shot("flows-empty")

	// The groups and the document flows, before any is added.
	b.Go("/groups")
	if !strings.Contains(b.Text("main"), "No groups yet") {
		b.fail("groups: no empty state")
	}
	b.Shot("groups-empty")
	b.Go("/document-flows")
	if t := b.Text("main"); !strings.Contains(t, "BL") || !strings.Contains(t, "ID_BL") {
		b.fail("document flows: the built-in catalogue is not listed")
	}
	b.Shot("document-flows")
	b.Go("/auth-flows")
	b.Submit(`.empty a[href="/auth-flows/new?preset=microsoft365"]`)
	if got := b.Value("#scope"); !strings.Contains(got, "offline_access") || !strings.Contains(got, "SMTP.Send") {
		b.fail("the Microsoft 365 preset did not fill the scope: %q", got)
	}
	if got := b.Value("#smtp_host"); got != "smtp.office365.com" {
		b.fail("the preset did not fill the SMTP server: %q", got)
	}
	b.Set("#preset", "gmail")
	if got := b.Value("#smtp_host"); got != "smtp.gmail.com" || b.Value("#scope") != "https://mail.google.com/" {
		b.fail("switching the preset to Gmail: SMTP %q scope %q", got, b.Value("#scope"))
	}
	b.Set("#preset", "microsoft365")
	if got := b.Value("#auth_url"); !strings.Contains(got, "login.microsoftonline.com/[tenant]") {
		b.fail("switching back to Microsoft 365: auth URL %q", got)
	}
	b.Shot("flow-new-from-preset")
	smtpEnd := e.SMTP.Endpoint()
	b.Type("#code", "O365")
	b.Type("#name", "Microsoft 365 (test tenant)")
	b.Type("#client_id", e.OAuth.ClientID())
	b.Type("#client_secret", e.OAuth.ClientSecret())
	b.Type("#tenant", "contoso")
	b.Type("#auth_url", e.OAuth.AuthURL())
	b.Type("#token_url", e.OAuth.TokenURL())
	b.Type("#smtp_host", smtpEnd.Host)
	b.Type("#smtp_port", strconv.Itoa(smtpEnd.Port))
	b.Set("#smtp_security", smtpEnd.Security)
	b.Type("#max_attachments_mb", "10")
	b.Submit("#save-flow")
	if b.Path() != "/auth-flows/O365" || !strings.Contains(b.Text(".flash.ok"), "O365 saved") || !b.Has("#secret-set") {
		b.fail("saving the flow: want its page, a confirmation and the secret shown as set")
	}
	if strings.Contains(b.Value("#client_secret"), e.OAuth.ClientSecret()) {
		b.fail("the client secret is echoed back")
	}
	b.Shot("flow-saved")

	// An operator, then assigned to the flow.
	b.Go("/operators")
	if !strings.Contains(b.Text("main"), "No operator yet") {
		b.fail("operators: no empty state")
	}
	b.Shot("operators-empty")
	b.Go("/operators/new")
	b.Type("#code", "jdupont")
	b.Type("#name", "Jeanne Dupont")
	b.Type("#email", "user@example.com")
	b.Set("#footer_text", "Jeanne Dupont — Service client")
	b.Set("#signature_html", `<p><b>Jeanne Dupont</b><br>Service client · Forterro</p><script>document.title="pwned"</script>`)
	b.Click("#oauth_enabled")
	b.Submit("#save-operator")
	if b.Path() != "/operators/jdupont" || !strings.Contains(b.Text("#token"), "No authentication flow found for this operator") {
		b.fail("a new operator outside any flow: want the no_flow_for_operator message")
	}
	b.Shot("operator-without-flow")
	b.Go("/auth-flows/O365")
	b.Click(`input[name="operators"][value="jdupont"]`)
	b.Submit("#save-flow")
	b.Go("/operators/jdupont")
	if !strings.Contains(b.Text("#token-state"), "never consented") || !b.Has("#authenticate") {
		b.fail("operator in an OAuth flow: want never consented and the Authenticate button")
	}
	b.Shot("operator-before-consent")

	// Authenticate: envoi → the provider (consents at once) → envoi's
	// callback → back to the operator's tab with the token's state.
	b.Submit("#authenticate")
	if !strings.Contains(b.Text("body"), "Authentication succeeded") || !strings.Contains(b.Text("body"), "user@example.com") {
		b.fail("the consent did not succeed")
	}
	// Styled as the console (its style sheet applies: a card) with a way back.
	if b.Number(`parseFloat(getComputedStyle(document.querySelector("#consent-result")).borderTopWidth)`) == 0 || !b.Has(`a#consent-back.button[href="/operators/jdupont"]`) {
		b.fail("the consent result page is not styled as the console or has no way back")
	}
	b.Shot("consent-callback")
	b.Submit(`a[href="/operators/jdupont"]`)
	if got := b.Text("#token-valid"); !strings.HasPrefix(got, "valid until") {
		b.fail("after consent the tab shows %q, want valid until …", got)
	}
	b.Shot("operator-authenticated")

	// Test the flow: it runs in the background, the page follows its
	// steps, and every step passes.
	b.Go("/auth-flows/O365")
	b.Set("#test-operator", "jdupont")
	b.Click("#run-test")
	b.Wait("#test-live", "Everything works", false)
	if !b.Has("#test-result.ok") {
		b.fail("the flow's test failed")
	}
	for _, step := range []string{"OAuth token", "SMTP authentication", "Recipient (RCPT TO)"} {
		if !strings.Contains(b.Text("#test-result"), step) {
			b.fail("the test result lacks the step %q", step)
		}
	}
	b.Shot("flow-test")

	// A company with its logo.
	logo := filepath.Join(t.TempDir(), "forterro.png")
	if err := os.WriteFile(logo, testPNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Go("/companies/new")
	b.Type("#code", "FORTERRO")
	b.Type("#name", "Forterro")
	b.Set("#footer_text", "Forterro SAS — 1 rue de la Paix, Paris")
	b.Upload("#logo", logo)
	b.Submit("#save-company")
	if !b.Has("#logo-img") {
		b.fail("the uploaded logo is not shown")
	}
	b.Shot("company")

	// The mail setting of delivery notes, with keywords inserted by click,
	// and its live preview.
	b.Go("/mail-settings")
	b.Shot("mail-settings")
	b.Submit(`a[href="/mail-settings/BL"]`)
	b.Click("#subject")
	b.Click(`button.kw[data-kw="[SOCIETE]"]`)
	typeAtEnd(b, "#subject", " : Envoi du BL : ")
	b.Click(`button.kw[data-kw="[ID_BL]"]`)
	b.Set("#body", "Bonjour,\nVeuillez trouver ci-joint le BL ")
	b.Click("#body")
	b.Eval(`(function(){var el=document.querySelector("#body"); el.selectionStart=el.selectionEnd=el.value.length;})()`)
	b.Click(`button.kw[data-kw="[ID_BL]"]`)
	if got := b.Value("#subject"); got != "[SOCIETE] : Envoi du BL : [ID_BL]" {
		b.fail("subject after keyword clicks = %q", got)
	}
	b.Wait("#preview-subject", "FORTERRO : Envoi du BL : 12345", false)
	b.Wait("#preview-body", "le BL 12345", false)
	b.Set("#priority", "high")
	b.Submit("#save-mail")
	if !strings.Contains(b.Text(".flash.ok"), "Mail setting of BL saved") {
		b.fail("mail setting not saved")
	}
	b.Shot("mail-setting")
	b.Set("#pv-operator", "jdupont")
	b.Set("#pv-company", "FORTERRO")
	b.Submit(`#full-preview button[type="submit"]`)
	if got := b.Text("#mail-subject"); got != "FORTERRO : Envoi du BL : 12345" {
		b.fail("the whole message's subject reads %q", got)
	}
	b.Click("#raw-source summary") // the raw source, one click away
	if eml := b.Text("#eml"); !strings.Contains(eml, "Subject: FORTERRO : Envoi du BL : 12345") || !strings.Contains(eml, "Importance: high") {
		b.fail("the composed preview lacks the subject or priority")
	}
	b.Shot("mail-full-preview")

	// File name and archive of delivery notes.
	b.Go("/file-names/BL")
	b.Type("#pattern", "BL_[ID_BL]")
	b.Click("#archive")
	b.Type("#file_type", "BL")
	b.Submit("#save-file")
	if got := b.Text("#file-example"); got != "BL_12345.pdf" {
		b.fail("file-name example = %q, want BL_12345.pdf", got)
	}
	b.Shot("file-name")

	// A message sent through the API appears in the log.
	var sent messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &sent)
	if sent.Status != "sent" {
		t.Fatalf("API send: %s", fmtJSON(sent))
	}
	var got []byte
	for _, m := range e.SMTP.Messages() {
		if bytes.Contains(m.Data, []byte(sent.MessageID)) {
			got = m.Data
		}
	}
	if !bytes.Contains(got, []byte("Subject: FORTERRO : Envoi du BL : 12345")) {
		t.Fatalf("the SMTP server did not get the mail written in the UI:\n%s", got)
	}
	b.Go("/messages")
	row := `#log tr[data-id="` + sent.ID + `"]`
	if !strings.Contains(b.Text(row), "sent") || !strings.Contains(b.Text(row), "client@example.org") {
		b.fail("the log does not show the sent message: %q", b.Text(row))
	}
	b.Shot("log")
	b.Submit(row + " a")
	if !strings.Contains(b.Text("#message-status"), "sent") {
		b.fail("message page: status %q", b.Text("#message-status"))
	}
	b.Shot("message-sent")

	// A permanent refusal fails the message; the log explains it; once the
	// server is healed, Retry sends it.
	e.SMTP.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt, Text: "Recipient address rejected: User unknown in virtual mailbox table"})
	var failed messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", blRequest("nobody@example.org"), &failed)
	if failed.Status != "failed" || failed.Error == nil || failed.Error.Code != "smtp_recipient_refused" {
		t.Fatalf("with the recipient refused: %s, want failed smtp_recipient_refused", fmtJSON(failed))
	}
	e.SMTP.Heal(testmail.SMTPFaultRcpt)
	b.Go("/messages?status=failed")
	if !b.Has(`#log tr[data-id="`+failed.ID+`"]`) || b.Has(row) {
		b.fail("filtering the log by status failed")
	}
	b.Shot("log-failed")
	b.Submit(`#log tr[data-id="` + failed.ID + `"] a`)
	msgErr := b.Text("#message-error")
	for _, want := range []string{"The mail server refused a recipient", "User unknown in virtual mailbox table", "Check the recipient's address", "smtp_recipient_refused"} {
		if !strings.Contains(msgErr, want) {
			b.fail("the failed message's page lacks %q: %q", want, msgErr)
		}
	}
	b.Shot("message-failed")
	b.Submit("#retry")
	if !strings.Contains(b.Text(".flash.ok"), "queued again") {
		b.fail("retry: no confirmation")
	}
	b.Wait("#message-status", "sent", true)
	b.Shot("message-retried")

	// Token health and API keys.
	b.Go("/tokens")
	if !strings.Contains(b.Text("main"), "Every token is valid") || !strings.Contains(b.Text("#tokens"), "user@example.com") {
		b.fail("token health does not show the valid token")
	}
	b.Shot("tokens")
	b.Go("/api-keys")
	b.Type("#key-name", "erp-test")
	b.Submit("#create-key")
	key := b.Value("#key-value")
	if !strings.HasPrefix(key, "envoi_") {
		b.fail("the new key is not shown: %q", key)
	}
	b.Shot("api-key-created")
	if st := apiStatus(t, e.Base, key); st != 200 {
		t.Fatalf("the key made in the UI: status %d, want 200", st)
	}
	b.Go("/api-keys")
	if strings.Contains(b.Text("main"), key) {
		b.fail("the key is shown again")
	}
	// The confirmation is a modal dialog: Cancel has the focus.
	b.Click(`#keys tr:last-child form[action$="/revoke"] button`)
	if !b.Has("dialog.confirm[open]") || b.Text("#confirm-text") == "" {
		b.fail("revoking a key asks nothing")
	}
	if focused := b.Text("dialog.confirm[open] :focus"); focused != "Cancel" {
		b.fail("the dialog's focus is on %q, want Cancel", focused)
	}
	b.Shot("confirm-dialog")
	b.Submit("#confirm-yes")
	if st := apiStatus(t, e.Base, key); st != 401 {
		t.Fatalf("the key revoked in the UI: status %d, want 401", st)
	}
	b.Shot("api-key-revoked")

	// Dashboard and languages.
	b.Go("/?lang=fr")
	if !strings.Contains(b.Text("main"), "Tableau de bord") {
		b.fail("?lang=fr: the dashboard is not in French")
	}
	b.Shot("dashboard-fr")
	b.Go("/auth-flows/O365?lang=es")
	if !strings.Contains(b.Text("main"), "Parte común") {
		b.fail("?lang=es: the flow is not in Spanish")
	}
	b.Shot("flow-es")
	b.Go("/messages?lang=en")

	// Password recovery through envoi's own sending.
	b.Go("/settings")
	b.Set("#system_sender", "jdupont")
	b.Set("#system_company", "FORTERRO")
	b.Submit(`form[action="/settings"] button[type="submit"]`)
	if !strings.Contains(b.Text("main"), "Password recovery is ready") {
		b.fail("settings: recovery not ready")
	}
	b.Shot("settings")
	b.Submit(`form[action="/logout"] button`)
	b.Submit(`a[href="/forgot"]`)
	b.Type("#email", e2eAdmin)
	b.Submit(`form[action="/forgot"] button[type="submit"]`)
	if !strings.Contains(b.Text("main"), "If this address belongs to a user") {
		b.fail("forgot: no confirmation")
	}
	b.Shot("forgot-sent")
	link := recoveryLink(t, e)
	b.Go(strings.TrimPrefix(link, e.Base))
	b.Type("#password", "a new and longer passphrase")
	b.Type("#password2", "a new and longer passphrase")
	b.Shot("reset")
	b.Submit(`form[action="/reset"] button[type="submit"]`)
	if !strings.Contains(b.Text(".flash.ok"), "Your password is changed") {
		b.fail("reset: no confirmation")
	}
	b.Type("#email", e2eAdmin)
	b.Type("#password", "a new and longer passphrase")
	b.Submit("#signin")
	if b.Path() != "/" {
		b.fail("sign-in with the new password failed")
	}

	// An operator user sees only their own e-mail tab.
	b.Go("/users")
	b.Type("#email", "jeanne@example.com")
	b.Type("#name", "Jeanne Dupont")
	b.Set("#role", "operator")
	b.Set("#operator", "jdupont")
	b.Type("#password", "operator passphrase")
	b.Submit("#create-user")
	b.Shot("users")
	b.Submit(`form[action="/logout"] button`)
	b.Type("#email", "jeanne@example.com")
	b.Type("#password", "operator passphrase")
	b.Submit("#signin")
	if b.Path() != "/operators/jdupont" {
		b.fail("an operator lands on %s, want their tab", b.Path())
	}
	if nav := b.Text(".nav"); strings.TrimSpace(nav) != "My e-mail" {
		b.fail("the operator's menu is %q, want only My e-mail", nav)
	}
	if b.Has("#code:not([disabled])") || !b.Has("#authenticate") {
		b.fail("the operator's tab: want no identity fields and the Authenticate button")
	}
	b.Shot("operator-role")
	b.Go("/auth-flows")
	if !strings.Contains(b.Text("main"), "Not allowed") {
		b.fail("an operator opened the flows")
	}
	b.Shot("operator-forbidden")
}

// typeAtEnd adds text at the end of a field and leaves the cursor there,
// as typing would.
func typeAtEnd(b *Browser, sel, text string) {
	b.Set(sel, b.Value(sel)+text)
	b.Eval(`(function(){var el=document.querySelector(` + jsString(sel) + `); el.focus(); el.selectionStart=el.selectionEnd=el.value.length;})()`)
}

func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 180, 48))
	for x := range 180 {
		for y := range 48 {
			c := color.RGBA{255, 255, 255, 255}
			if x < 48 {
				c = color.RGBA{29, 78, 137, 255}
			} else if y > 20 && y < 28 {
				c = color.RGBA{242, 169, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func apiStatus(t *testing.T, base, key string) int {
	req, _ := http.NewRequest("GET", base+"/v1/document-flows", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var resetLink = regexp.MustCompile(`https?://[^\s]+/reset\?token=[A-Za-z0-9_\-]+`)

// recoveryLink waits for the recovery mail to the administrator at the
// test SMTP server and returns its link.
func recoveryLink(t *testing.T, e *Env) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.SMTP.Messages() {
			if len(m.Recipients) == 0 || m.Recipients[0] != e2eAdmin {
				continue
			}
			body, err := TextPart(m.Data)
			if err != nil {
				t.Fatalf("recovery mail: %v\n%s", err, m.Data)
			}
			if l := resetLink.FindString(body); l != "" {
				return l
			}
			t.Fatalf("the recovery mail has no link:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no recovery mail reached the SMTP server")
	return ""
}
