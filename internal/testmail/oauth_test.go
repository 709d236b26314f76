package testmail_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"envoi/internal/testmail"
)

type oauthClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *oauthClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *oauthClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const oauthRedirect = "http://127.0.0.1:9/oauth/callback"

func startOAuth(t *testing.T, opts testmail.OAuthOptions) (*testmail.OAuthProvider, *oauthClock) {
	t.Helper()
	clk := &oauthClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	opts.Now = clk.Now
	if opts.RedirectURIs == nil {
		opts.RedirectURIs = []string{oauthRedirect, "http://127.0.0.1"}
	}
	return testmail.StartOAuth(t, opts), clk
}

func oauthS256(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// oauthAuthorize GETs the authorization endpoint without following the
// redirect and returns the answer's status and Location query.
func oauthAuthorize(t *testing.T, p *testmail.OAuthProvider, q url.Values) (int, url.Values, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(p.AuthURL() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if loc == nil {
		return resp.StatusCode, nil, string(body)
	}
	return resp.StatusCode, loc.Query(), string(body)
}

func oauthAuthQuery(p *testmail.OAuthProvider, scope, verifier string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {p.ClientID()}, "redirect_uri": {oauthRedirect},
		"scope": {scope}, "state": {"st-1"}, "code_challenge": {oauthS256(verifier)}, "code_challenge_method": {"S256"},
	}
}

func oauthToken(t *testing.T, p *testmail.OAuthProvider, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(p.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

// oauthCode runs the authorization endpoint and returns a code.
func oauthCode(t *testing.T, p *testmail.OAuthProvider, q url.Values) string {
	t.Helper()
	status, back, body := oauthAuthorize(t, p, q)
	if status != http.StatusFound || back.Get("code") == "" || back.Get("state") != q.Get("state") {
		t.Fatalf("authorize: got %d %v %s", status, back, body)
	}
	return back.Get("code")
}

func oauthCodeForm(p *testmail.OAuthProvider, code, verifier string) url.Values {
	return url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {oauthRedirect},
		"code_verifier": {verifier}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()},
	}
}

func oauthWantError(t *testing.T, status int, body map[string]any, wantStatus int, wantCode, wantText string) {
	t.Helper()
	desc, _ := body["error_description"].(string)
	if status != wantStatus || body["error"] != wantCode || !strings.Contains(desc, wantText) {
		t.Errorf("got %d %v %q, want %d %s containing %q", status, body["error"], desc, wantStatus, wantCode, wantText)
	}
}

func TestOAuthProviderCodeGrant(t *testing.T) {
	const verifier = "a-verifier-of-enough-length-0123456789-abcdefghij"
	for _, c := range []struct {
		name, style string
		change      func(f url.Values, clk *oauthClock)
		status      int
		code, text  string
	}{
		{"WrongVerifier", testmail.OAuthMicrosoft, func(f url.Values, _ *oauthClock) { f.Set("code_verifier", verifier+"x") }, 400, "invalid_grant", "AADSTS501481"},
		{"NoVerifier", testmail.OAuthMicrosoft, func(f url.Values, _ *oauthClock) { f.Del("code_verifier") }, 400, "invalid_grant", "AADSTS501481"},
		{"RedirectDiffers", testmail.OAuthMicrosoft, func(f url.Values, _ *oauthClock) { f.Set("redirect_uri", oauthRedirect+"/") }, 400, "invalid_grant", "AADSTS500112"},
		{"RedirectDiffersGoogle", testmail.OAuthGoogle, func(f url.Values, _ *oauthClock) { f.Set("redirect_uri", "http://127.0.0.1:9/other") }, 400, "redirect_uri_mismatch", ""},
		{"WrongSecret", testmail.OAuthMicrosoft, func(f url.Values, _ *oauthClock) { f.Set("client_secret", "old") }, 401, "invalid_client", "AADSTS7000215"},
		{"WrongSecretGoogle", testmail.OAuthGoogle, func(f url.Values, _ *oauthClock) { f.Set("client_secret", "old") }, 401, "invalid_client", "Unauthorized"},
		{"ExpiredCode", testmail.OAuthMicrosoft, func(_ url.Values, clk *oauthClock) { clk.Add(11 * time.Minute) }, 400, "invalid_grant", "AADSTS70008"},
		{"UnknownCode", testmail.OAuthMicrosoft, func(f url.Values, _ *oauthClock) { f.Set("code", "forged") }, 400, "invalid_grant", "AADSTS9002313"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, clk := startOAuth(t, testmail.OAuthOptions{Style: c.style})
			form := oauthCodeForm(p, oauthCode(t, p, oauthAuthQuery(p, "offline_access openid", verifier)), verifier)
			c.change(form, clk)
			status, body := oauthToken(t, p, form)
			oauthWantError(t, status, body, c.status, c.code, c.text)
		})
	}

	t.Run("OK", func(t *testing.T) {
		p, _ := startOAuth(t, testmail.OAuthOptions{AccessTokenLifetime: 5 * time.Minute})
		form := oauthCodeForm(p, oauthCode(t, p, oauthAuthQuery(p, "offline_access openid https://outlook.office.com/SMTP.Send", verifier)), verifier)
		status, body := oauthToken(t, p, form)
		if status != 200 || body["access_token"] == nil || body["refresh_token"] == nil || body["id_token"] == nil || body["expires_in"] != float64(300) {
			t.Fatalf("got %d %v", status, body)
		}
		claims := oauthClaims(t, body["id_token"].(string))
		if claims["preferred_username"] != "user@example.com" || claims["aud"] != p.ClientID() {
			t.Errorf("id_token claims: %v", claims)
		}
		if err := p.ValidateAccessToken("user@example.com", body["access_token"].(string)); err != nil {
			t.Error(err)
		}
		if p.ValidateAccessToken("other@example.com", body["access_token"].(string)) == nil {
			t.Error("the token is valid for another user")
		}
		// A code works once.
		status, body = oauthToken(t, p, form)
		oauthWantError(t, status, body, 400, "invalid_grant", "AADSTS54005")
		if n := p.TokenCalls(testmail.OAuthGrantAuthorizationCode); n != 2 {
			t.Errorf("token calls: got %d, want 2", n)
		}
	})
}

func oauthClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func TestOAuthProviderAuthorize(t *testing.T) {
	p, _ := startOAuth(t, testmail.OAuthOptions{})
	q := oauthAuthQuery(p, "offline_access", "v-0123456789-0123456789-0123456789-0123456789")

	t.Run("UnregisteredRedirect", func(t *testing.T) {
		bad := url.Values{}
		for k, v := range q {
			bad[k] = v
		}
		bad.Set("redirect_uri", "https://elsewhere.example/cb")
		status, _, body := oauthAuthorize(t, p, bad)
		if status != 400 || !strings.Contains(body, "AADSTS50011") {
			t.Errorf("got %d %q, want 400 AADSTS50011", status, body)
		}
	})
	t.Run("LoopbackAnyPort", func(t *testing.T) {
		lb := url.Values{}
		for k, v := range q {
			lb[k] = v
		}
		lb.Set("redirect_uri", "http://127.0.0.1:51234/")
		oauthCode(t, p, lb)
	})
	t.Run("NoPKCE", func(t *testing.T) {
		for _, method := range []string{"", "plain"} {
			np := url.Values{}
			for k, v := range q {
				np[k] = v
			}
			np.Set("code_challenge_method", method)
			status, back, _ := oauthAuthorize(t, p, np)
			if status != 302 || back.Get("error") != "invalid_request" || back.Get("code") != "" {
				t.Errorf("method %q: got %d %v", method, status, back)
			}
		}
	})
	t.Run("ConsentError", func(t *testing.T) {
		p.SetConsentError("access_denied", "AADSTS65001: no consent")
		defer p.SetConsentError("", "")
		_, back, _ := oauthAuthorize(t, p, q)
		if back.Get("error") != "access_denied" || back.Get("error_description") != "AADSTS65001: no consent" || back.Get("state") != "st-1" {
			t.Errorf("got %v", back)
		}
	})
}

