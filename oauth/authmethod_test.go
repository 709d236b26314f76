package oauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
)

// methodsOf lists how the client authenticated in each token request of
// grant the provider saw ("" for every grant), in order.
func methodsOf(p *testmail.OAuthProvider, grant string) []string {
	var out []string
	for _, r := range p.TokenRequests() {
		if grant == "" || r.Grant == grant {
			out = append(out, r.Method)
		}
	}
	return out
}

func sameList(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}

func withMethod(m string) func(f *envoi.AuthFlow) {
	return func(f *envoi.AuthFlow) { f.TokenAuthMethod = m }
}

// A provider that accepts only client_secret_basic (RFC 6749 §2.3.1's
// one mandatory method) works with auto and client_secret_basic for every
// token request envoi makes: the code exchange, refresh, the device code
// and the app-only grant. Before token_auth_method envoi always sent the
// secret in the body and each of these failed with invalid_client.
func TestTokenAuthBasicOnlyProvider(t *testing.T) {
	ctx := context.Background()
	for _, method := range []string{envoi.TokenAuthAuto, envoi.TokenAuthBasic} {
		t.Run(method, func(t *testing.T) {
			t.Run("ConsentAndRefresh", func(t *testing.T) {
				e := newEnv(t, envOptions{provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic}, flow: withMethod(method)})
				first := e.mustConsent(t, jdupont)
				e.clock.Add(59 * time.Minute)
				second, err := e.svc.AccessToken(ctx, jdupontKey, false)
				must(t, err)
				if second == first.AccessToken {
					t.Fatal("not refreshed")
				}
				must(t, e.p.ValidateAccessToken(jdupontAt, second))
				if got := methodsOf(e.p, ""); !sameList(got, "client_secret_basic", "client_secret_basic") {
					t.Errorf("methods: got %v, want Basic for the exchange and the refresh, nothing refused", got)
				}
			})
			t.Run("Device", func(t *testing.T) {
				e := newEnv(t, envOptions{provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic}, flow: withMethod(method)})
				tok, err := e.svc.DeviceConsent(ctx, flowCode, jdupont, func(string, string) {})
				must(t, err)
				must(t, e.p.ValidateAccessToken(jdupontAt, tok.AccessToken))
				if got := methodsOf(e.p, testmail.OAuthGrantDeviceCode); !sameList(got, "client_secret_basic") {
					t.Errorf("device polls: got %v", got)
				}
			})
			t.Run("AppOnly", func(t *testing.T) {
				e := newEnv(t, envOptions{provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic}, flow: func(f *envoi.AuthFlow) {
					f.TokenAuthMethod = method
					f.Grant = envoi.GrantClientCredentials
					f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "sales@example.com"}
				}})
				res, err := e.svc.Test(ctx, flowCode, "", nil)
				must(t, err)
				if !res.OK {
					t.Fatalf("Test: %+v", res)
				}
				e.clock.Add(2 * time.Hour)
				tok, err := e.svc.AccessToken(ctx, envoi.TokenKey{Flow: flowCode}, false)
				must(t, err)
				must(t, e.p.ValidateAccessToken("sales@example.com", tok))
				if got := methodsOf(e.p, ""); !sameList(got, "client_secret_basic", "client_secret_basic") {
					t.Errorf("methods: got %v", got)
				}
			})
		})
	}
}

// client_secret_post against a Basic-only provider fails, and the error
// says the method may be the cause, not only that the secret is wrong.
func TestTokenAuthPostRefusedSaysMethod(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, err error) {
		t.Helper()
		ee := wantCode(t, err, envoi.EOAuthInvalidClient)
		if !strings.Contains(ee.Message, "token_auth_method") || !strings.Contains(ee.Message, "client_secret_basic") {
			t.Errorf("message does not point at the method: %q", ee.Message)
		}
		if ee.Details["token_auth_method"] != envoi.TokenAuthPost {
			t.Errorf("details: %v", ee.Details)
		}
		if !strings.Contains(envoi.Remedy(envoi.EOAuthInvalidClient, "en"), "token_auth_method") {
			t.Error("the remedy of oauth_invalid_client does not mention token_auth_method")
		}
	}
	t.Run("Consent", func(t *testing.T) {
		e := newEnv(t, envOptions{provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic}, flow: withMethod(envoi.TokenAuthPost)})
		_, _, err := e.consent(t, jdupont)
		check(t, err)
		if got := methodsOf(e.p, ""); !sameList(got, "client_secret_post") {
			t.Errorf("methods: got %v, want one post and no fallback", got)
		}
	})
	t.Run("AppOnly", func(t *testing.T) {
		e := newEnv(t, envOptions{provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic}, flow: func(f *envoi.AuthFlow) {
			f.TokenAuthMethod = envoi.TokenAuthPost
			f.Grant = envoi.GrantClientCredentials
			f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "sales@example.com"}
		}})
		res, err := e.svc.Test(ctx, flowCode, "", nil)
		check(t, err)
		if res.OK || len(res.Steps) == 0 || res.Steps[len(res.Steps)-1].Name != "token" {
			t.Errorf("Test: %+v", res)
		}
	})
	t.Run("WrongSecretWithAuto", func(t *testing.T) {
		// Both methods refused: the secret is at fault, said so.
		e := newEnv(t, envOptions{provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic}, flow: func(f *envoi.AuthFlow) {
			f.TokenAuthMethod = envoi.TokenAuthAuto
			f.ClientSecret = "wrong"
		}})
		_, _, err := e.consent(t, jdupont)
		ee := wantCode(t, err, envoi.EOAuthInvalidClient)
		if !strings.Contains(ee.Message, "tried client_secret_basic and client_secret_post") {
			t.Errorf("message: %q", ee.Message)
		}
	})
}

