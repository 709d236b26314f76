package ui_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testimage"
	"envoi/ui"
)

const adminPW = "correct horse battery"

func TestSignIn(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)

	t.Run("RedirectsToSignIn", func(t *testing.T) {
		p := e.Browser().Get("/auth-flows")
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login?next=") {
			t.Errorf("signed out GET /auth-flows: %d → %q, want 303 to /login?next=", p.Status, p.Location)
		}
	})
	t.Run("OK", func(t *testing.T) {
		b := e.Browser()
		p := b.Submit("/login", "/login", url.Values{"email": {"ADMIN@forterro.example"}, "password": {adminPW}, "next": {"/operators"}})
		if p.Status != http.StatusSeeOther || p.Location != "/operators" {
			t.Fatalf("sign in: %d → %q, want 303 to /operators", p.Status, p.Location)
		}
		if got := b.Get("/operators"); got.Status != 200 || !strings.Contains(got.Body, "No operator yet") {
			t.Errorf("operators page after sign-in: %d %s", got.Status, text(got.Body))
		}
	})
	t.Run("ErrWrongPassword", func(t *testing.T) {
		p := e.Browser().Submit("/login", "/login", url.Values{"email": {"admin@forterro.example"}, "password": {"wrong password"}})
		if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong e-mail address or password") {
			t.Errorf("wrong password: %d %s", p.Status, text(p.Body))
		}
	})
	t.Run("ErrUnknownUserSameAnswer", func(t *testing.T) {
		p := e.Browser().Submit("/login", "/login", url.Values{"email": {"nobody@forterro.example"}, "password": {adminPW}})
		if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong e-mail address or password") {
			t.Errorf("unknown user: %d %s", p.Status, text(p.Body))
		}
	})
	t.Run("NoOpenRedirect", func(t *testing.T) {
		p := e.Browser().Submit("/login", "/login", url.Values{"email": {"admin@forterro.example"}, "password": {adminPW}, "next": {"//evil.example/x"}})
		if p.Location != "/" {
			t.Errorf("next=//evil.example: redirected to %q, want /", p.Location)
		}
	})
	t.Run("CookieFlags", func(t *testing.T) {
		b := e.Browser()
		req, _ := http.NewRequest("POST", e.URL+"/login", strings.NewReader(url.Values{"email": {"admin@forterro.example"}, "password": {adminPW}, "csrf": {b.CSRF("/login")}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.c.Do(req)
		must(t, err)
		resp.Body.Close()
		var found bool
		for _, c := range resp.Cookies() {
			if c.Name == "envoi_session" {
				found = true
				if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
					t.Errorf("session cookie: HttpOnly %v SameSite %v Secure %v, want HttpOnly, Lax, not Secure on http", c.HttpOnly, c.SameSite, c.Secure)
				}
			}
		}
		if !found {
			t.Fatal("no session cookie set at sign-in")
		}
	})
}

func TestSecureCookieWithHTTPSPublicURL(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.UI.PublicURL = "https://envoi.forterro.example"
	h, err := e.UI.Handler()
	must(t, err)
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	rec := serve(h, "GET", "/login")
	csrf := rec.Result().Cookies()
	if len(csrf) == 0 || !csrf[0].Secure {
		t.Fatalf("cookies with an https public URL: %+v, want Secure", csrf)
	}
}

// TestSignInThrottle: failed sign-ins slow down the client address that
// makes them, never the account: the answer is the same for an unknown
// account, and the administrator still signs in from elsewhere.
func TestSignInThrottle(t *testing.T) {
	e := NewEnv(t, ui.Server{MaxFailedLogins: 3, MaxClientFailures: 8, LockoutDuration: 10 * time.Minute})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	attacker := e.BrowserFrom("127.0.0.1")
	try := func(b *Browser, email, pw string) Page {
		return b.Submit("/login", "/login", url.Values{"email": {email}, "password": {pw}})
	}
	statuses := func(email string) []int {
		var got []int
		for range 4 {
			got = append(got, try(attacker, email, "wrong password").Status)
		}
		return got
	}
	known, unknown := statuses("admin@forterro.example"), statuses("nobody@forterro.example")
	want := []int{401, 401, 429, 429}
	if !slices.Equal(known, want) || !slices.Equal(unknown, want) {
		t.Fatalf("four failures: known account %v, unknown account %v; want both %v", known, unknown, want)
	}
	p := try(attacker, "admin@forterro.example", adminPW)
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, envoi.ELockedOut) || !strings.Contains(p.Body, "Too many failed sign-ins") {
		t.Fatalf("right password from the throttled address: %d %s, want 429 locked_out with its message", p.Status, text(p.Body))
	}
	if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 600 {
		t.Errorf("Retry-After %q, want the seconds left (1-600)", p.Header.Get("Retry-After"))
	}

	t.Run("AnotherAddressSignsIn", func(t *testing.T) {
		if p := try(e.BrowserFrom("127.0.0.2"), "admin@forterro.example", adminPW); p.Status != http.StatusSeeOther {
			t.Fatalf("the administrator from another address: %d %s, want 303", p.Status, text(p.Body))
		}
		u, err := e.Store.UserByEmail(context.Background(), "admin@forterro.example")
		must(t, err)
		if !u.LockedUntil.IsZero() {
			t.Errorf("the account is locked until %v", u.LockedUntil)
		}
	})
	t.Run("ErrClientFailuresOverAccounts", func(t *testing.T) {
		b := e.BrowserFrom("127.0.0.3")
		var got []int
		for i := range 9 {
			got = append(got, try(b, fmt.Sprintf("guess%d@forterro.example", i), "wrong password").Status)
		}
		if want := []int{401, 401, 401, 401, 401, 401, 401, 429, 429}; !slices.Equal(got, want) {
			t.Errorf("failures on nine accounts from one address: %v, want %v", got, want)
		}
		if p := try(b, "admin@forterro.example", adminPW); p.Status != http.StatusTooManyRequests {
			t.Errorf("right password from an address over its failures: %d, want 429", p.Status)
		}
	})
	e.Clock.Advance(10*time.Minute + time.Second)
	if p := try(attacker, "admin@forterro.example", adminPW); p.Status != http.StatusSeeOther {
		t.Fatalf("right password once the wait is over: %d %s, want 303", p.Status, text(p.Body))
	}
}