func TestOAuthProviderGoogleRefreshTokens(t *testing.T) {
	p, _ := startOAuth(t, testmail.OAuthOptions{Style: testmail.OAuthGoogle})
	const v = "v-0123456789-0123456789-0123456789-0123456789"
	for _, c := range []struct {
		name        string
		params      map[string]string
		wantRefresh bool
	}{
		{"OnlineFirst", nil, false},
		{"OfflineFirst", map[string]string{"access_type": "offline"}, true},
		{"OfflineAgain", map[string]string{"access_type": "offline"}, false},
		{"OfflinePromptConsent", map[string]string{"access_type": "offline", "prompt": "consent"}, true},
	} {
		q := oauthAuthQuery(p, "https://mail.google.com/ openid email", v)
		for k, val := range c.params {
			q.Set(k, val)
		}
		_, body := oauthToken(t, p, oauthCodeForm(p, oauthCode(t, p, q), v))
		if got := body["refresh_token"] != nil; got != c.wantRefresh {
			t.Errorf("%s: refresh token given: got %v, want %v", c.name, got, c.wantRefresh)
		}
	}
}

func TestOAuthProviderRefresh(t *testing.T) {
	const v = "v-0123456789-0123456789-0123456789-0123456789"
	for _, c := range []struct {
		name           string
		rotation       testmail.OAuthRotation
		newRT, oldLive bool
	}{
		{"Strict", testmail.OAuthRotateStrict, true, false},
		{"Lenient", testmail.OAuthRotateLenient, true, true},
		{"None", testmail.OAuthRotateNone, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, _ := startOAuth(t, testmail.OAuthOptions{Rotation: c.rotation})
			_, body := oauthToken(t, p, oauthCodeForm(p, oauthCode(t, p, oauthAuthQuery(p, "offline_access", v)), v))
			rt := body["refresh_token"].(string)
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}}
			status, body := oauthToken(t, p, form)
			if status != 200 || (body["refresh_token"] != nil) != c.newRT {
				t.Fatalf("refresh: got %d %v", status, body)
			}
			status, _ = oauthToken(t, p, form)
			if (status == 200) != c.oldLive {
				t.Errorf("old refresh token again: got %d, want live=%v", status, c.oldLive)
			}
		})
	}

	t.Run("RevokeAndIdle", func(t *testing.T) {
		for _, style := range []string{testmail.OAuthMicrosoft, testmail.OAuthGoogle} {
			p, clk := startOAuth(t, testmail.OAuthOptions{Style: style, RefreshIdleLifetime: 90 * 24 * time.Hour, Rotation: testmail.OAuthRotateLenient})
			q := oauthAuthQuery(p, "offline_access", v)
			q.Set("access_type", "offline")
			get := func() (string, string) {
				_, body := oauthToken(t, p, oauthCodeForm(p, oauthCode(t, p, q), v))
				return body["access_token"].(string), body["refresh_token"].(string)
			}
			refresh := func(rt string) (int, map[string]any) {
				return oauthToken(t, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}})
			}
			revokedText, idleText := "AADSTS50173", "AADSTS700082"
			if style == testmail.OAuthGoogle {
				revokedText, idleText = "Token has been expired or revoked.", "Token has been expired or revoked."
			}
			at, rt := get()
			p.Revoke("user@example.com")
			status, body := refresh(rt)
			oauthWantError(t, status, body, 400, "invalid_grant", revokedText)
			if p.ValidateAccessToken("user@example.com", at) == nil {
				t.Error("a revoked access token is valid")
			}
			q.Set("prompt", "consent")
			_, rt = get()
			clk.Add(91 * 24 * time.Hour)
			status, body = refresh(rt)
			oauthWantError(t, status, body, 400, "invalid_grant", idleText)
		}
	})
}

