package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"envoi"
)

// consent is a consent in progress: the state row plus what it resolved.
type consent struct {
	st       *envoi.OAuthState
	flow     *envoi.AuthFlow
	key      envoi.TokenKey
	expected string // the mailbox that must sign in; "" when unknown
}

// prepare checks that operator may consent for flowCode and returns the
// consent to start. For a generic mailbox flow the token is the flow's and
// operator may be "" (the administrator consents).
func (s *Service) prepare(ctx context.Context, flowCode, operator string) (*consent, error) {
	flow, err := s.Store.AuthFlow(ctx, flowCode)
	if err != nil {
		return nil, err
	}
	if flow.Kind != envoi.KindOAuth2 {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "kind", "flow %q is %s: there is nothing to consent to", flow.Code, flow.Kind)
	}
	if flow.EffectiveGrant() != envoi.GrantAuthorizationCode {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "grant", "flow %q uses the %s grant: it needs no consent", flow.Code, flow.EffectiveGrant())
	}
	c := &consent{flow: flow, key: KeyFor(flow, operator)}
	st := &envoi.OAuthState{Flow: flow.Code, Operator: c.key.Operator, Language: "en"}
	if operator == "" && !flow.GenericMailbox.Enabled {
		return nil, envoi.FieldError(envoi.EInvalidInput, "operator", "flow %q has no generic mailbox: say which operator consents", flow.Code)
	}
	if operator != "" {
		op, err := s.operatorInFlow(ctx, flow, operator)
		if err != nil {
			return nil, err
		}
		if !op.OAuthEnabled && !flow.GenericMailbox.Enabled {
			return nil, envoi.FieldError(envoi.EInvalidInput, "oauth_enabled", "OAuth is not enabled for operator %q: enable it on the operator first", op.Code)
		}
		if op.Language != "" {
			st.Language = op.Language
		}
		c.expected = op.Email
	}
	if flow.GenericMailbox.Enabled {
		c.expected = flow.GenericMailbox.Email
	}
	if a, err := envoi.ParseAddress(c.expected); err == nil {
		c.expected = a.Address
	}
	st.Verifier = oauth2.GenerateVerifier()
	st.State = randomState()
	st.ExpiresAt = s.now().Add(envoi.OAuthStateTTL)
	c.st = st
	return c, nil
}

// operatorInFlow returns the operator if it is assigned to flow, directly
// or through its group; EOperatorNotInFlow otherwise.
func (s *Service) operatorInFlow(ctx context.Context, flow *envoi.AuthFlow, operator string) (*envoi.Operator, error) {
	op, err := s.Store.Operator(ctx, operator)
	if err != nil {
		return nil, err
	}
	f, err := s.Store.FlowForOperator(ctx, operator)
	if envoi.ErrorCode(err) == envoi.ENoFlowForOperator {
		return nil, envoi.Errorf(envoi.EOperatorNotInFlow, "operator %q is in no flow, not in %q", operator, flow.Code).
			WithDetail("operator", operator).WithDetail("flow", flow.Code)
	}
	if err != nil {
		return nil, err
	}
	if f.Code != flow.Code {
		return nil, envoi.Errorf(envoi.EOperatorNotInFlow, "operator %q is in flow %q, not in %q", operator, f.Code, flow.Code).
			WithDetail("operator", operator).WithDetail("flow", flow.Code).WithDetail("operator_flow", f.Code)
	}
	return op, nil
}

func randomState() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authURL is the provider's consent page for c, with PKCE and the
// mailbox expected as a hint.
func (c *consent) authURL() string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(c.st.Verifier)}, AuthCodeOptions(c.flow)...)
	if c.expected != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", c.expected))
	}
	return Config(c.flow, c.st.RedirectURI).AuthCodeURL(c.st.State, opts...)
}