// TestTrustedProxy: behind a trusted reverse proxy the client is the
// address X-Forwarded-For names; from anyone else the header is ignored.
func TestTrustedProxy(t *testing.T) {
	e := NewEnv(t, ui.Server{MaxFailedLogins: 2, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	proxy := e.BrowserFrom("127.0.0.1")
	from := func(client, pw string) int {
		v := url.Values{"email": {"admin@forterro.example"}, "password": {pw}, "csrf": {proxy.CSRF("/login")}}
		return proxy.Post("/login", v, "X-Forwarded-For", "203.0.113.9, "+client).Status
	}
	for range 2 {
		from("192.0.2.1", "wrong password")
	}
	if got := from("192.0.2.1", adminPW); got != http.StatusTooManyRequests {
		t.Errorf("the throttled client through the proxy: %d, want 429", got)
	}
	if got := from("192.0.2.2", adminPW); got != http.StatusSeeOther {
		t.Errorf("another client through the same proxy: %d, want 303", got)
	}
	// Not a trusted proxy: its X-Forwarded-For changes nothing.
	direct := e.BrowserFrom("127.0.0.4")
	for i := range 3 {
		v := url.Values{"email": {"admin@forterro.example"}, "password": {"wrong password"}, "csrf": {direct.CSRF("/login")}}
		direct.Post("/login", v, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
	}
	v := url.Values{"email": {"admin@forterro.example"}, "password": {adminPW}, "csrf": {direct.CSRF("/login")}}
	if got := direct.Post("/login", v, "X-Forwarded-For", "198.51.100.77").Status; got != http.StatusTooManyRequests {
		t.Errorf("an untrusted client naming another address: %d, want 429", got)
	}
}

func TestCSRF(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	form := url.Values{"code": {"jdupont"}, "email": {"jdupont@forterro.example"}}
	token := b.CSRF("/operators/new")

	cases := []struct {
		name    string
		form    url.Values
		headers []string
		status  int
	}{
		{"ErrNoToken", form, nil, http.StatusForbidden},
		{"ErrWrongToken", with(form, "csrf", "forged"), nil, http.StatusForbidden},
		{"ErrCrossSite", with(form, "csrf", token), []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"ErrCrossOrigin", with(form, "csrf", token), []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"OK", with(form, "csrf", token), nil, http.StatusSeeOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.Post("/operators", c.form, c.headers...)
			if p.Status != c.status {
				t.Errorf("status %d, want %d: %s", p.Status, c.status, text(p.Body))
			}
		})
	}
	_, err := e.Store.Operator(context.Background(), "jdupont")
	must(t, err)

	t.Run("ErrSignInWithoutToken", func(t *testing.T) {
		p := e.Browser().Post("/login", url.Values{"email": {"admin@forterro.example"}, "password": {adminPW}})
		if p.Status != http.StatusForbidden {
			t.Errorf("sign-in without the form's token: %d, want 403", p.Status)
		}
	})
	t.Run("ErrTokenOfAnotherSession", func(t *testing.T) {
		other := e.Browser()
		other.SignIn("admin@forterro.example", adminPW)
		p := other.Post("/operators", with(url.Values{"code": {"x1"}}, "csrf", token))
		if p.Status != http.StatusForbidden {
			t.Errorf("another session's token: %d, want 403", p.Status)
		}
	})
}

func with(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for key, vals := range v {
		out[key] = append([]string(nil), vals...)
	}
	out.Set(k, val)
	return out
}

func TestOperatorRole(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	ctx := context.Background()
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Name: "Jeanne Dupont", Email: "jdupont@forterro.example"}))
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "pmartin", Email: "pmartin@forterro.example"}))
	e.MustUser("jdupont@forterro.example", envoi.RoleOperator, "jdupont", "operator password")
	b := e.Browser()
	if p := b.SignIn("jdupont@forterro.example", "operator password"); p.Location != "/operators/jdupont" {
		t.Errorf("operator lands on %q, want /operators/jdupont", p.Location)
	}

	for _, path := range []string{"/", "/auth-flows", "/operators", "/operators/pmartin", "/companies", "/mail-settings", "/messages", "/tokens", "/api-keys", "/users", "/settings"} {
		p := b.Get(path)
		if path == "/" {
			if p.Status != http.StatusSeeOther || p.Location != "/operators/jdupont" {
				t.Errorf("GET /: %d → %q, want their own tab", p.Status, p.Location)
			}
			continue
		}
		if p.Status != http.StatusForbidden {
			t.Errorf("operator GET %s: %d, want 403", path, p.Status)
		}
	}
	own := b.Get("/operators/jdupont")
	if own.Status != 200 || !strings.Contains(own.Body, "My e-mail") || strings.Contains(own.Body, `href="/auth-flows"`) {
		t.Fatalf("own tab: %d; the menu must hold only their e-mail tab: %s", own.Status, text(own.Body))
	}
	token := b.CSRF("/operators/jdupont")
	p := b.Post("/operators/jdupont", url.Values{"csrf": {token}, "footer_text": {"Jeanne — Service client"}, "email": {"hijack@evil.example"}, "name": {"Hacker"}, "oauth_enabled": {"on"}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("save own tab: %d %s", p.Status, text(p.Body))
	}
	op, err := e.Store.Operator(ctx, "jdupont")
	must(t, err)
	if op.FooterText != "Jeanne — Service client" || !op.OAuthEnabled {
		t.Errorf("own tab not saved: %+v", op)
	}
	if op.Email != "jdupont@forterro.example" || op.Name != "Jeanne Dupont" {
		t.Errorf("an operator changed their address or name: %q %q", op.Email, op.Name)
	}
	for _, path := range []string{"/operators/pmartin", "/operators/pmartin/authenticate", "/operators/jdupont/delete", "/api-keys"} {
		if p := b.Post(path, url.Values{"csrf": {token}, "name": {"x"}}); p.Status != http.StatusForbidden {
			t.Errorf("operator POST %s: %d, want 403", path, p.Status)
		}
	}
	if _, err := e.Store.Operator(ctx, "jdupont"); err != nil {
		t.Errorf("operator deleted themselves: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := NewEnv(t, ui.Server{IdleTimeout: 30 * time.Minute, SessionTTL: 2 * time.Hour})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)

	t.Run("Idle", func(t *testing.T) {
		b := e.Browser()
		b.SignIn("admin@forterro.example", adminPW)
		e.Clock.Advance(29 * time.Minute)
		if p := b.Get("/"); p.Status != 200 {
			t.Fatalf("after 29 idle minutes: %d, want 200", p.Status)
		}
		e.Clock.Advance(30 * time.Minute)
		p := b.Get("/operators")
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
			t.Fatalf("after 30 idle minutes: %d → %q, want the sign-in page", p.Status, p.Location)
		}
		if login := b.Get(p.Location); !strings.Contains(login.Body, "Your session expired") {
			t.Errorf("the sign-in page does not say why: %s", text(login.Body))
		}
	})
	t.Run("Absolute", func(t *testing.T) {
		b := e.Browser()
		b.SignIn("admin@forterro.example", adminPW)
		for range 4 {
			e.Clock.Advance(25 * time.Minute)
			if p := b.Get("/"); p.Status != 200 {
				t.Fatalf("active session within its lifetime: %d", p.Status)
			}
		}
		e.Clock.Advance(25 * time.Minute) // 125 minutes after sign-in
		if p := b.Get("/"); p.Status != http.StatusSeeOther {
			t.Fatalf("after the session's lifetime: %d, want 303 to sign-in", p.Status)
		}
	})
	t.Run("SignOut", func(t *testing.T) {
		b := e.Browser()
		b.SignIn("admin@forterro.example", adminPW)
		u, _ := url.Parse(e.URL)
		stolen := b.c.Jar.Cookies(u)
		if p := b.Submit("/", "/logout", nil); p.Status != http.StatusSeeOther || p.Location != "/login" {
			t.Fatalf("sign out: %d → %q", p.Status, p.Location)
		}
		replay := e.Browser()
		replay.c.Jar.SetCookies(u, stolen)
		if p := replay.Get("/"); p.Status != http.StatusSeeOther {
			t.Errorf("the cookie of a signed-out session still works: %d", p.Status)
		}
	})
}

// TestPagesRender loads every screen in every language, empty and then
// with data, and looks for texts missing from the catalogue.
func TestPagesRender(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	ctx := context.Background()
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	pages := []string{"/", "/account", "/auth-flows", "/auth-flows/new", "/auth-flows/new?preset=gmail", "/auth-flows/new?preset=smtp",
		"/operators", "/operators/new", "/companies", "/companies/new", "/mail-settings", "/mail-settings/BL", "/file-names", "/file-names/BL",
		"/messages", "/tokens", "/api-keys", "/users", "/settings"}
	check := func(t *testing.T, lang string, extra ...string) {
		b := e.Browser()
		b.Lang = lang
		b.SignIn("admin@forterro.example", adminPW)
		for _, path := range append(pages, extra...) {
			p := b.Get(path)
			if p.Status != 200 {
				t.Errorf("%s GET %s: %d %s", lang, path, p.Status, text(p.Body))
				continue
			}
			if !strings.Contains(p.Body, `<html lang="`+lang+`">`) {
				t.Errorf("GET %s with Accept-Language %s: page not in %s", path, lang, lang)
			}
			for _, k := range []string{"nav.", "flow.", "flows.", "mail.", "status.", "token.", "home.", "keys.", "operator.", "company."} {
				if i := strings.Index(text(p.Body), k); i >= 0 && strings.Contains(text(p.Body)[i:min(i+40, len(text(p.Body)))], "_") {
					t.Errorf("%s GET %s shows a catalogue key near %q", lang, path, text(p.Body)[i:min(i+40, len(text(p.Body)))])
				}
			}
		}
	}
	for _, lang := range envoi.Languages {
		t.Run("Empty_"+lang, func(t *testing.T) { check(t, lang) })
	}
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Email: "jdupont@forterro.example", OAuthEnabled: true, SignatureHTML: "<p><b>Jeanne</b><script>alert(1)</script></p>"}))
	must(t, e.Store.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "O365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Tenant: "contoso", ClientID: "id", ClientSecret: "s3cr3t-value", Operators: []string{"jdupont"}}))
	must(t, e.Store.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "Forterro", Logo: pngBytes(t, 40, 20), LogoType: "image/png"}))
	must(t, e.Store.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "[SOCIETE] : BL [ID_BL]", Body: "Bonjour", Priority: "high"}))
	for _, lang := range envoi.Languages {
		t.Run("Full_"+lang, func(t *testing.T) { check(t, lang, "/auth-flows/O365", "/operators/jdupont", "/companies/FORTERRO") })
	}

	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	flow := b.Get("/auth-flows/O365")
	if strings.Contains(flow.Body, "s3cr3t-value") {
		t.Error("the flow's page shows the client secret")
	}
	if !strings.Contains(flow.Body, `id="secret-set"`) {
		t.Error("the flow's page does not say a client secret is set")
	}
	op := b.Get("/operators/jdupont")
	if !strings.Contains(op.Body, `sandbox="" title=`) || strings.Contains(op.Body, "<script>alert(1)") {
		t.Errorf("the signature preview is not a sandboxed, escaped frame")
	}
	if !strings.Contains(text(op.Body), "never consented") {
		t.Errorf("operator page does not say the token was never consented: %s", text(op.Body))
	}
}

