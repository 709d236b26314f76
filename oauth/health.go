package oauth

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"envoi"
)

// StatusNeverConsented is the health status of an identity that must
// consent and never did.
const StatusNeverConsented = "never_consented"

// Health lists every stored token and every identity that should have one
// and has none (an OAuth-enabled operator of a consent flow, or a generic
// mailbox), those needing consent first, then by flow and operator.
func (s *Service) Health(ctx context.Context) ([]envoi.TokenHealth, error) {
	tokens, err := s.Store.Tokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("oauth: health: %w", err)
	}
	have := map[envoi.TokenKey]bool{}
	var out []envoi.TokenHealth
	for _, t := range tokens {
		have[envoi.TokenKey{Flow: t.Flow, Operator: t.Operator}] = true
		out = append(out, envoi.TokenHealth{
			Flow: t.Flow, Operator: t.Operator, Email: t.Email, Status: t.Status,
			NeedsConsent: t.Status == envoi.TokenConsentRequired, Since: t.StatusChanged,
			LastError: t.LastError, Expiry: t.Expiry, RefreshedAt: t.RefreshedAt, ConsentedAt: t.ConsentedAt,
		})
	}
	missing, err := s.expectedIdentities(ctx)
	if err != nil {
		return nil, fmt.Errorf("oauth: health: %w", err)
	}
	for _, m := range missing {
		if !have[envoi.TokenKey{Flow: m.Flow, Operator: m.Operator}] {
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.NeedsConsent != b.NeedsConsent {
			return a.NeedsConsent
		}
		if a.Flow != b.Flow {
			return a.Flow < b.Flow
		}
		return a.Operator < b.Operator
	})
	return out, nil
}

// expectedIdentities returns, as never_consented, each identity a consent
// flow sends as.
func (s *Service) expectedIdentities(ctx context.Context) ([]envoi.TokenHealth, error) {
	flows, err := s.Store.AuthFlows(ctx)
	if err != nil {
		return nil, err
	}
	var ops []*envoi.Operator
	var out []envoi.TokenHealth
	never := func(flow, operator, email string) envoi.TokenHealth {
		return envoi.TokenHealth{Flow: flow, Operator: operator, Email: email, Status: StatusNeverConsented, NeedsConsent: true}
	}
	for _, f := range flows {
		if f.Kind != envoi.KindOAuth2 || appOnly(f) {
			continue
		}
		if f.GenericMailbox.Enabled {
			out = append(out, never(f.Code, "", f.GenericMailbox.Email))
			continue
		}
		if ops == nil {
			if ops, err = s.Store.Operators(ctx); err != nil {
				return nil, err
			}
		}
		for _, o := range ops {
			if o.OAuthEnabled && (contains(f.Operators, o.Code) || (o.Group != "" && contains(f.Groups, o.Group))) {
				out = append(out, never(f.Code, o.Code, o.Email))
			}
		}
	}
	return out, nil
}

// KeepAlive refreshes the tokens not refreshed for olderThan, so that
// refresh tokens do not die unused (Microsoft: 90 days; call it daily with
// 30 days, say). It returns how many were refreshed and the failures
// joined; a refused token becomes consent_required as in AccessToken.
func (s *Service) KeepAlive(ctx context.Context, olderThan time.Duration) (int, error) {
	tokens, err := s.Store.Tokens(ctx)
	if err != nil {
		return 0, fmt.Errorf("oauth: keep alive: %w", err)
	}
	cutoff := s.now().Add(-olderThan)
	n := 0
	var errs []error
	for _, t := range tokens {
		if t.Status != envoi.TokenValid || t.RefreshToken == "" || !t.RefreshedAt.Before(cutoff) {
			continue
		}
		key := envoi.TokenKey{Flow: t.Flow, Operator: t.Operator}
		if _, _, err := s.shared(ctx, flightKey{key, true}, t.AccessToken); err != nil {
			errs = append(errs, fmt.Errorf("oauth: keep alive %s/%s: %w", t.Flow, t.Operator, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
