package secret_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"envoi"
	"envoi/secret"
)

func mustRing(tb testing.TB, ids ...uint32) (*secret.Ring, map[uint32][]byte) {
	tb.Helper()
	r := secret.NewRing()
	keys := map[uint32][]byte{}
	for _, id := range ids {
		keys[id] = secret.NewKey()
		if err := r.Add(id, keys[id]); err != nil {
			tb.Fatal(err)
		}
		if err := r.SetPrimary(id); err != nil {
			tb.Fatal(err)
		}
	}
	return r, keys
}

func TestRing(t *testing.T) {
	r, _ := mustRing(t, 1)
	const aad = "operators/smtp_password/jdupont"

	t.Run("RoundTrip", func(t *testing.T) {
		for _, plain := range []string{"", "hunter2", strings.Repeat("eyJ0eXAiOi", 900)} {
			ct, err := r.Seal([]byte(plain), aad)
			if err != nil {
				t.Fatal(err)
			}
			if len(plain) > 4 && bytes.Contains(ct, []byte(plain)) {
				t.Fatal("ciphertext contains the plaintext")
			}
			if got, want := len(ct), len(plain)+secret.Overhead; got != want {
				t.Errorf("len(ciphertext) = %d, want %d", got, want)
			}
			got, err := r.Open(ct, aad)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != plain {
				t.Errorf("Open = %q, want %q", got, plain)
			}
		}
	})

	t.Run("RandomNonce", func(t *testing.T) {
		a, _ := r.Seal([]byte("same"), aad)
		b, _ := r.Seal([]byte("same"), aad)
		if bytes.Equal(a, b) {
			t.Fatal("two seals of the same value are equal")
		}
	})

	t.Run("KeyID", func(t *testing.T) {
		ct, _ := r.Seal([]byte("x"), aad)
		id, err := secret.KeyID(ct)
		if err != nil || id != 1 {
			t.Fatalf("KeyID = %d, %v; want 1", id, err)
		}
	})

	t.Run("ErrWrongAAD", func(t *testing.T) {
		ct, _ := r.Seal([]byte("hunter2"), aad)
		for _, other := range []string{"operators/smtp_password/other", "auth_flows/client_secret/jdupont", ""} {
			if _, err := r.Open(ct, other); !errors.Is(err, secret.ErrDecrypt) {
				t.Errorf("Open with aad %q: err = %v, want ErrDecrypt", other, err)
			}
		}
	})

	t.Run("ErrTampered", func(t *testing.T) {
		ct, _ := r.Seal([]byte("hunter2"), aad)
		for i := range ct {
			bad := bytes.Clone(ct)
			bad[i] ^= 0x01
			_, err := r.Open(bad, aad)
			if err == nil {
				t.Fatalf("byte %d flipped: Open succeeded", i)
			}
			if envoi.ErrorCode(err) != envoi.EInternal {
				t.Errorf("byte %d: code = %q, want internal", i, envoi.ErrorCode(err))
			}
		}
	})

	t.Run("ErrTruncated", func(t *testing.T) {
		ct, _ := r.Seal([]byte("hunter2"), aad)
		for _, n := range []int{0, 1, 5, secret.Overhead - 1, len(ct) - 1} {
			if _, err := r.Open(ct[:n], aad); err == nil {
				t.Errorf("Open of %d bytes succeeded", n)
			}
		}
	})

	t.Run("ErrUnknownKey", func(t *testing.T) {
		other, _ := mustRing(t, 7)
		ct, _ := other.Seal([]byte("hunter2"), aad)
		if _, err := r.Open(ct, aad); !errors.Is(err, secret.ErrUnknownKey) {
			t.Fatalf("err = %v, want ErrUnknownKey", err)
		}
	})

	t.Run("ErrSameIDOtherKey", func(t *testing.T) {
		other, _ := mustRing(t, 1)
		ct, _ := other.Seal([]byte("hunter2"), aad)
		if _, err := r.Open(ct, aad); !errors.Is(err, secret.ErrDecrypt) {
			t.Fatalf("err = %v, want ErrDecrypt", err)
		}
		if err := r.Add(1, secret.NewKey()); err == nil {
			t.Fatal("Add of another key under a known id succeeded")
		}
	})

	t.Run("ErrNoPrimary", func(t *testing.T) {
		if _, err := secret.NewRing().Seal([]byte("x"), aad); !errors.Is(err, secret.ErrNoPrimary) {
			t.Fatalf("err = %v, want ErrNoPrimary", err)
		}
	})
}

