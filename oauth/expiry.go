package oauth

import (
	"context"
	"time"

	"envoi"
)

// AccessTokenExpiry is AccessToken with the expiry of the token returned,
// as stored with it; a zero time when the stored row no longer holds that
// token (another refresh replaced it meanwhile). The SMTP sender uses it
// to stop reusing a connection once the token that authenticated it has
// expired, so that the refreshed token is presented and a revoked consent
// takes effect.
func (s *Service) AccessTokenExpiry(ctx context.Context, key envoi.TokenKey, force bool) (string, time.Time, error) {
	tok, err := s.AccessToken(ctx, key, force)
	if err != nil {
		return "", time.Time{}, err
	}
	t, err := s.Store.Token(ctx, key)
	if err != nil || t.AccessToken != tok {
		return tok, time.Time{}, nil
	}
	return tok, t.Expiry, nil
}