// webRedirectURI is the redirect URI of the web consent: PublicURL +
// /oauth/callback, or the flow's own redirect URL when the administrator
// registered one that is neither Microsoft's native page nor a loopback
// address (those serve PasteConsent and LoopbackConsent).
func (s *Service) webRedirectURI(flow *envoi.AuthFlow) (string, error) {
	if r := flow.RedirectURL; r != "" && r != MicrosoftNativeRedirect && !isLoopbackURL(r) {
		return r, nil
	}
	base, err := url.Parse(s.PublicURL)
	if err != nil || s.PublicURL == "" || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return "", envoi.FieldError(envoi.EInvalidInput, "public_url", "envoi's public URL %q is not an http(s) URL: set --public-url", s.PublicURL)
	}
	return strings.TrimRight(s.PublicURL, "/") + CallbackPath, nil
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// checkReturnTo refuses a return address outside envoi: a relative path,
// or an absolute URL under PublicURL.
func (s *Service) checkReturnTo(returnTo string) error {
	if returnTo == "" {
		return nil
	}
	bad := envoi.FieldError(envoi.EInvalidInput, "return_to", "%q is neither a path of envoi nor under its public URL", returnTo)
	if strings.ContainsAny(returnTo, "\\\r\n\t") {
		return bad
	}
	u, err := url.Parse(returnTo)
	if err != nil {
		return bad
	}
	if u.Scheme == "" && u.Host == "" && u.User == nil {
		if !strings.HasPrefix(returnTo, "/") || strings.HasPrefix(returnTo, "//") {
			return bad
		}
		return nil
	}
	base, err := url.Parse(s.PublicURL)
	if err != nil || s.PublicURL == "" {
		return bad
	}
	prefix := strings.TrimRight(base.Path, "/") + "/"
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) || u.User != nil ||
		!(strings.HasPrefix(u.Path, prefix) || u.Path == strings.TrimRight(base.Path, "/")) {
		return bad
	}
	return nil
}

// StartConsent begins a web consent of operator for flowCode and returns
// the provider's page to send the browser to. The operator must belong to
// the flow (EOperatorNotInFlow); for a generic mailbox flow operator may be
// "" (the administrator consents for the shared address). A random state,
// single-use and valid 10 minutes, is stored with the PKCE verifier so the
// callback may land on any instance. returnTo, where the callback page
// leads afterwards, must be a path of envoi or under PublicURL
// (EInvalidInput otherwise).
func (s *Service) StartConsent(ctx context.Context, flowCode, operator, returnTo string) (authURL string, err error) {
	if err := s.checkReturnTo(returnTo); err != nil {
		return "", err
	}
	c, err := s.prepare(ctx, flowCode, operator)
	if err != nil {
		return "", err
	}
	if c.st.RedirectURI, err = s.webRedirectURI(c.flow); err != nil {
		return "", err
	}
	c.st.ReturnTo = returnTo
	if err := s.Store.PutOAuthState(ctx, c.st); err != nil {
		return "", fmt.Errorf("oauth: store consent state: %w", err)
	}
	return c.authURL(), nil
}

// Callback completes a web consent from the provider's redirect: it takes
// the state (single use; EOAuthState when unknown, used or expired),
// exchanges the code with the same redirect URI and PKCE verifier, checks
// who signed in and stores the token (status valid). returnTo is the
// address given to StartConsent, returned even on error once the state is
// known. Errors: the provider's refusal mapped (EOAuthRedirectMismatch,
// EOAuthInvalidClient, EOAuthProvider with Details["provider_text"]),
// EConsentWrongMailbox naming both addresses. The errors' details carry the
// flow, operator and language of the consent for the page shown. Once the
// token is stored, Parked (when set) releases the messages waiting for it.
func (s *Service) Callback(ctx context.Context, state, code, errParam, errDesc string) (*envoi.Token, string, error) {
	if state == "" {
		return nil, "", envoi.Errorf(envoi.EOAuthState, "the provider's answer has no state")
	}
	st, err := s.Store.TakeOAuthState(ctx, state)
	if err != nil {
		return nil, "", err
	}
	if !s.now().Before(st.ExpiresAt) {
		return nil, st.ReturnTo, envoi.Errorf(envoi.EOAuthState, "the consent link expired at %s", st.ExpiresAt.UTC().Format("15:04:05"))
	}
	tok, err := s.finish(ctx, st, code, errParam, errDesc)
	if err != nil {
		e := envoi.AsError(err)
		return nil, st.ReturnTo, e.WithDetail("flow", st.Flow).WithDetail("operator", st.Operator).WithDetail("language", st.Language)
	}
	if s.Parked != nil {
		// The consent stands whether or not this works; the releaser logs.
		_, _ = s.Parked.ReleaseParked(ctx, envoi.TokenKey{Flow: tok.Flow, Operator: tok.Operator})
	}
	return tok, st.ReturnTo, nil
}

