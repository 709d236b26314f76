package sqlstore_test

import (
	"context"
	"testing"

	"envoi"
)

// TestPutDocumentFlowKeepReport: a change that leaves the report out
// (KeepReport) keeps the stored flow's, in the store itself, whichever
// front-end made it; one that names a report, empty included, sets it.
func TestPutDocumentFlowKeepReport(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, _ := MustOpenStore(t, dialect)
		keywords := []string{"SOCIETE", "ID_BL", "CLIENT", "DATE"}
		stored := func(code string) string {
			t.Helper()
			d, err := s.DocumentFlow(ctx, code)
			must(t, err)
			return d.Report
		}

		d := &envoi.DocumentFlow{Code: "BL", Name: "Bon de livraison", Keywords: keywords, KeepReport: true}
		must(t, s.PutDocumentFlow(ctx, d))
		if d.Report != "delivery_note" || stored("BL") != "delivery_note" {
			t.Errorf("rename keeping the report: answered %q, stored %q; want delivery_note", d.Report, stored("BL"))
		}

		d = &envoi.DocumentFlow{Code: "BL", Name: "Bon de livraison", Keywords: keywords}
		must(t, s.PutDocumentFlow(ctx, d))
		if d.Report != "" || stored("BL") != "" {
			t.Errorf("report named empty: answered %q, stored %q; want none", d.Report, stored("BL"))
		}

		d = &envoi.DocumentFlow{Code: "RETOUR", Name: "Return note", Keywords: []string{"SOCIETE"}, Report: "delivery_note", KeepReport: true}
		must(t, s.PutDocumentFlow(ctx, d))
		if d.Report != "delivery_note" || stored("RETOUR") != "delivery_note" {
			t.Errorf("new flow: answered %q, stored %q; want the report it gives", d.Report, stored("RETOUR"))
		}
	})
}
