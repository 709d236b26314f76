package testmail

// An OAuth 2.0 provider for tests: real HTTP on loopback, in-process, with
// the behaviours of Microsoft's and Google's endpoints that envoi depends on
// (PKCE, exact redirect URIs, refresh-token rotation, revocation, device
// code, client credentials, JWT bearer, userinfo, their error bodies) and
// fault injection. Every exported name starts with OAuth: the package also
// holds the test SMTP server.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Error styles of the provider's bodies.
const (
	// OAuthMicrosoft answers like Microsoft identity platform v2: AADSTS codes
	// in error_description, error_codes, trace and correlation ids.
	OAuthMicrosoft = "microsoft"
	// OAuthGoogle answers like Google: short descriptions ("Token has been
	// expired or revoked."), verification_url in device answers, refresh
	// tokens only with access_type=offline.
	OAuthGoogle = "google"
)

// Grant types as they travel in the token request, for TokenCalls.
const (
	OAuthGrantAuthorizationCode = "authorization_code"
	OAuthGrantRefreshToken      = "refresh_token"
	OAuthGrantClientCredentials = "client_credentials"
	OAuthGrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	OAuthGrantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// OAuthRotation says what a refresh does to the refresh token used.
type OAuthRotation int

const (
	// OAuthRotateStrict issues a new refresh token and invalidates the old
	// one on first use (the strictest provider; the default).
	OAuthRotateStrict OAuthRotation = iota
	// OAuthRotateLenient issues a new refresh token and keeps the old one
	// valid (Microsoft's behaviour).
	OAuthRotateLenient
	// OAuthRotateNone keeps the refresh token and returns none (Google's).
	OAuthRotateNone
)

// How the registered app authenticates at the token endpoint
// (OAuthOptions.ClientAuth), with OpenID Connect's names.
const (
	// OAuthClientAuthAny accepts the secret in the body or in an HTTP
	// Basic header (the default).
	OAuthClientAuthAny = ""
	// OAuthClientAuthBasic accepts only HTTP Basic, as many servers do
	// (RFC 6749 §2.3.1 makes it the one every server supports): a secret
	// in the body is answered 401 invalid_client.
	OAuthClientAuthBasic = "client_secret_basic"
	// OAuthClientAuthPost accepts only client_secret in the body: a Basic
	// header is answered 401 invalid_client.
	OAuthClientAuthPost = "client_secret_post"
)

// OAuthTokenRequest is what the provider saw of one token request.
type OAuthTokenRequest struct {
	Grant string
	// Method is how the client authenticated: client_secret_basic,
	// client_secret_post, or none (no secret sent).
	Method string
	// RefreshToken is the refresh token presented (refresh grant).
	RefreshToken string
}

// OAuthFault is how the provider misbehaves.
type OAuthFault int

const (
	// OAuthUp answers normally.
	OAuthUp OAuthFault = iota
	// OAuthRefused closes the listening socket: connections are refused.
	OAuthRefused
	// OAuth500 answers every request with 500 Internal Server Error.
	OAuth500
)

// OAuthMicrosoftNativeRedirect is Microsoft's redirect URI for native apps whose
// user pastes the final URL back.
const OAuthMicrosoftNativeRedirect = "https://login.live.com/oauth20_desktop.srf"

// OAuthOptions configure StartOAuth. Zero values are useful.
type OAuthOptions struct {
	// Style is OAuthMicrosoft (default) or OAuthGoogle.
	Style string
	// ClientID and ClientSecret identify the one registered app; defaults
	// "test-client" and "test-secret". An empty secret with PublicClient
	// set makes a public client: no secret checked, and one sent is
	// refused (401 invalid_client), as real providers do for a client
	// registered with token_endpoint_auth_method none.
	ClientID     string
	ClientSecret string
	PublicClient bool
	// ClientAuth is how the app must authenticate: OAuthClientAuthAny
	// (default), OAuthClientAuthBasic or OAuthClientAuthPost.
	ClientAuth string
	// RedirectURIs registered for the app. A loopback URI without a port
	// ("http://127.0.0.1", "http://localhost") matches any port (RFC 8252
	// §7.3). Empty: any redirect URI is accepted.
	RedirectURIs []string
	// User is the mailbox that consents (default "user@example.com");
	// SetUser changes it at run time.
	User string
	// AccessTokenLifetime defaults to one hour.
	AccessTokenLifetime time.Duration
	// RefreshIdleLifetime, when set, kills a refresh token unused for that
	// long (Microsoft: 90 days, AADSTS700082).
	RefreshIdleLifetime time.Duration
	Rotation            OAuthRotation
	// RotationGrace keeps a refresh token replaced by OAuthRotateStrict
	// valid that long after its first use (0: dead at once).
	RotationGrace time.Duration
	// AccessTokenSize, when set, makes access tokens JWT-like (three
	// base64url parts) of at least that many bytes: Microsoft's are 1.5
	// to 3 KB, longer than an SMTP command line.
	AccessTokenSize int
	// DevicePolls is how many polls of a device code answer
	// authorization_pending before it is approved; DeviceSlowDown makes
	// the first poll answer slow_down. DeviceInterval is the interval in
	// seconds announced (default 1).
	DevicePolls    int
	DeviceSlowDown bool
	DeviceInterval int
	// Now is the provider's clock (default time.Now).
	Now func() time.Time
	// TLS serves HTTPS with a test certificate; use HTTPClient to trust it.
	TLS bool
}

// OAuthProvider is a running test provider. Its methods are safe for
// concurrent use.
type OAuthProvider struct {
	// URL is the base URL, e.g. "http://127.0.0.1:41234".
	URL string

	srv  *httptest.Server
	ln   *oauthSwitchListener
	opts OAuthOptions

	mu            sync.Mutex
	user          string
	fault         OAuthFault
	delay         time.Duration
	consentErr    [2]string
	codes         map[string]*oauthCode
	access        map[string]*oauthAccess
	refresh       map[string]*oauthRefresh
	devices       map[string]*oauthDevice
	consented     map[string]bool // users who granted offline access (Google's prompt rule)
	accounts      map[string]*rsa.PublicKey
	tokenCalls    map[string]int
	tokenReqs     []OAuthTokenRequest
	onToken       func(grant string)
	authorizeHits int
	userinfoHits  int
}

type oauthCode struct {
	user, clientID, redirectURI, scope, challenge string
	refresh                                       bool
	expires                                       time.Time
	used                                          bool
}

type oauthAccess struct {
	user, clientID, scope string
	app                   bool // app-only: valid for any mailbox
	expires               time.Time
	revoked               bool
}

type oauthRefresh struct {
	user, clientID, scope string
	lastUsed              time.Time
	revoked               bool
	expiredIdle           bool
	rotatedAt             time.Time // when OAuthRotateStrict replaced it
}

type oauthDevice struct {
	clientID, scope string
	polls           int
	expires         time.Time
	done            bool
}

// StartOAuth starts a provider on 127.0.0.1:0 and stops it at the end of
// the test.
func StartOAuth(tb testing.TB, opts OAuthOptions) *OAuthProvider {
	tb.Helper()
	if opts.Style == "" {
		opts.Style = OAuthMicrosoft
	}
	if opts.ClientID == "" {
		opts.ClientID = "test-client"
	}
	if opts.ClientSecret == "" && !opts.PublicClient {
		opts.ClientSecret = "test-secret"
	}
	if opts.User == "" {
		opts.User = "user@example.com"
	}
	if opts.AccessTokenLifetime <= 0 {
		opts.AccessTokenLifetime = time.Hour
	}
	if opts.DeviceInterval <= 0 {
		opts.DeviceInterval = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testmail: oauth listen: %v", err)
	}
	p := &OAuthProvider{
		opts:       opts,
		user:       opts.User,
		codes:      map[string]*oauthCode{},
		access:     map[string]*oauthAccess{},
		refresh:    map[string]*oauthRefresh{},
		devices:    map[string]*oauthDevice{},
		consented:  map[string]bool{},
		accounts:   map[string]*rsa.PublicKey{},
		tokenCalls: map[string]int{},
		ln:         newOAuthSwitchListener(l),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("POST /devicecode", p.deviceCode)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("POST /userinfo", p.userinfo)
	p.srv = httptest.NewUnstartedServer(p.faults(mux))
	p.srv.Listener.Close()
	p.srv.Listener = p.ln
	if opts.TLS {
		p.srv.StartTLS()
	} else {
		p.srv.Start()
	}
	p.URL = p.srv.URL
	tb.Cleanup(p.close)
	return p
}

func (p *OAuthProvider) close() {
	p.ln.shutdown()
	p.srv.Close()
}

// AuthURL, TokenURL, DeviceURL and UserinfoURL are the provider's endpoints,
// to put in a flow.
func (p *OAuthProvider) AuthURL() string     { return p.URL + "/authorize" }
func (p *OAuthProvider) TokenURL() string    { return p.URL + "/token" }
func (p *OAuthProvider) DeviceURL() string   { return p.URL + "/devicecode" }
func (p *OAuthProvider) UserinfoURL() string { return p.URL + "/userinfo" }

// ClientID and ClientSecret are the registered app's credentials.
func (p *OAuthProvider) ClientID() string     { return p.opts.ClientID }
func (p *OAuthProvider) ClientSecret() string { return p.opts.ClientSecret }

// HTTPClient returns a client that trusts the provider's certificate
// (with TLS) and talks to it.
func (p *OAuthProvider) HTTPClient() *http.Client { return p.srv.Client() }

// SetUser changes who consents from now on: it simulates a person signed in
// with another mailbox.
func (p *OAuthProvider) SetUser(email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = email
}

// SetConsentError makes the authorization endpoint redirect with this error
// (e.g. "access_denied", "AADSTS65001: ...") instead of a code; empty code
// restores consent.
func (p *OAuthProvider) SetConsentError(code, description string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.consentErr = [2]string{code, description}
}

// SetFault makes the provider refuse connections or answer 500 until
// SetFault(OAuthUp).
func (p *OAuthProvider) SetFault(f OAuthFault) {
	p.mu.Lock()
	prev := p.fault
	p.fault = f
	p.mu.Unlock()
	if f == OAuthRefused && prev != OAuthRefused {
		p.ln.down()
		p.srv.CloseClientConnections()
	}
	if f != OAuthRefused && prev == OAuthRefused {
		p.ln.up()
	}
}

// SetDelay makes every answer wait d (real time) first.
func (p *OAuthProvider) SetDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// Revoke invalidates every refresh and access token of user: the next
// refresh answers invalid_grant ("Token has been expired or revoked." for
// Google, AADSTS50173 for Microsoft).
func (p *OAuthProvider) Revoke(user string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.refresh {
		if strings.EqualFold(r.user, user) {
			r.revoked = true
		}
	}
	for _, a := range p.access {
		if strings.EqualFold(a.user, user) {
			a.revoked = true
		}
	}
	delete(p.consented, strings.ToLower(user))
}

// OnTokenRequest sets a function called with the grant type of each token
// request before the provider handles it (nil removes it): a test makes
// things happen while a refresh is in flight. It runs on the request's
// goroutine and may call the provider itself.
func (p *OAuthProvider) OnTokenRequest(f func(grant string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onToken = f
}

// TokenCalls returns how many token requests of grant type grant (one of
// the OAuthGrant constants) the provider received, failed ones included.
func (p *OAuthProvider) TokenCalls(grant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenCalls[grant]
}

// TokenRequests returns the token requests received, in order: grant,
// client authentication method and refresh token presented.
func (p *OAuthProvider) TokenRequests() []OAuthTokenRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]OAuthTokenRequest(nil), p.tokenReqs...)
}