func pngBytes(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, h/2, color.RGBA{29, 78, 137, 255})
	}
	var buf bytes.Buffer
	must(t, png.Encode(&buf, img))
	return buf.Bytes()
}

func TestCompanyLogo(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	upload := func(path string, fields map[string]string, name string, logo []byte) Page {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fields["csrf"] = b.CSRF("/companies/new")
		for k, v := range fields {
			must(t, mw.WriteField(k, v))
		}
		fw, err := mw.CreateFormFile("logo", name)
		must(t, err)
		fw.Write(logo)
		mw.Close()
		req, _ := http.NewRequest("POST", e.URL+path, &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return b.do(req)
	}
	logo := pngBytes(t, 120, 40)
	p := upload("/companies", map[string]string{"code": "FORTERRO", "name": "Forterro", "footer_text": "Forterro SAS"}, "logo.png", logo)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create with a logo: %d %s", p.Status, text(p.Body))
	}
	got := b.Get("/companies/FORTERRO/logo")
	if got.Status != 200 || got.Body != string(logo) {
		t.Errorf("logo served: %d, %d bytes; want the %d bytes uploaded", got.Status, len(got.Body), len(logo))
	}
	cases := []struct {
		name, file string
		logo       []byte
		want       string
	}{
		{"ErrNotAnImage", "logo.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "must be a PNG or JPEG"},
		{"ErrTooBig", "big.png", append(pngBytes(t, 10, 10), make([]byte, envoi.MaxLogoBytes)...), "the limit is 512 KB"},
		{"ErrDamaged", "bad.png", []byte("\x89PNG\r\n\x1a\n garbage"), "damaged"},
		{"ErrBomb", "bomb.png", testimage.PNG(4000, 4000, true), "4000×4000 pixels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := upload("/companies/FORTERRO", map[string]string{"name": "Forterro"}, c.file, c.logo)
			if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, c.want) || !strings.Contains(p.Body, envoi.EInvalidInput) {
				t.Errorf("status %d, want 400 invalid_input with %q: %s", p.Status, c.want, text(p.Body))
			}
		})
	}
	c, err := e.Store.Company(context.Background(), "FORTERRO")
	must(t, err)
	if !bytes.Equal(c.Logo, logo) {
		t.Error("a refused upload replaced the stored logo")
	}
}

