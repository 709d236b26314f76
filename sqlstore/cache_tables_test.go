package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"envoi/sqlstore"
)

// nonConfigTables are the tables that are not configuration, with why: no
// cached read comes from them, so they need no trigger. A new table goes
// either here or in the configuration layer's list (sqlstore's
// configTables, with its triggers).
var nonConfigTables = map[string]string{
	"archive_blobs":      "the bytes of archived documents (PostgreSQL), written for each one archived",
	"archived_documents": "written for each message archived",
	"config_version":     "the configuration's version itself",
	"data_keys":          "the key ring, reloaded on its own (keys.go)",
	"goose_db_version":   "the migrations applied",
	"mailboxes":          "written at each claim (scheduling per mailbox)",
	"message_emls":       "written for each message",
	"messages":           "written for each message",
	"oauth_states":       "consents in progress",
	"report_cursors":     "written at each watch of a mailbox for reports",
	"report_leases":      "the watchers' leases, written each round",
	"report_templates":   "read at each render, uncached by the store",
	"tokens":             "written at each refresh",
	"ui_password_resets": "the admin UI's accounts",
	"ui_sessions":        "the admin UI's sessions",
	"ui_settings":        "the admin UI's settings, read uncached",
	"ui_users":           "the admin UI's accounts",
	"webhook_attempts":   "written at each delivery attempt",
	"webhook_deliveries": "written for each event",
	"webhook_events":     "the outbox, written with each change it reports",
	"webhooks":           "read uncached by the dispatcher and the API",
}

// postgresOnlyTables are in the PostgreSQL schema only.
var postgresOnlyTables = map[string]bool{"archive_blobs": true}

// TestConfigTables reads the schema: every table of the configuration
// layer has its triggers, which bump config_version on every write, and
// every other table is listed as not configuration. A configuration table
// added without a trigger would otherwise be served stale by the cache.
func TestConfigTables(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		s, _ := MustOpenStore(t, dialect)
		for _, p := range configTableProblems(t, s.DB(), dialect) {
			t.Error(p)
		}
	})
}

// TestConfigTablesCheck shows the check of TestConfigTables failing: a
// new table in neither list, and a configuration table that lost a
// trigger.
func TestConfigTablesCheck(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		s, _ := MustOpenStore(t, dialect)
		drop := "DROP TRIGGER mail_settings_update_config_version"
		if dialect == sqlstore.DialectPostgres {
			drop = "DROP TRIGGER mail_settings_config_version ON mail_settings"
		}
		for _, q := range []string{`CREATE TABLE signatures (code TEXT PRIMARY KEY, body TEXT NOT NULL)`, drop} {
			if _, err := s.DB().Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		problems := strings.Join(configTableProblems(t, s.DB(), dialect), "\n")
		for _, want := range []string{"signatures", "mail_settings"} {
			if !strings.Contains(problems, want) {
				t.Errorf("problems found:\n%s\nwant one about %s", problems, want)
			}
		}
	})
}

// schemaTrigger is a trigger as the schema describes it.
type schemaTrigger struct {
	table  string
	events map[string]bool // INSERT, UPDATE, DELETE, TRUNCATE
	bumps  bool            // it adds one to config_version and is enabled
}