func TestRingRotation(t *testing.T) {
	r, keys := mustRing(t, 1)
	old, _ := r.Seal([]byte("before"), "t/c/1")

	if err := r.Add(2, secret.NewKey()); err != nil {
		t.Fatal(err)
	}
	if err := r.SetPrimary(2); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(1, keys[1]); err != nil {
		t.Errorf("re-adding the same key: %v", err)
	}
	ct, _ := r.Seal([]byte("after"), "t/c/1")
	if id, _ := secret.KeyID(ct); id != 2 {
		t.Errorf("new ciphertext names key %d, want 2", id)
	}
	if got, err := r.Open(old, "t/c/1"); err != nil || string(got) != "before" {
		t.Errorf("retired key: Open = %q, %v", got, err)
	}
	if err := r.SetPrimary(9); !errors.Is(err, secret.ErrUnknownKey) {
		t.Errorf("SetPrimary(9): err = %v, want ErrUnknownKey", err)
	}
}

func TestRingOnUnknownKey(t *testing.T) {
	// Instance A rotates; instance B learns the new key through its hook.
	a, keys := mustRing(t, 1)
	b := secret.NewRing()
	_ = b.Add(1, keys[1])
	_ = b.SetPrimary(1)

	k2 := secret.NewKey()
	_ = a.Add(2, k2)
	_ = a.SetPrimary(2)
	ct, _ := a.Seal([]byte("rotated"), "t/c/1")

	var mu sync.Mutex
	calls := 0
	b.OnUnknownKey(func() error {
		mu.Lock()
		calls++
		mu.Unlock()
		if err := b.Add(2, k2); err != nil {
			return err
		}
		return b.SetPrimary(2)
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := b.Open(ct, "t/c/1")
			if err != nil || string(got) != "rotated" {
				t.Errorf("Open = %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	if calls != 1 {
		t.Errorf("reload hook called %d times, want 1", calls)
	}
	if b.Primary() != 2 {
		t.Errorf("Primary = %d, want 2", b.Primary())
	}

	t.Run("StillUnknown", func(t *testing.T) {
		other, _ := mustRing(t, 3)
		ct, _ := other.Seal([]byte("x"), "t/c/1")
		before := calls
		if _, err := b.Open(ct, "t/c/1"); !errors.Is(err, secret.ErrUnknownKey) {
			t.Errorf("err = %v, want ErrUnknownKey", err)
		}
		if calls != before+1 {
			t.Errorf("hook calls = %d, want %d", calls, before+1)
		}
	})

	t.Run("HookFails", func(t *testing.T) {
		other, _ := mustRing(t, 4)
		ct, _ := other.Seal([]byte("x"), "t/c/1")
		boom := errors.New("database down")
		b.OnUnknownKey(func() error { return boom })
		if _, err := b.Open(ct, "t/c/1"); !errors.Is(err, boom) {
			t.Errorf("err = %v, want the hook's error", err)
		}
	})
}

func TestWrap(t *testing.T) {
	master, data := secret.NewKey(), secret.NewKey()
	w, err := secret.Wrap(master, 3, data, "data_keys/3")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w, data) {
		t.Fatal("wrapped key contains the key")
	}
	got, err := secret.Unwrap(master, w, "data_keys/3")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Unwrap = %x, %v", got, err)
	}
	if _, err := secret.Unwrap(secret.NewKey(), w, "data_keys/3"); !errors.Is(err, secret.ErrDecrypt) {
		t.Errorf("wrong master key: err = %v, want ErrDecrypt", err)
	}
	if _, err := secret.Unwrap(master, w, "data_keys/4"); !errors.Is(err, secret.ErrDecrypt) {
		t.Errorf("wrong place: err = %v, want ErrDecrypt", err)
	}
	if _, err := secret.Wrap(master[:16], 3, data, "data_keys/3"); err == nil {
		t.Error("Wrap with a 16-byte master key succeeded")
	}
}

func TestParseMasterKey(t *testing.T) {
	key := secret.NewKey()
	for _, tt := range []struct {
		name, in string
	}{
		{"StdBase64", base64.StdEncoding.EncodeToString(key)},
		{"URLBase64", base64.URLEncoding.EncodeToString(key)},
		{"RawURLBase64", base64.RawURLEncoding.EncodeToString(key)},
		{"Hex", hex.EncodeToString(key)},
		{"HexUpper", strings.ToUpper(hex.EncodeToString(key))},
		{"Spaces", "  " + base64.StdEncoding.EncodeToString(key) + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secret.ParseMasterKey(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, key) {
				t.Fatalf("got %x, want %x", got, key)
			}
		})
	}
	for _, tt := range []struct {
		name, in string
	}{
		{"ErrEmpty", "  "},
		{"ErrShortBase64", base64.StdEncoding.EncodeToString(key[:16])},
		{"ErrLongBase64", base64.StdEncoding.EncodeToString(append(key, 1))},
		{"ErrShortHex", hex.EncodeToString(key[:31])},
		{"ErrNotHexNotBase64", strings.Repeat("z!", 32)},
		{"ErrPassphrase", "correct horse battery staple"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := secret.ParseMasterKey(tt.in)
			e := envoi.AsError(err)
			if err == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != "master_key" {
				t.Fatalf("err = %v, want invalid_input naming master_key", err)
			}
		})
	}
}

