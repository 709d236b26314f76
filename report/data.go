package report

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"envoi"
)

var bigHundred = big.NewRat(100, 1)

// Bounds of a document's data.
const (
	MaxLines        = 5000
	maxAddressLines = 12
	maxValueRunes   = 20000 // a text value: a description, notes
)

// party is a resolved party parameter.
type party struct {
	name    string
	address []string
}

// line is a resolved line of a lines parameter; nil numbers are absent.
type line struct {
	text      map[string]string // article, description, unit
	quantity  *decimal
	unitPrice *decimal
	vatRate   *decimal
}

// values holds the data of a document checked against its template's
// parameters: string (text), time.Time (date), decimal (number, money),
// party, []line. Absent optional parameters have no entry.
type values map[string]any

// problems collects what is wrong with the data, to report it all at once.
type problems struct {
	missing []string
	invalid []string
	reasons map[string]string
}

func (p *problems) miss(name string) { p.missing = append(p.missing, name) }

func (p *problems) bad(name string, err error) {
	p.invalid = append(p.invalid, name)
	if p.reasons == nil {
		p.reasons = map[string]string{}
	}
	p.reasons[name] = err.Error()
}

// err returns report_missing_parameters naming every missing parameter
// (details "parameters") when one is missing, else invalid_input naming
// every parameter of the wrong type (details "parameters" and "field", the
// first of them); both carry "reasons", parameter → why it is wrong.
func (p *problems) err() error {
	if len(p.missing) == 0 && len(p.invalid) == 0 {
		return nil
	}
	var e *envoi.Error
	if len(p.missing) > 0 {
		e = envoi.Errorf(envoi.EReportMissingParameters, "missing report parameters: %s", strings.Join(p.missing, ", ")).
			WithDetail("parameters", p.missing)
		if len(p.invalid) > 0 {
			e.WithDetail("invalid", p.invalid)
		}
	} else {
		var why []string
		for _, n := range p.invalid {
			why = append(why, n+": "+p.reasons[n])
		}
		e = envoi.Errorf(envoi.EInvalidInput, "invalid report parameters: %s", strings.Join(why, "; ")).
			WithDetail("parameters", p.invalid).WithDetail("field", p.invalid[0])
	}
	if len(p.reasons) > 0 {
		e.WithDetail("reasons", p.reasons)
	}
	return e
}

// resolve checks data against t's parameters, in their declared order, and
// returns their values. Data keys the template does not declare are ignored.
func resolve(t *Template, data map[string]any) (values, error) {
	vals := values{}
	var pr problems
	for _, p := range t.Parameters {
		raw, present := data[p.Name]
		if !present || isEmpty(raw) {
			if p.Required {
				pr.miss(p.Name)
			}
			continue
		}
		var (
			v   any
			err error
		)
		switch p.Type {
		case TypeText:
			v, err = textValue(raw)
		case TypeDate:
			v, err = dateValue(raw)
		case TypeNumber, TypeMoney:
			v, err = parseDecimal(raw)
		case TypeParty:
			v, err = partyValue(p.Name, raw, &pr)
		case TypeLines:
			v, err = linesValue(&p, raw, &pr)
		}
		if err != nil {
			pr.bad(p.Name, err)
			continue
		}
		if v != nil {
			vals[p.Name] = v
		}
	}
	return vals, pr.err()
}

// isEmpty reports whether v counts as not given: null, "", blanks, [] or {}.
func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case []map[string]any:
		return len(x) == 0
	case []string:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// textValue accepts a string, or a number written as it is (a customer code
// sent as 12345).
func textValue(v any) (string, error) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64, float32, int, int32, int64, uint, uint32, uint64, json.Number:
		d, err := parseDecimal(x)
		if err != nil {
			return "", err
		}
		s = d.String()
	default:
		return "", fmt.Errorf("a %s is not a text", kind(v))
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("the text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxValueRunes {
		return "", fmt.Errorf("the text has %d characters; the limit is %d", n, maxValueRunes)
	}
	return cleanText(s), nil
}

// cleanText makes s printable by fpdf: line breaks stay, other control
// characters become spaces (they have no glyph), bidirectional overrides
// are dropped (fpdf lays text left to right anyway), and characters beyond
// the Basic Multilingual Plane, which fpdf refuses (emoji), become U+FFFD.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case unicode.IsControl(r):
			return ' '
		case 0x202A <= r && r <= 0x202E || 0x2066 <= r && r <= 0x2069:
			return -1
		case r > 0xFFFF || r == 0xFFFE || r == 0xFFFF:
			return unicode.ReplacementChar
		}
		return r
	}, strings.TrimSpace(s))
}