// configTableProblems returns what is wrong with the schema of db for the
// configuration layer, one sentence each.
func configTableProblems(tb testing.TB, db *sql.DB, dialect string) []string {
	tb.Helper()
	tables, triggers := schemaTables(tb, db, dialect), schemaTriggers(tb, db, dialect)
	want := []string{"INSERT", "UPDATE", "DELETE"}
	if dialect == sqlstore.DialectPostgres {
		want = append(want, "TRUNCATE")
	}
	var problems []string
	config := sqlstore.ConfigTables()
	for _, table := range config {
		if !tables[table] {
			problems = append(problems, fmt.Sprintf("configuration table %s is not in the schema", table))
			continue
		}
		if why, ok := nonConfigTables[table]; ok {
			problems = append(problems, fmt.Sprintf("configuration table %s is also listed as not configuration (%s)", table, why))
		}
		covered := map[string]bool{}
		for _, name := range sqlstore.ConfigTriggers(dialect, table) {
			tr, ok := triggers[name]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("configuration table %s has no trigger %s: its cached reads would be served stale", table, name))
			case tr.table != table:
				problems = append(problems, fmt.Sprintf("trigger %s is on %s, not on configuration table %s", name, tr.table, table))
			case !tr.bumps:
				problems = append(problems, fmt.Sprintf("trigger %s on %s does not bump config_version (or is disabled)", name, table))
			default:
				maps.Copy(covered, tr.events)
			}
		}
		for _, ev := range want {
			if !covered[ev] {
				problems = append(problems, fmt.Sprintf("configuration table %s: no trigger bumps config_version on %s", table, ev))
			}
		}
	}
	for _, table := range slices.Sorted(maps.Keys(tables)) {
		if !slices.Contains(config, table) && nonConfigTables[table] == "" {
			problems = append(problems, fmt.Sprintf("table %s is neither a configuration table (sqlstore's configTables, with triggers that bump config_version) nor listed in nonConfigTables", table))
		}
	}
	for _, table := range slices.Sorted(maps.Keys(nonConfigTables)) {
		if !tables[table] && !(postgresOnlyTables[table] && dialect == sqlstore.DialectSQLite) {
			problems = append(problems, fmt.Sprintf("nonConfigTables lists %s, which is not in the schema", table))
		}
	}
	return problems
}

// schemaTables returns the names of the tables of db's schema.
func schemaTables(tb testing.TB, db *sql.DB, dialect string) map[string]bool {
	tb.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
	if dialect == sqlstore.DialectPostgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	tables := map[string]bool{}
	for _, name := range queryStrings(tb, db, q) {
		tables[name[0]] = true
	}
	return tables
}

var (
	sqliteTriggerOn = regexp.MustCompile(`(?is)\b(?:BEFORE|AFTER|INSTEAD\s+OF)\s+(INSERT|UPDATE|DELETE)\b.*?\bON\s+"?(\w+)"?`)
	bumpSQL         = regexp.MustCompile(`(?i)UPDATE\s+config_version\s+SET\s+n\s*=\s*n\s*\+\s*1`)
)

// schemaTriggers returns the triggers of db's schema by name.
func schemaTriggers(tb testing.TB, db *sql.DB, dialect string) map[string]schemaTrigger {
	tb.Helper()
	out := map[string]schemaTrigger{}
	if dialect == sqlstore.DialectSQLite {
		for _, r := range queryStrings(tb, db, `SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'`) {
			tr := schemaTrigger{table: r[1], events: map[string]bool{}, bumps: bumpSQL.MatchString(r[2])}
			if m := sqliteTriggerOn.FindStringSubmatch(r[2]); m != nil && strings.EqualFold(m[2], r[1]) {
				tr.events[strings.ToUpper(m[1])] = true
			}
			out[r[0]] = tr
		}
		return out
	}
	// tgtype's bits: 4 INSERT, 8 DELETE, 16 UPDATE, 32 TRUNCATE.
	rows := queryStrings(tb, db, `
		SELECT t.tgname, c.relname, t.tgtype::text, t.tgenabled::text, p.prosrc
		FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_proc p ON p.oid = t.tgfoid
		WHERE NOT t.tgisinternal AND n.nspname = current_schema()`)
	for _, r := range rows {
		var tgtype int
		fmt.Sscan(r[2], &tgtype)
		tr := schemaTrigger{table: r[1], events: map[string]bool{}, bumps: r[3] != "D" && bumpSQL.MatchString(r[4])}
		for bit, ev := range map[int]string{4: "INSERT", 8: "DELETE", 16: "UPDATE", 32: "TRUNCATE"} {
			if tgtype&bit != 0 {
				tr.events[ev] = true
			}
		}
		out[r[0]] = tr
	}
	return out
}

// queryStrings returns the rows of q, every column read as a string.
func queryStrings(tb testing.TB, db *sql.DB, q string) [][]string {
	tb.Helper()
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		r := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range r {
			ptrs[i] = &r[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
