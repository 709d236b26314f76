package envoi

import (
	"iter"
	"strconv"
	"strings"
)

// Languages envoi speaks, in the order of preference when none matches:
// a text missing in one language is shown in the first of these that has it.
var Languages = []string{"en", "fr", "es"}

// DefaultLanguage is the language of a person whose preference envoi does
// not know (an API client, a browser that asks for none of Languages).
const DefaultLanguage = "en"

// KnownLanguage reports whether envoi speaks l (an exact code of Languages).
func KnownLanguage(l string) bool {
	for _, k := range Languages {
		if k == l {
			return true
		}
	}
	return false
}

// NegotiateLanguage returns the language of Languages that accept prefers.
// accept is an Accept-Language value ("fr-CH, es;q=0.9, en;q=0.1", RFC 9110
// §12.5.4) or a single tag such as a company's language: ranges rank by
// their weight (q=, 1 when absent), ties by their order, a weight of 0 or
// one that is not a number from 0 to 1 rules a range out, and a range
// matches a language by its primary subtag ("es-419" is es). Returns
// fallback when no range matches.
//
// This is envoi's one negotiator: the JSON API, the admin UI, the OAuth
// callback page and the PDF reports pick their language with it.
func NegotiateLanguage(accept, fallback string) string {
	best, bestQ := "", 0.0
	for part := range strings.SplitSeq(accept, ",") {
		tag, params, _ := strings.Cut(part, ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q, ok := weight(params)
		if !ok || q <= bestQ {
			continue
		}
		for _, l := range Languages {
			if tag == l || strings.HasPrefix(tag, l+"-") {
				best, bestQ = l, q
				break
			}
		}
	}
	if best == "" {
		return fallback
	}
	return best
}

// weight returns the q parameter of a language range's parameters, 1 when
// there is none; ok is false when it is malformed or out of [0, 1].
func weight(params string) (q float64, ok bool) {
	q = 1
	for p := range strings.SplitSeq(params, ";") {
		v, found := strings.CutPrefix(strings.ToLower(strings.TrimSpace(p)), "q=")
		if !found {
			continue
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || x < 0 || x > 1 {
			return 0, false
		}
		q = x
	}
	return q, true
}

// InLanguage returns the entry of texts (by language code) for lang, else
// for the first of Languages that texts has; ok is false when it has none.
// With Catalogue.Text it is envoi's one lookup of translated texts, and
// fallbacks is its one fallback rule: the error catalogue, the UI's
// locales, the OAuth callback page and the labels of PDF reports all use
// them.
func InLanguage[T any](texts map[string]T, lang string) (t T, ok bool) {
	for l := range fallbacks(lang) {
		if t, ok = texts[l]; ok {
			return t, true
		}
	}
	return t, false
}

// Catalogue holds texts by language, then key (the admin UI's locales,
// one file per language).
type Catalogue map[string]map[string]string

// Text returns the text of key in lang, else in the first of Languages
// that has it; ok is false when no language has it.
func (c Catalogue) Text(lang, key string) (text string, ok bool) {
	for l := range fallbacks(lang) {
		if text, ok = c[l][key]; ok {
			return text, true
		}
	}
	return "", false
}

// fallbacks yields the languages a text is looked for in, when asked in
// lang: lang itself, then Languages in order.
func fallbacks(lang string) iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield(lang) {
			return
		}
		for _, l := range Languages {
			if l != lang && !yield(l) {
				return
			}
		}
	}
}
