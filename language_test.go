package envoi_test

import (
	"testing"

	"envoi"
)

func TestNegotiateLanguage(t *testing.T) {
	cases := []struct {
		name, accept, fallback, want string
	}{
		{"Weights", "fr;q=0.1, es;q=0.9", "en", "es"},
		{"WeightsBeatOrder", "fr-CH;q=0.5, de, en-GB;q=0.8", "es", "en"},
		{"NoWeightIsOne", "es;q=0.99, fr", "en", "fr"},
		{"TieKeepsOrder", "es;q=0.5, fr;q=0.5", "en", "es"},
		{"Region", "es-419", "en", "es"},
		{"CaseAndSpaces", "  FR-ca ;Q=0.7 ", "en", "fr"},
		{"ZeroExcludes", "fr;q=0, es;q=0.2", "en", "es"},
		{"MalformedWeightIgnored", "fr;q=abc, es;q=2, en;q=0.3", "es", "en"},
		{"SingleTag", "fr", "en", "fr"},
		{"NoMatch", "de, it;q=0.5", "en", "en"},
		{"Empty", "", "fr", "fr"},
		{"PrefixIsNotLanguage", "esperanto, fra", "en", "en"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := envoi.NegotiateLanguage(c.accept, c.fallback); got != c.want {
				t.Errorf("NegotiateLanguage(%q, %q) = %q, want %q", c.accept, c.fallback, got, c.want)
			}
		})
	}
}

func TestInLanguage(t *testing.T) {
	texts := map[string]string{"fr": "Bonjour", "es": "Hola"}
	cases := []struct {
		name, lang, want string
		ok               bool
	}{
		{"OK", "es", "Hola", true},
		{"FallsBackInLanguagesOrder", "en", "Bonjour", true},
		{"UnknownLanguage", "de", "Bonjour", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, ok := envoi.InLanguage(texts, c.lang); got != c.want || ok != c.ok {
				t.Errorf("InLanguage(%q) = %q, %v; want %q, %v", c.lang, got, ok, c.want, c.ok)
			}
		})
	}
	if got, ok := envoi.InLanguage(map[string]string{}, "fr"); got != "" || ok {
		t.Errorf("InLanguage(empty) = %q, %v; want \"\", false", got, ok)
	}
	if got := envoi.Describe(envoi.ENotFound, "de"); got != envoi.Describe(envoi.ENotFound, "en") {
		t.Errorf("Describe in an unknown language = %v, want the English text", got)
	}
}

func TestCompanyDocumentLanguage(t *testing.T) {
	for lang, want := range map[string]string{"": "fr", "en": "en", "es": "es", "de": "fr"} {
		if got := (&envoi.Company{Language: lang}).DocumentLanguage(); got != want {
			t.Errorf("DocumentLanguage of a company in %q = %q, want %q", lang, got, want)
		}
	}
}