// AuthorizeCalls and UserinfoCalls count requests to those endpoints.
func (p *OAuthProvider) AuthorizeCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.authorizeHits
}

func (p *OAuthProvider) UserinfoCalls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.userinfoHits
}

// ValidateAccessToken reports whether token is an unexpired, unrevoked
// access token the provider issued for user (any user for app-only tokens
// of the client credentials grant). It fits the test SMTP server's
// ValidateToken hook.
func (p *OAuthProvider) ValidateAccessToken(user, token string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.access[token]
	switch {
	case !ok:
		return fmt.Errorf("testmail: unknown access token")
	case a.revoked:
		return fmt.Errorf("testmail: access token revoked")
	case !p.now().Before(a.expires):
		return fmt.Errorf("testmail: access token expired")
	case !a.app && !strings.EqualFold(a.user, user):
		return fmt.Errorf("testmail: access token of %s used for %s", a.user, user)
	}
	return nil
}

func (p *OAuthProvider) now() time.Time { return p.opts.Now() }

// faults applies the injected delay and 500s before any endpoint.
func (p *OAuthProvider) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		delay, fault := p.delay, p.fault
		p.mu.Unlock()
		if delay > 0 {
			// Read the form first: the server notices a client that gave
			// up only once the body is read.
			r.ParseForm()
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if fault == OAuth500 {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "<html><body>Internal Server Error</body></html>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func oauthRandom(prefix string) string {
	b := make([]byte, 24)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// redirectAllowed reports whether uri is registered, with RFC 8252's any
// port for loopback URIs registered without one.
func (p *OAuthProvider) redirectAllowed(uri string) bool {
	if len(p.opts.RedirectURIs) == 0 {
		return true
	}
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	for _, reg := range p.opts.RedirectURIs {
		if reg == uri {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || ru.Port() != "" || u.Scheme != "http" {
			continue
		}
		if oauthLoopbackHost(ru.Hostname()) && ru.Hostname() == u.Hostname() && strings.TrimSuffix(ru.Path, "/") == strings.TrimSuffix(u.Path, "/") {
			return true
		}
	}
	return false
}

func oauthLoopbackHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func oauthHasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}

// authorize consents at once, as the current user.
func (p *OAuthProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.authorizeHits++
	user, cerr := p.user, p.consentErr
	p.mu.Unlock()

	if q.Get("client_id") != p.opts.ClientID {
		p.errorPage(w, "AADSTS700016", fmt.Sprintf("Application with identifier '%s' was not found in the directory.", q.Get("client_id")), "invalid_client")
		return
	}
	redirect := q.Get("redirect_uri")
	if redirect == "" || !p.redirectAllowed(redirect) {
		p.errorPage(w, "AADSTS50011", fmt.Sprintf("The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, p.opts.ClientID), "redirect_uri_mismatch")
		return
	}
	back := func(v url.Values) {
		v.Set("state", q.Get("state"))
		sep := "?"
		if strings.Contains(redirect, "?") {
			sep = "&"
		}
		http.Redirect(w, r, redirect+sep+v.Encode(), http.StatusFound)
	}
	fail := func(code, aadsts, desc string) {
		v := url.Values{"error": {code}}
		if p.opts.Style == OAuthMicrosoft && aadsts != "" {
			desc = aadsts + ": " + desc
		}
		v.Set("error_description", desc)
		back(v)
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", "AADSTS700054", "response_type must be code.")
		return
	}
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		fail("invalid_request", "AADSTS9002325", "Proof Key for Code Exchange (S256) is required.")
		return
	}
	if cerr[0] != "" {
		back(url.Values{"error": {cerr[0]}, "error_description": {cerr[1]}})
		return
	}
	scope := q.Get("scope")
	refresh := true
	p.mu.Lock()
	if p.opts.Style == OAuthGoogle {
		// Google: a refresh token only offline, and on a repeated consent
		// only with prompt=consent.
		key := strings.ToLower(user)
		refresh = q.Get("access_type") == "offline" && (!p.consented[key] || q.Get("prompt") == "consent")
		if refresh {
			p.consented[key] = true
		}
	} else {
		refresh = oauthHasScope(scope, "offline_access")
	}
	code := oauthRandom("code-")
	p.codes[code] = &oauthCode{
		user: user, clientID: q.Get("client_id"), redirectURI: redirect, scope: scope,
		challenge: q.Get("code_challenge"), refresh: refresh, expires: p.now().Add(10 * time.Minute),
	}
	p.mu.Unlock()
	back(url.Values{"code": {code}})
}

// errorPage is the provider's own page for errors it cannot redirect
// (unknown client, unregistered redirect URI): the person sees it.
func (p *OAuthProvider) errorPage(w http.ResponseWriter, aadsts, desc, googleCode string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	if p.opts.Style == OAuthMicrosoft {
		fmt.Fprintf(w, "<html><body><h1>Sign in</h1><p>Sorry, but we're having trouble signing you in.</p><p>%s: %s</p></body></html>", aadsts, oauthHTMLEscape(desc))
		return
	}
	fmt.Fprintf(w, "<html><body><h1>Access blocked: authorization error</h1><p>Error 400: %s</p><p>%s</p></body></html>", googleCode, oauthHTMLEscape(desc))
}

func oauthHTMLEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\"", "&quot;", "'", "&#39;").Replace(s)
}

// tokenError writes an RFC 6749 §5.2 error in the provider's style.
// microsoftDesc holds the AADSTS code; googleDesc is Google's text.
func (p *OAuthProvider) tokenError(w http.ResponseWriter, status int, code, microsoftDesc, googleDesc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]any{"error": code}
	if p.opts.Style == OAuthMicrosoft {
		now := p.now().UTC()
		trace := oauthRandom("")
		body["error_description"] = fmt.Sprintf("%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", microsoftDesc, trace, trace, now.Format("2006-01-02 15:04:05Z"))
		var n int
		fmt.Sscanf(strings.TrimPrefix(microsoftDesc, "AADSTS"), "%d", &n)
		if n != 0 {
			body["error_codes"] = []int{n}
		}
		body["timestamp"] = now.Format("2006-01-02 15:04:05Z")
		body["trace_id"] = trace
		body["correlation_id"] = trace
	} else if googleDesc != "" {
		body["error_description"] = googleDesc
	}
	json.NewEncoder(w).Encode(body)
}

