// Package pgtest gives tests a PostgreSQL database of their own on the
// machine's server, so runs never see each other's rows.
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// URLEnv names the environment variable with the URL of the server tests
// may use; without it, PostgreSQL tests skip.
const URLEnv = "ENVOI_TEST_POSTGRES_URL"

// URL returns the server's URL, skipping the test with a message that says
// how to run it when the variable is unset.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(URLEnv)
	if u == "" {
		tb.Skip(URLEnv + " is not set: PostgreSQL run skipped (e.g. " + URLEnv + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')")
	}
	return u
}

// Database creates a database named prefix + random hex on the server,
// drops it (forcing out its connections) when the test ends, and returns its
// URL. It skips the test without a server.
func Database(tb testing.TB, prefix string) string {
	tb.Helper()
	base := URL(tb)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			tb.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