// dateValue accepts "2006-01-02", an RFC 3339 time (its date is taken as
// written, whatever its zone) or a time.Time.
func dateValue(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		if d, err := time.Parse(time.DateOnly, s); err == nil {
			return d, nil
		}
		if d, err := time.Parse(time.RFC3339, s); err == nil {
			return d, nil
		}
		return time.Time{}, fmt.Errorf("%q is not a date (write it YYYY-MM-DD)", x)
	}
	return time.Time{}, fmt.Errorf("a %s is not a date (write it YYYY-MM-DD)", kind(v))
}

// partyValue reads {"name": ..., "address": "line\nline" or ["line", ...]};
// a missing name or address is reported as name.name, name.address.
func partyValue(name string, v any, pr *problems) (any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("a %s is not an object with a name and an address", kind(v))
	}
	var p party
	ok = true
	if raw := m["name"]; isEmpty(raw) {
		pr.miss(name + ".name")
		ok = false
	} else if s, err := textValue(raw); err != nil {
		pr.bad(name+".name", err)
		ok = false
	} else {
		p.name = s
	}
	addressOK := true
	switch a := m["address"].(type) {
	case string:
		if s, err := textValue(a); err != nil {
			pr.bad(name+".address", err)
			addressOK = false
		} else {
			p.address = strings.Split(s, "\n")
		}
	case []any:
		for i, l := range a {
			if s, err := textValue(l); err != nil {
				pr.bad(fmt.Sprintf("%s.address[%d]", name, i), err)
				addressOK = false
			} else {
				p.address = append(p.address, strings.Split(s, "\n")...)
			}
		}
	case []string:
		for _, l := range a {
			p.address = append(p.address, strings.Split(cleanText(l), "\n")...)
		}
	case nil:
	default:
		pr.bad(name+".address", fmt.Errorf("a %s is not an address (text, or a list of lines)", kind(a)))
		addressOK = false
	}
	switch {
	case !addressOK:
	case strings.TrimSpace(strings.Join(p.address, "")) == "":
		pr.miss(name + ".address")
		addressOK = false
	case len(p.address) > maxAddressLines:
		pr.bad(name+".address", fmt.Errorf("%d lines; the limit is %d", len(p.address), maxAddressLines))
		addressOK = false
	}
	ok = ok && addressOK
	if !ok {
		return nil, nil
	}
	return p, nil
}

// linesValue reads the list of lines, reporting each missing or wrong field
// by its place: lines[3].quantity (indexes from 0, as in the JSON list).
func linesValue(p *Parameter, v any, pr *problems) (any, error) {
	var list []map[string]any
	switch x := v.(type) {
	case []any:
		list = make([]map[string]any, len(x))
		for i, item := range x {
			m, ok := item.(map[string]any)
			if !ok {
				pr.bad(fmt.Sprintf("%s[%d]", p.Name, i), fmt.Errorf("a %s is not a line object", kind(item)))
				continue
			}
			list[i] = m
		}
	case []map[string]any:
		list = x
	default:
		return nil, fmt.Errorf("a %s is not a list of lines", kind(v))
	}
	if len(list) > MaxLines {
		return nil, fmt.Errorf("%d lines; the limit is %d", len(list), MaxLines)
	}
	lines := make([]line, len(list))
	ok := true
	for i, m := range list {
		if m == nil {
			ok = false
			continue
		}
		l := &lines[i]
		l.text = map[string]string{}
		for _, f := range p.Fields {
			name := fmt.Sprintf("%s[%d].%s", p.Name, i, f.Name)
			raw := m[f.Name]
			if isEmpty(raw) {
				if f.Required {
					pr.miss(name)
					ok = false
				}
				continue
			}
			switch f.Name {
			case FieldQuantity, FieldUnitPrice, FieldVATRate:
				d, err := parseDecimal(raw)
				if err != nil {
					pr.bad(name, err)
					ok = false
					continue
				}
				if f.Name == FieldVATRate && (d.r.Sign() < 0 || d.r.Cmp(bigHundred) > 0) {
					pr.bad(name, fmt.Errorf("%s is not a VAT rate between 0 and 100 (percent)", d))
					ok = false
					continue
				}
				switch f.Name {
				case FieldQuantity:
					l.quantity = &d
				case FieldUnitPrice:
					l.unitPrice = &d
				default:
					l.vatRate = &d
				}
			default:
				s, err := textValue(raw)
				if err != nil {
					pr.bad(name, err)
					ok = false
					continue
				}
				l.text[f.Name] = s
			}
		}
	}
	if !ok {
		return nil, nil
	}
	return lines, nil
}