// oauthClientMethod is how r authenticates the client: client_secret_basic
// (an Authorization: Basic header), client_secret_post (client_secret in
// the body) or none.
func oauthClientMethod(r *http.Request) string {
	if _, _, ok := r.BasicAuth(); ok {
		return OAuthClientAuthBasic
	}
	if r.PostForm.Get("client_secret") != "" {
		return OAuthClientAuthPost
	}
	return "none"
}

// clientMethodRefused writes the refusal of a client authentication method
// the app is not registered for, and reports whether it did.
func (p *OAuthProvider) clientMethodRefused(w http.ResponseWriter, r *http.Request) bool {
	method := oauthClientMethod(r)
	if _, _, basic := r.BasicAuth(); basic && r.PostForm.Get("client_secret") != "" {
		// RFC 6749 §2.3: a client must not use more than one method.
		p.tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS90014: The request uses more than one client authentication method.", "Multiple client authentication methods.")
		return true
	}
	refuse := ""
	switch {
	case p.opts.PublicClient && p.opts.ClientSecret == "" && method != "none":
		refuse = "none"
	case p.opts.ClientAuth == OAuthClientAuthBasic && method == OAuthClientAuthPost:
		refuse = OAuthClientAuthBasic
	case p.opts.ClientAuth == OAuthClientAuthPost && method == OAuthClientAuthBasic:
		refuse = OAuthClientAuthPost
	}
	if refuse == "" {
		return false
	}
	desc := fmt.Sprintf("client authentication method %s is not allowed for this client (registered: %s)", method, refuse)
	p.tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000112: "+desc+".", desc)
	return true
}

