package oauth_test

import (
	"context"
	"testing"
	"time"

	"envoi"
)

// TestAccessTokenExpiry: the token comes with the expiry stored with it,
// the refreshed one with its new expiry, and a revoked consent with the
// same error as AccessToken's.
func TestAccessTokenExpiry(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	first := e.mustConsent(t, jdupont)

	tok, exp, err := e.svc.AccessTokenExpiry(ctx, jdupontKey, false)
	must(t, err)
	if tok != first.AccessToken || !exp.Equal(first.Expiry) || !exp.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("got expiry %v for the consented token, want %v", exp, first.Expiry)
	}

	e.clock.Add(time.Hour)
	tok2, exp2, err := e.svc.AccessTokenExpiry(ctx, jdupontKey, false)
	must(t, err)
	if tok2 == tok || !exp2.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("after expiry: got a new token %v, expiry %v; want a new token expiring in an hour", tok2 != tok, exp2)
	}

	e.p.Revoke(jdupontAt)
	e.clock.Add(time.Hour)
	_, exp3, err := e.svc.AccessTokenExpiry(ctx, jdupontKey, false)
	wantCode(t, err, envoi.EConsentRequired)
	if !exp3.IsZero() {
		t.Errorf("expiry with an error: got %v, want zero", exp3)
	}
}