// auto on a provider that takes only the body: the first request tries
// Basic, is refused, falls back to the body once and stores what worked;
// later requests, by this instance or another, go to the body at once.
func TestTokenAuthAutoRemembers(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, allBackends, func(t *testing.T, b backend) {
		e := newEnv(t, envOptions{backend: b, provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthPost}, flow: withMethod(envoi.TokenAuthAuto)})
		e.mustConsent(t, jdupont)
		f, err := e.store.AuthFlow(ctx, flowCode)
		must(t, err)
		if f.TokenAuthLearned != envoi.TokenAuthPost {
			t.Errorf("learned: got %q, want client_secret_post", f.TokenAuthLearned)
		}
		e.clock.Add(59 * time.Minute)
		_, err = e.svc.AccessToken(ctx, jdupontKey, false)
		must(t, err)
		// Another instance (a restart) on the same database.
		other := e.service(e.handle())
		e.clock.Add(59 * time.Minute)
		_, err = other.AccessToken(ctx, jdupontKey, false)
		must(t, err)
		want := []string{"client_secret_basic", "client_secret_post", "client_secret_post", "client_secret_post"}
		if got := methodsOf(e.p, ""); !sameList(got, want...) {
			t.Errorf("methods: got %v, want %v (the refreshes did not first fail)", got, want)
		}
		// A change of the flow's client forgets what was learned.
		if b.name != "memory" {
			f.ClientID = "another-client"
			f.ClientSecret = ""
			must(t, e.store.PutAuthFlow(ctx, f))
			f, err = e.store.AuthFlow(ctx, flowCode)
			must(t, err)
			if f.TokenAuthLearned != "" {
				t.Errorf("learned after a change of client: got %q, want none", f.TokenAuthLearned)
			}
		}
	})
}

// Rotated refresh tokens are stored: with strict rotation on a Basic-only
// provider, each refresh presents the refresh token the previous one got.
func TestTokenAuthRotatedRefreshStored(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{provider: testmail.OAuthOptions{ClientAuth: testmail.OAuthClientAuthBasic, Rotation: testmail.OAuthRotateStrict}, flow: withMethod(envoi.TokenAuthAuto)})
	first := e.mustConsent(t, jdupont)
	var presented []string
	var stored []string
	for range 2 {
		e.clock.Add(59 * time.Minute)
		_, err := e.svc.AccessToken(ctx, jdupontKey, false)
		must(t, err)
		stored = append(stored, e.stored(t, jdupont).RefreshToken)
	}
	for _, r := range e.p.TokenRequests() {
		if r.Grant == testmail.OAuthGrantRefreshToken {
			presented = append(presented, r.RefreshToken)
		}
	}
	if len(presented) != 2 || presented[0] != first.RefreshToken || presented[1] != stored[0] || stored[1] == stored[0] {
		t.Errorf("refresh tokens: consent %q, presented %v, stored %v", first.RefreshToken, presented, stored)
	}
}

// none is a public client: no secret is sent, even one left stored, and
// auto without a secret behaves the same.
func TestTokenAuthNone(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		method string
		secret string
	}{{"None", envoi.TokenAuthNone, "left-over"}, {"AutoWithoutSecret", envoi.TokenAuthAuto, ""}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{provider: testmail.OAuthOptions{PublicClient: true}, flow: func(f *envoi.AuthFlow) {
				f.TokenAuthMethod = c.method
				f.ClientSecret = c.secret
			}})
			e.mustConsent(t, jdupont)
			e.clock.Add(59 * time.Minute)
			_, err := e.svc.AccessToken(ctx, jdupontKey, false)
			must(t, err)
			_, err = e.svc.DeviceConsent(ctx, flowCode, jdupont, func(string, string) {})
			must(t, err)
			if got := methodsOf(e.p, ""); !sameList(got, "none", "none", "none") {
				t.Errorf("methods: got %v, want no secret in any request", got)
			}
		})
	}
}
