//go:build unix

package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"envoi/secret"
	"envoi/sqlstore"
)

// TestFileModes: the database and its -wal and -shm files are the owner's
// alone, whatever the umask, and so is a data directory envoi creates; an
// existing database file readable by others is made private.
func TestFileModes(t *testing.T) {
	ctx := context.Background()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	check := func(t *testing.T, path string, want os.FileMode) {
		t.Helper()
		st, err := os.Stat(path)
		must(t, err)
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", filepath.Base(path), got, want)
		}
	}
	t.Run("New", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		s, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: dir, MasterKey: secret.NewKey()})
		must(t, err)
		defer s.Close()
		must(t, s.Migrate(ctx))
		check(t, dir, 0o700)
		for _, f := range []string{sqlstore.DatabaseFile, sqlstore.DatabaseFile + "-wal", sqlstore.DatabaseFile + "-shm"} {
			check(t, filepath.Join(dir, f), 0o600)
		}
	})
	t.Run("Existing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, sqlstore.DatabaseFile)
		must(t, os.WriteFile(path, nil, 0o644))
		must(t, os.Chmod(path, 0o644))
		s, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: dir, MasterKey: secret.NewKey()})
		must(t, err)
		defer s.Close()
		must(t, s.Migrate(ctx))
		check(t, path, 0o600)
		check(t, path+"-wal", 0o600)
	})
}
