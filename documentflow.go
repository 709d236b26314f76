package envoi

import (
	"regexp"
	"strings"
	"time"
)

// DocumentFlow is a kind of document the ERP sends [flux / diffusion], with
// the keywords its mail settings and file names may use. The catalogue is
// seeded by a migration and extensible by the administrator.
type DocumentFlow struct {
	Code     string   `json:"code"`
	Name     string   `json:"name"`
	Keywords []string `json:"keywords"`
	// Report is the built-in report template used when a send asks for one
	// without naming it ("" when the flow has none).
	Report    string    `json:"report,omitempty"`
	Builtin   bool      `json:"builtin"`
	UpdatedAt time.Time `json:"updated_at"`
	// KeepReport asks PutDocumentFlow to leave the stored flow's report
	// as it is (a new flow gets Report): a change that leaves the report
	// out, as a rename of a built-in flow does, must not lose its default
	// template. It is not stored.
	KeepReport bool `json:"-"`
}

// Validate returns EInvalidInput naming the first wrong field.
func (d *DocumentFlow) Validate() error {
	if err := checkCode(d.Code, "code"); err != nil {
		return err
	}
	for _, k := range d.Keywords {
		if !keywordName.MatchString(k) {
			return FieldError(EInvalidInput, "keywords", "%q is not a keyword (capital letters, digits and '_')", k)
		}
	}
	return nil
}

// HasKeyword reports whether the flow declares keyword k.
func (d *DocumentFlow) HasKeyword(k string) bool {
	for _, x := range d.Keywords {
		if x == k {
			return true
		}
	}
	return false
}

var (
	keywordName = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)
	keywordRef  = regexp.MustCompile(`\[([A-Z][A-Z0-9_]{0,63})\]`)
)

// Keywords returns the keywords written [KEYWORD] in text, each once, in
// order of first use.
func Keywords(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range keywordRef.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// CheckKeywords returns EUnknownKeyword naming the first keyword of texts
// that flow does not declare, with the field it is in.
func (d *DocumentFlow) CheckKeywords(fields map[string]string) error {
	for _, field := range sortedKeys(fields) {
		for _, k := range Keywords(fields[field]) {
			if !d.HasKeyword(k) {
				return FieldError(EUnknownKeyword, field, "[%s] is not a keyword of document flow %s (it has %s)", k, d.Code, strings.Join(d.Keywords, ", ")).WithDetail("keyword", k)
			}
		}
	}
	return nil
}

// Substitute replaces each [KEYWORD] of text by its value from values,
// passed through escape (html.EscapeString for HTML, a header cleaner for
// headers; nil keeps the value as is). Returns EKeywordMissing naming every
// keyword of text without a value. Brackets around anything that is not a
// keyword name are left as they are.
func Substitute(text string, values map[string]string, escape func(string) string) (string, error) {
	var missing []string
	out := keywordRef.ReplaceAllStringFunc(text, func(m string) string {
		k := m[1 : len(m)-1]
		v, ok := values[k]
		if !ok {
			missing = append(missing, k)
			return m
		}
		if escape != nil {
			v = escape(v)
		}
		return v
	})
	if len(missing) > 0 {
		return "", Errorf(EKeywordMissing, "no value for %s", strings.Join(dedupe(missing), ", ")).WithDetail("keywords", dedupe(missing))
	}
	return out, nil
}

// CleanHeader makes s safe in a mail header: line breaks, NUL and other
// control characters become spaces.
func CleanHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// DocumentFlowNotFound turns a lookup's ENotFound for the document flow
// code into EDocumentFlowNotFound, whose remedy points at the catalogue;
// other errors are returned as they are.
func DocumentFlowNotFound(err error, code string) error {
	if ErrorCode(err) != ENotFound {
		return err
	}
	e := Errorf(EDocumentFlowNotFound, "there is no document flow %q in the catalogue", code).WithDetail("document_flow", code)
	e.Err = err
	return e
}
