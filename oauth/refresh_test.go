package oauth_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/oauth"
)

var jdupontKey = envoi.TokenKey{Flow: flowCode, Operator: jdupont}

func TestRefresh(t *testing.T) {
	for _, rot := range []struct {
		name string
		r    testmail.OAuthRotation
	}{{"RotateStrict", testmail.OAuthRotateStrict}, {"RotateLenient", testmail.OAuthRotateLenient}, {"NoRotation", testmail.OAuthRotateNone}} {
		t.Run(rot.name, func(t *testing.T) {
			e := newEnv(t, envOptions{provider: testmail.OAuthOptions{Rotation: rot.r}})
			ctx := context.Background()
			first := e.mustConsent(t, jdupont)

			// Still valid beyond the skew: no refresh.
			e.clock.Add(50 * time.Minute)
			got, err := e.svc.AccessToken(ctx, jdupontKey, false)
			must(t, err)
			if got != first.AccessToken || e.p.TokenCalls(testmail.OAuthGrantRefreshToken) != 0 {
				t.Fatal("a token valid for 10 more minutes was refreshed")
			}
			// Within the skew: refreshed silently.
			e.clock.Add(9 * time.Minute)
			second, err := e.svc.AccessToken(ctx, jdupontKey, false)
			must(t, err)
			if second == first.AccessToken {
				t.Fatal("a token expiring in 1 minute was not refreshed")
			}
			if n := e.p.TokenCalls(testmail.OAuthGrantRefreshToken); n != 1 {
				t.Errorf("refresh calls: got %d, want 1", n)
			}
			must(t, e.p.ValidateAccessToken(jdupontAt, second))
			st := e.stored(t, jdupont)
			if st.AccessToken != second || !st.Expiry.Equal(e.clock.Now().Add(time.Hour)) || !st.RefreshedAt.Equal(e.clock.Now()) {
				t.Errorf("stored after refresh: expiry %v refreshed %v", st.Expiry, st.RefreshedAt)
			}
			rotated := st.RefreshToken != first.RefreshToken
			if want := rot.r != testmail.OAuthRotateNone; rotated != want {
				t.Errorf("refresh token rotated: got %v, want %v", rotated, want)
			}

			// Long after: the saved (rotated) refresh token still works.
			e.clock.Add(3 * time.Hour)
			third, err := e.svc.AccessToken(ctx, jdupontKey, false)
			must(t, err)
			if third == second {
				t.Error("the expired token was returned")
			}
			must(t, e.p.ValidateAccessToken(jdupontAt, third))

			// force refreshes a token that looks valid.
			fourth, err := e.svc.AccessToken(ctx, jdupontKey, true)
			must(t, err)
			if fourth == third {
				t.Error("force did not refresh")
			}
			if n := e.p.TokenCalls(testmail.OAuthGrantRefreshToken); n != 3 {
				t.Errorf("refresh calls: got %d, want 3", n)
			}
		})
	}
}

// concurrentAccess calls AccessToken n times at once, spread over svcs,
// and returns the distinct tokens and errors seen.
func concurrentAccess(t *testing.T, svcs []*oauth.Service, n int, force bool) (map[string]int, []error) {
	t.Helper()
	var mu sync.Mutex
	tokens := map[string]int{}
	var errs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tok, err := svcs[i%len(svcs)].AccessToken(context.Background(), jdupontKey, force)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			tokens[tok]++
		}()
	}
	close(start)
	wg.Wait()
	return tokens, errs
}

func TestConcurrentRefresh(t *testing.T) {
	forEachBackend(t, allBackends, func(t *testing.T, b backend) {
		e := newEnv(t, envOptions{backend: b})
		first := e.mustConsent(t, jdupont)
		e.clock.Add(2 * time.Hour)

		tokens, errs := concurrentAccess(t, []*oauth.Service{e.svc}, 200, false)
		if len(errs) > 0 {
			t.Fatalf("%d errors, first: %v", len(errs), errs[0])
		}
		if n := e.p.TokenCalls(testmail.OAuthGrantRefreshToken); n != 1 {
			t.Errorf("refresh calls for 200 concurrent callers: got %d, want 1", n)
		}
		if len(tokens) != 1 {
			t.Errorf("distinct tokens: got %d, want 1", len(tokens))
		}
		for tok := range tokens {
			if tok == first.AccessToken {
				t.Error("the expired token was handed out")
			}
			must(t, e.p.ValidateAccessToken(jdupontAt, tok))
			if st := e.stored(t, jdupont); st.AccessToken != tok || st.RefreshToken == first.RefreshToken {
				t.Error("the refreshed token or its rotated refresh token was not saved")
			}
		}
	})
}