func TestOAuthProviderDevice(t *testing.T) {
	for _, style := range []string{testmail.OAuthMicrosoft, testmail.OAuthGoogle} {
		p, _ := startOAuth(t, testmail.OAuthOptions{Style: style, DevicePolls: 2, DeviceSlowDown: true})
		resp, err := http.PostForm(p.DeviceURL(), url.Values{"client_id": {p.ClientID()}, "scope": {"offline_access openid"}})
		if err != nil {
			t.Fatal(err)
		}
		var da map[string]any
		json.NewDecoder(resp.Body).Decode(&da)
		resp.Body.Close()
		uriField := "verification_uri"
		if style == testmail.OAuthGoogle {
			uriField = "verification_url"
		}
		if da["device_code"] == nil || da["user_code"] == nil || da[uriField] == nil || da["interval"] != float64(1) {
			t.Fatalf("%s: device answer %v", style, da)
		}
		form := url.Values{"grant_type": {testmail.OAuthGrantDeviceCode}, "device_code": {da["device_code"].(string)}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}}
		var seen []string
		for range 4 {
			status, body := oauthToken(t, p, form)
			if status == 200 {
				seen = append(seen, "token")
				continue
			}
			seen = append(seen, body["error"].(string))
		}
		if got, want := strings.Join(seen, ","), "slow_down,authorization_pending,authorization_pending,token"; got != want {
			t.Errorf("%s: polls: got %s, want %s", style, got, want)
		}
		status, body := oauthToken(t, p, form)
		oauthWantError(t, status, body, 400, "invalid_grant", "")
	}
}

func TestOAuthProviderClientCredentials(t *testing.T) {
	p, _ := startOAuth(t, testmail.OAuthOptions{})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}, "scope": {"https://outlook.office.com/SMTP.Send"}}
	status, body := oauthToken(t, p, form)
	oauthWantError(t, status, body, 400, "invalid_scope", "AADSTS1002012")
	form.Set("scope", "https://outlook.office365.com/.default")
	status, body = oauthToken(t, p, form)
	if status != 200 || body["refresh_token"] != nil {
		t.Fatalf("got %d %v", status, body)
	}
	if err := p.ValidateAccessToken("any.mailbox@example.com", body["access_token"].(string)); err != nil {
		t.Errorf("app-only token refused: %v", err)
	}
	form.Del("client_secret")
	status, body = oauthToken(t, p, form)
	oauthWantError(t, status, body, 401, "invalid_client", "AADSTS7000218")
}

