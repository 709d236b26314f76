package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"unicode/utf8"

	"envoi"

	"gopkg.in/yaml.v3"
)

// A Template is the declarative layout of a report: a title, the
// parameters the document's data must provide, and blocks drawn one under
// the other. The built-in templates are written in this form (see
// templates/*.json), and administrators write their own the same way, in
// JSON or YAML:
//
//	{
//	  "title": {"fr": "Bon de livraison", "en": "Delivery note"},
//	  "parameters": [
//	    {"name": "number", "type": "text", "required": true},
//	    {"name": "date", "type": "date", "required": true},
//	    {"name": "customer", "type": "party", "required": true},
//	    {"name": "lines", "type": "lines", "required": true, "fields": [
//	      {"name": "article"}, {"name": "description", "required": true},
//	      {"name": "quantity", "required": true}, {"name": "unit_price", "required": true},
//	      {"name": "vat_rate", "required": true}]}
//	  ],
//	  "blocks": [
//	    {"type": "company"},
//	    {"type": "recipient", "parameter": "customer", "label": {"fr": "Client", "en": "Customer"}},
//	    {"type": "title", "parameter": "number"},
//	    {"type": "fields", "fields": [{"parameter": "date", "label": {"fr": "Date", "en": "Date"}}]},
//	    {"type": "lines", "parameter": "lines", "columns": ["article", "description", "quantity", "unit_price", "vat_rate", "amount"]},
//	    {"type": "totals", "parameter": "lines"},
//	    {"type": "text", "text": {"fr": "Merci de votre confiance.", "en": "Thank you."}}
//	  ]
//	}
//
// Parameter types: text, date (YYYY-MM-DD), number, money (in the
// company's currency), party (an object with a name and an address, a
// string with line breaks or a list of lines) and lines (a list of objects
// whose fields are among article, description, quantity, unit, unit_price
// and vat_rate, the VAT rate in percent).
//
// Blocks: company (logo, name and address of the company), recipient (a
// party parameter, at the right, beside the company block when it follows
// it), title (the template's title and, with a parameter, the document's
// number), fields (label: value rows of text, date, number or money
// parameters, skipped when an optional one is absent), lines (the table of
// a lines parameter with the chosen columns; "amount" is quantity × unit
// price), totals (excluding VAT, VAT per rate, including VAT, of a lines
// parameter) and text (fixed text in each language, or a text parameter).
type Template struct {
	Title      Text        `json:"title" yaml:"title"`
	Parameters []Parameter `json:"parameters" yaml:"parameters"`
	Blocks     []Block     `json:"blocks" yaml:"blocks"`
}

// Text is a text in several languages, keyed en, fr or es. The company's
// language is used, then English, French and Spanish, in that order.
type Text map[string]string

// Parameter is a value the document's data must (Required) or may provide.
// Fields lists the fields of each line of a lines parameter.
type Parameter struct {
	Name     string      `json:"name" yaml:"name"`
	Type     string      `json:"type" yaml:"type"`
	Required bool        `json:"required,omitempty" yaml:"required,omitempty"`
	Fields   []LineField `json:"fields,omitempty" yaml:"fields,omitempty"`
}

// LineField is a field of the lines of a lines parameter.
type LineField struct {
	Name     string `json:"name" yaml:"name"`
	Required bool   `json:"required,omitempty" yaml:"required,omitempty"`
}

// Block is one part of the layout; which fields apply depends on Type.
type Block struct {
	Type      string   `json:"type" yaml:"type"`
	Parameter string   `json:"parameter,omitempty" yaml:"parameter,omitempty"`
	Label     Text     `json:"label,omitempty" yaml:"label,omitempty"`
	Text      Text     `json:"text,omitempty" yaml:"text,omitempty"`
	Fields    []Field  `json:"fields,omitempty" yaml:"fields,omitempty"`
	Columns   []string `json:"columns,omitempty" yaml:"columns,omitempty"`
}

// Field is a row of a fields block: a label and the parameter it shows.
type Field struct {
	Parameter string `json:"parameter" yaml:"parameter"`
	Label     Text   `json:"label" yaml:"label"`
}

// Parameter types.
const (
	TypeText   = "text"
	TypeDate   = "date"
	TypeNumber = "number"
	TypeMoney  = "money"
	TypeParty  = "party"
	TypeLines  = "lines"
)

// Block types.
const (
	BlockCompany   = "company"
	BlockRecipient = "recipient"
	BlockTitle     = "title"
	BlockFields    = "fields"
	BlockLines     = "lines"
	BlockTotals    = "totals"
	BlockText      = "text"
)

// Line fields, and the computed column of a lines block.
const (
	FieldArticle     = "article"
	FieldDescription = "description"
	FieldQuantity    = "quantity"
	FieldUnit        = "unit"
	FieldUnitPrice   = "unit_price"
	FieldVATRate     = "vat_rate"
	ColumnAmount     = "amount"
)

var lineFields = []string{FieldArticle, FieldDescription, FieldQuantity, FieldUnit, FieldUnitPrice, FieldVATRate}

