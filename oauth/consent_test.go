package oauth_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/oauth"
)

func TestConsent(t *testing.T) {
	for _, preset := range []string{envoi.PresetMicrosoft365, envoi.PresetGmail} {
		t.Run(preset, func(t *testing.T) {
			e := newEnv(t, envOptions{preset: preset})
			ctx := context.Background()

			authURL, err := e.svc.StartConsent(ctx, flowCode, jdupont, "/ui/operators")
			must(t, err)
			q := mustParse(t, authURL).Query()
			for k, want := range map[string]string{
				"client_id": e.p.ClientID(), "redirect_uri": publicURL + "/oauth/callback",
				"code_challenge_method": "S256", "response_type": "code", "login_hint": jdupontAt,
			} {
				if got := q.Get(k); got != want {
					t.Errorf("auth URL %s: got %q, want %q", k, got, want)
				}
			}
			if q.Get("state") == "" || q.Get("code_challenge") == "" {
				t.Errorf("auth URL lacks state or PKCE challenge: %s", authURL)
			}
			if preset == envoi.PresetGmail && (q.Get("access_type") != "offline" || q.Get("prompt") != "consent") {
				t.Errorf("Gmail auth URL: got access_type=%q prompt=%q, want offline and consent", q.Get("access_type"), q.Get("prompt"))
			}

			back := e.browser(t, authURL)
			tok, returnTo, err := e.svc.Callback(ctx, back.Query().Get("state"), back.Query().Get("code"), "", "")
			must(t, err)
			if returnTo != "/ui/operators" {
				t.Errorf("returnTo: got %q, want /ui/operators", returnTo)
			}
			if tok.Email != jdupontAt || tok.Status != envoi.TokenValid || tok.RefreshToken == "" || tok.Provider != preset {
				t.Errorf("token: got email %q status %q provider %q refresh set %v", tok.Email, tok.Status, tok.Provider, tok.RefreshToken != "")
			}
			if want := e.clock.Now().Add(time.Hour); !tok.Expiry.Equal(want) {
				t.Errorf("expiry: got %v, want %v", tok.Expiry, want)
			}
			stored := e.stored(t, jdupont)
			if stored.AccessToken != tok.AccessToken || stored.RefreshToken != tok.RefreshToken {
				t.Error("the stored token is not the one of the consent")
			}
			if preset == envoi.PresetGmail && e.p.UserinfoCalls() != 1 {
				t.Errorf("userinfo calls: got %d, want 1 (Google: who signed in comes from userinfo)", e.p.UserinfoCalls())
			}

			at, err := e.svc.AccessToken(ctx, envoi.TokenKey{Flow: flowCode, Operator: jdupont}, false)
			must(t, err)
			if at != tok.AccessToken {
				t.Error("AccessToken did not return the consented token")
			}
			if err := e.p.ValidateAccessToken(jdupontAt, at); err != nil {
				t.Errorf("provider refuses the token: %v", err)
			}
			if n := e.p.TokenCalls(testmail.OAuthGrantRefreshToken); n != 0 {
				t.Errorf("refresh calls: got %d, want 0 for a fresh token", n)
			}
		})
	}
}

func TestConsentGenericMailbox(t *testing.T) {
	e := newEnv(t, envOptions{
		provider: testmail.OAuthOptions{User: "sales@example.com"},
		flow: func(f *envoi.AuthFlow) {
			f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "Sales <sales@example.com>"}
		},
	})
	tok := e.mustConsent(t, "")
	if tok.Operator != "" || tok.Email != "sales@example.com" {
		t.Errorf("generic token: got operator %q email %q, want \"\" and sales@example.com", tok.Operator, tok.Email)
	}
	// An operator of the flow sends with the flow's token.
	if got := oauth.KeyFor(e.flow, jdupont); got != (envoi.TokenKey{Flow: flowCode}) {
		t.Errorf("KeyFor: got %+v, want the generic key", got)
	}
	if _, err := e.svc.AccessToken(context.Background(), envoi.TokenKey{Flow: flowCode}, false); err != nil {
		t.Fatal(err)
	}
}

