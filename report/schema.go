package report

import (
	"context"
	"encoding/json"
	"fmt"

	"envoi"
)

// SchemaDialect is the JSON Schema dialect DataSchema writes.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// decimalPattern is what parseDecimalString accepts in a string.
const decimalPattern = `^[+-]?[0-9]+(\.[0-9]+)?$`

// DataSchema returns a JSON Schema (draft 2020-12) of the data a document
// of t takes (ReportRequest.Data): one property a parameter, the required
// ones listed, data the template does not declare allowed (and ignored).
// name is the template's name, for the title.
func (t *Template) DataSchema(name string) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, p := range t.Parameters {
		props[p.Name] = parameterSchema(&p)
		if p.Required {
			required = append(required, p.Name)
		}
	}
	return map[string]any{
		"$schema":              SchemaDialect,
		"title":                fmt.Sprintf("data of the report template %s", name),
		"type":                 "object",
		"properties":           props,
		"required":             required,
		"additionalProperties": true,
		"examples":             []any{t.SampleData()},
	}
}

func textSchema() map[string]any {
	return map[string]any{"type": []string{"string", "number"}, "maxLength": maxValueRunes,
		"description": "text (a number is written as it is)"}
}

func decimalSchema(what string) map[string]any {
	return map[string]any{
		"description": what + ": a JSON number or a string such as \"1234.56\"",
		"anyOf":       []any{map[string]any{"type": "number"}, map[string]any{"type": "string", "pattern": decimalPattern}},
	}
}

func parameterSchema(p *Parameter) map[string]any {
	switch p.Type {
	case TypeDate:
		return map[string]any{"type": "string", "format": "date",
			"description": "a date, YYYY-MM-DD (an RFC 3339 time is taken for its date)"}
	case TypeNumber:
		return decimalSchema("a number")
	case TypeMoney:
		return decimalSchema("an amount in the company's currency")
	case TypeParty:
		return map[string]any{
			"type":        "object",
			"description": "a party: a name and a postal address",
			"properties": map[string]any{
				"name": textSchema(),
				"address": map[string]any{
					"description": "text with line breaks, or a list of lines",
					"anyOf": []any{map[string]any{"type": "string"},
						map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "maxItems": maxAddressLines}},
				},
			},
			"required": []string{"name", "address"},
		}
	case TypeLines:
		props := map[string]any{}
		required := []string{}
		for _, f := range p.Fields {
			switch f.Name {
			case FieldQuantity:
				props[f.Name] = decimalSchema("the quantity")
			case FieldUnitPrice:
				props[f.Name] = decimalSchema("the unit price excluding VAT")
			case FieldVATRate:
				s := decimalSchema("the VAT rate in percent, 0 to 100")
				s["minimum"], s["maximum"] = 0, 100
				props[f.Name] = s
			default:
				props[f.Name] = textSchema()
			}
			if f.Required {
				required = append(required, f.Name)
			}
		}
		return map[string]any{
			"type": "array", "maxItems": MaxLines, "description": "the document's lines",
			"items": map[string]any{"type": "object", "properties": props, "required": required},
		}
	}
	return textSchema()
}

// sampleTexts are sample values of the text parameters the built-in
// templates declare; others get "sample <name>".
var sampleTexts = map[string]string{
	"number": "12345", "order_number": "CMD-2026-0042", "customer_reference": "PO-7781",
	"customer_code": "C0042", "supplier_code": "F0007", "notes": "Livraison en deux colis.",
	"payment_terms": "30 jours fin de mois", "invoice_number": "FA-2026-0311",
	"delivery_note_number": "BL-2026-0042", "buyer": "Jeanne Dupont",
}

// SampleData returns data a document of t renders with: every parameter,
// required or not, with a plausible value (the same each time).
func (t *Template) SampleData() map[string]any {
	out := map[string]any{}
	for _, p := range t.Parameters {
		switch p.Type {
		case TypeDate:
			out[p.Name] = "2026-03-02"
		case TypeNumber:
			out[p.Name] = "3"
		case TypeMoney:
			out[p.Name] = "1250.00"
		case TypeParty:
			out[p.Name] = map[string]any{"name": "Dupont Industrie", "address": "12 rue de la Paix\n75002 Paris"}
		case TypeLines:
			samples := []map[string]string{
				{FieldArticle: "A-100", FieldDescription: "Câble électrique 3×2,5 mm²", FieldQuantity: "10", FieldUnit: "m", FieldUnitPrice: "12.50", FieldVATRate: "20"},
				{FieldArticle: "B-200", FieldDescription: "Boîte de dérivation", FieldQuantity: "4", FieldUnit: "pc", FieldUnitPrice: "3.99", FieldVATRate: "20"},
			}
			var lines []any
			for _, s := range samples {
				l := map[string]any{}
				for _, f := range p.Fields {
					l[f.Name] = s[f.Name]
				}
				lines = append(lines, l)
			}
			out[p.Name] = lines
		default:
			v, ok := sampleTexts[p.Name]
			if !ok {
				v = "sample " + p.Name
			}
			out[p.Name] = v
		}
	}
	return out
}

// Describe returns the template of that name — the stored one when an
// administrator saved one, else the built-in one — with the schema of its
// data. Returns ENotFound when there is neither, EReportTemplateInvalid
// when the stored one no longer parses.
func (l *Library) Describe(ctx context.Context, name string) (*envoi.ReportTemplateInfo, error) {
	builtin := false
	if b, err := builtins(); err == nil {
		_, builtin = b[name]
	}
	d := &envoi.ReportTemplateInfo{Name: name, Builtin: builtin}
	rt, err := l.Store.ReportTemplate(ctx, name)
	switch {
	case err == nil:
		t, err := l.stored(ctx, name)
		if err != nil {
			return nil, err
		}
		d.Custom, d.Body, d.DataSchema = true, rt.Body, t.DataSchema(name)
		return d, nil
	case envoi.ErrorCode(err) != envoi.ENotFound:
		return nil, err
	}
	t, err := l.Renderer.Template(name)
	if err != nil {
		return nil, err
	}
	if d.Body, err = json.Marshal(t); err != nil {
		return nil, fmt.Errorf("report: template %s: %w", name, err)
	}
	d.Builtin = true
	d.DataSchema = t.DataSchema(name)
	return d, nil
}
