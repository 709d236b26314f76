package report_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"envoi"
	"envoi/report"
)

func mustParse(tb testing.TB, path string) *report.Template {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	t, err := report.ParseTemplate(b)
	if err != nil {
		tb.Fatalf("ParseTemplate(%s): %v", path, err)
	}
	return t
}

func packingData() map[string]any {
	return map[string]any{
		"number": "PL-0042", "date": "2025-03-14", "weight": 1234.5, "insured_value": "2500",
		"consignee": map[string]any{"name": "Entrepôt Nord", "address": "Zone d'activité\n59000 Lille"},
		"parcels": []any{
			map[string]any{"article": "C-1", "description": "Carton de 12 flacons", "unit": "carton", "quantity": 3},
			map[string]any{"description": "Palette consignée", "quantity": 1},
		},
	}
}

func TestParseTemplateJSONAndYAML(t *testing.T) {
	j := mustParse(t, "testdata/packing_list.json")
	y := mustParse(t, "testdata/packing_list.yaml")
	if !reflect.DeepEqual(j, y) {
		t.Errorf("the JSON and YAML forms of the same template differ:\n%+v\n%+v", j, y)
	}
	// A template written back to JSON reads the same: that form can be stored.
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	again, err := report.ParseTemplate(b)
	if err != nil {
		t.Fatalf("ParseTemplate(json.Marshal(t)): %v", err)
	}
	if !reflect.DeepEqual(j, again) {
		t.Errorf("round trip through JSON changed the template")
	}
}

func TestBuiltinTemplatesDeclareParameters(t *testing.T) {
	r := MustRenderer(t)
	for _, name := range r.Names() {
		tmpl, err := r.Template(name)
		if err != nil {
			t.Fatal(err)
		}
		required := map[string]bool{}
		for _, p := range tmpl.Parameters {
			required[p.Name] = p.Required
		}
		for _, p := range []string{"number", "date", "lines"} {
			if !required[p] {
				t.Errorf("%s: parameter %s is not required", name, p)
			}
		}
		if !required["customer"] && !required["supplier"] {
			t.Errorf("%s: neither customer nor supplier is required", name)
		}
	}
}

func TestCustomTemplate(t *testing.T) {
	r := MustRenderer(t)
	tmpl := mustParse(t, "testdata/packing_list.json")
	if err := r.Register("packing_list", tmpl); err != nil {
		t.Fatal(err)
	}
	// Changing the template after Register changes nothing.
	tmpl.Title["fr"] = "Changé"

	pdf, err := r.Render(context.Background(), &envoi.DocumentFlow{Code: "COLIS", Report: "packing_list"}, company(t, "fr", "", "image/png"), &envoi.ReportRequest{Data: packingData()})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(pdfText(t, pdf), "\f")
	for _, w := range []string{"Liste de colisage N° PL-0042", "Poids (kg) 1 234,5", "Valeur assurée 2 500,00 €", "C-1 Carton de 12 flacons carton 3", "Colis à manipuler avec précaution."} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q", w)
		}
	}
	if strings.Contains(text, "Changé") || strings.Contains(text, "Transporteur") || strings.Contains(text, "Total") {
		t.Errorf("text has what it should not (a changed title, an absent optional field, totals):\n%s", text)
	}
	golden(t, "packing_list_fr", text)

	t.Run("MissingParameters", func(t *testing.T) {
		data := packingData()
		delete(data["parcels"].([]any)[1].(map[string]any), "description")
		delete(data, "consignee")
		_, err := r.Render(context.Background(), nil, nil, &envoi.ReportRequest{Template: "packing_list", Data: data})
		e := envoi.AsError(err)
		if e == nil || e.Code != envoi.EReportMissingParameters {
			t.Fatalf("error = %v, want %s", err, envoi.EReportMissingParameters)
		}
		if got, want := e.Details["parameters"], []string{"consignee", "parcels[1].description"}; !reflect.DeepEqual(got, want) {
			t.Errorf("parameters = %v, want %v", got, want)
		}
	})

	t.Run("Preview", func(t *testing.T) {
		preview, err := r.RenderTemplate(context.Background(), mustParse(t, "testdata/packing_list.yaml"), company(t, "en", "USD", ""), packingData())
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(pdfText(t, preview), "\f")
		for _, w := range []string{"Packing list No. PL-0042", "Weight (kg) 1,234.5", "Insured value $2,500.00", "Shipping date March 14, 2025", "Handle with care."} {
			if !strings.Contains(text, w) {
				t.Errorf("preview lacks %q", w)
			}
		}
		_, err = r.RenderTemplate(context.Background(), &report.Template{Title: report.Text{"en": "x"}}, nil, nil)
		if envoi.ErrorCode(err) != envoi.EReportTemplateInvalid {
			t.Errorf("preview of an invalid template = %v, want %s", err, envoi.EReportTemplateInvalid)
		}
	})

	t.Run("OverrideBuiltin", func(t *testing.T) {
		if err := r.Register(report.DeliveryNote, mustParse(t, "testdata/packing_list.json")); err != nil {
			t.Fatal(err)
		}
		got, err := r.Template(report.DeliveryNote)
		if err != nil || got.Title.In("fr") != "Liste de colisage" {
			t.Fatalf("Template(delivery_note) = %v, %v; want the custom one", got, err)
		}
		r.Unregister(report.DeliveryNote)
		got, err = r.Template(report.DeliveryNote)
		if err != nil || got.Title.In("fr") != "Bon de livraison" {
			t.Fatalf("after Unregister, Template(delivery_note) = %v, %v; want the built-in one", got, err)
		}
	})

	t.Run("RegisterErrors", func(t *testing.T) {
		if err := r.Register("../x", tmpl); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Errorf("Register(../x) = %v, want %s", err, envoi.EInvalidInput)
		}
		if err := r.Register("x", &report.Template{}); envoi.ErrorCode(err) != envoi.EReportTemplateInvalid {
			t.Errorf("Register of an empty template = %v, want %s", err, envoi.EReportTemplateInvalid)
		}
		if _, err := r.Template("x"); envoi.ErrorCode(err) != envoi.ENotFound {
			t.Errorf("Template(x) = %v, want %s", err, envoi.ENotFound)
		}
	})
}

