package interop

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Account is a person who can sign in at the provider.
type Account struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Client is an OAuth client registered at the provider (oidc-provider's
// client metadata).
type Client struct {
	ID                      string   `json:"client_id"`
	Secret                  string   `json:"client_secret,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

// Grant types, as clients list them.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantClientCredentials = "client_credentials"
)

// ProviderOptions configure oidc-provider.
type ProviderOptions struct {
	Accounts []Account
	Clients  []Client
	// Mailboxes give the shared mailbox each client-credentials client may
	// send as (the email claim of its app-only tokens).
	Mailboxes map[string]string
	// AccessTokenTTL is the access tokens' lifetime (default 30 seconds).
	AccessTokenTTL time.Duration
	// Groups is the number of group claims that pad access tokens
	// (default 30: tokens of about 2.3 KB).
	Groups int
}

// Provider is a running oidc-provider.
type Provider struct {
	Issuer string
	// Introspector is the resource server's client, whose credentials the
	// mail server introspects tokens with.
	Introspector Client

	proc   *process
	mu     sync.Mutex
	events []Event
}

// Event is one line the provider printed: a token endpoint call, an
// introspection, a revocation.
type Event struct {
	Event             string `json:"event"`
	GrantType         string `json:"grant_type"`
	ClientID          string `json:"client_id"`
	AuthMethod        string `json:"auth_method"`
	Basic             bool   `json:"basic"`
	Status            int    `json:"status"`
	Error             string `json:"error"`
	AccessTokenLength int    `json:"access_token_length"`
	AccessToken       string `json:"access_token"`
	RefreshToken      string `json:"refresh_token"`
	Active            bool   `json:"active"`
	JTI               string `json:"jti"`
	Email             string `json:"email"`
	Length            int    `json:"length"`
}

// StartProvider starts oidc-provider on a free port of 127.0.0.1.
func StartProvider(tb testing.TB, opts ProviderOptions) *Provider {
	tb.Helper()
	port := FreePort(tb, "127.0.0.1")
	p := &Provider{
		Issuer:       fmt.Sprintf("http://127.0.0.1:%d", port),
		Introspector: Client{ID: "dovecot", Secret: randomSecret(), TokenEndpointAuthMethod: "client_secret_basic", RedirectURIs: []string{}, GrantTypes: []string{}, ResponseTypes: []string{}},
	}
	ttl := opts.AccessTokenTTL
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	groups := opts.Groups
	if groups == 0 {
		groups = 30
	}
	cfg := map[string]any{
		"port":           port,
		"accessTokenTTL": int(ttl / time.Second),
		"groups":         groups,
		"accounts":       opts.Accounts,
		"clients":        append(append([]Client{}, opts.Clients...), p.Introspector),
		"mailboxes":      opts.Mailboxes,
		"introspector":   map[string]string{"client_id": p.Introspector.ID, "client_secret": p.Introspector.Secret},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	cfgFile := filepath.Join(tb.TempDir(), "provider.json")
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	listening := make(chan struct{})
	var once sync.Once
	p.proc = start(tb, "oidc-provider", func(line string) {
		var e Event
		if json.Unmarshal([]byte(line), &e) != nil {
			return
		}
		if e.Event == "listening" {
			once.Do(func() { close(listening) })
			return
		}
		p.mu.Lock()
		p.events = append(p.events, e)
		p.mu.Unlock()
	}, "node", filepath.Join(OIDCDir(), "provider.mjs"), cfgFile)
	select {
	case <-listening:
	case <-p.proc.done:
		tb.Fatalf("oidc-provider exited:\n%s", p.proc.output())
	case <-time.After(3 * time.Minute):
		tb.Fatalf("oidc-provider did not start:\n%s", p.proc.output())
	}
	return p
}

// Endpoints of oidc-provider under the issuer.
func (p *Provider) AuthURL() string          { return p.Issuer + "/auth" }
func (p *Provider) TokenURL() string         { return p.Issuer + "/token" }
func (p *Provider) DeviceURL() string        { return p.Issuer + "/device/auth" }
func (p *Provider) UserinfoURL() string      { return p.Issuer + "/me" }
func (p *Provider) IntrospectionURL() string { return p.Issuer + "/introspect" }

// IntrospectionURLWithCredentials is the introspection endpoint with the
// resource server's credentials in its user info, as Dovecot takes it.
func (p *Provider) IntrospectionURLWithCredentials() string {
	u, _ := url.Parse(p.IntrospectionURL())
	u.User = url.UserPassword(p.Introspector.ID, p.Introspector.Secret)
	return u.String()
}

// Events returns what the provider reported so far.
func (p *Provider) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// TokenCalls returns the token endpoint calls of a grant type ("" for all).
func (p *Provider) TokenCalls(grantType string) []Event {
	var out []Event
	for _, e := range p.Events() {
		if e.Event == "token" && (grantType == "" || e.GrantType == grantType) {
			out = append(out, e)
		}
	}
	return out
}

// Introspections returns the introspections the mail server asked.
func (p *Provider) Introspections() []Event {
	var out []Event
	for _, e := range p.Events() {
		if e.Event == "introspection" {
			out = append(out, e)
		}
	}
	return out
}

// Revoke destroys every grant of account at the provider, as a user
// removing the app's consent does: its refresh tokens die, its access
// tokens no longer introspect as active.
func (p *Provider) Revoke(tb testing.TB, account string) {
	tb.Helper()
	resp, err := http.Post(p.Issuer+"/_test/revoke?account="+url.QueryEscape(account), "text/plain", nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("revoke %s: %d %s", account, resp.StatusCode, b)
	}
}

// Output is what the provider printed, for failure messages.
func (p *Provider) Output() string { return p.proc.output() }

// Browser is a person's browser at the provider: it keeps the provider's
// cookies, signs in and consents on the provider's pages.
type Browser struct {
	Provider *Provider
	Account  Account
	client   *http.Client
	lastPage string
}

// NewBrowser returns a browser with no cookies that signs in as account.
func (p *Provider) NewBrowser(account Account) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Provider: p, Account: account, client: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		// Follow the provider's own redirects only: the last one goes to
		// the client (envoi), which the caller follows.
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), p.Issuer+"/") {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

var (
	formTag  = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	attrRe   = regexp.MustCompile(`(?i)\b([a-z_-]+)="([^"]*)"`)
	inputTag = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
)

