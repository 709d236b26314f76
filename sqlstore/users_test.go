package sqlstore_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"envoi"
)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func adminUser(email string) *envoi.User {
	return &envoi.User{Email: email, Name: "Admin", Role: envoi.RoleAdmin, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"}
}

func TestUsers(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)

		t.Run("CreateAndRead", func(t *testing.T) {
			u := adminUser("  Alice@Forterro.Example ")
			must(t, s.CreateUser(ctx, u))
			if u.ID == "" || u.CreatedAt.IsZero() {
				t.Fatalf("created user = %+v, want an id and a creation time", u)
			}
			if u.Email != "alice@forterro.example" {
				t.Errorf("email = %q, want it trimmed and in lower case", u.Email)
			}
			got, err := s.UserByEmail(ctx, "ALICE@forterro.example")
			must(t, err)
			if got.ID != u.ID || got.PasswordHash != u.PasswordHash || got.Role != envoi.RoleAdmin || !got.CreatedAt.Equal(u.CreatedAt) {
				t.Errorf("by e-mail = %+v, want %+v", got, u)
			}
			byID, err := s.User(ctx, u.ID)
			must(t, err)
			if byID.Email != u.Email {
				t.Errorf("by id: email %q, want %q", byID.Email, u.Email)
			}
		})
		t.Run("ErrConflict", func(t *testing.T) {
			wantCode(t, s.CreateUser(ctx, adminUser("alice@FORTERRO.example")), envoi.EConflict)
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			cases := []struct {
				name  string
				user  envoi.User
				field string
			}{
				{"BadEmail", envoi.User{Email: "not an address", Role: envoi.RoleAdmin}, "email"},
				{"BadRole", envoi.User{Email: "x@y.example", Role: "root"}, "role"},
				{"OperatorWithoutCode", envoi.User{Email: "x@y.example", Role: envoi.RoleOperator}, "operator"},
				{"BadLanguage", envoi.User{Email: "x@y.example", Role: envoi.RoleAdmin, Language: "de"}, "language"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					u := c.user
					wantField(t, s.CreateUser(ctx, &u), envoi.EInvalidInput, c.field)
				})
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := s.User(ctx, "usr_missing")
			wantCode(t, err, envoi.ENotFound)
			_, err = s.UserByEmail(ctx, "nobody@forterro.example")
			wantCode(t, err, envoi.ENotFound)
			wantCode(t, s.DeleteUser(ctx, "usr_missing"), envoi.ENotFound)
			wantCode(t, s.SetPassword(ctx, "usr_missing", "x"), envoi.ENotFound)
			_, err = s.RecordLoginFailure(ctx, "usr_missing", 3, time.Now())
			wantCode(t, err, envoi.ENotFound)
		})
		t.Run("UpdateAndList", func(t *testing.T) {
			op := &envoi.User{Email: "jdupont@forterro.example", Role: envoi.RoleOperator, Operator: "jdupont", Language: "fr"}
			must(t, s.CreateUser(ctx, op))
			op.Name, op.Language = "Jeanne Dupont", "es"
			must(t, s.UpdateUser(ctx, op))
			got, err := s.User(ctx, op.ID)
			must(t, err)
			if got.Name != "Jeanne Dupont" || got.Language != "es" || got.Operator != "jdupont" || got.Role != envoi.RoleOperator {
				t.Errorf("after update = %+v", got)
			}
			list, err := s.Users(ctx)
			must(t, err)
			if len(list) != 2 || list[0].Email != "alice@forterro.example" || list[1].Email != "jdupont@forterro.example" {
				t.Errorf("users = %d, want alice then jdupont", len(list))
			}
		})
	})
}