func TestLoadMasterKey(t *testing.T) {
	t.Run("FromFlag", func(t *testing.T) {
		dir := t.TempDir()
		key := secret.NewKey()
		got, err := secret.LoadMasterKey(base64.StdEncoding.EncodeToString(key), dir)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("got %x, %v", got, err)
		}
		if _, err := os.Stat(filepath.Join(dir, secret.MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a key file was created although the key was given: %v", err)
		}
	})

	t.Run("ErrBadFlag", func(t *testing.T) {
		if _, err := secret.LoadMasterKey("tooshort", t.TempDir()); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Fatalf("err = %v, want invalid_input", err)
		}
	})

	t.Run("CreatesFile0600", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "envoi-data")
		k1, err := secret.LoadMasterKey("", dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(k1) != secret.KeySize {
			t.Fatalf("len = %d", len(k1))
		}
		st, err := os.Stat(filepath.Join(dir, secret.MasterKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("key file mode = %04o, want 0600", got)
		}
		dst, _ := os.Stat(dir)
		if got := dst.Mode().Perm(); got != 0o700 {
			t.Errorf("data dir mode = %04o, want 0700", got)
		}
		k2, err := secret.LoadMasterKey("", dir)
		if err != nil || !bytes.Equal(k1, k2) {
			t.Fatalf("second start: got %x, %v; want the same key", k2, err)
		}
		// The file holds the key in base64, ready for ENVOI_MASTER_KEY.
		b, _ := os.ReadFile(filepath.Join(dir, secret.MasterKeyFile))
		if k3, err := secret.ParseMasterKey(string(b)); err != nil || !bytes.Equal(k3, k1) {
			t.Errorf("file content does not parse as the key: %v", err)
		}
		left, _ := filepath.Glob(filepath.Join(dir, ".master.key-*"))
		if len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})

	t.Run("ConcurrentFirstStart", func(t *testing.T) {
		dir := t.TempDir()
		keys := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				k, err := secret.LoadMasterKey("", dir)
				if err != nil {
					t.Error(err)
				}
				keys[i] = k
			})
		}
		wg.Wait()
		for i := range keys {
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("instance %d got another key", i)
			}
		}
	})

	t.Run("RawFile", func(t *testing.T) {
		dir := t.TempDir()
		key := bytes.Repeat([]byte{0x00, 0xff}, 16)
		if err := os.WriteFile(filepath.Join(dir, secret.MasterKeyFile), key, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := secret.LoadMasterKey("", dir)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("got %x, %v", got, err)
		}
	})

	t.Run("ErrFileReadableByOthers", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, secret.MasterKeyFile)
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret.NewKey())), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := secret.LoadMasterKey("", dir)
			if envoi.ErrorCode(err) != envoi.EInvalidInput || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("mode %04o: err = %v, want invalid_input telling to chmod 600", mode, err)
			}
		}
	})

	t.Run("ErrFileGarbage", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, secret.MasterKeyFile), []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := secret.LoadMasterKey("", dir)
		if envoi.ErrorCode(err) != envoi.EInvalidInput || !strings.Contains(err.Error(), secret.MasterKeyFile) {
			t.Fatalf("err = %v, want invalid_input naming the file", err)
		}
	})

	t.Run("ErrNoDataDir", func(t *testing.T) {
		if _, err := secret.LoadMasterKey("", ""); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Fatalf("err = %v, want invalid_input", err)
		}
	})
}