// TestConcurrentRefreshInstances runs three instances (services with
// their own store handle) on one database: they share one refresh through
// the row's compare-and-swap.
func TestConcurrentRefreshInstances(t *testing.T) {
	forEachBackend(t, []backend{memoryBackend, postgresBackend}, func(t *testing.T, b backend) {
		e := newEnv(t, envOptions{backend: b})
		e.mustConsent(t, jdupont)
		svcs := []*oauth.Service{e.svc, e.service(e.handle()), e.service(e.handle())}
		for round := 1; round <= 3; round++ {
			e.clock.Add(2 * time.Hour)
			tokens, errs := concurrentAccess(t, svcs, 200, false)
			if len(errs) > 0 {
				t.Fatalf("round %d: %d errors, first: %v", round, len(errs), errs[0])
			}
			if n := e.p.TokenCalls(testmail.OAuthGrantRefreshToken); n != round {
				t.Errorf("round %d: refresh calls for 200 callers on 3 instances: got %d in all, want %d", round, n, round)
			}
			if len(tokens) != 1 {
				t.Errorf("round %d: distinct tokens: got %d, want 1", round, len(tokens))
			}
		}
	})
}

func TestRevocation(t *testing.T) {
	for _, style := range []string{testmail.OAuthMicrosoft, testmail.OAuthGoogle} {
		t.Run(style, func(t *testing.T) {
			forEachBackend(t, allBackends, func(t *testing.T, b backend) {
				preset := envoi.PresetMicrosoft365
				wantText := "AADSTS50173"
				if style == testmail.OAuthGoogle {
					preset, wantText = envoi.PresetGmail, "Token has been expired or revoked."
				}
				e := newEnv(t, envOptions{preset: preset, backend: b})
				ctx := context.Background()
				e.mustConsent(t, jdupont)
				e.p.Revoke(jdupontAt)
				e.clock.Add(2 * time.Hour)

				tokens, errs := concurrentAccess(t, []*oauth.Service{e.svc, e.service(e.handle())}, 50, false)
				if len(tokens) != 0 || len(errs) != 50 {
					t.Fatalf("got %d tokens and %d errors, want 0 and 50", len(tokens), len(errs))
				}
				for _, err := range errs {
					ee := wantCode(t, err, envoi.EConsentRequired)
					if ee.Temporary {
						t.Error("consent_required marked temporary")
					}
				}
				if n := e.notes.count(); n != 1 {
					t.Fatalf("Notify calls: got %d, want 1", n)
				}
				if e.notes.keys[0] != jdupontKey || !strings.Contains(e.notes.errs[0].Details["provider_text"].(string), wantText) {
					t.Errorf("Notify: got %v %v", e.notes.keys[0], e.notes.errs[0].Details)
				}
				st := e.stored(t, jdupont)
				if st.Status != envoi.TokenConsentRequired || !strings.Contains(st.LastError, wantText) || !st.StatusChanged.Equal(e.clock.Now()) {
					t.Errorf("stored: status %q last error %q changed %v", st.Status, st.LastError, st.StatusChanged)
				}
				calls := e.p.TokenCalls(testmail.OAuthGrantRefreshToken)

				// Stopped: no more calls to the provider until a new consent.
				for _, force := range []bool{false, true} {
					_, err := e.svc.AccessToken(ctx, jdupontKey, force)
					wantCode(t, err, envoi.EConsentRequired)
				}
				if n := e.p.TokenCalls(testmail.OAuthGrantRefreshToken); n != calls {
					t.Errorf("refresh calls after consent_required: got %d, want %d", n, calls)
				}
				health, err := e.svc.Health(ctx)
				must(t, err)
				if h := health[0]; h.Operator != jdupont || !h.NeedsConsent || h.Status != envoi.TokenConsentRequired || !strings.Contains(h.LastError, wantText) {
					t.Errorf("health first entry: got %+v", h)
				}

				// Consent again: sending resumes.
				e.mustConsent(t, jdupont)
				tok, err := e.svc.AccessToken(ctx, jdupontKey, false)
				must(t, err)
				must(t, e.p.ValidateAccessToken(jdupontAt, tok))
				e.clock.Add(2 * time.Hour)
				tok, err = e.svc.AccessToken(ctx, jdupontKey, false)
				must(t, err)
				must(t, e.p.ValidateAccessToken(jdupontAt, tok))
				if n := e.notes.count(); n != 1 {
					t.Errorf("Notify calls: got %d, want still 1", n)
				}
			})
		})
	}
}