func TestLoginFailuresLock(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		u := adminUser("bob@forterro.example")
		must(t, s.CreateUser(ctx, u))
		lockUntil := clk.Now().Add(15 * time.Minute).UTC().Truncate(time.Microsecond)

		for i := 1; i <= 2; i++ {
			got, err := s.RecordLoginFailure(ctx, u.ID, 3, lockUntil)
			must(t, err)
			if got.FailedLogins != i || !got.LockedUntil.IsZero() {
				t.Fatalf("after %d failures: count %d, locked until %v; want %d and no lock", i, got.FailedLogins, got.LockedUntil, i)
			}
		}
		got, err := s.RecordLoginFailure(ctx, u.ID, 3, lockUntil)
		must(t, err)
		if !got.LockedUntil.Equal(lockUntil) || got.FailedLogins != 0 {
			t.Fatalf("third failure: locked until %v count %d, want %v and 0", got.LockedUntil, got.FailedLogins, lockUntil)
		}
		must(t, s.RecordLogin(ctx, u.ID))
		got, err = s.User(ctx, u.ID)
		must(t, err)
		if !got.LockedUntil.IsZero() || got.FailedLogins != 0 || !got.LastLogin.Equal(clk.Now().UTC().Truncate(time.Microsecond)) {
			t.Errorf("after a good sign-in = %+v, want no lock and last login now", got)
		}

		// Concurrent failures are all counted.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := s.RecordLoginFailure(ctx, u.ID, 100, lockUntil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, err = s.User(ctx, u.ID)
		must(t, err)
		if got.FailedLogins != 8 {
			t.Errorf("after 8 concurrent failures: count %d, want 8", got.FailedLogins)
		}
		must(t, s.Unlock(ctx, u.ID))
		got, _ = s.User(ctx, u.ID)
		if got.FailedLogins != 0 {
			t.Errorf("after unlock: count %d, want 0", got.FailedLogins)
		}
	})
}

func TestSessions(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		u := adminUser("carol@forterro.example")
		must(t, s.CreateUser(ctx, u))
		now := clk.Now().UTC().Truncate(time.Microsecond)

		sess := &envoi.Session{Hash: hashOf("token-1"), UserID: u.ID, ExpiresAt: now.Add(time.Hour)}
		must(t, s.CreateSession(ctx, sess))
		got, err := s.Session(ctx, hashOf("token-1"))
		must(t, err)
		if got.UserID != u.ID || !got.ExpiresAt.Equal(now.Add(time.Hour)) || !got.LastSeen.Equal(now) {
			t.Errorf("session = %+v", got)
		}
		_, err = s.Session(ctx, hashOf("token-2"))
		wantCode(t, err, envoi.EUnauthorized)

		must(t, s.TouchSession(ctx, hashOf("token-1"), now.Add(time.Minute)))
		got, _ = s.Session(ctx, hashOf("token-1"))
		if !got.LastSeen.Equal(now.Add(time.Minute)) {
			t.Errorf("last seen %v, want %v", got.LastSeen, now.Add(time.Minute))
		}
		wantCode(t, s.TouchSession(ctx, hashOf("token-2"), now), envoi.EUnauthorized)

		t.Run("ErrBadHash", func(t *testing.T) {
			wantField(t, s.CreateSession(ctx, &envoi.Session{Hash: []byte("short"), UserID: u.ID, ExpiresAt: now}), envoi.EInvalidInput, "hash")
		})
		t.Run("ErrUnknownUser", func(t *testing.T) {
			wantCode(t, s.CreateSession(ctx, &envoi.Session{Hash: hashOf("x"), UserID: "usr_missing", ExpiresAt: now}), envoi.ENotFound)
		})

		// Expired sessions go; live ones stay.
		must(t, s.CreateSession(ctx, &envoi.Session{Hash: hashOf("old"), UserID: u.ID, ExpiresAt: now.Add(-time.Minute)}))
		n, err := s.DeleteExpiredSessions(ctx, now)
		must(t, err)
		if n != 1 {
			t.Errorf("deleted %d expired sessions, want 1", n)
		}
		if _, err := s.Session(ctx, hashOf("token-1")); err != nil {
			t.Errorf("live session deleted: %v", err)
		}

		// A new password ends every session.
		must(t, s.SetPassword(ctx, u.ID, "$argon2id$new"))
		_, err = s.Session(ctx, hashOf("token-1"))
		wantCode(t, err, envoi.EUnauthorized)
		got2, _ := s.User(ctx, u.ID)
		if got2.PasswordHash != "$argon2id$new" {
			t.Errorf("hash = %q after SetPassword", got2.PasswordHash)
		}

		// Deleting the user deletes their sessions.
		must(t, s.CreateSession(ctx, &envoi.Session{Hash: hashOf("token-3"), UserID: u.ID, ExpiresAt: now.Add(time.Hour)}))
		must(t, s.DeleteUser(ctx, u.ID))
		_, err = s.Session(ctx, hashOf("token-3"))
		wantCode(t, err, envoi.EUnauthorized)
		must(t, s.DeleteSession(ctx, hashOf("token-3")))
	})
}

