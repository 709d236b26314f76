package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"envoi/sqlstore"
)

// TestDumpHasNoSecret stores every kind of secret, then dumps the whole
// database every way it can be read and looks for each secret, in clear
// and in hexadecimal (how bytea and blobs print).
func TestDumpHasNoSecret(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		o := NewTestOptions(t, dialect)
		s := MustOpen(t, o)
		v := storeSecrets(t, s)
		// The secrets are stored: the dump must still find other text, or
		// the test proves nothing.
		needles := map[string]string{
			"SMTP password": v.smtpPassword, "client secret": v.clientSecret, "service account key": v.serviceAccountKey,
			"token client id": v.clientID, "access token": v.accessToken, "refresh token": v.refreshToken,
			"PKCE verifier": v.verifier, "OAuth state": v.state,
		}
		const visible = "jdupont@forterro.example"

		dumps := map[string][]byte{"SELECT of every column": selectEverything(t, s.DB(), dialect)}
		switch dialect {
		case sqlstore.DialectSQLite:
			for _, name := range []string{sqlstore.DatabaseFile, sqlstore.DatabaseFile + "-wal"} {
				b, err := os.ReadFile(filepath.Join(o.DataDir, name))
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				dumps["file "+name] = b
			}
			if len(dumps["file "+sqlstore.DatabaseFile])+len(dumps["file "+sqlstore.DatabaseFile+"-wal"]) == 0 {
				t.Fatal("no database file to read")
			}
		case sqlstore.DialectPostgres:
			if path, err := exec.LookPath("pg_dump"); err == nil {
				out, err := exec.CommandContext(ctx, path, "--no-owner", o.DatabaseURL).Output()
				if err != nil {
					t.Fatalf("pg_dump: %v", err)
				}
				dumps["pg_dump"] = out
			} else {
				t.Log("pg_dump not found: the SELECT dump covers PostgreSQL")
			}
		}

		all := bytes.Join(func() [][]byte {
			var l [][]byte
			for _, d := range dumps {
				l = append(l, d)
			}
			return l
		}(), nil)
		if !bytes.Contains(dumps["SELECT of every column"], []byte(visible)) || !bytes.Contains(all, []byte(visible)) {
			t.Fatalf("the dumps do not even contain %q: they read nothing", visible)
		}
		for what, d := range dumps {
			for name, secretValue := range needles {
				// A distinctive prefix catches a truncated copy as well.
				probe := secretValue
				if len(probe) > 32 {
					probe = probe[:32]
				}
				if bytes.Contains(d, []byte(probe)) {
					t.Errorf("%s: the %s is in clear", what, name)
				}
				if bytes.Contains(bytes.ToLower(d), []byte(hex.EncodeToString([]byte(probe)))) {
					t.Errorf("%s: the %s is in hexadecimal", what, name)
				}
			}
		}
	})
}

// selectEverything reads every column of every table as bytes, one line
// per row.
func selectEverything(tb testing.TB, db *sql.DB, dialect string) []byte {
	tb.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if dialect == sqlstore.DialectPostgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`
	}
	rows, err := db.Query(q)
	must(tb, err)
	var tables []string
	for rows.Next() {
		var n string
		must(tb, rows.Scan(&n))
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 10 {
		tb.Fatalf("only %d tables: %v", len(tables), tables)
	}
	var out bytes.Buffer
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM ` + table)
		must(tb, err)
		cols, err := rows.Columns()
		must(tb, err)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(tb, rows.Scan(ptrs...))
			fmt.Fprintf(&out, "%s:", table)
			for i, v := range vals {
				switch x := v.(type) {
				case []byte:
					fmt.Fprintf(&out, " %s=%s", cols[i], x)
				default:
					fmt.Fprintf(&out, " %s=%v", cols[i], x)
				}
			}
			out.WriteByte('\n')
		}
		must(tb, rows.Err())
		rows.Close()
	}
	if !strings.Contains(out.String(), "data_keys:") {
		tb.Fatal("the dump has no data_keys rows")
	}
	return out.Bytes()
}