func oauthSignRS256(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestOAuthProviderJWTBearer(t *testing.T) {
	p, _ := startOAuth(t, testmail.OAuthOptions{Style: testmail.OAuthGoogle})
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	const iss = "envoi@project.iam.gserviceaccount.com"
	p.RegisterOAuthServiceAccount(iss, &key.PublicKey)
	now := time.Now().Unix()
	claims := func(change func(m map[string]any)) map[string]any {
		m := map[string]any{"iss": iss, "sub": "sales@example.com", "aud": p.TokenURL(), "scope": "https://mail.google.com/", "iat": now, "exp": now + 3600}
		if change != nil {
			change(m)
		}
		return m
	}
	for _, c := range []struct {
		name      string
		key       *rsa.PrivateKey
		claims    map[string]any
		code, txt string
	}{
		{"OtherKey", other, claims(nil), "invalid_grant", "Invalid JWT Signature."},
		{"UnknownIssuer", key, claims(func(m map[string]any) { m["iss"] = "x@y" }), "invalid_grant", "Invalid JWT Signature."},
		{"WrongAudience", key, claims(func(m map[string]any) { m["aud"] = "https://elsewhere/token" }), "invalid_grant", "audience"},
		{"Expired", key, claims(func(m map[string]any) { m["exp"] = now - 10 }), "invalid_grant", "short-lived"},
		{"TooLong", key, claims(func(m map[string]any) { m["exp"] = now + 7200 }), "invalid_grant", "short-lived"},
		{"NoSubject", key, claims(func(m map[string]any) { delete(m, "sub") }), "unauthorized_client", ""},
	} {
		status, body := oauthToken(t, p, url.Values{"grant_type": {testmail.OAuthGrantJWTBearer}, "assertion": {oauthSignRS256(t, c.key, c.claims)}})
		t.Run(c.name, func(t *testing.T) { oauthWantError(t, status, body, 400, c.code, c.txt) })
	}
	status, body := oauthToken(t, p, url.Values{"grant_type": {testmail.OAuthGrantJWTBearer}, "assertion": {oauthSignRS256(t, key, claims(nil))}})
	if status != 200 {
		t.Fatalf("got %d %v", status, body)
	}
	if err := p.ValidateAccessToken("sales@example.com", body["access_token"].(string)); err != nil {
		t.Error(err)
	}
	if p.ValidateAccessToken("boss@example.com", body["access_token"].(string)) == nil {
		t.Error("the delegated token works for another mailbox")
	}
}

func TestOAuthProviderUserinfo(t *testing.T) {
	p, _ := startOAuth(t, testmail.OAuthOptions{Style: testmail.OAuthGoogle})
	const v = "v-0123456789-0123456789-0123456789-0123456789"
	get := func(scope string) (int, map[string]any) {
		_, tok := oauthToken(t, p, oauthCodeForm(p, oauthCode(t, p, oauthAuthQuery(p, scope, v)), v))
		req, _ := http.NewRequest("GET", p.UserinfoURL(), nil)
		req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if status, m := get("https://mail.google.com/ openid email"); status != 200 || m["email"] != "user@example.com" {
		t.Errorf("with openid: got %d %v", status, m)
	}
	if status, _ := get("https://mail.google.com/"); status != 401 {
		t.Errorf("without openid/email scope: got %d, want 401", status)
	}
}

func TestOAuthProviderFaults(t *testing.T) {
	p, _ := startOAuth(t, testmail.OAuthOptions{})
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}, "scope": {"https://outlook.office365.com/.default"}}
	post := func() (*http.Response, error) { return http.PostForm(p.TokenURL(), form) }

	p.SetFault(testmail.OAuthRefused)
	if _, err := post(); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refused: got %v, want connection refused", err)
	}
	p.SetFault(testmail.OAuth500)
	resp, err := post()
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("500: got %v %v", resp, err)
	}
	resp.Body.Close()
	p.SetFault(testmail.OAuthUp)
	resp, err = post()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("up again: got %v %v", resp, err)
	}
	resp.Body.Close()
	if n := p.TokenCalls(testmail.OAuthGrantClientCredentials); n != 1 {
		t.Errorf("token calls: got %d, want 1 (refused and 500 never reach the endpoint)", n)
	}
}