func TestPasswordResets(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		u := adminUser("dan@forterro.example")
		must(t, s.CreateUser(ctx, u))
		exp := clk.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)

		must(t, s.CreatePasswordReset(ctx, &envoi.PasswordReset{Hash: hashOf("reset-1"), UserID: u.ID, ExpiresAt: exp}))
		// Single use, even when taken twice at once.
		var wg sync.WaitGroup
		results := make([]error, 4)
		taken := make([]*envoi.PasswordReset, 4)
		for i := range results {
			wg.Go(func() { taken[i], results[i] = s.TakePasswordReset(ctx, hashOf("reset-1")) })
		}
		wg.Wait()
		ok := 0
		for i, err := range results {
			if err == nil {
				ok++
				if taken[i].UserID != u.ID || !taken[i].ExpiresAt.Equal(exp) {
					t.Errorf("taken reset = %+v", taken[i])
				}
			} else {
				wantCode(t, err, envoi.EUnauthorized)
			}
		}
		if ok != 1 {
			t.Errorf("%d takes of one reset succeeded, want 1", ok)
		}

		// A new password voids pending resets.
		must(t, s.CreatePasswordReset(ctx, &envoi.PasswordReset{Hash: hashOf("reset-2"), UserID: u.ID, ExpiresAt: exp}))
		must(t, s.SetPassword(ctx, u.ID, "$argon2id$other"))
		_, err := s.TakePasswordReset(ctx, hashOf("reset-2"))
		wantCode(t, err, envoi.EUnauthorized)

		// Expired resets are swept with the sessions.
		must(t, s.CreatePasswordReset(ctx, &envoi.PasswordReset{Hash: hashOf("reset-3"), UserID: u.ID, ExpiresAt: clk.Now().Add(-time.Second)}))
		_, err = s.DeleteExpiredSessions(ctx, clk.Now())
		must(t, err)
		_, err = s.TakePasswordReset(ctx, hashOf("reset-3"))
		wantCode(t, err, envoi.EUnauthorized)

		wantCode(t, s.CreatePasswordReset(ctx, &envoi.PasswordReset{Hash: hashOf("r"), UserID: "usr_missing", ExpiresAt: exp}), envoi.ENotFound)
	})
}

func TestSettings(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		got, err := s.Settings(ctx)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("settings of a new database = %v, want none", got)
		}
		must(t, s.PutSetting(ctx, "system_sender", "jdupont"))
		must(t, s.PutSetting(ctx, "system_sender", "admin"))
		must(t, s.PutSetting(ctx, "system_company", "FORTERRO"))
		got, err = s.Settings(ctx)
		must(t, err)
		if got["system_sender"] != "admin" || got["system_company"] != "FORTERRO" || len(got) != 2 {
			t.Errorf("settings = %v", got)
		}
		must(t, s.PutSetting(ctx, "system_company", ""))
		got, _ = s.Settings(ctx)
		if _, ok := got["system_company"]; ok || len(got) != 1 {
			t.Errorf("after deleting system_company: %v", got)
		}
		wantField(t, s.PutSetting(ctx, "", "x"), envoi.EInvalidInput, "key")
	})
}