func TestConsentRefused(t *testing.T) {
	ctx := context.Background()

	t.Run("StateReused", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		authURL, err := e.svc.StartConsent(ctx, flowCode, jdupont, "")
		must(t, err)
		q := e.browser(t, authURL).Query()
		_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
		must(t, err)
		_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
		wantCode(t, err, envoi.EOAuthState)
	})

	t.Run("StateExpired", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		authURL, err := e.svc.StartConsent(ctx, flowCode, jdupont, "")
		must(t, err)
		q := e.browser(t, authURL).Query()
		e.clock.Add(envoi.OAuthStateTTL + time.Second)
		_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
		wantCode(t, err, envoi.EOAuthState)
		if n := e.p.TokenCalls(testmail.OAuthGrantAuthorizationCode); n != 0 {
			t.Errorf("code exchanges: got %d, want 0 for an expired state", n)
		}
	})

	t.Run("StateForged", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		authURL, err := e.svc.StartConsent(ctx, flowCode, jdupont, "")
		must(t, err)
		q := e.browser(t, authURL).Query()
		for _, forged := range []string{"", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", q.Get("state") + "x"} {
			_, _, err = e.svc.Callback(ctx, forged, q.Get("code"), "", "")
			wantCode(t, err, envoi.EOAuthState)
		}
		// The real state still works once.
		_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
		must(t, err)
	})

	t.Run("WrongMailbox", func(t *testing.T) {
		for _, preset := range []string{envoi.PresetMicrosoft365, envoi.PresetGmail} {
			e := newEnv(t, envOptions{preset: preset})
			e.p.SetUser("someone.else@example.com")
			_, returnTo, err := e.consent(t, jdupont)
			ee := wantCode(t, err, envoi.EConsentWrongMailbox)
			if ee.Details["expected"] != jdupontAt || ee.Details["signed_in"] != "someone.else@example.com" {
				t.Errorf("%s: details: got %v, want both addresses", preset, ee.Details)
			}
			if !strings.Contains(ee.Message, jdupontAt) || !strings.Contains(ee.Message, "someone.else@example.com") {
				t.Errorf("%s: message %q does not name both addresses", preset, ee.Message)
			}
			if ee.Details["language"] != "fr" || returnTo != "/ui/operators" {
				t.Errorf("%s: got language %v and returnTo %q, want the consent's", preset, ee.Details["language"], returnTo)
			}
			if _, err := e.store.Token(ctx, envoi.TokenKey{Flow: flowCode, Operator: jdupont}); envoi.ErrorCode(err) != envoi.ENotFound {
				t.Errorf("%s: a token was stored for the wrong mailbox (%v)", preset, err)
			}
		}
	})

	t.Run("RedirectMismatch", func(t *testing.T) {
		// envoi behind a proxy that changed its address: the provider
		// knows only the public one.
		e := newEnv(t, envOptions{provider: testmail.OAuthOptions{RedirectURIs: []string{"https://mail.example.com/oauth/callback"}}})
		authURL, err := e.svc.StartConsent(ctx, flowCode, jdupont, "")
		must(t, err)
		resp, err := e.p.HTTPClient().Get(authURL)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "AADSTS50011") {
			t.Errorf("provider's page: got %d %q, want 400 with AADSTS50011", resp.StatusCode, body)
		}
		// A provider that redirects such errors back: mapped.
		state := mustParse(t, authURL).Query().Get("state")
		_, _, err = e.svc.Callback(ctx, state, "", "invalid_request", "AADSTS500112: The reply address 'http://x' does not match the reply address 'https://y'.")
		ee := wantCode(t, err, envoi.EOAuthRedirectMismatch)
		if !strings.Contains(ee.Details["provider_text"].(string), "AADSTS500112") {
			t.Errorf("provider text lost: %v", ee.Details)
		}
	})

	t.Run("InvalidClientSecret", func(t *testing.T) {
		e := newEnv(t, envOptions{flow: func(f *envoi.AuthFlow) { f.ClientSecret = "expired-secret" }})
		_, _, err := e.consent(t, jdupont)
		ee := wantCode(t, err, envoi.EOAuthInvalidClient)
		if !strings.Contains(ee.Details["provider_text"].(string), "AADSTS7000215") {
			t.Errorf("provider text: got %v, want AADSTS7000215", ee.Details["provider_text"])
		}
		if strings.Contains(err.Error(), "expired-secret") {
			t.Error("the error shows the client secret")
		}
	})

	t.Run("ConsentDenied", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.p.SetConsentError("access_denied", "AADSTS65001: The user or administrator has not consented to use the application.")
		_, _, err := e.consent(t, jdupont)
		ee := wantCode(t, err, envoi.EOAuthProvider)
		if !strings.Contains(ee.Details["provider_text"].(string), "AADSTS65001") {
			t.Errorf("provider text: got %v, want AADSTS65001", ee.Details["provider_text"])
		}
	})

	t.Run("OperatorNotInFlow", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		_, err := e.svc.StartConsent(ctx, flowCode, "ndupuis", "")
		wantCode(t, err, envoi.EOperatorNotInFlow)
		_, err = e.svc.StartConsent(ctx, flowCode, "", "")
		wantCode(t, err, envoi.EInvalidInput)
		// Through the group: allowed.
		_, err = e.svc.StartConsent(ctx, flowCode, mmartin, "")
		must(t, err)
	})

	t.Run("OpenRedirect", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		for _, bad := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "http://127.0.0.1:9/other", "ui/relative"} {
			_, err := e.svc.StartConsent(ctx, flowCode, jdupont, bad)
			wantCode(t, err, envoi.EInvalidInput)
		}
		for _, good := range []string{"/ui/operators?x=1", publicURL + "/ui/operators"} {
			_, err := e.svc.StartConsent(ctx, flowCode, jdupont, good)
			must(t, err)
		}
	})
}