func TestPasswordRecovery(t *testing.T) {
	e := NewEnv(t, ui.Server{ResetTTL: time.Hour})
	ctx := context.Background()
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	forgot := func(email string) Page {
		return e.Browser().Submit("/forgot", "/forgot", url.Values{"email": {email}})
	}

	t.Run("ErrNotConfigured", func(t *testing.T) {
		p := forgot("admin@forterro.example")
		if p.Status != http.StatusServiceUnavailable || !strings.Contains(p.Body, "Password recovery is not configured") || !strings.Contains(p.Body, "system sender") {
			t.Errorf("recovery without a system sender: %d %s", p.Status, text(p.Body))
		}
		if n := len(e.Sent.Requests()); n != 0 {
			t.Errorf("%d mails sent without configuration", n)
		}
	})

	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "system", Email: "envoi@forterro.example"}))
	must(t, e.Store.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "Forterro"}))
	admin := e.Browser()
	admin.SignIn("admin@forterro.example", adminPW)
	if p := admin.Submit("/settings", "/settings", url.Values{"system_sender": {"system"}, "system_company": {"FORTERRO"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("save settings: %d %s", p.Status, text(p.Body))
	}
	m, err := e.Store.MailSetting(ctx, ui.RecoveryFlow)
	if err != nil || !strings.Contains(m.Body, "[LIEN]") {
		t.Fatalf("saving the system sender wrote no recovery mail setting: %v", err)
	}

	t.Run("UnknownAddressSameAnswer", func(t *testing.T) {
		p := forgot("nobody@forterro.example")
		if p.Status != 200 || !strings.Contains(p.Body, "If this address belongs to a user") {
			t.Errorf("unknown address: %d %s", p.Status, text(p.Body))
		}
		if n := len(e.Sent.Requests()); n != 0 {
			t.Errorf("%d mails sent to an unknown address", n)
		}
	})

	p := forgot("Admin@Forterro.example")
	if p.Status != 200 || !strings.Contains(p.Body, "If this address belongs to a user") {
		t.Fatalf("forgot: %d %s", p.Status, text(p.Body))
	}
	reqs := e.Sent.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d recovery mails asked, want 1", len(reqs))
	}
	r := reqs[0]
	if r.DocumentFlow != ui.RecoveryFlow || r.Operator != "system" || r.Company != "FORTERRO" || r.To[0] != "admin@forterro.example" || r.Context["SOCIETE"] != "Forterro" {
		t.Fatalf("recovery request = %+v", r)
	}
	if !r.Sensitive {
		t.Errorf("the recovery mail, which carries a live link, is not marked sensitive")
	}
	link, err := url.Parse(r.Context["LIEN"])
	must(t, err)
	if !strings.HasPrefix(r.Context["LIEN"], e.URL+"/reset?token=") {
		t.Fatalf("link %q is not under the public URL", r.Context["LIEN"])
	}
	token := link.Query().Get("token")

	b := e.Browser()
	resetPage := "/reset?token=" + url.QueryEscape(token)
	if p := b.Submit(resetPage, "/reset", url.Values{"token": {token}, "password": {"short"}, "password2": {"short"}}); p.Status != http.StatusBadRequest {
		t.Errorf("too short a password: %d", p.Status)
	}
	if p := b.Submit(resetPage, "/reset", url.Values{"token": {token}, "password": {"a brand new secret"}, "password2": {"another one here"}}); p.Status != http.StatusBadRequest {
		t.Errorf("two different passwords: %d", p.Status)
	}
	if p := b.Submit(resetPage, "/reset", url.Values{"token": {token}, "password": {"a brand new secret"}, "password2": {"a brand new secret"}}); p.Status != http.StatusSeeOther || p.Location != "/login" {
		t.Fatalf("reset: %d %s", p.Status, text(p.Body))
	}
	if p := b.Submit(resetPage, "/reset", url.Values{"token": {token}, "password": {"yet another secret"}, "password2": {"yet another secret"}}); p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "not valid") {
		t.Errorf("a used link: %d %s", p.Status, text(p.Body))
	}
	e.Browser().SignIn("admin@forterro.example", "a brand new secret")
	// The old session of the administrator ended with the old password.
	if p := admin.Get("/"); p.Status != http.StatusSeeOther {
		t.Errorf("a session of the old password survives the reset: %d", p.Status)
	}

	t.Run("ErrExpired", func(t *testing.T) {
		e.Clock.Advance(15 * time.Minute) // one recovery mail per address per RecoveryInterval
		forgot("admin@forterro.example")
		reqs := e.Sent.Requests()
		link, _ := url.Parse(reqs[len(reqs)-1].Context["LIEN"])
		tok := link.Query().Get("token")
		e.Clock.Advance(time.Hour + time.Second)
		p := b.Submit("/reset?token="+tok, "/reset", url.Values{"token": {tok}, "password": {"late password 123"}, "password2": {"late password 123"}})
		if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "expired") {
			t.Errorf("an expired link: %d %s", p.Status, text(p.Body))
		}
	})
}