// Bounds of a template, so that one cannot make the renderer work forever.
const (
	MaxTemplateBytes = 256 << 10
	maxParameters    = 100
	maxBlocks        = 100
	maxTextRunes     = 4000
)

var paramName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ParseTemplate reads a template written in JSON (when it starts with '{')
// or YAML and validates it. Returns EReportTemplateInvalid naming the block
// or parameter at fault (details "field", and "block" for a block), or the
// syntax error.
func ParseTemplate(b []byte) (*Template, error) {
	if len(b) > MaxTemplateBytes {
		return nil, envoi.Errorf(envoi.EReportTemplateInvalid, "the template is %d bytes; the limit is %d", len(b), MaxTemplateBytes)
	}
	var t Template
	trimmed := bytes.TrimLeft(b, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&t); err != nil {
			return nil, syntaxError("JSON", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, envoi.Errorf(envoi.EReportTemplateInvalid, "unexpected data after the template's JSON object")
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&t); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, envoi.Errorf(envoi.EReportTemplateInvalid, "the template is empty")
			}
			return nil, syntaxError("YAML", err)
		}
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

func syntaxError(format string, err error) error {
	return envoi.Errorf(envoi.EReportTemplateInvalid, "the template is not valid %s: %v", format, err).WithDetail("reason", err.Error())
}

// Validate checks t: every parameter named and typed, every block of a
// known type referring to declared parameters of the right type, the
// columns of a lines block declared as fields of its lines parameter.
// Returns EReportTemplateInvalid naming the first fault (details "field",
// such as "blocks[3].columns[1]", and "block", such as "blocks[3]").
func (t *Template) Validate() error {
	if err := checkText(t.Title, "title", "", true); err != nil {
		return err
	}
	if len(t.Parameters) > maxParameters {
		return invalid("parameters", "", "%d parameters; the limit is %d", len(t.Parameters), maxParameters)
	}
	params := map[string]*Parameter{}
	for i := range t.Parameters {
		p := &t.Parameters[i]
		at := fmt.Sprintf("parameters[%d]", i)
		if !paramName.MatchString(p.Name) {
			return invalid(at+".name", "", "%q is not a parameter name (lower-case letters, digits and '_')", p.Name)
		}
		if params[p.Name] != nil {
			return invalid(at+".name", "", "parameter %q is declared twice", p.Name)
		}
		params[p.Name] = p
		switch p.Type {
		case TypeText, TypeDate, TypeNumber, TypeMoney, TypeParty:
			if len(p.Fields) > 0 {
				return invalid(at+".fields", "", "only a lines parameter has fields")
			}
		case TypeLines:
			if len(p.Fields) == 0 {
				return invalid(at+".fields", "", "a lines parameter lists its fields (among %v)", lineFields)
			}
			seen := map[string]bool{}
			for j, f := range p.Fields {
				if !slices.Contains(lineFields, f.Name) {
					return invalid(fmt.Sprintf("%s.fields[%d].name", at, j), "", "%q is not a line field (one of %v)", f.Name, lineFields)
				}
				if seen[f.Name] {
					return invalid(fmt.Sprintf("%s.fields[%d].name", at, j), "", "line field %q is declared twice", f.Name)
				}
				seen[f.Name] = true
			}
		default:
			return invalid(at+".type", "", "%q is not a parameter type (text, date, number, money, party or lines)", p.Type)
		}
	}

	if len(t.Blocks) == 0 {
		return invalid("blocks", "", "a template has at least one block")
	}
	if len(t.Blocks) > maxBlocks {
		return invalid("blocks", "", "%d blocks; the limit is %d", len(t.Blocks), maxBlocks)
	}
	for i, b := range t.Blocks {
		if err := b.validate(fmt.Sprintf("blocks[%d]", i), params); err != nil {
			return err
		}
	}
	return nil
}

