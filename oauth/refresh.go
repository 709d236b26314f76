package oauth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"

	"envoi"
)

// How refreshes are shared.
//
// In one process, concurrent callers for one token key wait on a single
// flight. Between instances sharing a database, the flight first claims the
// row with a compare-and-swap (UpdateToken) that sets RefreshedAt in the
// future — "being refreshed until then" — so exactly one instance calls the
// provider; the others see the claim, wait for the new token and use it.
// The claimer writes the new token with a second compare-and-swap, keeping
// a rotated refresh token. A claim whose holder died ends when its time
// passes; a holder that fails puts RefreshedAt back.
//
// When the provider refuses the refresh token (invalid_grant), the stored
// row is read again: if anything changed meanwhile (a new consent, another
// instance's refresh), that row is used. Only an unchanged row is marked
// consent_required, by a compare-and-swap, and only the instance that wins
// it calls Notify.

type flightKey struct {
	key   envoi.TokenKey
	force bool
}

type flight struct {
	done chan struct{}
	tok  string
	exp  time.Time
	err  error
}

// AccessToken returns a valid access token for key, refreshing it when it
// expires within RefreshSkew; with force it refreshes a token that looks
// valid (the mail server refused it). Concurrent callers share one refresh.
//
// Returns EConsentRequired without calling the provider when the identity
// has no token or is marked consent_required, and after the provider
// refused the refresh token (the identity is then marked and Notify
// called); a Temporary EOAuthProvider when the provider could not be
// reached or answered 5xx; EOAuthInvalidClient when it refused the flow's
// client credentials. App-only flows get their token without consent.
func (s *Service) AccessToken(ctx context.Context, key envoi.TokenKey, force bool) (string, error) {
	tok, _, err := s.AccessTokenExpiry(ctx, key, force)
	return tok, err
}

// AccessTokenExpiry is AccessToken with the expiry of the token returned,
// the one stored with it. The SMTP sender uses it to stop reusing a
// connection once the token that authenticated it has expired, so that the
// refreshed token is presented and a revoked consent takes effect.
func (s *Service) AccessTokenExpiry(ctx context.Context, key envoi.TokenKey, force bool) (string, time.Time, error) {
	t, err := s.Store.Token(ctx, key)
	switch {
	case envoi.ErrorCode(err) == envoi.ENotFound:
		flow, ferr := s.Store.AuthFlow(ctx, key.Flow)
		if ferr != nil {
			return "", time.Time{}, ferr
		}
		if !appOnly(flow) {
			return "", time.Time{}, s.noToken(key)
		}
	case err != nil:
		return "", time.Time{}, err
	case t.Status == envoi.TokenConsentRequired:
		return "", time.Time{}, consentError(t)
	case !force && s.fresh(t):
		return t.AccessToken, t.Expiry, nil
	}
	stale := ""
	if t != nil && force {
		stale = t.AccessToken
	}
	return s.shared(ctx, flightKey{key, force}, stale)
}

func (s *Service) fresh(t *envoi.Token) bool {
	return t.AccessToken != "" && t.Expiry.After(s.now().Add(s.skew()))
}

func (s *Service) noToken(key envoi.TokenKey) *envoi.Error {
	who := "operator " + key.Operator
	if key.Operator == "" {
		who = "the generic mailbox"
	}
	return envoi.Errorf(envoi.EConsentRequired, "no token yet for %s of flow %q: consent first", who, key.Flow).
		WithDetail("flow", key.Flow).WithDetail("operator", key.Operator)
}

func consentError(t *envoi.Token) *envoi.Error {
	return envoi.Errorf(envoi.EConsentRequired, "the provider refused the token of %s (flow %q): consent again", t.Email, t.Flow).
		WithDetail("flow", t.Flow).WithDetail("operator", t.Operator).WithDetail("provider_text", t.LastError)
}