func TestAPIKeys(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	p := b.Submit("/api-keys", "/api-keys", url.Values{"name": {"erp-production"}})
	key := "envoi_" + strings.Repeat("k", 20) + "erp-production"
	if p.Status != http.StatusCreated || !strings.Contains(p.Body, key) {
		t.Fatalf("create: %d, the key is not shown: %s", p.Status, text(p.Body))
	}
	if again := b.Get("/api-keys"); strings.Contains(again.Body, key) {
		t.Error("the key is shown a second time")
	}
	keys, err := e.Store.APIKeys(context.Background())
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("%d keys stored", len(keys))
	}
	if p := b.Submit("/api-keys", "/api-keys/"+keys[0].ID+"/revoke", nil); p.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", p.Status)
	}
	keys, _ = e.Store.APIKeys(context.Background())
	if keys[0].RevokedAt.IsZero() {
		t.Error("the key is not revoked")
	}
}

func TestFlowForm(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	base := url.Values{"code": {"O365"}, "kind": {"oauth2"}, "preset": {"microsoft365"}, "client_id": {"cid"}, "client_secret": {"the-secret"},
		"smtp_host": {"smtp.office365.com"}, "smtp_port": {"587"}, "smtp_security": {"starttls"}, "max_attachments_mb": {"25"}}

	t.Run("ErrInvalidFlowData", func(t *testing.T) {
		p := b.Submit("/auth-flows/new", "/auth-flows", base)
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "invalid_flow_data") || !strings.Contains(p.Body, "tenant") {
			t.Errorf("no tenant: %d %s", p.Status, text(p.Body))
		}
		if strings.Contains(p.Body, "the-secret") {
			t.Error("the form echoes the client secret")
		}
	})
	ok := with(base, "tenant", "contoso")
	if p := b.Submit("/auth-flows/new", "/auth-flows", ok); p.Status != http.StatusSeeOther || p.Location != "/auth-flows/O365" {
		t.Fatalf("create: %d %s", p.Status, text(p.Body))
	}
	f, err := e.Store.AuthFlow(context.Background(), "O365")
	must(t, err)
	if f.ClientSecret != "the-secret" || f.Scope == "" || !strings.Contains(f.AuthURL, "[tenant]") {
		t.Errorf("stored flow: secret %v, scope %q, auth URL %q: want the preset's URLs", f.ClientSecret == "the-secret", f.Scope, f.AuthURL)
	}
	t.Run("IMAP", func(t *testing.T) {
		// The preset's IMAP server, turned on; the form shows it again, and
		// a save that keeps the box ticked keeps it on.
		p := b.Submit("/auth-flows/O365", "/auth-flows/O365", with(ok, "imap_enabled", "on"))
		if p.Status != http.StatusSeeOther {
			t.Fatalf("save with imap: %d %s", p.Status, text(p.Body))
		}
		f, err := e.Store.AuthFlow(context.Background(), "O365")
		must(t, err)
		if f.IMAP != (envoi.IMAPServer{Enabled: true, Host: "outlook.office365.com", Port: 993, Security: "tls"}) {
			t.Errorf("stored imap: %+v", f.IMAP)
		}
		if page := b.Get("/auth-flows/O365"); !strings.Contains(page.Body, `name="imap_enabled" id="imap_enabled" checked`) ||
			!strings.Contains(page.Body, `value="outlook.office365.com"`) {
			t.Errorf("the form does not show the imap setting: %s", text(page.Body))
		}
		p = b.Submit("/auth-flows/O365", "/auth-flows/O365", with(with(ok, "imap_enabled", "on"), "imap_port", "port"))
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "imap.port") {
			t.Errorf("bad imap port: %d %s", p.Status, text(p.Body))
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		p := b.Submit("/auth-flows/new", "/auth-flows", ok)
		if p.Status != http.StatusConflict {
			t.Errorf("same code again: %d, want 409", p.Status)
		}
	})
	t.Run("SecretKeptWhenEmpty", func(t *testing.T) {
		p := b.Submit("/auth-flows/O365", "/auth-flows/O365", with(with(ok, "client_secret", ""), "name", "Office"))
		if p.Status != http.StatusSeeOther {
			t.Fatalf("update: %d %s", p.Status, text(p.Body))
		}
		f, _ := e.Store.AuthFlow(context.Background(), "O365")
		if f.ClientSecret != "the-secret" || f.Name != "Office" {
			t.Errorf("after an update without a secret: secret kept %v, name %q", f.ClientSecret == "the-secret", f.Name)
		}
	})
	t.Run("TokenAuthMethod", func(t *testing.T) {
		if f.TokenAuthMethod != envoi.TokenAuthPost {
			t.Errorf("preset's token_auth_method: got %q, want client_secret_post", f.TokenAuthMethod)
		}
		p := b.Submit("/auth-flows/O365", "/auth-flows/O365", with(ok, "token_auth_method", "client_secret_basic"))
		if p.Status != http.StatusSeeOther {
			t.Fatalf("update: %d %s", p.Status, text(p.Body))
		}
		got, _ := e.Store.AuthFlow(context.Background(), "O365")
		if got.TokenAuthMethod != envoi.TokenAuthBasic {
			t.Errorf("stored: got %q, want client_secret_basic", got.TokenAuthMethod)
		}
		page := b.Get("/auth-flows/O365")
		if !strings.Contains(page.Body, `<option value="client_secret_basic" selected>`) {
			t.Errorf("the form does not show the stored method:\n%s", text(page.Body))
		}
		p = b.Submit("/auth-flows/O365", "/auth-flows/O365", with(ok, "token_auth_method", "private_key_jwt"))
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "token_auth_method") {
			t.Errorf("unknown method: %d %s", p.Status, text(p.Body))
		}
	})
}

