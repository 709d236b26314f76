package report_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"envoi"
	"envoi/report"
	"envoi/secret"
	"envoi/sqlstore"
)

func mustOpenLibrary(tb testing.TB) (*report.Library, *sqlstore.Store) {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: tb.TempDir(), MasterKey: secret.NewKey(), KeyReloadInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return &report.Library{Renderer: MustRenderer(tb), Store: store}, store
}

func TestLibrary(t *testing.T) {
	ctx := context.Background()
	packing, err := os.ReadFile("testdata/packing_list.json")
	if err != nil {
		t.Fatal(err)
	}
	put := func(t *testing.T, store *sqlstore.Store, name string, body []byte) {
		t.Helper()
		if err := store.PutReportTemplate(ctx, &envoi.ReportTemplate{Name: name, Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	render := func(t *testing.T, l *report.Library, df *envoi.DocumentFlow, req *envoi.ReportRequest) (string, error) {
		t.Helper()
		pdf, err := l.Render(ctx, df, company(t, "fr", "", ""), req)
		if err != nil {
			return "", err
		}
		return strings.Join(pdfText(t, pdf), "\f"), nil
	}

	t.Run("StoredReplacesBuiltin", func(t *testing.T) {
		l, store := mustOpenLibrary(t)
		put(t, store, report.DeliveryNote, packing)
		text, err := render(t, l, &envoi.DocumentFlow{Code: "BL", Report: report.DeliveryNote}, &envoi.ReportRequest{Data: packingData()})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "Liste de colisage N° PL-0042") {
			t.Errorf("the stored template was not used:\n%s", text)
		}
	})

	t.Run("ParsedOncePerVersion", func(t *testing.T) {
		l, store := mustOpenLibrary(t)
		put(t, store, "packing_list", packing)
		req := &envoi.ReportRequest{Template: "packing_list", Data: packingData()}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := l.Render(ctx, nil, nil, req); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for range 3 {
			if _, err := render(t, l, nil, req); err != nil {
				t.Fatal(err)
			}
		}
		// Concurrent first renders may each parse; later ones reuse it.
		if got := l.Parses(); got < 1 || got > 4 {
			t.Fatalf("parses after 7 renders of one version: got %d, want 1 to 4", got)
		}
		before := l.Parses()
		for range 3 {
			if _, err := render(t, l, nil, req); err != nil {
				t.Fatal(err)
			}
		}
		if got := l.Parses(); got != before {
			t.Fatalf("parses: got %d after 3 more renders, want still %d", got, before)
		}

		// Saved again, changed: the next render uses the new version.
		put(t, store, "packing_list", bytes.Replace(packing, []byte("Liste de colisage"), []byte("Liste révisée"), 1))
		text, err := render(t, l, nil, req)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "Liste révisée") {
			t.Errorf("the new version was not used:\n%s", text)
		}
		if got, want := l.Parses(), before+1; got != want {
			t.Errorf("parses after a new version: got %d, want %d", got, want)
		}
	})

	t.Run("Deleted", func(t *testing.T) {
		l, store := mustOpenLibrary(t)
		put(t, store, "packing_list", packing)
		req := &envoi.ReportRequest{Template: "packing_list", Data: packingData()}
		if _, err := render(t, l, nil, req); err != nil {
			t.Fatal(err)
		}
		if err := store.DeleteReportTemplate(ctx, "packing_list"); err != nil {
			t.Fatal(err)
		}
		if _, err := render(t, l, nil, req); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Fatalf("render of a deleted template: got %v, want %s", err, envoi.EInvalidInput)
		}
	})

	t.Run("ErrStoredInvalid", func(t *testing.T) {
		l, store := mustOpenLibrary(t)
		put(t, store, "broken", []byte(`{"title": {"fr": "x"}, "unknown": 1}`))
		if _, err := render(t, l, nil, &envoi.ReportRequest{Template: "broken"}); envoi.ErrorCode(err) != envoi.EReportTemplateInvalid {
			t.Fatalf("render of a broken stored template: got %v, want %s", err, envoi.EReportTemplateInvalid)
		}
	})

	t.Run("Preview", func(t *testing.T) {
		l, _ := mustOpenLibrary(t)
		yaml, err := os.ReadFile("testdata/packing_list.yaml")
		if err != nil {
			t.Fatal(err)
		}
		pdf, err := l.Preview(ctx, "draft", yaml, company(t, "en", "USD", ""), packingData())
		if err != nil {
			t.Fatal(err)
		}
		if text := strings.Join(pdfText(t, pdf), "\f"); !strings.Contains(text, "Packing list No. PL-0042") {
			t.Errorf("preview lacks the title:\n%s", text)
		}
		if err := l.Validate([]byte("{")); envoi.ErrorCode(err) != envoi.EReportTemplateInvalid {
			t.Errorf("Validate of a broken body: got %v, want %s", err, envoi.EReportTemplateInvalid)
		}
	})
}