// clientAuth checks the client's credentials (form or Basic header, as
// the app's ClientAuth allows) and writes the error when they are wrong.
func (p *OAuthProvider) clientAuth(w http.ResponseWriter, r *http.Request, requireSecret bool) (string, bool) {
	if p.clientMethodRefused(w, r) {
		return "", false
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(pw)
	}
	if id != p.opts.ClientID {
		p.tokenError(w, http.StatusBadRequest, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", id), "The OAuth client was not found.")
		return "", false
	}
	if p.opts.ClientSecret == "" {
		if requireSecret {
			p.tokenError(w, http.StatusBadRequest, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", "Unauthorized")
			return "", false
		}
		return id, true
	}
	if secret == "" {
		p.tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", "Unauthorized")
		return "", false
	}
	if secret != p.opts.ClientSecret {
		p.tokenError(w, http.StatusUnauthorized, "invalid_client", fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", id), "Unauthorized")
		return "", false
	}
	return id, true
}

func (p *OAuthProvider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body is not a valid form.", "Bad Request")
		return
	}
	grant := r.PostForm.Get("grant_type")
	p.mu.Lock()
	p.tokenCalls[grant]++
	p.tokenReqs = append(p.tokenReqs, OAuthTokenRequest{Grant: grant, Method: oauthClientMethod(r), RefreshToken: r.PostForm.Get("refresh_token")})
	hook := p.onToken
	p.mu.Unlock()
	if hook != nil {
		hook(grant)
	}
	switch grant {
	case OAuthGrantAuthorizationCode:
		p.grantCode(w, r)
	case OAuthGrantRefreshToken:
		p.grantRefresh(w, r)
	case OAuthGrantDeviceCode:
		p.grantDevice(w, r)
	case OAuthGrantClientCredentials:
		p.grantClient(w, r)
	case OAuthGrantJWTBearer:
		p.grantJWT(w, r)
	default:
		p.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("AADSTS70003: The app requested an unsupported grant type '%s'.", grant), "Invalid grant_type: "+grant)
	}
}

func (p *OAuthProvider) grantCode(w http.ResponseWriter, r *http.Request) {
	id, ok := p.clientAuth(w, r, false)
	if !ok {
		return
	}
	f := r.PostForm
	p.mu.Lock()
	c, found := p.codes[f.Get("code")]
	var problem [3]string
	switch {
	case !found:
		problem = [3]string{"invalid_grant", "AADSTS9002313: Invalid request. The authorization code is malformed or invalid.", "Malformed auth code."}
	case c.used:
		problem = [3]string{"invalid_grant", "AADSTS54005: OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.", "Bad Request"}
	case !p.now().Before(c.expires):
		problem = [3]string{"invalid_grant", "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.", "Bad Request"}
	case c.clientID != id:
		problem = [3]string{"invalid_grant", "AADSTS70000: The provided authorization code was issued to another client.", "Bad Request"}
	case f.Get("redirect_uri") != c.redirectURI:
		if p.opts.Style == OAuthGoogle {
			problem = [3]string{"redirect_uri_mismatch", "", "Bad Request"}
		} else {
			problem = [3]string{"invalid_grant", fmt.Sprintf("AADSTS500112: The reply address '%s' does not match the reply address '%s' provided when requesting the authorization code.", f.Get("redirect_uri"), c.redirectURI), ""}
		}
	case oauthS256(f.Get("code_verifier")) != c.challenge:
		problem = [3]string{"invalid_grant", "AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.", "Invalid code verifier."}
	}
	if found {
		c.used = true
	}
	if problem[0] != "" {
		p.mu.Unlock()
		p.tokenError(w, http.StatusBadRequest, problem[0], problem[1], problem[2])
		return
	}
	resp := p.issueLocked(c.user, id, c.scope, c.refresh, false)
	p.mu.Unlock()
	oauthWriteJSON(w, resp)
}

func oauthS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (p *OAuthProvider) grantRefresh(w http.ResponseWriter, r *http.Request) {
	id, ok := p.clientAuth(w, r, false)
	if !ok {
		return
	}
	rt := r.PostForm.Get("refresh_token")
	p.mu.Lock()
	old, found := p.refresh[rt]
	now := p.now()
	if found && p.opts.RefreshIdleLifetime > 0 && now.Sub(old.lastUsed) > p.opts.RefreshIdleLifetime {
		old.expiredIdle = true
	}
	var problem [2]string
	switch {
	case !found:
		problem = [2]string{"AADSTS9002313: Invalid request. The refresh token is malformed or invalid.", "Bad Request"}
	case old.revoked || (!old.rotatedAt.IsZero() && now.Sub(old.rotatedAt) >= p.opts.RotationGrace):
		problem = [2]string{"AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.", "Token has been expired or revoked."}
	case old.expiredIdle:
		problem = [2]string{fmt.Sprintf("AADSTS700082: The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.", old.lastUsed.UTC().Format(time.RFC3339), p.opts.RefreshIdleLifetime), "Token has been expired or revoked."}
	case old.clientID != id:
		problem = [2]string{"AADSTS700005: Provided refresh token was issued to another client.", "Bad Request"}
	}
	if problem[0] != "" {
		p.mu.Unlock()
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", problem[0], problem[1])
		return
	}
	old.lastUsed = now
	var resp map[string]any
	switch p.opts.Rotation {
	case OAuthRotateNone:
		resp = p.issueLocked(old.user, id, old.scope, false, false)
	case OAuthRotateLenient:
		resp = p.issueLocked(old.user, id, old.scope, true, false)
	default:
		if old.rotatedAt.IsZero() {
			old.rotatedAt = now
		}
		resp = p.issueLocked(old.user, id, old.scope, true, false)
	}
	p.mu.Unlock()
	oauthWriteJSON(w, resp)
}

// issueLocked makes an access token (and a refresh token, an id_token with
// openid) for user; p.mu is held.
func (p *OAuthProvider) issueLocked(user, clientID, scope string, withRefresh, app bool) map[string]any {
	now := p.now()
	at := oauthRandom("at-")
	if p.opts.AccessTokenSize > 0 {
		at = p.longAccessToken(user, clientID, scope, now)
	}
	p.access[at] = &oauthAccess{user: user, clientID: clientID, scope: scope, app: app, expires: now.Add(p.opts.AccessTokenLifetime)}
	secs := int(p.opts.AccessTokenLifetime / time.Second)
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": secs, "scope": scope}
	if p.opts.Style == OAuthMicrosoft {
		resp["ext_expires_in"] = secs
	}
	if withRefresh {
		rt := oauthRandom("rt-")
		p.refresh[rt] = &oauthRefresh{user: user, clientID: clientID, scope: scope, lastUsed: now}
		resp["refresh_token"] = rt
	}
	if !app && oauthHasScope(scope, "openid") {
		resp["id_token"] = p.idToken(user, clientID, now)
	}
	return resp
}

// idToken is an HS256 JWT keyed with the client secret (an OpenID Connect
// option for confidential clients); envoi reads it only from the token
// endpoint's direct answer.
func (p *OAuthProvider) idToken(user, clientID string, now time.Time) string {
	claims := map[string]any{
		"iss": p.URL + "/v2.0", "aud": clientID, "sub": oauthS256("sub:" + strings.ToLower(user))[:22],
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"email": user,
	}
	if p.opts.Style == OAuthMicrosoft {
		claims["preferred_username"] = user
		claims["tid"] = "00000000-0000-0000-0000-000000000000"
	} else {
		claims["email_verified"] = true
	}
	return oauthSignHS256(claims, []byte(p.opts.ClientSecret))
}

// longAccessToken is a JWT-like access token of at least AccessTokenSize
// bytes: claims padded with a random blob, as Microsoft's carry many.
func (p *OAuthProvider) longAccessToken(user, clientID, scope string, now time.Time) string {
	claims := map[string]any{"iss": p.URL, "aud": "https://outlook.office.com", "appid": clientID, "upn": user,
		"scp": scope, "iat": now.Unix(), "exp": now.Add(p.opts.AccessTokenLifetime).Unix(), "jti": oauthRandom("")}
	tok := oauthSignHS256(claims, []byte("access"))
	if pad := p.opts.AccessTokenSize - len(tok); pad > 0 {
		b := make([]byte, pad*3/4+3)
		rand.Read(b)
		claims["xms_pad"] = base64.RawURLEncoding.EncodeToString(b)
		tok = oauthSignHS256(claims, []byte("access"))
	}
	return tok
}

func oauthWriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func (p *OAuthProvider) deviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if p.clientMethodRefused(w, r) {
		return
	}
	if r.PostForm.Get("client_id") != p.opts.ClientID {
		p.tokenError(w, http.StatusBadRequest, "invalid_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory.", r.PostForm.Get("client_id")), "The OAuth client was not found.")
		return
	}
	dc := oauthRandom("dc-")
	b := make([]byte, 4)
	rand.Read(b)
	userCode := strings.ToUpper(fmt.Sprintf("%x", b))
	p.mu.Lock()
	p.devices[dc] = &oauthDevice{clientID: r.PostForm.Get("client_id"), scope: r.PostForm.Get("scope"), expires: p.now().Add(15 * time.Minute)}
	p.mu.Unlock()
	resp := map[string]any{"device_code": dc, "user_code": userCode, "expires_in": 900, "interval": p.opts.DeviceInterval}
	if p.opts.Style == OAuthGoogle {
		resp["verification_url"] = p.URL + "/device"
	} else {
		resp["verification_uri"] = p.URL + "/device"
		resp["message"] = "To sign in, use a web browser to open the page " + p.URL + "/device and enter the code " + userCode + " to authenticate."
	}
	oauthWriteJSON(w, resp)
}