func TestMailSettingPreview(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	token := b.CSRF("/mail-settings/BL")
	p := b.Post("/mail-settings/BL/preview", url.Values{"subject": {"[SOCIETE] : Envoi du BL : [ID_BL]"}, "body": {"<b>[CLIENT]</b>"}}, "X-CSRF-Token", token)
	if p.Status != 200 || !strings.Contains(p.Body, "FORTERRO : Envoi du BL : 12345") || !strings.Contains(p.Body, "&lt;b&gt;Dupont Industrie&lt;/b&gt;") {
		t.Errorf("preview: %d %s", p.Status, p.Body)
	}
	p = b.Post("/mail-settings/BL/preview", url.Values{"subject": {"[NOPE]"}}, "X-CSRF-Token", token)
	if !strings.Contains(p.Body, envoi.EUnknownKeyword) {
		t.Errorf("preview with an unknown keyword does not say so: %s", p.Body)
	}
	if p := b.Post("/mail-settings/BL/preview", url.Values{"subject": {"x"}}); p.Status != http.StatusForbidden {
		t.Errorf("preview without the token: %d, want 403", p.Status)
	}
	if p := b.Submit("/mail-settings/BL", "/mail-settings/BL", url.Values{"subject": {"[NOPE]"}, "priority": {"high"}}); p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "unknown_keyword") {
		t.Errorf("save with an unknown keyword: %d", p.Status)
	}
	if p := b.Submit("/mail-settings/BL", "/mail-settings/BL", url.Values{"subject": {"BL [ID_BL]"}, "priority": {"high"}, "read_receipt": {"on"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.Status, text(p.Body))
	}
	m, err := e.Store.MailSetting(context.Background(), "BL")
	must(t, err)
	if m.Subject != "BL [ID_BL]" || m.Priority != "high" || !m.ReadReceipt || m.CopyToSender {
		t.Errorf("stored setting = %+v", m)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := ui.HashPassword("correct horse battery")
	must(t, err)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string", h)
	}
	h2, _ := ui.HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	cases := []struct {
		name, hash, pw string
		want           bool
	}{
		{"OK", h, "correct horse battery", true},
		{"Wrong", h, "correct horse batterY", false},
		{"Empty", h, "", false},
		{"Malformed", "$argon2id$v=19$m=x$$", "correct horse battery", false},
		{"OtherScheme", "$2a$10$abcdefghijklmnopqrstuv", "correct horse battery", false},
		{"HugeMemory", "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdA$aGFzaA", "x", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ui.CheckPassword(c.hash, c.pw); got != c.want {
				t.Errorf("CheckPassword = %v, want %v", got, c.want)
			}
		})
	}
	if _, err := ui.HashPassword("short"); envoi.ErrorCode(err) != envoi.EInvalidInput {
		t.Errorf("short password: %v, want invalid_input", err)
	}
}

