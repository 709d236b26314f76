package ui

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strings"
	"time"

	"envoi"
)

// catalogue holds the UI's texts: language, key, text. The files are
// locales/<lang>.json, one flat object each; every key is in every file.
// Lookup and fallback are envoi.Catalogue's.
type catalogue envoi.Catalogue

// loadCatalogue reads the message files of envoi.Languages and checks that
// they hold the same keys, none empty.
func loadCatalogue(fsys fs.FS) (catalogue, error) {
	c := catalogue{}
	for _, lang := range envoi.Languages {
		b, err := fs.ReadFile(fsys, "locales/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("ui: messages of %s: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("ui: locales/%s.json: %w", lang, err)
		}
		c[lang] = m
	}
	var problems []string
	for _, lang := range envoi.Languages {
		for _, other := range envoi.Languages {
			for k := range c[other] {
				if _, ok := c[lang][k]; !ok {
					problems = append(problems, fmt.Sprintf("%s lacks %q", lang, k))
				}
			}
		}
		for k, v := range c[lang] {
			if strings.TrimSpace(v) == "" {
				problems = append(problems, fmt.Sprintf("%s: %q is empty", lang, k))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("ui: incomplete message catalogues: %s", strings.Join(dedupe(problems), "; "))
	}
	return c, nil
}

func dedupe(in []string) []string {
	out := in[:0]
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// text returns the text of key in lang, formatted with args; a key missing
// from the catalogue shows as itself, so a test can spot it.
func (c catalogue) text(lang, key string, args ...any) string {
	t, ok := c.lookup(lang, key)
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(t, args...)
	}
	return t
}

// lookup returns the text of key in lang (envoi.Catalogue.Text).
func (c catalogue) lookup(lang, key string) (string, bool) {
	return envoi.Catalogue(c).Text(lang, key)
}

// Keys returns the keys of the English catalogue (the tests check that
// every key the templates use is there).
func (c catalogue) keys() []string {
	out := make([]string, 0, len(c["en"]))
	for k := range c["en"] {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// language picks the page's language: ?lang= (remembered in a cookie),
// then the cookie, then the user's saved choice, then the browser's
// Accept-Language (envoi.NegotiateLanguage), then English.
func (s *Server) language(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); envoi.KnownLanguage(l) {
		http.SetCookie(w, s.cookie(langCookie, l, 365*24*time.Hour))
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && envoi.KnownLanguage(c.Value) {
		return c.Value
	}
	if u := current(r); u != nil && envoi.KnownLanguage(u.Language) {
		return u.Language
	}
	return envoi.NegotiateLanguage(r.Header.Get("Accept-Language"), envoi.DefaultLanguage)
}
