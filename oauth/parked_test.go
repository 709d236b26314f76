package oauth_test

import (
	"context"
	"sync"
	"testing"

	"envoi"
)

// releases records the identities handed to ReleaseParked.
type releases struct {
	mu   sync.Mutex
	keys []envoi.TokenKey
}

func (r *releases) ReleaseParked(_ context.Context, key envoi.TokenKey) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	return 1, nil
}

// TestCallbackReleasesParked: a web consent that succeeds hands its
// identity to Parked once; a refused one hands nothing.
func TestCallbackReleasesParked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	rel := &releases{}
	e.svc.Parked = rel

	authURL, err := e.svc.StartConsent(ctx, flowCode, jdupont, "")
	must(t, err)
	q := e.browser(t, authURL).Query()
	_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
	must(t, err)
	// The same state again is refused: no second release.
	_, _, err = e.svc.Callback(ctx, q.Get("state"), q.Get("code"), "", "")
	wantCode(t, err, envoi.EOAuthState)
	authURL, err = e.svc.StartConsent(ctx, flowCode, jdupont, "")
	must(t, err)
	q = e.browser(t, authURL).Query()
	_, _, err = e.svc.Callback(ctx, q.Get("state"), "", "access_denied", "the user declined")
	if err == nil {
		t.Fatal("a declined consent succeeded")
	}

	want := []envoi.TokenKey{{Flow: flowCode, Operator: jdupont}}
	if len(rel.keys) != 1 || rel.keys[0] != want[0] {
		t.Fatalf("released: got %v, want %v", rel.keys, want)
	}
}
