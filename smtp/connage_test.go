package smtp_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/smtp"
)

// fakeClock is a manual clock for Sender.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// expiringTokens hands one token at a time with its expiry, as the oauth
// package's Service does (smtp.TokenExpirySource); Err, once set, is the
// provider's refusal.
type expiringTokens struct {
	mu     sync.Mutex
	token  string
	expiry time.Time
	err    error
}

func (ts *expiringTokens) set(token string, expiry time.Time, err error) {
	ts.mu.Lock()
	ts.token, ts.expiry, ts.err = token, expiry, err
	ts.mu.Unlock()
}

func (ts *expiringTokens) AccessToken(ctx context.Context, key envoi.TokenKey, force bool) (string, error) {
	tok, _, err := ts.AccessTokenExpiry(ctx, key, force)
	return tok, err
}

func (ts *expiringTokens) AccessTokenExpiry(context.Context, envoi.TokenKey, bool) (string, time.Time, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.err != nil {
		return "", time.Time{}, ts.err
	}
	return ts.token, ts.expiry, nil
}

var _ smtp.TokenExpirySource = (*expiringTokens)(nil)

// TestSend_ConnectionNotReusedPastTokenExpiry: a pooled connection is
// reused while the access token that authenticated it is valid; after its
// expiry the next message opens a connection that authenticates with the
// refreshed token (seen in the server's AUTH log), and once the consent
// is revoked the next message fails with consent_required and nothing is
// sent through the old session.
func TestSend_ConnectionNotReusedPastTokenExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	valid := map[string]bool{"token-1": true}
	srv := startServer(t, testmail.SMTPOptions{ValidateToken: func(user, token string) error {
		mu.Lock()
		defer mu.Unlock()
		if valid[token] {
			return nil
		}
		return errors.New("invalid token")
	}})
	ts := &expiringTokens{}
	ts.set("token-1", clock.Now().Add(time.Hour), nil)
	s := newSender(t, srv, ts)
	s.Now = clock.Now
	s.IdleTimeout = 24 * time.Hour
	s.MaxConnAge = 24 * time.Hour
	id := oauthIdentity(srv)

	send := func(what string) *envoi.Error {
		t.Helper()
		return sendErr(t, s, id, nil)
	}
	if e := send("first"); e != nil {
		t.Fatal(e)
	}
	clock.Add(59 * time.Minute)
	if e := send("before expiry"); e != nil {
		t.Fatal(e)
	}
	if got := srv.Connections(); got != 1 {
		t.Fatalf("connections before expiry: got %d, want 1 (reused)", got)
	}

	// token-1 expires; the token source now has token-2.
	clock.Add(2 * time.Minute)
	mu.Lock()
	valid["token-2"] = true
	mu.Unlock()
	ts.set("token-2", clock.Now().Add(time.Hour), nil)
	if e := send("after expiry"); e != nil {
		t.Fatal(e)
	}
	var tokensSeen []string
	for _, a := range srv.Auths() {
		tokensSeen = append(tokensSeen, a.Token)
	}
	if len(tokensSeen) != 2 || tokensSeen[1] != "token-2" {
		t.Fatalf("AUTHs: got tokens %q, want token-1 then token-2", tokensSeen)
	}

	// The consent is revoked: the provider refuses the refresh.
	clock.Add(61 * time.Minute)
	ts.set("", time.Time{}, envoi.Errorf(envoi.EConsentRequired, "refresh token revoked"))
	if e := send("after revocation"); e == nil || e.Code != envoi.EConsentRequired {
		t.Fatalf("after revocation: got %v, want %s", e, envoi.EConsentRequired)
	}
	if got := srv.MessageCount(); got != 3 {
		t.Errorf("messages: got %d, want 3 (none after the revocation)", got)
	}
}

// TestSend_MaxConnAge: any flow's connection, basic included, is reused
// for MaxConnAge at most, however busy.
func TestSend_MaxConnAge(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	s.Now = clock.Now
	s.IdleTimeout = time.Hour
	s.MaxConnAge = 10 * time.Minute
	for i := range 4 {
		if e := sendErr(t, s, basicIdentity(srv), nil); e != nil {
			t.Fatalf("send %d: %v", i, e)
		}
		clock.Add(4 * time.Minute)
	}
	// Sent at 0, 4, 8 (one connection), 12 (past 10 minutes: a new one).
	if got, want := srv.Connections(), 2; got != want {
		t.Errorf("connections: got %d, want %d", got, want)
	}
	if got := srv.AuthCommands(); got != 2 {
		t.Errorf("AUTH commands: got %d, want 2", got)
	}
}

// TestSend_DefaultMaxConnAge: the zero value bounds the age too.
func TestSend_DefaultMaxConnAge(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	s.Now = clock.Now
	s.IdleTimeout = 24 * time.Hour
	for i := range 2 {
		if e := sendErr(t, s, basicIdentity(srv), nil); e != nil {
			t.Fatalf("send %d: %v", i, e)
		}
		clock.Add(smtp.DefaultMaxConnAge)
	}
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections: got %d, want 2", got)
	}
}
