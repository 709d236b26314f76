package main_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	main "envoi/cmd/envoi"
)

// runCLI runs envoi with args and no environment, in-process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errs bytes.Buffer
	p := &main.Program{Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }}
	code = p.Main(context.Background(), args)
	return out.String(), errs.String(), code
}

// TestGroupHelp: every command group answers --help with its subcommands
// on stdout and exit status 0, and without a subcommand with the same
// list and a usage error.
func TestGroupHelp(t *testing.T) {
	groups := map[string][]string{
		"admin":    {"create", "password", "list"},
		"apikey":   {"create", "list", "revoke"},
		"auth":     {"login"},
		"keys":     {"rotate"},
		"messages": {"list", "show", "retry"},
	}
	dir := t.TempDir()
	for g, subs := range groups {
		for _, help := range []string{"--help", "-h", "help"} {
			out, errs, code := runCLI(t, g, help, "--data-dir", dir)
			if code != 0 {
				t.Errorf("envoi %s %s: exit %d, stderr:\n%s", g, help, code, errs)
			}
			for _, s := range subs {
				if !strings.Contains(out, "  "+s) {
					t.Errorf("envoi %s %s does not list %q:\n%s", g, help, s, out)
				}
			}
		}
		out, errs, code := runCLI(t, g)
		if code != 2 || out != "" || !strings.Contains(errs, "Subcommands:") || !strings.Contains(errs, "needs a subcommand") {
			t.Errorf("envoi %s: exit %d, stdout %q, stderr:\n%s", g, code, out, errs)
		}
	}
	if _, errs, code := runCLI(t, "messages", "show", "--help"); code != 0 || !strings.Contains(errs, "-data-dir") {
		t.Errorf("envoi messages show --help: exit %d:\n%s", code, errs)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("asking for help wrote into the data directory: %v", entries)
	}
}

// TestNoSilentDataDir: commands that work on an installation never make
// one; they say none was found and where they looked. serve, migrate and
// admin create do set one up.
func TestNoSilentDataDir(t *testing.T) {
	base := t.TempDir()
	cfg := filepath.Join(base, "envoi.yaml")
	if err := os.WriteFile(cfg, []byte("companies:\n  ACME: {name: Acme}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"apikey", "list"}, {"apikey", "create", "--name", "erp"}, {"admin", "list"},
		{"keys", "rotate"}, {"messages", "list"}, {"messages", "show", "msg_x"},
		{"send", "--flow", "BL", "--operator", "op", "--to", "a@example.org"},
		{"apply", "-f", cfg},
	} {
		dir := filepath.Join(base, strings.Join(args[:2], "-"))
		_, errs, code := runCLI(t, append(args, "--data-dir", dir)...)
		if code != 1 || !strings.Contains(errs, "no envoi installation found") || !strings.Contains(errs, filepath.Join(dir, "envoi.db")) {
			t.Errorf("envoi %s in an empty place: exit %d:\n%s", strings.Join(args, " "), code, errs)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("envoi %s made %s", strings.Join(args, " "), dir)
		}
	}
	dir := filepath.Join(base, "new")
	if out, errs, code := runCLI(t, "migrate", "--data-dir", dir); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errs)
	}
	for _, f := range []string{"envoi.db", "master.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("migrate did not set up %s: %v", f, err)
		}
	}
	if out, errs, code := runCLI(t, "apikey", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "no API key yet") {
		t.Errorf("apikey list after migrate: exit %d\n%s%s", code, out, errs)
	}
}

// TestMissingMasterKey: a database whose key file is gone is an error for
// every command, serve and migrate included, and no new (wrong) key file
// is left in its place.
func TestMissingMasterKey(t *testing.T) {
	dir := t.TempDir()
	if out, errs, code := runCLI(t, "migrate", "--data-dir", dir); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errs)
	}
	key := filepath.Join(dir, "master.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"apikey", "list"}, {"migrate"}, {"admin", "create", "--email", "a@example.org"}} {
		_, errs, code := runCLI(t, append(args, "--data-dir", dir)...)
		if code != 1 || !strings.Contains(errs, "no master key") || !strings.Contains(errs, key) {
			t.Errorf("envoi %s without master.key: exit %d:\n%s", strings.Join(args, " "), code, errs)
		}
		if _, err := os.Stat(key); !os.IsNotExist(err) {
			t.Fatalf("envoi %s made a new master.key beside an existing database", strings.Join(args, " "))
		}
	}
}

// TestMissingMasterKeyPostgres: on PostgreSQL, serve or migrate with the
// key file gone makes a key, finds it does not open the database, and
// removes it again.
func TestMissingMasterKeyPostgres(t *testing.T) {
	url := freshPostgres(t)
	dir := t.TempDir()
	if out, errs, code := runCLI(t, "migrate", "--data-dir", dir, "--database-url", url); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errs)
	}
	key := filepath.Join(dir, "master.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(t, "migrate", "--data-dir", dir, "--database-url", url)
	if code != 1 || !strings.Contains(errs, "master key") {
		t.Errorf("migrate without master.key: exit %d:\n%s", code, errs)
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Error("a wrong master.key was left beside a PostgreSQL database set up with another")
	}
	_, errs, code = runCLI(t, "apikey", "list", "--data-dir", dir, "--database-url", url)
	if code != 1 || !strings.Contains(errs, "no master key") {
		t.Errorf("apikey list without master.key: exit %d:\n%s", code, errs)
	}
}

// TestYAMLErrorsSpeakYAML: a configuration file with an unknown key or a
// value of the wrong kind is refused with its line and, in the file's own
// words, what was expected; never a Go type name.
func TestYAMLErrorsSpeakYAML(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := runCLI(t, "migrate", "--data-dir", dir); code != 0 {
		t.Fatal(errs)
	}
	file := filepath.Join(dir, "envoi.yaml")
	if err := os.WriteFile(file, []byte("companies:\n  ACME: {name: [1]}\noperators: 5\nbogus: 1\nauth_flows:\n  F: {to: x, max_attachments_mb: many}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runCLI(t, "apply", "-f", file, "--data-dir", dir)
	for _, want := range []string{"line 2: expected a text, found a list", "line 3: expected a mapping, found a number (5)", `line 4: unknown key "bogus"`, `line 6: unknown key "to"`, "line 6: expected a whole number, found a text (many)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("apply: missing %q in:\n%s", want, errs)
		}
	}
	conf := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(conf, []byte("listen: [a]\nport: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs2, _ := runCLI(t, "apikey", "list", "--config", conf, "--data-dir", dir)
	for _, want := range []string{"line 1: expected a text, found a list", `line 2: unknown key "port"`} {
		if !strings.Contains(errs2, want) {
			t.Errorf("--config: missing %q in:\n%s", want, errs2)
		}
	}
	for _, out := range []string{errs, errs2} {
		for _, goWord := range []string{"main.", "map[", "[]string", "!!", "not found in type"} {
			if strings.Contains(out, goWord) {
				t.Errorf("an error shows %q:\n%s", goWord, out)
			}
		}
	}
	if code != 1 {
		t.Errorf("apply exit %d, want 1", code)
	}
}
