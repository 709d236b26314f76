package envoi_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"envoi"
)

var keywordName = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// FuzzSubstitute checks keyword substitution for any template and values:
// Keywords names each keyword once, as the template writes it; Substitute
// fails exactly when a keyword lacks a value, naming those; a keyword
// replaced by itself gives the template back (the same places are found);
// values are substituted once, never read as keywords again; and with
// CleanHeader as the escape, a cleaned template gives a header value free
// of control characters. The seed corpus is under
// testdata/fuzz/FuzzSubstitute; run with
// go test -run '^$' -fuzz FuzzSubstitute .
func FuzzSubstitute(f *testing.F) {
	for _, s := range [][2]string{
		{"[SOCIETE] : Envoi du BL : [ID_BL]", "FORTERRO"},
		{"[ID_BL]", "[SOCIETE]"},
		{"[[ID_BL]]", "x\r\nBcc: a@b.c"},
		{"[A][B][A] [a] [] [1A] [A-B]", "\x00"},
		{"[" + strings.Repeat("K", 64) + "] [" + strings.Repeat("K", 65) + "]", "v"},
		{"Bonjour,\n[ID_BL]\r\n[ÉTÉ] [SOCIETE", "<script>"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		kws := envoi.Keywords(text)
		for i, k := range kws {
			if !keywordName.MatchString(k) {
				t.Errorf("Keywords(%q) returned %q, not a keyword name", text, k)
			}
			if !strings.Contains(text, "["+k+"]") {
				t.Errorf("Keywords(%q) returned %q, which the text does not write", text, k)
			}
			if slices.Contains(kws[:i], k) {
				t.Errorf("Keywords(%q) returned %q twice", text, k)
			}
		}

		// Every keyword but the first has a value.
		values := map[string]string{}
		for _, k := range kws {
			values[k] = value
		}
		if len(kws) > 0 {
			delete(values, kws[0])
			_, err := envoi.Substitute(text, values, nil)
			var e *envoi.Error
			if !errors.As(err, &e) || e.Code != envoi.EKeywordMissing {
				t.Fatalf("Substitute(%q) without [%s]: %v, want keyword_missing", text, kws[0], err)
			}
			if missing, _ := e.Details["keywords"].([]string); !slices.Equal(missing, kws[:1]) {
				t.Errorf("Substitute(%q): missing %v, want %v", text, missing, kws[:1])
			}
			values[kws[0]] = value
		}

		// Each keyword replaced by itself gives the template back.
		self := map[string]string{}
		for _, k := range kws {
			self[k] = "[" + k + "]"
		}
		if got, err := envoi.Substitute(text, self, nil); err != nil || got != text {
			t.Errorf("Substitute(%q) with each keyword for itself = %q, %v; want the text back", text, got, err)
		}

		// Values are not substituted again, even when they look like
		// keywords without a value.
		got, err := envoi.Substitute(text, values, nil)
		if err != nil {
			t.Fatalf("Substitute(%q) with every value: %v", text, err)
		}
		if len(kws) == 0 && got != text {
			t.Errorf("Substitute(%q) without keywords = %q", text, got)
		}
		trap := map[string]string{}
		for _, k := range kws {
			trap[k] = "[" + k + "][NO_SUCH_VALUE_" + k + "]"
		}
		if _, err := envoi.Substitute(text, trap, nil); err != nil && !strings.Contains(text, "[NO_SUCH_VALUE_") {
			t.Errorf("Substitute(%q) read a value as a template: %v", text, err)
		}

		// Header safety: a cleaned template with cleaned values.
		clean := envoi.CleanHeader(text)
		checkHeaderSafe(t, "CleanHeader("+strconvQuote(text)+")", clean)
		if again := envoi.CleanHeader(clean); again != clean {
			t.Errorf("CleanHeader is not stable: %q then %q", clean, again)
		}
		if utf8.ValidString(text) && utf8.RuneCountInString(clean) != utf8.RuneCountInString(text) {
			t.Errorf("CleanHeader(%q) = %q changed the number of characters", text, clean)
		}
		header, err := envoi.Substitute(clean, values, envoi.CleanHeader)
		if err != nil {
			// Cleaning may only turn keywords into text, never add one.
			for _, k := range envoi.Keywords(clean) {
				if _, ok := values[k]; !ok {
					t.Fatalf("CleanHeader(%q) = %q made a new keyword [%s]", text, clean, k)
				}
			}
			t.Fatalf("Substitute(CleanHeader(%q)): %v", text, err)
		}
		checkHeaderSafe(t, "header from "+strconvQuote(text), header)
	})
}

func checkHeaderSafe(t *testing.T, what, s string) {
	t.Helper()
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Errorf("%s = %q holds the control character %U", what, s, r)
			return
		}
	}
}

func strconvQuote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