// TestRefreshRefusedAfterChange: the provider refuses the refresh token
// because the row changed during the refresh; the row is read again and
// used, never marked consent_required.
func TestRefreshRefusedAfterChange(t *testing.T) {
	ctx := context.Background()

	t.Run("ConsentMeanwhile", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.mustConsent(t, jdupont)
		e.clock.Add(2 * time.Hour)
		var once sync.Once
		e.p.OnTokenRequest(func(grant string) {
			if grant != testmail.OAuthGrantRefreshToken {
				return
			}
			once.Do(func() {
				// The person revokes and consents again while our refresh
				// with the old refresh token is on its way.
				e.p.Revoke(jdupontAt)
				e.mustConsent(t, jdupont)
			})
		})
		tok, err := e.svc.AccessToken(ctx, jdupontKey, false)
		must(t, err)
		st := e.stored(t, jdupont)
		if tok != st.AccessToken || st.Status != envoi.TokenValid || e.notes.count() != 0 {
			t.Errorf("got status %q, %d notifications, token is the new consent's: %v", st.Status, e.notes.count(), tok == st.AccessToken)
		}
		must(t, e.p.ValidateAccessToken(jdupontAt, tok))
	})

	t.Run("OtherInstanceRotated", func(t *testing.T) {
		// This instance's claim ran out while it waited on the provider;
		// another instance refreshed with the same refresh token, which
		// the provider rotates strictly, so ours is refused.
		e := newEnv(t, envOptions{provider: testmail.OAuthOptions{Rotation: testmail.OAuthRotateStrict}})
		e.mustConsent(t, jdupont)
		e.clock.Add(2 * time.Hour)
		other := e.service(e.store)
		var otherTok string
		var first atomic.Bool
		e.p.OnTokenRequest(func(grant string) {
			// Only the first refresh; the other instance's own call passes.
			if grant != testmail.OAuthGrantRefreshToken || !first.CompareAndSwap(false, true) {
				return
			}
			e.clock.Add(time.Minute) // past the claim (30 s timeout + 15 s)
			var err error
			otherTok, err = other.AccessToken(ctx, jdupontKey, false)
			if err != nil {
				t.Errorf("other instance: %v", err)
			}
		})
		tok, err := e.svc.AccessToken(ctx, jdupontKey, false)
		must(t, err)
		if tok != otherTok {
			t.Error("the instance refused by the provider did not take the other instance's token")
		}
		st := e.stored(t, jdupont)
		if st.Status != envoi.TokenValid || e.notes.count() != 0 {
			t.Errorf("got status %q and %d notifications, want valid and 0", st.Status, e.notes.count())
		}
		if n := e.p.TokenCalls(testmail.OAuthGrantRefreshToken); n != 2 {
			t.Errorf("refresh calls: got %d, want 2", n)
		}
		// The saved refresh token is the live one.
		e.clock.Add(2 * time.Hour)
		_, err = e.svc.AccessToken(ctx, jdupontKey, false)
		must(t, err)
	})
}