// Consents records the consents the UI starts.
type Consents struct {
	flow, operator, returnTo string
	err                      error
}

func (c *Consents) StartConsent(_ context.Context, flow, operator, returnTo string) (string, error) {
	c.flow, c.operator, c.returnTo = flow, operator, returnTo
	if c.err != nil {
		return "", c.err
	}
	return "http://127.0.0.1:1/authorize?state=x", nil
}

func TestAuthenticate(t *testing.T) {
	consents := &Consents{}
	e := NewEnv(t, ui.Server{Consent: consents})
	ctx := context.Background()
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Email: "jdupont@forterro.example"}))
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "orphan", Email: "orphan@forterro.example", OAuthEnabled: true}))
	must(t, e.Store.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "O365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Tenant: "contoso", ClientID: "id", Operators: []string{"jdupont"}}))
	must(t, e.Store.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "SHARED", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, ClientID: "id", GenericMailbox: envoi.GenericMailbox{Enabled: true, Email: "compta@forterro.example"}}))
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)

	t.Run("ErrOAuthOff", func(t *testing.T) {
		p := b.Submit("/operators/jdupont", "/operators/jdupont/authenticate", nil)
		if p.Status != http.StatusSeeOther || p.Location != "/operators/jdupont" {
			t.Fatalf("authenticate with OAuth off: %d → %q, want back to the tab", p.Status, p.Location)
		}
		if page := b.Get(p.Location); !strings.Contains(page.Body, "OAuth is off for operator jdupont") || !strings.Contains(page.Body, envoi.EInvalidInput) {
			t.Errorf("the tab does not say why: %s", text(page.Body))
		}
		if consents.flow != "" {
			t.Error("a consent started with OAuth off")
		}
	})
	t.Run("ErrNoFlow", func(t *testing.T) {
		p := b.Submit("/operators/orphan", "/operators/orphan/authenticate", nil)
		page := b.Get(p.Location)
		if !strings.Contains(page.Body, envoi.ENoFlowForOperator) || !strings.Contains(page.Body, "Assign the operator, or their group, to an authentication flow") {
			t.Errorf("no flow: the tab lacks the catalogue's message and remedy: %s", text(page.Body))
		}
	})
	t.Run("Operator", func(t *testing.T) {
		must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Email: "jdupont@forterro.example", OAuthEnabled: true}))
		p := b.Submit("/operators/jdupont", "/operators/jdupont/authenticate", nil)
		if p.Status != http.StatusSeeOther || p.Location != "http://127.0.0.1:1/authorize?state=x" {
			t.Fatalf("authenticate: %d → %q, want the provider's page", p.Status, p.Location)
		}
		if consents.flow != "O365" || consents.operator != "jdupont" || consents.returnTo != "/operators/jdupont" {
			t.Errorf("consent started for %+v, want O365/jdupont back to the tab", consents)
		}
	})
	t.Run("SharedMailbox", func(t *testing.T) {
		p := b.Submit("/auth-flows/SHARED", "/auth-flows/SHARED/authenticate", nil)
		if p.Status != http.StatusSeeOther || consents.flow != "SHARED" || consents.operator != "" || consents.returnTo != "/auth-flows/SHARED" {
			t.Errorf("shared mailbox consent: %d, started %+v", p.Status, consents)
		}
	})
	t.Run("ErrProvider", func(t *testing.T) {
		consents.err = envoi.Errorf(envoi.EOAuthRedirectMismatch, "AADSTS50011: the redirect URI does not match")
		p := b.Submit("/operators/jdupont", "/operators/jdupont/authenticate", nil)
		page := b.Get(p.Location)
		if !strings.Contains(page.Body, "AADSTS50011") || !strings.Contains(page.Body, "Register envoi") {
			t.Errorf("a refused consent: the tab lacks the provider's text or the remedy: %s", text(page.Body))
		}
	})
}

