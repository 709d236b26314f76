package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"envoi"
)

func TestTokens(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		must(t, s.PutOperator(ctx, operator("jdupont", "")))
		must(t, s.PutAuthFlow(ctx, m365Flow("M365", "jdupont")))
		key := envoi.TokenKey{Flow: "M365", Operator: "jdupont"}

		// Microsoft's tokens exceed 2 KB; 8 KB leaves room.
		access, refresh := randomToken(8192), randomToken(8192)
		tok := &envoi.Token{Flow: "M365", Operator: "jdupont", ClientID: "11111111-2222", Provider: envoi.PresetMicrosoft365,
			Email: "jdupont@forterro.example", Expiry: clk.Now().Add(time.Hour), AccessToken: access, RefreshToken: refresh,
			ConsentedAt: clk.Now(), RefreshedAt: clk.Now()}

		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := s.Token(ctx, key)
			wantCode(t, err, envoi.ENotFound)
			wantCode(t, s.DeleteToken(ctx, key), envoi.ENotFound)
			wantCode(t, s.UpdateToken(ctx, &envoi.Token{Flow: "M365", Operator: "jdupont", RowVersion: 1}), envoi.ENotFound)
		})

		t.Run("Save", func(t *testing.T) {
			must(t, s.SaveToken(ctx, tok))
			if tok.RowVersion != 1 || tok.Status != envoi.TokenValid {
				t.Errorf("RowVersion %d status %q, want 1 valid", tok.RowVersion, tok.Status)
			}
			got, err := s.Token(ctx, key)
			must(t, err)
			if got.AccessToken != access || got.RefreshToken != refresh || got.ClientID != "11111111-2222" || got.Email != tok.Email ||
				!got.Expiry.Equal(tok.Expiry.Truncate(time.Microsecond)) || got.RowVersion != 1 || got.Provider != envoi.PresetMicrosoft365 ||
				!got.ConsentedAt.Equal(clk.Now().Truncate(time.Microsecond)) || got.Status != envoi.TokenValid {
				t.Errorf("got %+v", got)
			}
			// A new consent replaces the token whatever its version.
			again := *tok
			again.RowVersion = 0
			must(t, s.SaveToken(ctx, &again))
			if again.RowVersion != 2 {
				t.Errorf("RowVersion = %d after a second save, want 2", again.RowVersion)
			}
		})

		t.Run("UpdateCAS", func(t *testing.T) {
			a, err := s.Token(ctx, key)
			must(t, err)
			b, _ := s.Token(ctx, key)
			a.AccessToken = randomToken(8192)
			clk.Advance(time.Minute)
			a.RefreshedAt = clk.Now()
			must(t, s.UpdateToken(ctx, a))
			if a.RowVersion != 3 {
				t.Errorf("RowVersion = %d, want 3", a.RowVersion)
			}
			// b read version 2: another instance refreshed first.
			b.AccessToken = "stale"
			e := wantCode(t, s.UpdateToken(ctx, b), envoi.EConflict)
			if e.Details["row_version"] != int64(3) {
				t.Errorf("details %v", e.Details)
			}
			got, _ := s.Token(ctx, key)
			if got.AccessToken != a.AccessToken || got.RowVersion != 3 {
				t.Errorf("the stale update was written: version %d", got.RowVersion)
			}
		})

		t.Run("UpdateConcurrently", func(t *testing.T) {
			base, _ := s.Token(ctx, key)
			const n = 8
			var wg sync.WaitGroup
			wins := make(chan string, n)
			for i := range n {
				wg.Go(func() {
					tk := *base
					tk.AccessToken = randomToken(4096)
					err := s.UpdateToken(ctx, &tk)
					switch envoi.ErrorCode(err) {
					case "":
						wins <- tk.AccessToken
					case envoi.EConflict:
					default:
						t.Errorf("update %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			close(wins)
			var won []string
			for w := range wins {
				won = append(won, w)
			}
			if len(won) != 1 {
				t.Fatalf("%d updates won, want exactly 1", len(won))
			}
			got, _ := s.Token(ctx, key)
			if got.AccessToken != won[0] || got.RowVersion != base.RowVersion+1 {
				t.Errorf("stored version %d token of the winner: %v", got.RowVersion, got.AccessToken == won[0])
			}
		})

		t.Run("ConsentRequired", func(t *testing.T) {
			tk, _ := s.Token(ctx, key)
			tk.Status, tk.LastError = envoi.TokenConsentRequired, "AADSTS700082: The refresh token has expired"
			tk.StatusChanged = clk.Now()
			must(t, s.UpdateToken(ctx, tk))
			got, _ := s.Token(ctx, key)
			if got.Status != envoi.TokenConsentRequired || got.LastError != tk.LastError || !got.StatusChanged.Equal(clk.Now().Truncate(time.Microsecond)) {
				t.Errorf("got %+v", got)
			}
		})

		t.Run("GenericMailbox", func(t *testing.T) {
			must(t, s.SaveToken(ctx, &envoi.Token{Flow: "M365", Operator: "", Email: "adv@forterro.example", AccessToken: "shared"}))
			got, err := s.Token(ctx, envoi.TokenKey{Flow: "M365"})
			must(t, err)
			if got.AccessToken != "shared" || got.RefreshToken != "" || got.ClientID != "" {
				t.Errorf("got %+v", got)
			}
			list, err := s.Tokens(ctx)
			must(t, err)
			if len(list) != 2 || list[0].Operator != "" || list[1].Operator != "jdupont" || list[1].RefreshToken == "" {
				t.Errorf("Tokens = %d", len(list))
			}
			must(t, s.DeleteToken(ctx, envoi.TokenKey{Flow: "M365"}))
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			wantCode(t, s.SaveToken(ctx, &envoi.Token{Flow: "NOFLOW", Operator: "jdupont"}), envoi.ENotFound)
			wantField(t, s.SaveToken(ctx, &envoi.Token{Flow: "M365", Operator: "ghost"}), envoi.ENotFound, "operator")
			wantField(t, s.SaveToken(ctx, &envoi.Token{Flow: "bad flow"}), envoi.EInvalidInput, "flow")
			wantField(t, s.SaveToken(ctx, &envoi.Token{Flow: "M365", Status: "expired"}), envoi.EInvalidInput, "status")
		})
	})
}

func TestOAuthStates(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		state := randomToken(43)
		verifier := randomToken(64)
		st := &envoi.OAuthState{State: state, Flow: "M365", Operator: "jdupont", Verifier: verifier,
			RedirectURI: "http://127.0.0.1:8025/oauth/callback", ReturnTo: "/ui/operators", Language: "fr"}
		must(t, s.PutOAuthState(ctx, st))
		if !st.ExpiresAt.Equal(clk.Now().Add(envoi.OAuthStateTTL)) {
			t.Errorf("ExpiresAt = %v, want now + TTL", st.ExpiresAt)
		}

		t.Run("SingleUse", func(t *testing.T) {
			got, err := s.TakeOAuthState(ctx, state)
			must(t, err)
			if got.State != state || got.Verifier != verifier || got.Flow != "M365" || got.Operator != "jdupont" ||
				got.RedirectURI != st.RedirectURI || got.ReturnTo != st.ReturnTo || got.Language != "fr" {
				t.Errorf("got %+v", got)
			}
			_, err = s.TakeOAuthState(ctx, state)
			wantCode(t, err, envoi.EOAuthState)
		})

		t.Run("ErrUnknown", func(t *testing.T) {
			_, err := s.TakeOAuthState(ctx, randomToken(43))
			wantCode(t, err, envoi.EOAuthState)
			_, err = s.TakeOAuthState(ctx, "")
			wantCode(t, err, envoi.EOAuthState)
		})

		t.Run("ErrExpired", func(t *testing.T) {
			old := &envoi.OAuthState{State: randomToken(43), Flow: "M365", Verifier: "v"}
			must(t, s.PutOAuthState(ctx, old))
			clk.Advance(envoi.OAuthStateTTL + time.Second)
			_, err := s.TakeOAuthState(ctx, old.State)
			wantCode(t, err, envoi.EOAuthState)
		})

		t.Run("ExpiredPurged", func(t *testing.T) {
			stale := &envoi.OAuthState{State: randomToken(43), Flow: "M365", Verifier: "v"}
			must(t, s.PutOAuthState(ctx, stale))
			clk.Advance(envoi.OAuthStateTTL + time.Second)
			must(t, s.PutOAuthState(ctx, &envoi.OAuthState{State: randomToken(43), Flow: "M365"}))
			var n int
			must(t, s.DB().QueryRow(`SELECT count(*) FROM oauth_states`).Scan(&n))
			if n != 1 {
				t.Errorf("%d states stored, want 1 (expired ones purged)", n)
			}
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			wantField(t, s.PutOAuthState(ctx, &envoi.OAuthState{State: "short", Flow: "M365"}), envoi.EInvalidInput, "state")
			wantField(t, s.PutOAuthState(ctx, &envoi.OAuthState{State: randomToken(43), Flow: "a b"}), envoi.EInvalidInput, "flow")
			dup := &envoi.OAuthState{State: randomToken(43), Flow: "M365"}
			must(t, s.PutOAuthState(ctx, dup))
			wantCode(t, s.PutOAuthState(ctx, dup), envoi.EConflict)
		})
	})
}