func (p *OAuthProvider) grantDevice(w http.ResponseWriter, r *http.Request) {
	id, ok := p.clientAuth(w, r, false)
	if !ok {
		return
	}
	p.mu.Lock()
	d, found := p.devices[r.PostForm.Get("device_code")]
	if !found || d.done || d.clientID != id {
		p.mu.Unlock()
		p.tokenError(w, http.StatusBadRequest, "invalid_grant", "AADSTS70000: The provided device code is invalid or was already used.", "Bad Request")
		return
	}
	if !p.now().Before(d.expires) {
		p.mu.Unlock()
		p.tokenError(w, http.StatusBadRequest, "expired_token", "AADSTS70020: The provided value for the input parameter 'device_code' is not valid. This device code has expired.", "Bad Request")
		return
	}
	d.polls++
	if p.opts.DeviceSlowDown && d.polls == 1 {
		p.mu.Unlock()
		p.tokenError(w, http.StatusBadRequest, "slow_down", "AADSTS70016: OAuth 2.0 device flow error. Polling too fast: slow down.", "Forbidden")
		return
	}
	pending := d.polls <= p.opts.DevicePolls
	if p.opts.DeviceSlowDown {
		pending = d.polls-1 <= p.opts.DevicePolls
	}
	if pending {
		p.mu.Unlock()
		p.tokenError(w, http.StatusBadRequest, "authorization_pending", "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.", "Precondition Required")
		return
	}
	d.done = true
	withRefresh := oauthHasScope(d.scope, "offline_access") || p.opts.Style == OAuthGoogle
	resp := p.issueLocked(p.user, id, d.scope, withRefresh, false)
	p.mu.Unlock()
	oauthWriteJSON(w, resp)
}

