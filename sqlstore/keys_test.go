package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"envoi"
	"envoi/secret"
	"envoi/sqlstore"
)

// sealedColumns are the columns that hold secrets, sealed.
var sealedColumns = []struct{ table, column string }{
	{"operators", "smtp_password"},
	{"auth_flows", "client_secret"},
	{"auth_flows", "service_account_key"},
	{"tokens", "client_id"},
	{"tokens", "access_token"},
	{"tokens", "refresh_token"},
	{"oauth_states", "verifier"},
}

// secrets is one value of each kind of secret, stored by storeSecrets.
type secrets struct {
	smtpPassword, clientSecret, serviceAccountKey string
	clientID, accessToken, refreshToken           string
	state, verifier                               string
}

func storeSecrets(tb testing.TB, s *sqlstore.Store) secrets {
	tb.Helper()
	ctx := context.Background()
	v := secrets{
		smtpPassword:      "smtp-pw-" + randomToken(20),
		clientSecret:      "client-secret-" + randomToken(30),
		serviceAccountKey: `{"type":"service_account","private_key":"` + randomToken(200) + `"}`,
		clientID:          "client-id-" + randomToken(20),
		accessToken:       randomToken(8192),
		refreshToken:      randomToken(8192),
		state:             randomToken(43),
		verifier:          "pkce-" + randomToken(60),
	}
	o := operator("jdupont", "")
	o.SMTPPassword = v.smtpPassword
	must(tb, s.PutOperator(ctx, o))
	f := m365Flow("M365", "jdupont")
	f.ClientSecret = v.clientSecret
	must(tb, s.PutAuthFlow(ctx, f))
	must(tb, s.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "GSA", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, Grant: envoi.GrantJWTBearer,
		ServiceAccountKey: v.serviceAccountKey, GenericMailbox: envoi.GenericMailbox{Enabled: true, Email: "adv@forterro.example"}}))
	must(tb, s.SaveToken(ctx, &envoi.Token{Flow: "M365", Operator: "jdupont", ClientID: v.clientID, AccessToken: v.accessToken, RefreshToken: v.refreshToken, Email: "jdupont@forterro.example"}))
	must(tb, s.PutOAuthState(ctx, &envoi.OAuthState{State: v.state, Flow: "M365", Operator: "jdupont", Verifier: v.verifier}))
	return v
}

// checkSecrets reads every secret back through s; the OAuth state is
// taken (used) only when take is set.
func checkSecrets(tb testing.TB, s *sqlstore.Store, v secrets, take bool) {
	tb.Helper()
	ctx := context.Background()
	o, err := s.Operator(ctx, "jdupont")
	must(tb, err)
	f, err := s.AuthFlow(ctx, "M365")
	must(tb, err)
	g, err := s.AuthFlow(ctx, "GSA")
	must(tb, err)
	tk, err := s.Token(ctx, envoi.TokenKey{Flow: "M365", Operator: "jdupont"})
	must(tb, err)
	if o.SMTPPassword != v.smtpPassword || f.ClientSecret != v.clientSecret || g.ServiceAccountKey != v.serviceAccountKey ||
		tk.ClientID != v.clientID || tk.AccessToken != v.accessToken || tk.RefreshToken != v.refreshToken {
		tb.Errorf("a secret does not read back")
	}
	if take {
		st, err := s.TakeOAuthState(ctx, v.state)
		must(tb, err)
		if st.Verifier != v.verifier {
			tb.Errorf("verifier does not read back")
		}
	}
}

// keyIDs returns the key ids named by every sealed value in the database.
func keyIDs(tb testing.TB, s *sqlstore.Store) map[uint32]int {
	tb.Helper()
	ids := map[uint32]int{}
	for _, c := range sealedColumns {
		rows, err := s.DB().Query(`SELECT ` + c.column + ` FROM ` + c.table + ` WHERE ` + c.column + ` IS NOT NULL`)
		must(tb, err)
		for rows.Next() {
			var ct []byte
			must(tb, rows.Scan(&ct))
			id, err := secret.KeyID(ct)
			if err != nil {
				tb.Errorf("%s.%s: %v", c.table, c.column, err)
			}
			ids[id]++
		}
		rows.Close()
	}
	return ids
}

