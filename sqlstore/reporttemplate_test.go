package sqlstore_test

import (
	"context"
	"testing"

	"envoi"
)

func TestReportTemplates(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		s, _ := MustOpenStore(t, dialect)
		ctx := context.Background()
		body := []byte(`{"title":{"en":"Packing list"},"blocks":[]}`)
		if err := s.PutReportTemplate(ctx, &envoi.ReportTemplate{Name: "packing_list", Body: body}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutReportTemplate(ctx, &envoi.ReportTemplate{Name: "packing_list", Body: append(body, ' ')}); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReportTemplate(ctx, "packing_list")
		if err != nil || string(got.Body) != string(body)+" " {
			t.Fatalf("got %v %q", err, got)
		}
		list, err := s.ReportTemplates(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %d", err, len(list))
		}
		wantField(t, s.PutReportTemplate(ctx, &envoi.ReportTemplate{Name: "../x"}), envoi.EInvalidInput, "name")
		if err := s.DeleteReportTemplate(ctx, "packing_list"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteReportTemplate(ctx, "packing_list"), envoi.ENotFound)
		_, err = s.ReportTemplate(ctx, "packing_list")
		wantCode(t, err, envoi.ENotFound)
	})
}