func (b *Block) validate(at string, params map[string]*Parameter) error {
	// param checks that the block's parameter is declared with one of types.
	param := func(field, name string, types ...string) (*Parameter, error) {
		if name == "" {
			return nil, invalid(at+"."+field, at, "a %s block names its parameter", b.Type)
		}
		p := params[name]
		if p == nil {
			return nil, invalid(at+"."+field, at, "parameter %q is not declared", name)
		}
		if !slices.Contains(types, p.Type) {
			return nil, invalid(at+"."+field, at, "parameter %q is a %s; a %s block takes a %v", name, p.Type, b.Type, types)
		}
		return p, nil
	}
	unused := func(ok bool, field string) error {
		if !ok {
			return invalid(at+"."+field, at, "a %s block has no %s", b.Type, field)
		}
		return nil
	}
	for _, err := range []error{
		unused(len(b.Columns) == 0 || b.Type == BlockLines, "columns"),
		unused(len(b.Fields) == 0 || b.Type == BlockFields, "fields"),
		unused(len(b.Text) == 0 || b.Type == BlockText, "text"),
		unused(len(b.Label) == 0 || b.Type == BlockRecipient || b.Type == BlockText, "label"),
		unused(b.Parameter == "" || b.Type != BlockCompany && b.Type != BlockFields, "parameter"),
		checkText(b.Label, at+".label", at, false),
	} {
		if err != nil {
			return err
		}
	}

	switch b.Type {
	case BlockCompany:
	case BlockRecipient:
		_, err := param("parameter", b.Parameter, TypeParty)
		return err
	case BlockTitle:
		if b.Parameter != "" {
			_, err := param("parameter", b.Parameter, TypeText)
			return err
		}
	case BlockFields:
		if len(b.Fields) == 0 {
			return invalid(at+".fields", at, "a fields block lists at least one field")
		}
		for j, f := range b.Fields {
			fat := fmt.Sprintf("fields[%d]", j)
			if _, err := param(fat+".parameter", f.Parameter, TypeText, TypeDate, TypeNumber, TypeMoney); err != nil {
				return err
			}
			if err := checkText(f.Label, at+"."+fat+".label", at, true); err != nil {
				return err
			}
		}
	case BlockLines:
		p, err := param("parameter", b.Parameter, TypeLines)
		if err != nil {
			return err
		}
		if len(b.Columns) == 0 {
			return invalid(at+".columns", at, "a lines block lists its columns (among %v and %s)", lineFields, ColumnAmount)
		}
		seen := map[string]bool{}
		for j, c := range b.Columns {
			cat := fmt.Sprintf("%s.columns[%d]", at, j)
			if seen[c] {
				return invalid(cat, at, "column %q appears twice", c)
			}
			seen[c] = true
			if c == ColumnAmount {
				if err := needFields(p, cat, at, "the amount column", FieldQuantity, FieldUnitPrice); err != nil {
					return err
				}
				continue
			}
			if !slices.Contains(lineFields, c) {
				return invalid(cat, at, "%q is not a column (one of %v and %s)", c, lineFields, ColumnAmount)
			}
			if p.field(c) == nil {
				return invalid(cat, at, "column %q is not a field of parameter %q", c, p.Name)
			}
		}
	case BlockTotals:
		p, err := param("parameter", b.Parameter, TypeLines)
		if err != nil {
			return err
		}
		return needFields(p, at+".parameter", at, "a totals block", FieldQuantity, FieldUnitPrice, FieldVATRate)
	case BlockText:
		if (len(b.Text) == 0) == (b.Parameter == "") {
			return invalid(at, at, "a text block has either a text or a parameter")
		}
		if b.Parameter != "" {
			_, err := param("parameter", b.Parameter, TypeText)
			return err
		}
		return checkText(b.Text, at+".text", at, true)
	default:
		return invalid(at+".type", at, "%q is not a block type (company, recipient, title, fields, lines, totals or text)", b.Type)
	}
	return nil
}

// needFields checks that the lines parameter p requires the fields what
// (a column, the totals) computes from.
func needFields(p *Parameter, field, block, what string, names ...string) error {
	for _, n := range names {
		if f := p.field(n); f == nil || !f.Required {
			return invalid(field, block, "%s needs the required field %q in parameter %q", what, n, p.Name)
		}
	}
	return nil
}

func (p *Parameter) field(name string) *LineField {
	for i := range p.Fields {
		if p.Fields[i].Name == name {
			return &p.Fields[i]
		}
	}
	return nil
}

func checkText(t Text, field, block string, required bool) error {
	if required && len(t) == 0 {
		return invalid(field, block, "a text in at least one language (en, fr, es) is required")
	}
	for lang, s := range t {
		if !slices.Contains(envoi.Languages, lang) {
			return invalid(field, block, "%q is not a language (en, fr or es)", lang)
		}
		if utf8.RuneCountInString(s) > maxTextRunes {
			return invalid(field, block, "the %s text is longer than %d characters", lang, maxTextRunes)
		}
	}
	return nil
}

func invalid(field, block, format string, args ...any) *envoi.Error {
	e := envoi.FieldError(envoi.EReportTemplateInvalid, field, format, args...)
	if block != "" {
		e.WithDetail("block", block)
	}
	return e
}

// In returns t in lang, else in English, French or Spanish, else ""
// (envoi.InLanguage).
func (t Text) In(lang string) string {
	s, _ := envoi.InLanguage(t, lang)
	return s
}

// clone returns a deep copy of t, so a registered template cannot change
// under a render.
func (t *Template) clone() *Template {
	c := &Template{Title: cloneText(t.Title), Parameters: slices.Clone(t.Parameters), Blocks: slices.Clone(t.Blocks)}
	for i := range c.Parameters {
		c.Parameters[i].Fields = slices.Clone(c.Parameters[i].Fields)
	}
	for i := range c.Blocks {
		b := &c.Blocks[i]
		b.Label, b.Text, b.Columns = cloneText(b.Label), cloneText(b.Text), slices.Clone(b.Columns)
		b.Fields = slices.Clone(b.Fields)
		for j := range b.Fields {
			b.Fields[j].Label = cloneText(b.Fields[j].Label)
		}
	}
	return c
}

func cloneText(t Text) Text {
	if t == nil {
		return nil
	}
	c := make(Text, len(t))
	for k, v := range t {
		c[k] = v
	}
	return c
}