func TestRotateKeys(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := NewTestOptions(t, dialect)
		a := MustOpen(t, o)
		// Another instance, running before and during the rotation, with
		// as few connections as it can have: a list that meets a new key
		// must not wait for a connection it holds itself.
		ob := o
		ob.MaxOpenConns = 1
		b := MustOpen(t, ob)

		v := storeSecrets(t, a)
		if got := keyIDs(t, a); got[1] != 7 || len(got) != 1 {
			t.Fatalf("before rotation, key ids %v; want 7 values under key 1", got)
		}

		var last [2]int
		calls := 0
		n, err := a.RotateKeys(ctx, func(done, total int) {
			if done < last[0] || done > total {
				t.Errorf("progress %d/%d after %d", done, total, last[0])
			}
			last = [2]int{done, total}
			calls++
		})
		must(t, err)
		if n != 7 {
			t.Errorf("RotateKeys re-encrypted %d values, want 7", n)
		}
		if calls < 2 || last != [2]int{7, 7} {
			t.Errorf("progress called %d times, last %v; want ending at 7/7", calls, last)
		}
		if got := keyIDs(t, a); got[2] != 7 || len(got) != 1 {
			t.Errorf("after rotation, key ids %v; want every value under key 2", got)
		}

		checkSecrets(t, a, v, false)
		// b had only key 1: the first value under key 2 makes it reload.
		tokens, err := b.Tokens(ctx)
		must(t, err)
		if len(tokens) != 1 || tokens[0].AccessToken != v.accessToken {
			t.Errorf("b lists %d tokens", len(tokens))
		}
		checkSecrets(t, b, v, false)
		ct, err := b.Cipher().Seal([]byte("x"), "t/c/1")
		must(t, err)
		if id, _ := secret.KeyID(ct); id != 2 {
			t.Errorf("b seals with key %d after its reload, want 2", id)
		}

		// Rotating again from b; a learns key 3 by ReloadKeys.
		n, err = b.RotateKeys(ctx, nil)
		must(t, err)
		if n != 7 {
			t.Errorf("second rotation re-encrypted %d, want 7", n)
		}
		must(t, a.ReloadKeys(ctx))
		ct, _ = a.Cipher().Seal([]byte("x"), "t/c/1")
		if id, _ := secret.KeyID(ct); id != 3 {
			t.Errorf("a seals with key %d after ReloadKeys, want 3", id)
		}
		checkSecrets(t, a, v, true)

		var keys, retired int
		must(t, a.DB().QueryRow(`SELECT count(*), count(retired_at) FROM data_keys`).Scan(&keys, &retired))
		if keys != 3 || retired != 2 {
			t.Errorf("data_keys: %d keys, %d retired; want 3 and 2", keys, retired)
		}

		// Nothing to do when everything is under the primary key already…
		// but a rotation always makes a new key.
		n, err = a.RotateKeys(ctx, nil)
		must(t, err)
		if n != 6 { // the OAuth state was taken
			t.Errorf("third rotation re-encrypted %d, want 6", n)
		}
	})
}

// TestPeriodicKeyReload: an instance that reads nothing still starts
// sealing with the key another instance rotated to.
func TestPeriodicKeyReload(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := NewTestOptions(t, dialect)
		a := MustOpen(t, o)
		ob := o
		ob.KeyReloadInterval = 10 * time.Millisecond
		b := MustOpen(t, ob)
		_, err := a.RotateKeys(ctx, nil)
		must(t, err)
		// Waits for the event, asserts no duration; the deadline only
		// keeps a broken reloader from hanging the suite.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ct, err := b.Cipher().Seal([]byte("x"), "t/c/1")
			must(t, err)
			if id, _ := secret.KeyID(ct); id == 2 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("b never loaded key 2")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestWrongMasterKey(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := NewTestOptions(t, dialect)
		storeSecrets(t, MustOpen(t, o))
		o.MasterKey = secret.NewKey()
		s, err := sqlstore.Open(ctx, o)
		must(t, err)
		defer s.Close()
		wantField(t, s.Migrate(ctx), envoi.EInvalidInput, "master_key")
		_, err = s.Operator(ctx, "jdupont")
		if err == nil {
			t.Error("a secret opened with the wrong master key")
		}
	})
}

// TestCiphertextMoved: a sealed value copied to another row does not open.
func TestCiphertextMoved(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		for _, code := range []string{"alice", "mallory"} {
			o := operator(code, "")
			o.SMTPPassword = "password-of-" + code
			must(t, s.PutOperator(ctx, o))
		}
		_, err := s.DB().Exec(`UPDATE operators SET smtp_password = (SELECT smtp_password FROM operators WHERE code = 'alice') WHERE code = 'mallory'`)
		must(t, err)
		_, err = s.Operator(ctx, "mallory")
		if !errors.Is(err, secret.ErrDecrypt) {
			t.Errorf("moved ciphertext: err = %v, want ErrDecrypt", err)
		}
		o, err := s.Operator(ctx, "alice")
		must(t, err)
		if o.SMTPPassword != "password-of-alice" {
			t.Errorf("alice's password = %q", o.SMTPPassword)
		}
	})
}