func TestTerminalConsent(t *testing.T) {
	ctx := context.Background()

	t.Run("Loopback", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		page := make(chan string, 1)
		tok, err := e.svc.LoopbackConsent(ctx, flowCode, jdupont, func(authURL string) error {
			// The browser: the provider sends it to envoi's loopback listener.
			back := e.browser(t, authURL)
			if back.Scheme != "http" || back.Hostname() != "127.0.0.1" {
				t.Errorf("redirect: got %s, want http://127.0.0.1:port", back)
			}
			go func() {
				resp, err := http.Get(back.String())
				if err != nil {
					page <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				page <- string(b)
			}()
			return nil
		})
		must(t, err)
		if tok.Email != jdupontAt || tok.RefreshToken == "" {
			t.Errorf("token: got email %q", tok.Email)
		}
		if got := <-page; !strings.Contains(got, "Consent received") {
			t.Errorf("browser's page: got %q, want Consent received", got)
		}
	})

	t.Run("Paste", func(t *testing.T) {
		e := newEnv(t, envOptions{flow: func(f *envoi.AuthFlow) { f.RedirectURL = oauth.MicrosoftNativeRedirect }})
		tok, err := e.svc.PasteConsent(ctx, flowCode, jdupont, func(authURL string) (string, error) {
			back := e.browser(t, authURL)
			if got := back.Scheme + "://" + back.Host + back.Path; got != oauth.MicrosoftNativeRedirect {
				t.Errorf("redirect: got %s, want the native page", got)
			}
			return "  " + back.String() + "\n", nil
		})
		must(t, err)
		if tok.Email != jdupontAt {
			t.Errorf("token email: got %q", tok.Email)
		}
		// A pasted answer of another consent is refused.
		_, err = e.svc.PasteConsent(ctx, flowCode, jdupont, func(string) (string, error) {
			return oauth.MicrosoftNativeRedirect + "?code=abc&state=forged-state-value", nil
		})
		wantCode(t, err, envoi.EOAuthState)
	})

	t.Run("Device", func(t *testing.T) {
		e := newEnv(t, envOptions{provider: testmail.OAuthOptions{DevicePolls: 1}})
		var shownURI, shownCode string
		tok, err := e.svc.DeviceConsent(ctx, flowCode, jdupont, func(uri, code string) { shownURI, shownCode = uri, code })
		must(t, err)
		if shownURI != e.p.URL+"/device" || shownCode == "" {
			t.Errorf("shown: got %q %q", shownURI, shownCode)
		}
		if n := e.p.TokenCalls(testmail.OAuthGrantDeviceCode); n != 2 {
			t.Errorf("device polls: got %d, want 2 (one pending, one approved)", n)
		}
		if tok.Email != jdupontAt || tok.RefreshToken == "" {
			t.Errorf("token: got email %q, refresh token set %v", tok.Email, tok.RefreshToken != "")
		}
	})
}

func mustParse(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestConsentStore runs a consent through each store: the state is single
// use and expires by the store's clock as well as envoi's.
func TestConsentStore(t *testing.T) {
	forEachBackend(t, allBackends, func(t *testing.T, b backend) {
		e := newEnv(t, envOptions{backend: b})
		ctx := context.Background()
		authURL, err := e.svc.StartConsent(ctx, flowCode, jdupont, "/ui")
		must(t, err)
		q := e.browser(t, authURL).Query()
		// The callback lands on another instance.
		other := e.service(e.handle())
		tok, returnTo, err := other.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
		must(t, err)
		if returnTo != "/ui" || tok.RowVersion == 0 {
			t.Errorf("got returnTo %q row version %d", returnTo, tok.RowVersion)
		}
		st := e.stored(t, jdupont)
		if st.AccessToken != tok.AccessToken || st.RefreshToken != tok.RefreshToken || st.Email != jdupontAt || st.Status != envoi.TokenValid {
			t.Errorf("stored token differs from the consent's")
		}
		_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
		wantCode(t, err, envoi.EOAuthState)

		authURL, err = e.svc.StartConsent(ctx, flowCode, jdupont, "")
		must(t, err)
		q = e.browser(t, authURL).Query()
		e.clock.Add(envoi.OAuthStateTTL + time.Second)
		_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
		wantCode(t, err, envoi.EOAuthState)
	})
}
