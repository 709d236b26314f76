package main_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDocumentFlowReportKept: a PUT of a built-in document flow that does
// not name a report keeps its default one; naming it empty clears it.
func TestDocumentFlowReportKept(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	type flow struct {
		Code     string   `json:"code"`
		Name     string   `json:"name"`
		Keywords []string `json:"keywords"`
		Report   string   `json:"report"`
		Builtin  bool     `json:"builtin"`
	}
	var bl flow
	e.MustDo(200, "GET", "/v1/document-flows/BL", nil, &bl)
	if bl.Report == "" || !bl.Builtin {
		t.Fatalf("BL as seeded: %+v, want a built-in flow with a report", bl)
	}
	report := bl.Report
	e.MustDo(200, "PUT", "/v1/document-flows/BL", map[string]any{"name": "Bon de livraison", "keywords": bl.Keywords}, nil)
	var got flow
	e.MustDo(200, "GET", "/v1/document-flows/BL", nil, &got)
	if got.Name != "Bon de livraison" || got.Report != report {
		t.Errorf("after a PUT without report: %+v, want the new name and report %q", got, report)
	}
	e.MustDo(200, "PUT", "/v1/document-flows/BL", map[string]any{"name": "Bon de livraison", "keywords": bl.Keywords, "report": ""}, nil)
	var cleared flow
	e.MustDo(200, "GET", "/v1/document-flows/BL", nil, &cleared)
	if cleared.Report != "" {
		t.Errorf("after a PUT with an empty report: %+v, want none", cleared)
	}

	// envoi apply: the same rule for a file that leaves report out.
	e.MustDo(200, "PUT", "/v1/document-flows/BL", map[string]any{"name": "Bon de livraison", "keywords": bl.Keywords, "report": report}, nil)
	cfg := filepath.Join(t.TempDir(), "envoi.yaml")
	yaml := "document_flows:\n  BL: {name: \"BL renamed\", keywords: [SOCIETE, ID_BL, CLIENT, DATE]}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run("apply", "-f", cfg)
	var applied flow
	e.MustDo(200, "GET", "/v1/document-flows/BL", nil, &applied)
	if applied.Name != "BL renamed" || applied.Report != report {
		t.Errorf("after envoi apply without report: %+v, want the new name and report %q", applied, report)
	}
}