func TestLanguageChoice(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.Lang = "fr-FR,fr;q=0.9,en;q=0.5"
	b.SignIn("admin@forterro.example", adminPW)
	if p := b.Get("/"); !strings.Contains(p.Body, `<html lang="fr">`) || !strings.Contains(p.Body, "Tableau de bord") {
		t.Fatalf("Accept-Language fr: page not in French")
	}
	if p := b.Submit("/account", "/account", url.Values{"name": {"Alice"}, "language": {"es"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("save the language: %d %s", p.Status, text(p.Body))
	}
	if p := b.Get("/"); !strings.Contains(p.Body, `<html lang="es">`) {
		t.Errorf("after choosing Spanish: page not in Spanish")
	}
	// The choice is the user's: another browser asking for French gets it.
	other := e.Browser()
	other.Lang = "fr"
	other.SignIn("admin@forterro.example", adminPW)
	if p := other.Get("/operators"); !strings.Contains(p.Body, `<html lang="es">`) || !strings.Contains(p.Body, "Todavía no hay operadores") {
		t.Errorf("another browser of the same user: not in the saved language: %s", text(p.Body))
	}
	// ?lang= switches for this browser.
	if p := other.Get("/operators?lang=en"); !strings.Contains(p.Body, "No operator yet") {
		t.Errorf("?lang=en: not in English")
	}
	if p := other.Get("/operators"); !strings.Contains(p.Body, `<html lang="en">`) {
		t.Errorf("?lang=en is not remembered")
	}
}

// TestSignatureSanitizedWhenSaved: the operator form stores the signature
// sanitized (position:fixed overlays, CSS escapes and scripts removed).
func TestSignatureSanitizedWhenSaved(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	must(t, e.Store.PutOperator(context.Background(), &envoi.Operator{Code: "jdupont", Name: "Jeanne", Email: "jdupont@forterro.example"}))
	p := b.Submit("/operators/jdupont", "/operators/jdupont", url.Values{"name": {"Jeanne"}, "email": {"jdupont@forterro.example"},
		"signature_html": {`<p><b>Jeanne</b></p><script>alert(1)</script><div style="position:fixed;top:0">Pay</div><span style="color: u\72l(https://x.example/a)">s</span>`}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.Status, text(p.Body))
	}
	op, err := e.Store.Operator(context.Background(), "jdupont")
	must(t, err)
	want := `<p><b>Jeanne</b></p><div>Pay</div><span>s</span>`
	if op.SignatureHTML != want {
		t.Errorf("stored signature %s, want %s", op.SignatureHTML, want)
	}
}

// TestCompanySignature: the company form saves a signature, sanitized as
// an operator's, shows it again with its preview, and the help texts of
// the forms and the mail setting's preview state the order the mail
// stacks footers, signature and logo in.
func TestCompanySignature(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"csrf": b.CSRF("/companies/new"), "code": "FORTERRO", "name": "Forterro",
		"signature_html": `<p><b>Forterro</b></p><script>alert(1)</script>`} {
		must(t, mw.WriteField(k, v))
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.URL+"/companies", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	p := b.do(req)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.Status, text(p.Body))
	}
	c, err := e.Store.Company(context.Background(), "FORTERRO")
	must(t, err)
	if c.SignatureHTML != "<p><b>Forterro</b></p>" {
		t.Errorf("stored signature %q, want it sanitized", c.SignatureHTML)
	}
	page := b.Get("/companies/FORTERRO")
	if !strings.Contains(page.Body, `id="signature_html"`) || !strings.Contains(page.Body, "&lt;p&gt;&lt;b&gt;Forterro") || !strings.Contains(page.Body, `id="signature-preview"`) {
		t.Errorf("the form does not show the signature and its preview")
	}
	for _, want := range []string{"before the signature and the logo", "The mail&#39;s signature when the operator has none"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("company page lacks %q", want)
		}
	}
	ms := b.Get("/mail-settings/BL")
	if !strings.Contains(ms.Body, `id="preview-stack"`) || !strings.Contains(ms.Body, "the operator&#39;s footer, the company&#39;s footer, one signature") {
		t.Errorf("the mail setting's preview does not state the order:\n%s", text(ms.Body))
	}
}
