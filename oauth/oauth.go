// Package oauth obtains, keeps and refreshes the OAuth 2.0 tokens envoi
// sends mail with: consent by a person (authorization code with PKCE, from
// the web, a terminal's loopback redirect, the device code flow or
// Microsoft's paste-back), app-only grants (Microsoft client credentials,
// Google service accounts with domain-wide delegation), refresh shared by
// concurrent senders and by several instances, and re-consent when the
// provider refuses a refresh token.
//
// Who signed in: envoi reads the provider's userinfo endpoint when the flow
// has one (Google), otherwise the claims of the id_token received in the
// token endpoint's answer (Microsoft). That id_token comes straight from the
// token endpoint over the connection envoi opened, never through the
// browser, so its signature is not checked (OpenID Connect Core §3.1.3.7
// allows TLS to stand in for it in this case); a token handed in by a
// browser or a person is never trusted. The mail server is the final check:
// XOAUTH2 fails for a user other than the token's.
package oauth

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"envoi"
)

// Store is what the oauth package needs of envoi's store.
type Store interface {
	AuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error)
	AuthFlows(ctx context.Context) ([]*envoi.AuthFlow, error)
	Operator(ctx context.Context, code string) (*envoi.Operator, error)
	Operators(ctx context.Context) ([]*envoi.Operator, error)
	FlowForOperator(ctx context.Context, operator string) (*envoi.AuthFlow, error)
	Token(ctx context.Context, key envoi.TokenKey) (*envoi.Token, error)
	Tokens(ctx context.Context) ([]*envoi.Token, error)
	SaveToken(ctx context.Context, t *envoi.Token) error
	UpdateToken(ctx context.Context, t *envoi.Token) error
	PutOAuthState(ctx context.Context, s *envoi.OAuthState) error
	TakeOAuthState(ctx context.Context, state string) (*envoi.OAuthState, error)
	// SetTokenAuthLearned records the token_auth_method auto found to
	// work for a flow.
	SetTokenAuthLearned(ctx context.Context, flow, method string) error
}

// ParkedReleaser makes the messages parked on an identity's consent due
// again; it reports their number, and logs its own outcome.
type ParkedReleaser interface {
	ReleaseParked(ctx context.Context, key envoi.TokenKey) (int, error)
}

// MicrosoftNativeRedirect is Microsoft's redirect URI for native apps: the
// browser ends on it and the person pastes the address back (PasteConsent).
const MicrosoftNativeRedirect = "https://login.live.com/oauth20_desktop.srf"

// CallbackPath is where the provider sends the browser back, under the
// public URL.
const CallbackPath = "/oauth/callback"

// Service obtains and refreshes tokens. Set the exported fields, then use
// it from any number of goroutines; the zero values of the optional fields
// are useful.
type Service struct {
	// Store holds flows, operators, tokens and pending consents.
	Store Store
	// PublicURL is envoi's base URL as browsers reach it; the web consent's
	// redirect URI is PublicURL + "/oauth/callback".
	PublicURL string
	// HTTPClient talks to the providers (default http.DefaultClient).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives refreshes and refusals, never a secret (default: none).
	Logger *slog.Logger
	// Notify, when set, is called once when an identity becomes
	// consent_required, by the instance that recorded it.
	Notify func(ctx context.Context, key envoi.TokenKey, err *envoi.Error)
	// Parked, when set, is given the identity of each consent completed
	// through Callback, so that the messages parked while it waited are
	// sent (queue.Service implements it). The terminal's consents return
	// the token to their caller, who does the same.
	Parked ParkedReleaser
	// OnTokenCall, when set, is told the outcome of each call to a token
	// endpoint for a refresh or an app-only token, for metrics: "ok",
	// "consent_required" (grant refused), "temporary" (unreachable, 5xx,
	// timeout) or "error" (any other refusal).
	OnTokenCall func(outcome string)
	// RefreshSkew is how long before expiry a token is refreshed (default
	// 2 minutes).
	RefreshSkew time.Duration
	// Timeout bounds one call to the provider (default 30 seconds).
	Timeout time.Duration

	mu      sync.Mutex
	flights map[flightKey]*flight
}

var _ envoi.TokenSource = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Service) skew() time.Duration {
	if s.RefreshSkew > 0 {
		return s.RefreshSkew
	}
	return 2 * time.Minute
}

func (s *Service) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

// client returns ctx carrying the HTTP client the oauth2 package uses.
func (s *Service) client(ctx context.Context) context.Context {
	if s.HTTPClient == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, s.HTTPClient)
}

func (s *Service) httpClient() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return http.DefaultClient
}

// Config returns the oauth2 configuration of a flow with redirectURL, its
// tenant substituted into the URLs. For consent (the authorization code and
// device grants) the scope gains what envoi needs to learn who signed in:
// "openid email profile" for Microsoft 365, "openid email" for Gmail.
// The client authenticates by the first method the flow's
// token_auth_method tries (see tokenCall, which every token request of
// the Service goes through).
func Config(flow *envoi.AuthFlow, redirectURL string) *oauth2.Config {
	f := flow.Resolved()
	style, secret := oauth2.AuthStyleInParams, f.ClientSecret
	switch authOrder(&f)[0] {
	case envoi.TokenAuthBasic:
		style = oauth2.AuthStyleInHeader
	case envoi.TokenAuthNone:
		secret = ""
	}
	return &oauth2.Config{
		ClientID:     f.ClientID,
		ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:       f.AuthURL,
			TokenURL:      f.TokenURL,
			DeviceAuthURL: f.DeviceURL,
			AuthStyle:     style,
		},
		RedirectURL: redirectURL,
		Scopes:      consentScopes(&f),
	}
}

func consentScopes(f *envoi.AuthFlow) []string {
	scopes := strings.Fields(f.Scope)
	var extra []string
	switch f.Preset {
	case envoi.PresetMicrosoft365:
		extra = []string{"openid", "email", "profile"}
	case envoi.PresetGmail:
		extra = []string{"openid", "email"}
	}
	for _, e := range extra {
		if !contains(scopes, e) {
			scopes = append(scopes, e)
		}
	}
	return scopes
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// AuthCodeOptions returns the authorization request parameters a flow's
// preset needs: Gmail gives a refresh token only with access_type=offline,
// and again on a second consent only with prompt=consent.
func AuthCodeOptions(flow *envoi.AuthFlow) []oauth2.AuthCodeOption {
	if flow.Preset == envoi.PresetGmail {
		return []oauth2.AuthCodeOption{oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("prompt", "consent")}
	}
	return nil
}

// KeyFor returns the token key an operator of flow sends with: the flow's
// generic key (operator "") for a generic mailbox or an app-only grant,
// the operator's own otherwise.
// It is envoi.SendingKey, the rule sends use.
func KeyFor(flow *envoi.AuthFlow, operator string) envoi.TokenKey {
	return envoi.SendingKey(flow, operator)
}

func appOnly(flow *envoi.AuthFlow) bool {
	g := flow.EffectiveGrant()
	return g == envoi.GrantClientCredentials || g == envoi.GrantJWTBearer
}

// observe reports a token call's outcome to OnTokenCall.
func (s *Service) observe(err *envoi.Error) {
	if s.OnTokenCall == nil {
		return
	}
	switch {
	case err == nil:
		s.OnTokenCall("ok")
	case err.Code == envoi.EConsentRequired:
		s.OnTokenCall("consent_required")
	case err.Temporary:
		s.OnTokenCall("temporary")
	default:
		s.OnTokenCall("error")
	}
}
