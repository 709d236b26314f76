package report_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"envoi"
	"envoi/report"
)

// TestDescribe: every built-in template is described with a JSON Schema
// (draft 2020-12) of its data whose required list and properties are its
// parameters; a stored template is described from its body; its sample
// data renders.
func TestDescribe(t *testing.T) {
	ctx := context.Background()
	lib, store := mustOpenLibrary(t)
	for _, name := range lib.Builtin() {
		t.Run(name, func(t *testing.T) {
			d, err := lib.Describe(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			if !d.Builtin || d.Custom || len(d.Body) == 0 {
				t.Errorf("builtin %v custom %v body %d bytes", d.Builtin, d.Custom, len(d.Body))
			}
			tpl, err := report.ParseTemplate(d.Body)
			if err != nil {
				t.Fatalf("the body given is not a template: %v", err)
			}
			s := d.DataSchema
			if s["$schema"] != report.SchemaDialect || s["type"] != "object" {
				t.Errorf("schema head: %v %v", s["$schema"], s["type"])
			}
			props := s["properties"].(map[string]any)
			var required []string
			for _, p := range tpl.Parameters {
				if props[p.Name] == nil {
					t.Errorf("no property for %s", p.Name)
				}
				if p.Required {
					required = append(required, p.Name)
				}
			}
			if !slices.Equal(s["required"].([]string), required) {
				t.Errorf("required %v, want %v", s["required"], required)
			}
			// The schema is JSON, and its example renders.
			if _, err := json.Marshal(s); err != nil {
				t.Fatal(err)
			}
			ex := s["examples"].([]any)[0].(map[string]any)
			if _, err := lib.Render(ctx, nil, nil, &envoi.ReportRequest{Template: name, Data: ex}); err != nil {
				t.Errorf("the schema's example does not render: %v", err)
			}
		})
	}
	t.Run("DeliveryNoteLines", func(t *testing.T) {
		d, _ := lib.Describe(ctx, report.DeliveryNote)
		lines := d.DataSchema["properties"].(map[string]any)["lines"].(map[string]any)
		items := lines["items"].(map[string]any)
		if lines["type"] != "array" || !slices.Equal(items["required"].([]string), []string{"description", "quantity", "unit_price", "vat_rate"}) {
			t.Errorf("lines: %v", lines)
		}
	})
	t.Run("Stored", func(t *testing.T) {
		body, err := os.ReadFile("testdata/packing_list.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := store.PutReportTemplate(ctx, &envoi.ReportTemplate{Name: "packing_list", Body: body}); err != nil {
			t.Fatal(err)
		}
		d, err := lib.Describe(ctx, "packing_list")
		if err != nil || !d.Custom || d.Builtin || string(d.Body) != string(body) || d.DataSchema == nil {
			t.Fatalf("%+v %v", d, err)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		if _, err := lib.Describe(ctx, "nothing"); envoi.ErrorCode(err) != envoi.ENotFound {
			t.Errorf("err = %v, want %s", err, envoi.ENotFound)
		}
	})
	t.Run("PreviewSampleData", func(t *testing.T) {
		pdf, err := lib.Preview(ctx, report.Invoice, nil, nil, nil)
		if err != nil || len(pdf) < 1000 || string(pdf[:5]) != "%PDF-" {
			t.Fatalf("preview without data: %d bytes, %v", len(pdf), err)
		}
		if _, err := lib.Preview(ctx, "nothing", nil, nil, nil); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Errorf("unknown template: %v", err)
		}
	})
}

// TestOpenAPIDeliveryNoteData: the delivery_note data shape OpenAPI shows
// is the template's: the same properties and required ones, and its
// example renders.
func TestOpenAPIDeliveryNoteData(t *testing.T) {
	b, err := os.ReadFile("../http/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string       `yaml:"required"`
				Properties map[string]any `yaml:"properties"`
				Example    map[string]any `yaml:"example"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	api, ok := doc.Components.Schemas["DeliveryNoteData"]
	if !ok {
		t.Fatal("openapi.yaml has no DeliveryNoteData")
	}
	lib, _ := mustOpenLibrary(t)
	d, err := lib.Describe(context.Background(), report.DeliveryNote)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(api.Required, d.DataSchema["required"].([]string)) {
		t.Errorf("required %v, the template's %v", api.Required, d.DataSchema["required"])
	}
	for name := range d.DataSchema["properties"].(map[string]any) {
		if api.Properties[name] == nil {
			t.Errorf("OpenAPI lacks %s", name)
		}
	}
	for name := range api.Properties {
		if d.DataSchema["properties"].(map[string]any)[name] == nil {
			t.Errorf("OpenAPI has %s, the template has not", name)
		}
	}
	if _, err := lib.Render(context.Background(), nil, nil, &envoi.ReportRequest{Template: report.DeliveryNote, Data: api.Example}); err != nil {
		t.Errorf("the OpenAPI example does not render: %v", err)
	}
}