// Authorize opens the provider's authorization URL, signs in and consents
// on the pages it shows, and returns the address the provider finally
// sends the browser to (the client's redirect URI with code and state).
func (b *Browser) Authorize(tb testing.TB, authURL string) string {
	tb.Helper()
	resp, err := b.client.Get(authURL)
	if err != nil {
		tb.Fatal(err)
	}
	return b.walk(tb, resp, nil)
}

// Device enters userCode at the provider's verification page, signs in and
// consents; it returns the final page.
func (b *Browser) Device(tb testing.TB, verificationURI, userCode string) string {
	tb.Helper()
	resp, err := b.client.Get(verificationURI)
	if err != nil {
		tb.Fatal(err)
	}
	b.walk(tb, resp, map[string]string{"user_code": userCode})
	return b.lastPage
}

// walk answers the provider's forms until it redirects away from itself
// (the Location is returned) or shows a page without a form.
func (b *Browser) walk(tb testing.TB, resp *http.Response, extra map[string]string) string {
	tb.Helper()
	for range 10 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			return loc
		}
		page := string(body)
		b.lastPage = page
		f := formTag.FindStringSubmatch(page)
		if f == nil || resp.StatusCode != 200 {
			if resp.StatusCode != 200 || strings.Contains(page, "data-error") {
				tb.Fatalf("provider page %s: %d\n%s", resp.Request.URL, resp.StatusCode, page)
			}
			return ""
		}
		attrs := attributes(f[1])
		action, err := resp.Request.URL.Parse(attrs["action"])
		if err != nil {
			tb.Fatal(err)
		}
		values := url.Values{}
		for _, in := range inputTag.FindAllStringSubmatch(f[2], -1) {
			a := attributes(in[1])
			if a["name"] != "" {
				values.Set(a["name"], a["value"])
			}
		}
		for k, v := range map[string]string{"email": b.Account.Email, "password": b.Account.Password} {
			if values.Has(k) {
				values.Set(k, v)
			}
		}
		for k, v := range extra {
			if values.Has(k) {
				values.Set(k, v)
			}
		}
		if strings.Contains(page, `data-error="wrong"`) {
			tb.Fatalf("the provider refused the sign-in of %s", b.Account.Email)
		}
		resp, err = b.client.PostForm(action.String(), values)
		if err != nil {
			tb.Fatal(err)
		}
	}
	tb.Fatalf("the provider kept showing forms:\n%s", b.lastPage)
	return ""
}

func attributes(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// randomSecret returns a client secret nobody guesses.
func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
