package ui

// Internal tests: the boot-time checks of views and catalogues work on
// unexported parsing, fed a modified copy of the embedded files.

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"envoi"
)

// copyFiles returns the embedded files as a map the test may change.
func copyFiles(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		m[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBootChecks(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		cat, err := loadCatalogue(files)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseViews(files, cat); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrMissingView", func(t *testing.T) {
		m := copyFiles(t)
		delete(m, "templates/operator.html")
		cat, _ := loadCatalogue(m)
		if _, err := parseViews(m, cat); err == nil || !strings.Contains(err.Error(), "operator") {
			t.Errorf("a missing view: %v, want an error naming it", err)
		}
	})
	t.Run("ErrViewWithoutContent", func(t *testing.T) {
		m := copyFiles(t)
		m["templates/tokens.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}`)}
		cat, _ := loadCatalogue(m)
		if _, err := parseViews(m, cat); err == nil || !strings.Contains(err.Error(), "content") {
			t.Errorf("a view without content: %v", err)
		}
	})
	t.Run("ErrMissingMessage", func(t *testing.T) {
		m := copyFiles(t)
		var fr map[string]string
		if err := json.Unmarshal(m["locales/fr.json"].Data, &fr); err != nil {
			t.Fatal(err)
		}
		delete(fr, "nav.tokens")
		b, _ := json.Marshal(fr)
		m["locales/fr.json"] = &fstest.MapFile{Data: b}
		if _, err := loadCatalogue(m); err == nil || !strings.Contains(err.Error(), `fr lacks "nav.tokens"`) {
			t.Errorf("a message missing in French: %v", err)
		}
	})
}

// TestCatalogueCoversEveryText checks that each key the templates and the
// Go code use is in the catalogue (so in all three languages), including
// the keys made from a status, a preset or a test step.
func TestCatalogueCoversEveryText(t *testing.T) {
	cat, err := loadCatalogue(files)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{}
	tmplKey := regexp.MustCompile(`\bt "([a-z0-9_.]+)"`)
	tmpls, _ := fs.Glob(files, "templates/*.html")
	for _, name := range tmpls {
		b, _ := fs.ReadFile(files, name)
		for _, m := range tmplKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = name
		}
	}
	goKey := regexp.MustCompile(`"((?:flash|home|login|forgot|reset|recovery)\.[a-z_]+)"`)
	sources, _ := fs.Glob(os.DirFS("."), "*.go")
	for _, name := range sources {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKey.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = name
		}
	}
	if len(used) < 200 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	dynamic := map[string][]string{
		"status.":   {envoi.StatusQueued, envoi.StatusSending, envoi.StatusSent, envoi.StatusRetrying, envoi.StatusFailed, envoi.StatusConsentRequired},
		"token.":    {envoi.TokenValid, envoi.TokenConsentRequired, "never_consented"},
		"role.":     {envoi.RoleAdmin, envoi.RoleOperator},
		"priority.": {envoi.PriorityLow, envoi.PriorityNormal, envoi.PriorityHigh},
		"preset.":   {envoi.PresetMicrosoft365, envoi.PresetGmail, envoi.PresetGeneric, "microsoft365_help", "gmail_help", "generic_help", "smtp_help"},
		"step.":     {"operator", "flow", "token", "credentials", "connect", "tls", "auth", "mail_from", "rcpt_to", "rset", "internal_address", "cleartext"},
		"lang.":     append([]string{"auto"}, envoi.Languages...),
	}
	for prefix, names := range dynamic {
		for _, n := range names {
			used[prefix+n] = "dynamic"
		}
	}
	for k, where := range used {
		for _, lang := range envoi.Languages {
			if _, ok := cat[lang][k]; !ok {
				t.Errorf("%s uses %q, missing from locales/%s.json", where, k, lang)
			}
		}
	}
	// Texts with a %s or %d keep it in every language.
	for _, k := range cat.keys() {
		for _, verb := range []string{"%s", "%d"} {
			n := strings.Count(cat["en"][k], verb)
			for _, lang := range envoi.Languages {
				if got := strings.Count(cat[lang][k], verb); got != n {
					t.Errorf("%s: %q has %d %s in %s, %d in en", lang, k, got, verb, lang, n)
				}
			}
		}
	}
}