func TestParseTemplateErrors(t *testing.T) {
	const lines = `{"name": "lines", "type": "lines", "required": true, "fields": [{"name": "description", "required": true}, {"name": "quantity", "required": true}, {"name": "unit_price", "required": true}, {"name": "vat_rate"}]}`
	doc := func(params, blocks string) string {
		return `{"title": {"fr": "Essai"}, "parameters": [` + params + `], "blocks": [` + blocks + `]}`
	}
	tests := []struct {
		name  string
		src   string
		field string // "" when the fault is not one field
		block string
	}{
		{"NotJSON", `{"title": `, "", ""},
		{"NotYAML", "title: [unclosed", "", ""},
		{"Empty", "", "", ""},
		{"ScalarYAML", "just words", "", ""},
		{"UnknownKey", `{"title": {"fr": "x"}, "blocks": [{"type": "company"}], "colour": "red"}`, "", ""},
		{"UnknownBlockKey", doc("", `{"type": "company", "logo": false}`), "", ""},
		{"TrailingData", doc("", `{"type": "company"}`) + ` {}`, "", ""},
		{"NoTitle", `{"blocks": [{"type": "company"}]}`, "title", ""},
		{"TitleLanguage", `{"title": {"de": "Lieferschein"}, "blocks": [{"type": "company"}]}`, "title", ""},
		{"NoBlocks", doc("", ""), "blocks", ""},
		{"ParamName", doc(`{"name": "Number", "type": "text"}`, `{"type": "company"}`), "parameters[0].name", ""},
		{"ParamTwice", doc(`{"name": "n", "type": "text"}, {"name": "n", "type": "date"}`, `{"type": "company"}`), "parameters[1].name", ""},
		{"ParamType", doc(`{"name": "n", "type": "integer"}`, `{"type": "company"}`), "parameters[0].type", ""},
		{"FieldsOnText", doc(`{"name": "n", "type": "text", "fields": [{"name": "article"}]}`, `{"type": "company"}`), "parameters[0].fields", ""},
		{"LinesWithoutFields", doc(`{"name": "l", "type": "lines"}`, `{"type": "company"}`), "parameters[0].fields", ""},
		{"LineFieldUnknown", doc(`{"name": "l", "type": "lines", "fields": [{"name": "article"}, {"name": "colour"}]}`, `{"type": "company"}`), "parameters[0].fields[1].name", ""},
		{"BlockType", doc("", `{"type": "company"}, {"type": "barcode"}`), "blocks[1].type", "blocks[1]"},
		{"RecipientUndeclared", doc("", `{"type": "company"}, {"type": "recipient", "parameter": "customer"}`), "blocks[1].parameter", "blocks[1]"},
		{"RecipientNotParty", doc(`{"name": "customer", "type": "text"}`, `{"type": "recipient", "parameter": "customer"}`), "blocks[0].parameter", "blocks[0]"},
		{"RecipientNoParameter", doc("", `{"type": "recipient"}`), "blocks[0].parameter", "blocks[0]"},
		{"TitleParamNotText", doc(`{"name": "d", "type": "date"}`, `{"type": "title", "parameter": "d"}`), "blocks[0].parameter", "blocks[0]"},
		{"FieldsEmpty", doc("", `{"type": "fields"}`), "blocks[0].fields", "blocks[0]"},
		{"FieldOfLines", doc(lines, `{"type": "fields", "fields": [{"parameter": "lines", "label": {"fr": "L"}}]}`), "blocks[0].fields[0].parameter", "blocks[0]"},
		{"FieldWithoutLabel", doc(`{"name": "d", "type": "date"}`, `{"type": "fields", "fields": [{"parameter": "d"}]}`), "blocks[0].fields[0].label", "blocks[0]"},
		{"ColumnsOnCompany", doc("", `{"type": "company", "columns": ["article"]}`), "blocks[0].columns", "blocks[0]"},
		{"LabelOnTitle", doc("", `{"type": "title", "label": {"fr": "x"}}`), "blocks[0].label", "blocks[0]"},
		{"LinesNoColumns", doc(lines, `{"type": "lines", "parameter": "lines"}`), "blocks[0].columns", "blocks[0]"},
		{"ColumnUnknown", doc(lines, `{"type": "lines", "parameter": "lines", "columns": ["description", "quantity", "colour"]}`), "blocks[0].columns[2]", "blocks[0]"},
		{"ColumnNotDeclared", doc(lines, `{"type": "lines", "parameter": "lines", "columns": ["article"]}`), "blocks[0].columns[0]", "blocks[0]"},
		{"ColumnTwice", doc(lines, `{"type": "lines", "parameter": "lines", "columns": ["quantity", "quantity"]}`), "blocks[0].columns[1]", "blocks[0]"},
		{"AmountNeedsRequired", doc(`{"name": "lines", "type": "lines", "fields": [{"name": "quantity"}, {"name": "unit_price", "required": true}]}`, `{"type": "lines", "parameter": "lines", "columns": ["quantity", "amount"]}`), "blocks[0].columns[1]", "blocks[0]"},
		{"TotalsNeedVATRate", doc(lines, `{"type": "totals", "parameter": "lines"}`), "blocks[0].parameter", "blocks[0]"},
		{"TotalsNotLines", doc(`{"name": "n", "type": "number"}`, `{"type": "totals", "parameter": "n"}`), "blocks[0].parameter", "blocks[0]"},
		{"TextBoth", doc(`{"name": "n", "type": "text"}`, `{"type": "text", "parameter": "n", "text": {"fr": "x"}}`), "blocks[0]", "blocks[0]"},
		{"TextNeither", doc("", `{"type": "text"}`), "blocks[0]", "blocks[0]"},
		{"TextParamNotText", doc(`{"name": "n", "type": "number"}`, `{"type": "text", "parameter": "n"}`), "blocks[0].parameter", "blocks[0]"},
		{"TextTooLong", doc("", `{"type": "text", "text": {"fr": "`+strings.Repeat("é", 4001)+`"}}`), "blocks[0].text", "blocks[0]"},
		{"TooBig", strings.Repeat(" ", report.MaxTemplateBytes+1), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := report.ParseTemplate([]byte(tt.src))
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EReportTemplateInvalid {
				t.Fatalf("ParseTemplate = %v, want %s", err, envoi.EReportTemplateInvalid)
			}
			if tt.field != "" && e.Details["field"] != tt.field {
				t.Errorf("field = %v, want %s (%v)", e.Details["field"], tt.field, err)
			}
			if tt.block != "" && e.Details["block"] != tt.block {
				t.Errorf("block = %v, want %s", e.Details["block"], tt.block)
			}
		})
	}
}