// shared runs one refresh per key in this process and waits for it.
func (s *Service) shared(ctx context.Context, fk flightKey, stale string) (string, time.Time, error) {
	s.mu.Lock()
	if s.flights == nil {
		s.flights = map[flightKey]*flight{}
	}
	f, ok := s.flights[fk]
	if !ok {
		f = &flight{done: make(chan struct{})}
		s.flights[fk] = f
		// The refresh outlives the caller that started it: others wait on it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lease()+s.timeout())
		go func() {
			defer cancel()
			f.tok, f.exp, f.err = s.refresh(fctx, fk.key, fk.force, stale)
			s.mu.Lock()
			delete(s.flights, fk)
			s.mu.Unlock()
			close(f.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.exp, f.err
	case <-ctx.Done():
		e := envoi.Errorf(envoi.EOAuthProvider, "gave up waiting for the token refresh: %v", ctx.Err())
		e.Temporary = true
		return "", time.Time{}, e
	}
}

// lease is how long a claim to refresh holds.
func (s *Service) lease() time.Duration { return s.timeout() + 15*time.Second }

// refresh brings the stored token of key up to date, calling the provider
// at most once per claim it wins.
func (s *Service) refresh(ctx context.Context, key envoi.TokenKey, force bool, stale string) (string, time.Time, error) {
	wait := 5 * time.Millisecond
	for tries := 0; tries < 20; {
		t, err := s.Store.Token(ctx, key)
		if envoi.ErrorCode(err) == envoi.ENotFound {
			return s.firstAppToken(ctx, key)
		}
		if err != nil {
			return "", time.Time{}, err
		}
		if t.Status == envoi.TokenConsentRequired {
			return "", time.Time{}, consentError(t)
		}
		if s.fresh(t) && (!force || t.AccessToken != stale) {
			return t.AccessToken, t.Expiry, nil
		}
		now := s.now()
		if t.RefreshedAt.After(now) {
			// Another instance is refreshing: wait for its token.
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				e := envoi.Errorf(envoi.EOAuthProvider, "another instance is still refreshing the token: %v", ctx.Err())
				e.Temporary = true
				return "", time.Time{}, e
			}
			wait = min(2*wait, 200*time.Millisecond)
			continue
		}
		tries++
		claim := *t
		claim.RefreshedAt = now.Add(s.lease())
		if err := s.Store.UpdateToken(ctx, &claim); err != nil {
			if c := envoi.ErrorCode(err); c == envoi.EConflict || c == envoi.ENotFound {
				continue
			}
			return "", time.Time{}, err
		}
		tok, exp, done, err := s.refreshClaimed(ctx, t, &claim)
		if done {
			return tok, exp, err
		}
	}
	e := envoi.Errorf(envoi.EOAuthProvider, "the token of %s/%s kept changing while refreshing it", key.Flow, key.Operator)
	e.Temporary = true
	return "", time.Time{}, e
}

// refreshClaimed calls the provider for a row this instance claimed. done
// is false when the row changed under the claim and must be read again.
func (s *Service) refreshClaimed(ctx context.Context, before, claim *envoi.Token) (tok string, exp time.Time, done bool, err error) {
	log := s.log().With("flow", claim.Flow, "operator", claim.Operator)
	flow, err := s.Store.AuthFlow(ctx, claim.Flow)
	if err != nil {
		s.release(ctx, before, claim)
		return "", time.Time{}, true, err
	}
	nt, err := s.fetch(ctx, flow, claim.RefreshToken)
	s.observe(mapError(err))
	if err == nil {
		upd := *claim
		upd.AccessToken = nt.AccessToken
		upd.Expiry = s.expiry(nt)
		if nt.RefreshToken != "" {
			upd.RefreshToken = nt.RefreshToken
		}
		upd.RefreshedAt = s.now()
		upd.Status = envoi.TokenValid
		upd.LastError = ""
		if err := s.Store.UpdateToken(ctx, &upd); err != nil {
			// The claim was overtaken (a new consent, or a claim that timed
			// out): the new access token is still good for this caller.
			log.Warn("oauth: refreshed token not saved", "err", err)
			return upd.AccessToken, upd.Expiry, true, nil
		}
		log.Info("oauth: token refreshed", "expiry", upd.Expiry)
		return upd.AccessToken, upd.Expiry, true, nil
	}
	e := mapError(err)
	if e.Code != envoi.EConsentRequired {
		s.release(ctx, before, claim)
		log.Warn("oauth: refresh failed", "code", e.Code, "temporary", e.Temporary, "provider_text", e.Details["provider_text"])
		return "", time.Time{}, true, e
	}
	// Refused: maybe another instance or a new consent changed the row.
	cur, rerr := s.Store.Token(ctx, envoi.TokenKey{Flow: claim.Flow, Operator: claim.Operator})
	if rerr != nil || cur.RowVersion != claim.RowVersion {
		return "", time.Time{}, false, nil
	}
	mark := *claim
	mark.Status = envoi.TokenConsentRequired
	mark.LastError, _ = e.Details["provider_text"].(string)
	mark.StatusChanged = s.now()
	mark.RefreshedAt = before.RefreshedAt
	if err := s.Store.UpdateToken(ctx, &mark); err != nil {
		return "", time.Time{}, false, nil
	}
	ce := consentError(&mark)
	ce.Err = e
	log.Warn("oauth: consent required", "provider_text", mark.LastError)
	if s.Notify != nil {
		s.Notify(ctx, envoi.TokenKey{Flow: mark.Flow, Operator: mark.Operator}, ce)
	}
	return "", time.Time{}, true, ce
}

// release gives a claim back after a failure, so that the next caller
// tries again at once.
func (s *Service) release(ctx context.Context, before, claim *envoi.Token) {
	rel := *claim
	rel.RefreshedAt = before.RefreshedAt
	_ = s.Store.UpdateToken(ctx, &rel)
}

// firstAppToken gets and stores the first token of an app-only flow.
func (s *Service) firstAppToken(ctx context.Context, key envoi.TokenKey) (string, time.Time, error) {
	flow, err := s.Store.AuthFlow(ctx, key.Flow)
	if err != nil {
		return "", time.Time{}, err
	}
	if !appOnly(flow) || key.Operator != "" {
		return "", time.Time{}, s.noToken(key)
	}
	nt, err := s.fetch(ctx, flow, "")
	s.observe(mapError(err))
	if err != nil {
		e := mapError(err)
		if e.Code == envoi.EConsentRequired {
			// The service account or app is refused: the flow is wrong,
			// no person can consent.
			e.Code, e.Remedy = envoi.EOAuthProvider, envoi.Remedy(envoi.EOAuthProvider, "en")
		}
		return "", time.Time{}, e
	}
	now := s.now()
	t := &envoi.Token{
		Flow: flow.Code, ClientID: flow.ClientID, Provider: flow.Preset, Email: flow.GenericMailbox.Email,
		Expiry: s.expiry(nt), AccessToken: nt.AccessToken, Status: envoi.TokenValid,
		ConsentedAt: now, RefreshedAt: now, StatusChanged: now,
	}
	if err := s.Store.SaveToken(ctx, t); err != nil {
		return "", time.Time{}, fmt.Errorf("oauth: save app-only token of %s: %w", flow.Code, err)
	}
	return t.AccessToken, t.Expiry, nil
}

// fetch asks the provider for a new token: with the refresh token for
// consented flows, by client credentials or a signed JWT for app-only ones.
func (s *Service) fetch(ctx context.Context, flow *envoi.AuthFlow, refreshToken string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(s.client(ctx), s.timeout())
	defer cancel()
	f := flow.Resolved()
	switch f.EffectiveGrant() {
	case envoi.GrantClientCredentials:
		return s.tokenCall(ctx, flow, func(method string) (*oauth2.Token, error) {
			c := configFor(flow, "", method)
			cc := clientcredentials.Config{
				ClientID: c.ClientID, ClientSecret: c.ClientSecret, TokenURL: c.Endpoint.TokenURL,
				Scopes: appScopes(&f), AuthStyle: c.Endpoint.AuthStyle,
			}
			return cc.Token(ctx)
		})
	case envoi.GrantJWTBearer:
		jc, err := jwtConfig(&f)
		if err != nil {
			return nil, err
		}
		return jc.TokenSource(ctx).Token()
	}
	if refreshToken == "" {
		return nil, envoi.Errorf(envoi.EConsentRequired, "the provider gave no refresh token at consent").
			WithDetail("provider_text", "no refresh token")
	}
	return s.tokenCall(ctx, flow, func(method string) (*oauth2.Token, error) {
		return configFor(flow, "", method).TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
	})
}

// appScopes is the scope of a client credentials request: Microsoft wants
// the resource's "/.default"; the preset's app-only scope of the flow's
// transport (Graph's or Exchange Online's) replaces a delegated scope left
// from the preset.
func appScopes(f *envoi.AuthFlow) []string {
	scopes := strings.Fields(f.Scope)
	if f.Preset == envoi.PresetMicrosoft365 && (len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default")) {
		return []string{f.AppOnlyScope()}
	}
	return scopes
}

// jwtConfig reads a Google service account's JSON key for the JWT bearer
// grant, with the flow's generic mailbox as subject (domain-wide
// delegation).
func jwtConfig(f *envoi.AuthFlow) (*jwt.Config, error) {
	var key struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal([]byte(f.ServiceAccountKey), &key); err != nil || key.ClientEmail == "" || key.PrivateKey == "" {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "service_account_key", "not a service account JSON key (client_email and private_key are required)")
	}
	if !validRSAKey(key.PrivateKey) {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "service_account_key", "the private_key of the service account is not an RSA key in PEM")
	}
	tokenURL := f.TokenURL
	if tokenURL == "" {
		tokenURL = key.TokenURI
	}
	return &jwt.Config{
		Email:        key.ClientEmail,
		PrivateKey:   []byte(key.PrivateKey),
		PrivateKeyID: key.PrivateKeyID,
		Subject:      f.GenericMailbox.Email,
		Scopes:       strings.Fields(f.Scope),
		TokenURL:     tokenURL,
	}, nil
}

func validRSAKey(p string) bool {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return false
	}
	if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
		_, ok := k.(*rsa.PrivateKey)
		return ok
	}
	_, err := x509.ParsePKCS1PrivateKey(b.Bytes)
	return err == nil
}
