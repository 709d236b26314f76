package secret

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"envoi"
)

// MasterKeyFile is the name of the key file in the data directory.
const MasterKeyFile = "master.key"

// LoadMasterKey returns the master key: masterKey (the --master-key flag or
// ENVOI_MASTER_KEY) when it is set, else the key file <dataDir>/master.key,
// created with 32 random bytes and mode 0600 on first start (the directory
// with 0700).
//
// masterKey is 32 bytes written in base64 (standard or URL alphabet, padded
// or not) or in 64 hexadecimal digits. It returns EInvalidInput naming
// "master_key" for a key of another length or encoding, and for a key file
// that group or others can read.
func LoadMasterKey(masterKey, dataDir string) ([]byte, error) {
	key, _, err := LoadOrCreateMasterKey(masterKey, dataDir)
	return key, err
}

// LoadOrCreateMasterKey is LoadMasterKey, and reports whether it created
// the key file: a caller that then finds the key does not open its
// database removes the file again rather than leave a wrong key behind.
func LoadOrCreateMasterKey(masterKey, dataDir string) (key []byte, created bool, err error) {
	if strings.TrimSpace(masterKey) != "" {
		key, err = ParseMasterKey(masterKey)
		return key, false, err
	}
	if dataDir == "" {
		return nil, false, envoi.FieldError(envoi.EInvalidInput, "master_key", "no master key given and no data directory to keep a key file in; set --master-key / ENVOI_MASTER_KEY or --data-dir")
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err = readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKeyFile(dataDir, path); err != nil {
			return nil, false, err
		}
		created = true
		key, err = readKeyFile(path)
	}
	return key, created, err
}

// ReadMasterKey is LoadMasterKey for the commands that work on an
// existing installation: a missing key file is an error that says where
// it was looked for, never a new key (which could not open the secrets
// already stored).
func ReadMasterKey(masterKey, dataDir string) ([]byte, error) {
	if strings.TrimSpace(masterKey) != "" || dataDir == "" {
		return LoadMasterKey(masterKey, dataDir)
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		abs, aerr := filepath.Abs(path)
		if aerr != nil {
			abs = path
		}
		return nil, envoi.FieldError(envoi.EInvalidInput, "master_key",
			"no master key: %s does not exist and neither --master-key nor ENVOI_MASTER_KEY is set; restore the key file this installation was set up with, or give its key (a new key cannot open the secrets already stored)", abs)
	}
	return key, err
}

// ParseMasterKey decodes a master key written in base64 or hexadecimal.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	bad := func(format string, args ...any) error {
		return envoi.FieldError(envoi.EInvalidInput, "master_key", format, args...)
	}
	if s == "" {
		return nil, bad("the master key is empty")
	}
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		k, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(k) != KeySize {
			return nil, bad("the master key decodes to %d bytes; it must be %d bytes (generate one with: openssl rand -base64 32)", len(k), KeySize)
		}
		return k, nil
	}
	return nil, bad("the master key is neither base64 nor 64 hexadecimal digits (generate one with: openssl rand -base64 32)")
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, envoi.FieldError(envoi.EInvalidInput, "master_key",
			"the key file %s has mode %04o: group and others must not read it (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("secret: read %s: %w", path, err)
	}
	b = b[:n]
	if len(b) == KeySize && !isText(b) {
		return b, nil
	}
	k, err := ParseMasterKey(string(b))
	if err != nil {
		e := envoi.AsError(err)
		e.Message = path + ": " + e.Message
		return nil, e
	}
	return k, nil
}

// createKeyFile writes a new key, base64 encoded so that it can be copied to
// ENVOI_MASTER_KEY, into a temporary file linked to path: two instances
// starting at once both end up reading the same key.
func createKeyFile(dir, path string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secret: create data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".master.key-*")
	if err != nil {
		return fmt.Errorf("secret: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secret: create key file: %w", err)
	}
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("secret: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("secret: create key file: %w", err)
	}
	return nil
}

func isText(b []byte) bool {
	return len(bytes.TrimLeft(b, "0123456789abcdefABCDEFGHIJKLMNOPQRSTUVWXYZghijklmnopqrstuvwxyz+/-_=\r\n ")) == 0
}