func TestProviderDown(t *testing.T) {
	for _, c := range []struct {
		name  string
		fault func(p *testmail.OAuthProvider, s *oauth.Service)
	}{
		{"ConnectionRefused", func(p *testmail.OAuthProvider, _ *oauth.Service) { p.SetFault(testmail.OAuthRefused) }},
		{"Status500", func(p *testmail.OAuthProvider, _ *oauth.Service) { p.SetFault(testmail.OAuth500) }},
		{"Slow", func(p *testmail.OAuthProvider, s *oauth.Service) {
			p.SetDelay(5 * time.Second)
			s.Timeout = 50 * time.Millisecond
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			var outcomes []string
			e.svc.OnTokenCall = func(o string) { outcomes = append(outcomes, o) }
			e.mustConsent(t, jdupont)
			e.clock.Add(2 * time.Hour)
			c.fault(e.p, e.svc)

			for range 2 { // the failed claim is released: the second try calls again
				_, err := e.svc.AccessToken(ctx, jdupontKey, false)
				ee := wantCode(t, err, envoi.EOAuthProvider)
				if !envoi.IsTemporary(err) {
					t.Errorf("error not temporary: %v", ee)
				}
			}
			st := e.stored(t, jdupont)
			if st.Status != envoi.TokenValid || e.notes.count() != 0 {
				t.Errorf("after a provider outage: status %q, notifications %d; want valid and 0", st.Status, e.notes.count())
			}

			e.p.SetFault(testmail.OAuthUp)
			e.p.SetDelay(0)
			e.svc.Timeout = 0
			tok, err := e.svc.AccessToken(ctx, jdupontKey, false)
			must(t, err)
			must(t, e.p.ValidateAccessToken(jdupontAt, tok))
			if got, want := strings.Join(outcomes, ","), "temporary,temporary,ok"; got != want {
				t.Errorf("OnTokenCall outcomes: got %s, want %s", got, want)
			}
		})
	}
}

func TestAppOnly(t *testing.T) {
	ctx := context.Background()
	generic := envoi.TokenKey{Flow: flowCode}

	t.Run("ClientCredentials", func(t *testing.T) {
		e := newEnv(t, envOptions{flow: func(f *envoi.AuthFlow) {
			f.Grant = envoi.GrantClientCredentials
			f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "sales@example.com"}
		}})
		tok, err := e.svc.AccessToken(ctx, generic, false)
		must(t, err)
		must(t, e.p.ValidateAccessToken("sales@example.com", tok))
		st := e.stored(t, "")
		if st.Email != "sales@example.com" || st.Status != envoi.TokenValid {
			t.Errorf("stored: email %q status %q", st.Email, st.Status)
		}
		again, err := e.svc.AccessToken(ctx, generic, false)
		must(t, err)
		if again != tok || e.p.TokenCalls(testmail.OAuthGrantClientCredentials) != 1 {
			t.Error("a valid app token was fetched again")
		}
		e.clock.Add(2 * time.Hour)
		renewed, err := e.svc.AccessToken(ctx, generic, false)
		must(t, err)
		if renewed == tok || e.p.TokenCalls(testmail.OAuthGrantClientCredentials) != 2 {
			t.Error("an expired app token was not renewed")
		}
		_, err = e.svc.StartConsent(ctx, flowCode, "", "")
		wantCode(t, err, envoi.EInvalidFlowData)
	})

	t.Run("ClientCredentialsBadSecret", func(t *testing.T) {
		e := newEnv(t, envOptions{flow: func(f *envoi.AuthFlow) {
			f.Grant = envoi.GrantClientCredentials
			f.ClientSecret = "wrong"
			f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "sales@example.com"}
		}})
		_, err := e.svc.AccessToken(ctx, generic, false)
		wantCode(t, err, envoi.EOAuthInvalidClient)
	})

	t.Run("JWTBearer", func(t *testing.T) {
		var key []byte
		e := newEnv(t, envOptions{preset: envoi.PresetGmail, flow: func(f *envoi.AuthFlow) {
			f.Grant = envoi.GrantJWTBearer
			f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "sales@example.com"}
			f.ServiceAccountKey = "set below"
		}})
		key = e.p.NewOAuthServiceAccount(t, "envoi@project.iam.gserviceaccount.com")
		f := *e.flow
		f.ServiceAccountKey = string(key)
		must(t, e.store.PutAuthFlow(ctx, &f))

		tok, err := e.svc.AccessToken(ctx, generic, false)
		must(t, err)
		must(t, e.p.ValidateAccessToken("sales@example.com", tok))
		if e.p.ValidateAccessToken("boss@example.com", tok) == nil {
			t.Error("a token delegated for sales@ works for another mailbox")
		}

		// A key the provider does not know: refused, not consent_required.
		other := testmail.StartOAuth(t, testmail.OAuthOptions{Style: testmail.OAuthGoogle})
		f.ServiceAccountKey = string(other.NewOAuthServiceAccount(t, "envoi@project.iam.gserviceaccount.com"))
		f.Code = "MAIL2"
		f.Operators, f.Groups = nil, nil
		must(t, e.store.PutAuthFlow(ctx, &f))
		_, err = e.svc.AccessToken(ctx, envoi.TokenKey{Flow: "MAIL2"}, false)
		ee := wantCode(t, err, envoi.EOAuthProvider)
		if !strings.Contains(ee.Details["provider_text"].(string), "Invalid JWT Signature") {
			t.Errorf("provider text: got %v", ee.Details["provider_text"])
		}
	})
}