// finish exchanges the code of a consent whose state was checked.
func (s *Service) finish(ctx context.Context, st *envoi.OAuthState, code, errParam, errDesc string) (*envoi.Token, error) {
	if errParam != "" {
		return nil, consentRefusal(errParam, errDesc)
	}
	if code == "" {
		return nil, envoi.Errorf(envoi.EOAuthProvider, "the provider's answer has neither a code nor an error")
	}
	flow, err := s.Store.AuthFlow(ctx, st.Flow)
	if err != nil {
		return nil, err
	}
	c := &consent{st: st, flow: flow, key: envoi.TokenKey{Flow: st.Flow, Operator: st.Operator}}
	if err := s.expect(ctx, c); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	tok, err := s.tokenCall(ctx, flow, func(method string) (*oauth2.Token, error) {
		return configFor(flow, st.RedirectURI, method).Exchange(s.client(ctx), code, oauth2.VerifierOption(st.Verifier))
	})
	if err != nil {
		e := mapError(err)
		if e.Code == envoi.EConsentRequired {
			// A refused code is a failed consent, not a dead token.
			e.Code, e.Remedy = envoi.EOAuthProvider, envoi.Remedy(envoi.EOAuthProvider, "en")
		}
		return nil, e
	}
	return s.store(ctx, c, tok)
}

// expect fills the mailbox a consent must be given with.
func (s *Service) expect(ctx context.Context, c *consent) error {
	switch {
	case c.flow.GenericMailbox.Enabled:
		c.expected = c.flow.GenericMailbox.Email
	case c.key.Operator != "":
		op, err := s.Store.Operator(ctx, c.key.Operator)
		if err != nil {
			return err
		}
		c.expected = op.Email
	}
	if a, err := envoi.ParseAddress(c.expected); err == nil {
		c.expected = a.Address
	}
	return nil
}

// consentRefusal maps the error of the provider's redirect.
func consentRefusal(code, desc string) *envoi.Error {
	e := classify(code, desc, 0)
	if e.Code == envoi.EConsentRequired {
		e.Code, e.Remedy = envoi.EOAuthProvider, envoi.Remedy(envoi.EOAuthProvider, "en")
	}
	if code == "access_denied" || strings.Contains(desc, "AADSTS65001") {
		e.Message = "consent was not given: " + e.Details["provider_text"].(string)
	}
	return e
}

// store checks who signed in and saves the token of a consent.
func (s *Service) store(ctx context.Context, c *consent, tok *oauth2.Token) (*envoi.Token, error) {
	who, err := s.signedIn(ctx, c.flow, tok)
	if err != nil {
		return nil, err
	}
	if who != "" && c.expected != "" && !strings.EqualFold(who, c.expected) {
		return nil, envoi.Errorf(envoi.EConsentWrongMailbox, "consent was given as %s, but this identity sends as %s", who, c.expected).
			WithDetail("expected", c.expected).WithDetail("signed_in", who)
	}
	email := c.expected
	if email == "" {
		email = who
	}
	if who == "" {
		s.log().Warn("oauth: the provider does not say who signed in; trusting the consent", "flow", c.flow.Code, "operator", c.key.Operator)
	}
	if tok.RefreshToken == "" {
		s.log().Warn("oauth: the provider returned no refresh token; the token will need consent again when it expires", "flow", c.flow.Code, "operator", c.key.Operator)
	}
	now := s.now()
	t := &envoi.Token{
		Flow:          c.key.Flow,
		Operator:      c.key.Operator,
		ClientID:      c.flow.ClientID,
		Provider:      c.flow.Preset,
		Email:         email,
		Expiry:        s.expiry(tok),
		AccessToken:   tok.AccessToken,
		RefreshToken:  tok.RefreshToken,
		Status:        envoi.TokenValid,
		ConsentedAt:   now,
		RefreshedAt:   now,
		StatusChanged: now,
	}
	if err := s.Store.SaveToken(ctx, t); err != nil {
		return nil, fmt.Errorf("oauth: save token of %s/%s: %w", t.Flow, t.Operator, err)
	}
	s.log().Info("oauth: consent stored", "flow", t.Flow, "operator", t.Operator, "email", t.Email)
	return t, nil
}

