package testmail

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"envoi"
	"envoi/internal/fakeapi"
)

// OAuthGrant is what an access token the provider issued stands for (the
// mail API fakes check tokens with AccessTokenGrant).
type OAuthGrant = fakeapi.Grant

// AccessTokenGrant returns what token stands for, or an error when the
// provider did not issue it, or it expired or was revoked: what a mail
// API's fake checks each request's bearer token with.
func (p *OAuthProvider) AccessTokenGrant(token string) (OAuthGrant, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.access[token]
	switch {
	case !ok:
		return OAuthGrant{}, fmt.Errorf("testmail: unknown access token")
	case a.revoked:
		return OAuthGrant{}, fmt.Errorf("testmail: access token revoked")
	case !p.now().Before(a.expires):
		return OAuthGrant{}, fmt.Errorf("testmail: access token expired")
	}
	return OAuthGrant{User: a.user, Scope: a.scope, App: a.app}, nil
}

// ExpireAccessTokens ends the life of every access token issued so far,
// as an hour passing would: the next use of one is refused and envoi
// must refresh.
func (p *OAuthProvider) ExpireAccessTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for _, a := range p.access {
		a.expires = now
	}
}

// IssueRefreshToken returns a refresh token for user with scope, as if
// user had consented in a browser: tests of a mail API start from it.
func (p *OAuthProvider) IssueRefreshToken(user, scope string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := p.issueLocked(user, p.opts.ClientID, scope, true, false)
	return resp["refresh_token"].(string)
}

// APITokens is an envoi.TokenSource for the tests of a mail API
// transport, on the provider's real token endpoint: each key's refresh
// token (or, for the key of RefreshTokens "", the client credentials
// grant with AppScope) gives access tokens; a refused refresh token is
// consent_required, as envoi's oauth package says it.
type APITokens struct {
	Provider *OAuthProvider
	// RefreshTokens by operator code ("" for a flow's shared mailbox).
	RefreshTokens map[string]string
	// AppScope, when set, makes the "" key use client credentials.
	AppScope string

	mu     sync.Mutex
	cached map[string]string
	calls  int
}

// AccessToken returns the key's access token, fetching one when there is
// none cached or force is set.
func (t *APITokens) AccessToken(ctx context.Context, key envoi.TokenKey, force bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cached == nil {
		t.cached = map[string]string{}
	}
	if tok := t.cached[key.Operator]; tok != "" && !force {
		return tok, nil
	}
	t.calls++
	form := url.Values{"client_id": {t.Provider.ClientID()}, "client_secret": {t.Provider.ClientSecret()}}
	if key.Operator == "" && t.AppScope != "" {
		form.Set("grant_type", OAuthGrantClientCredentials)
		form.Set("scope", t.AppScope)
	} else {
		rt, ok := t.RefreshTokens[key.Operator]
		if !ok {
			return "", envoi.Errorf(envoi.EConsentRequired, "no token for %q", key.Operator)
		}
		form.Set("grant_type", OAuthGrantRefreshToken)
		form.Set("refresh_token", rt)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.Provider.TokenURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := t.Provider.HTTPClient().Do(req)
	if err != nil {
		e := envoi.Errorf(envoi.EOAuthProvider, "token endpoint: %v", err)
		e.Temporary = true
		return "", e
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if out.Error == "invalid_grant" {
		return "", envoi.Errorf(envoi.EConsentRequired, "the provider refused the refresh token: %s", out.Description)
	}
	if out.AccessToken == "" {
		return "", envoi.Errorf(envoi.EOAuthProvider, "token endpoint: %d %s %s", resp.StatusCode, out.Error, out.Description)
	}
	if out.RefreshToken != "" {
		t.RefreshTokens[key.Operator] = out.RefreshToken
	}
	t.cached[key.Operator] = out.AccessToken
	return out.AccessToken, nil
}

// Calls is the number of token requests made.
func (t *APITokens) Calls() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls
}