// oauthTokenBasic posts form to the token endpoint with the client's
// credentials in an HTTP Basic header instead of the body.
func oauthTokenBasic(t *testing.T, p *testmail.OAuthProvider, form url.Values) (int, map[string]any) {
	t.Helper()
	form = maps.Clone(form)
	id, secret := form.Get("client_id"), form.Get("client_secret")
	form.Del("client_id")
	form.Del("client_secret")
	req, _ := http.NewRequest(http.MethodPost, p.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

func TestOAuthProviderClientAuth(t *testing.T) {
	const v = "v-0123456789-0123456789-0123456789-0123456789"
	cc := func(p *testmail.OAuthProvider) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "scope": {"https://outlook.office365.com/.default"},
			"client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}}
	}
	for _, c := range []struct {
		name            string
		mode            string
		basicOK, postOK bool
	}{
		{"Any", testmail.OAuthClientAuthAny, true, true},
		{"BasicOnly", testmail.OAuthClientAuthBasic, true, false},
		{"PostOnly", testmail.OAuthClientAuthPost, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, _ := startOAuth(t, testmail.OAuthOptions{ClientAuth: c.mode})
			for _, try := range []struct {
				method string
				ok     bool
				send   func(*testing.T, *testmail.OAuthProvider, url.Values) (int, map[string]any)
			}{{testmail.OAuthClientAuthBasic, c.basicOK, oauthTokenBasic}, {testmail.OAuthClientAuthPost, c.postOK, oauthToken}} {
				for _, form := range []url.Values{cc(p), oauthCodeForm(p, oauthCode(t, p, oauthAuthQuery(p, "offline_access", v)), v)} {
					status, body := try.send(t, p, form)
					if try.ok {
						if status != http.StatusOK {
							t.Errorf("%s %s: got %d %v, want 200", try.method, form.Get("grant_type"), status, body)
						}
						continue
					}
					oauthWantError(t, status, body, http.StatusUnauthorized, "invalid_client", "client authentication method "+try.method+" is not allowed")
				}
			}
			reqs := p.TokenRequests()
			if len(reqs) != 4 || reqs[0].Method != testmail.OAuthClientAuthBasic || reqs[2].Method != testmail.OAuthClientAuthPost {
				t.Errorf("token requests recorded: %+v", reqs)
			}
		})
	}

	t.Run("BothMethods", func(t *testing.T) {
		p, _ := startOAuth(t, testmail.OAuthOptions{})
		form := cc(p)
		req, _ := http.NewRequest(http.MethodPost, p.TokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(p.ClientID(), p.ClientSecret())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Basic and client_secret in one request: got %d, want 400", resp.StatusCode)
		}
	})

	t.Run("PublicClient", func(t *testing.T) {
		p, _ := startOAuth(t, testmail.OAuthOptions{PublicClient: true})
		code := oauthCode(t, p, oauthAuthQuery(p, "offline_access", v))
		form := oauthCodeForm(p, code, v)
		form.Set("client_secret", "anything")
		status, body := oauthToken(t, p, form)
		oauthWantError(t, status, body, http.StatusUnauthorized, "invalid_client", "client_secret_post is not allowed")
		form.Del("client_secret")
		if status, body := oauthToken(t, p, form); status != http.StatusOK {
			t.Errorf("public client without a secret: got %d %v", status, body)
		}
		if m := p.TokenRequests()[1].Method; m != "none" {
			t.Errorf("method recorded: got %q, want none", m)
		}
	})
}

func TestOAuthProviderRotationGrace(t *testing.T) {
	const v = "v-0123456789-0123456789-0123456789-0123456789"
	p, clk := startOAuth(t, testmail.OAuthOptions{Rotation: testmail.OAuthRotateStrict, RotationGrace: time.Minute})
	_, body := oauthToken(t, p, oauthCodeForm(p, oauthCode(t, p, oauthAuthQuery(p, "offline_access", v)), v))
	rt := body["refresh_token"].(string)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}}
	if status, body := oauthToken(t, p, form); status != 200 || body["refresh_token"] == rt {
		t.Fatalf("refresh: got %d %v", status, body)
	}
	clk.Add(30 * time.Second)
	if status, body := oauthToken(t, p, form); status != 200 {
		t.Errorf("old refresh token within the grace: got %d %v", status, body)
	}
	clk.Add(30 * time.Second)
	status, body := oauthToken(t, p, form)
	oauthWantError(t, status, body, http.StatusBadRequest, "invalid_grant", "AADSTS50173")
}

func TestOAuthProviderLongAccessToken(t *testing.T) {
	p, _ := startOAuth(t, testmail.OAuthOptions{AccessTokenSize: 2048})
	status, body := oauthToken(t, p, url.Values{"grant_type": {"client_credentials"}, "scope": {"https://outlook.office365.com/.default"},
		"client_id": {p.ClientID()}, "client_secret": {p.ClientSecret()}})
	at, _ := body["access_token"].(string)
	if status != 200 || len(at) < 2048 || strings.Count(at, ".") != 2 {
		t.Fatalf("got %d, token of %d bytes with %d dots", status, len(at), strings.Count(at, "."))
	}
	if err := p.ValidateAccessToken("shared@example.com", at); err != nil {
		t.Errorf("the long token does not validate: %v", err)
	}
}