// expiry is when tok expires by envoi's clock: the provider's expires_in
// counted from now (the oauth2 package counts from the wall clock).
func (s *Service) expiry(tok *oauth2.Token) time.Time {
	secs := tok.ExpiresIn
	if secs == 0 {
		switch v := tok.Extra("expires_in").(type) {
		case float64:
			secs = int64(v)
		case int64:
			secs = v
		case string:
			fmt.Sscan(v, &secs)
		}
	}
	if secs <= 0 {
		if !tok.Expiry.IsZero() {
			return tok.Expiry
		}
		secs = 3600
	}
	return s.now().Add(time.Duration(secs) * time.Second)
}

// signedIn returns the mailbox that consented: from the flow's userinfo
// endpoint when it has one, else from the id_token of the token answer
// (see the package comment for why it is trusted there), else "".
func (s *Service) signedIn(ctx context.Context, flow *envoi.AuthFlow, tok *oauth2.Token) (string, error) {
	if flow.UserinfoURL != "" {
		return s.userinfo(ctx, flow.UserinfoURL, tok.AccessToken)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", nil
	}
	claims, err := idTokenClaims(raw)
	if err != nil {
		return "", envoi.Errorf(envoi.EOAuthProvider, "the provider's id_token is unreadable: %v", err)
	}
	if !claims.audience(flow.ClientID) {
		return "", envoi.Errorf(envoi.EOAuthProvider, "the provider's id_token was issued to another client")
	}
	return claims.mailbox(), nil
}

type idClaims struct {
	Aud               any    `json:"aud"`
	Email             string `json:"email"`
	PreferredUsername string `json:"preferred_username"`
	UPN               string `json:"upn"`
}

func (c *idClaims) audience(clientID string) bool {
	switch a := c.Aud.(type) {
	case string:
		return a == clientID
	case []any:
		for _, v := range a {
			if v == clientID {
				return true
			}
		}
	}
	return false
}

// mailbox is the address the claims name: email, else Microsoft's
// preferred_username or upn when they look like addresses.
func (c *idClaims) mailbox() string {
	for _, v := range []string{c.Email, c.PreferredUsername, c.UPN} {
		if a, err := envoi.ParseAddress(v); err == nil {
			return a.Address
		}
	}
	return ""
}

func idTokenClaims(raw string) (*idClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) < 2 {
		return nil, fmt.Errorf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, err
	}
	var c idClaims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (s *Service) userinfo(ctx context.Context, endpoint, accessToken string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", envoi.FieldError(envoi.EInvalidFlowData, "userinfo_url", "%q is not a URL", endpoint)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return "", mapError(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		e := envoi.Errorf(envoi.EOAuthProvider, "the provider's userinfo answered %s", resp.Status).
			WithDetail("provider_text", strings.TrimSpace(string(body)))
		e.Temporary = resp.StatusCode >= 500
		return "", e
	}
	var c idClaims
	if err := json.Unmarshal(body, &c); err != nil {
		return "", envoi.Errorf(envoi.EOAuthProvider, "the provider's userinfo is not JSON")
	}
	return c.mailbox(), nil
}
