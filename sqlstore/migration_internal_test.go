package sqlstore

import (
	"context"
	"io/fs"
	"os"
	"testing"

	"github.com/pressly/goose/v3"

	"envoi/internal/pgtest"
	"envoi/secret"
)

// mustOpenAt opens a store of dialect, not migrated, and a goose provider
// of its embedded migrations, for tests of one migration: they migrate up
// to the version before it, write rows as they were then, and go on. The
// PostgreSQL dialect skips when ENVOI_TEST_POSTGRES_URL is not set.
func mustOpenAt(t *testing.T, dialect string) (*Store, *goose.Provider) {
	t.Helper()
	o := Options{MasterKey: secret.NewKey(), KeyReloadInterval: -1}
	gd := goose.DialectSQLite3
	if dialect == DialectPostgres {
		if os.Getenv("ENVOI_TEST_POSTGRES_URL") == "" {
			t.Skip("ENVOI_TEST_POSTGRES_URL is not set")
		}
		o.DatabaseURL = pgtest.Database(t, "envoi_test_")
		gd = goose.DialectPostgres
	} else {
		o.DataDir = t.TempDir()
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	sub, _ := fs.Sub(migrations, "migrations/"+s.dialect)
	p, err := goose.NewProvider(gd, s.db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}
