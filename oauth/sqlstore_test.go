package oauth_test

import (
	"context"
	"testing"
	"time"

	"envoi/internal/pgtest"
	"envoi/secret"
	"envoi/sqlstore"
)

// postgresURLEnv names the PostgreSQL server the tests may create
// databases on; the PostgreSQL runs are skipped when it is unset.
const postgresURLEnv = "ENVOI_TEST_POSTGRES_URL"

// backend is a store the tests run on. open returns the first handle and
// a function opening more handles on the same database (other instances).
type backend struct {
	name string
	open func(tb testing.TB, now func() time.Time) (testStore, func() testStore)
}

var (
	memoryBackend = backend{"memory", func(tb testing.TB, now func() time.Time) (testStore, func() testStore) {
		s := newMemStore(now)
		return s, func() testStore { return s }
	}}
	sqliteBackend = backend{"sqlite", func(tb testing.TB, now func() time.Time) (testStore, func() testStore) {
		o := sqlstore.Options{DataDir: tb.TempDir(), MasterKey: secret.NewKey(), Now: now, KeyReloadInterval: -1}
		s := openSQLStore(tb, o, true)
		return s, func() testStore { return s }
	}}
	postgresBackend = backend{"postgres", func(tb testing.TB, now func() time.Time) (testStore, func() testStore) {
		o := sqlstore.Options{DatabaseURL: createPostgresDatabase(tb), MasterKey: secret.NewKey(), Now: now}
		first := openSQLStore(tb, o, true)
		return first, func() testStore { return openSQLStore(tb, o, false) }
	}}
	allBackends = []backend{memoryBackend, sqliteBackend, postgresBackend}
)

func openSQLStore(tb testing.TB, o sqlstore.Options, migrate bool) *sqlstore.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, o)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	if migrate {
		if err := s.Migrate(ctx); err != nil {
			tb.Fatalf("migrate: %v", err)
		}
	}
	return s
}

// createPostgresDatabase makes a database of its own for the test,
// dropped at the end; it skips the test when no server is configured.
func createPostgresDatabase(tb testing.TB) string { return pgtest.Database(tb, "envoi_oauth_test_") }

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, backends []backend, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}