func (p *OAuthProvider) grantClient(w http.ResponseWriter, r *http.Request) {
	id, ok := p.clientAuth(w, r, true)
	if !ok {
		return
	}
	scope := r.PostForm.Get("scope")
	if p.opts.Style == OAuthMicrosoft && !strings.HasSuffix(scope, "/.default") {
		p.tokenError(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("AADSTS1002012: The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope), "")
		return
	}
	p.mu.Lock()
	resp := p.issueLocked("", id, scope, false, true)
	p.mu.Unlock()
	oauthWriteJSON(w, resp)
}

func (p *OAuthProvider) userinfo(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.userinfoHits++
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	a, ok := p.access[tok]
	valid := ok && !a.revoked && p.now().Before(a.expires) && !a.app && (oauthHasScope(a.scope, "openid") || oauthHasScope(a.scope, "email"))
	p.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"invalid_request","error_description":"Invalid Credentials"}`)
		return
	}
	oauthWriteJSON(w, map[string]any{"sub": oauthS256("sub:" + strings.ToLower(a.user))[:22], "email": a.user, "email_verified": true})
}

// oauthSwitchListener is a listener that can stop accepting (the port closed,
// connections refused) and listen again on the same address.
type oauthSwitchListener struct {
	addr net.Addr
	mu   sync.Mutex
	cur  net.Listener
	wake chan struct{}
	done bool
}

func newOAuthSwitchListener(l net.Listener) *oauthSwitchListener {
	return &oauthSwitchListener{addr: l.Addr(), cur: l, wake: make(chan struct{})}
}

func (s *oauthSwitchListener) Accept() (net.Conn, error) {
	for {
		s.mu.Lock()
		l, wake, done := s.cur, s.wake, s.done
		s.mu.Unlock()
		if done {
			return nil, net.ErrClosed
		}
		if l == nil {
			<-wake
			continue
		}
		c, err := l.Accept()
		if err == nil {
			return c, nil
		}
		s.mu.Lock()
		same := s.cur == l
		s.mu.Unlock()
		if same && !s.isDone() {
			return nil, err
		}
	}
}

func (s *oauthSwitchListener) isDone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *oauthSwitchListener) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
}

func (s *oauthSwitchListener) up() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil || s.done {
		return
	}
	// The port was ours a moment ago; on loopback nobody else takes it in
	// between in practice.
	for range 50 {
		l, err := net.Listen("tcp", s.addr.String())
		if err == nil {
			s.cur = l
			close(s.wake)
			s.wake = make(chan struct{})
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *oauthSwitchListener) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done = true
	if s.cur != nil {
		s.cur.Close()
	}
	close(s.wake)
}

func (s *oauthSwitchListener) Close() error   { s.shutdown(); return nil }
func (s *oauthSwitchListener) Addr() net.Addr { return s.addr }