func TestKeepAlive(t *testing.T) {
	ctx := context.Background()
	opts := envOptions{provider: testmail.OAuthOptions{RefreshIdleLifetime: 90 * 24 * time.Hour}}

	t.Run("KeepsIdleTokensAlive", func(t *testing.T) {
		e := newEnv(t, opts)
		e.mustConsent(t, jdupont)
		for range 3 { // 180 days, one keep-alive every 60
			e.clock.Add(60 * 24 * time.Hour)
			n, err := e.svc.KeepAlive(ctx, 30*24*time.Hour)
			must(t, err)
			if n != 1 {
				t.Fatalf("KeepAlive refreshed %d tokens, want 1", n)
			}
		}
		n, err := e.svc.KeepAlive(ctx, 30*24*time.Hour)
		must(t, err)
		if n != 0 {
			t.Errorf("KeepAlive refreshed %d recently refreshed tokens, want 0", n)
		}
		_, err = e.svc.AccessToken(ctx, jdupontKey, false)
		must(t, err)
	})

	t.Run("WithoutKeepAlive", func(t *testing.T) {
		e := newEnv(t, opts)
		e.mustConsent(t, jdupont)
		e.clock.Add(91 * 24 * time.Hour)
		_, err := e.svc.AccessToken(ctx, jdupontKey, false)
		ee := wantCode(t, err, envoi.EConsentRequired)
		if !strings.Contains(ee.Details["provider_text"].(string), "AADSTS700082") {
			t.Errorf("provider text: got %v, want AADSTS700082", ee.Details["provider_text"])
		}
	})
}

func TestHealth(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	e.mustConsent(t, jdupont)
	h, err := e.svc.Health(ctx)
	must(t, err)
	if len(h) != 3 {
		t.Fatalf("health entries: got %d, want 3 (%+v)", len(h), h)
	}
	for i, want := range []struct{ flow, operator, email, status string }{
		{flowCode, mmartin, mmartinAt, oauth.StatusNeverConsented},
		{"OTHER", "ndupuis", "nicolas.dupuis@example.com", oauth.StatusNeverConsented},
		{flowCode, jdupont, jdupontAt, envoi.TokenValid},
	} {
		got := h[i]
		if got.Flow != want.flow || got.Operator != want.operator || got.Email != want.email || got.Status != want.status ||
			got.NeedsConsent != (want.status != envoi.TokenValid) {
			t.Errorf("entry %d: got %+v, want %+v", i, got, want)
		}
	}
	if !h[2].ConsentedAt.Equal(e.clock.Now()) || !h[2].Since.Equal(e.clock.Now()) {
		t.Errorf("jdupont consented at %v since %v, want now", h[2].ConsentedAt, h[2].Since)
	}
}
