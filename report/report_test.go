package report_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/report"
)

var update = flag.Bool("update", false, "rewrite the golden text files under testdata/")

var fixedNow = func() time.Time { return time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC) }

func MustRenderer(tb testing.TB) *report.Renderer {
	tb.Helper()
	return &report.Renderer{Now: fixedNow}
}

// logo draws a small two-colour picture and encodes it; the same bytes
// every run.
func logo(tb testing.TB, typ string) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 120, 40))
	for y := range 40 {
		for x := range 120 {
			c := color.RGBA{0x1f, 0x4e, 0x79, 0xff}
			if x > y*3 {
				c = color.RGBA{0xe8, 0x6a, 0x10, 0xff}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	var err error
	if typ == "image/jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	} else {
		err = png.Encode(&buf, img)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func company(tb testing.TB, lang, currency, logoType string) *envoi.Company {
	c := &envoi.Company{
		Code:     "FORTERRO",
		Name:     "FORTERRO Industries",
		Language: lang,
		Currency: currency,
		Address:  "12 rue de l'Église\n75011 Paris\nFrance",
	}
	if logoType != "" {
		c.Logo, c.LogoType = logo(tb, logoType), logoType
	}
	return c
}

func customer(name string) map[string]any {
	return map[string]any{"name": name, "address": []any{"Polígono Industrial Cantabria", "Calle de la Peña 7", "26006 Logroño"}}
}

func ln(article, description string, quantity, unitPrice, vatRate any) map[string]any {
	return map[string]any{"article": article, "description": description, "quantity": quantity, "unit_price": unitPrice, "vat_rate": vatRate}
}

// pdfText extracts the text of a PDF with pdftotext (poppler-utils), one
// string per page, no-break spaces turned into spaces.
func pdfText(tb testing.TB, pdf []byte) []string {
	tb.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		tb.Skip("pdftotext not found: install poppler-utils (apt-get install -y poppler-utils) to check the text of the PDFs")
	}
	path := filepath.Join(tb.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(bin, "-raw", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		tb.Fatalf("pdftotext: %v", err)
	}
	text := strings.NewReplacer("\u00a0", " ", "\u202f", " ").Replace(string(out))
	pages := strings.Split(text, "\f")
	if pages[len(pages)-1] == "" || pages[len(pages)-1] == "\n" {
		pages = pages[:len(pages)-1]
	}
	return pages
}

// golden compares got with testdata/name.txt; -update rewrites the file.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name+".txt")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test ./report -update to write it)", err)
	}
	if got != string(want) {
		tb.Errorf("text of %s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

var pageObject = regexp.MustCompile(`/Type /Page\b[^s]`)

// pageCount counts the page objects of a PDF made by fpdf (they are not
// compressed).
func pageCount(pdf []byte) int { return len(pageObject.FindAll(pdf, -1)) }

func TestBuiltinTemplatesGolden(t *testing.T) {
	tests := []struct {
		name     string
		template string
		company  *envoi.Company
		data     map[string]any
		want     []string // hand-computed lines the text must contain
	}{
		{
			name: "delivery_note_fr", template: report.DeliveryNote, company: company(t, "fr", "", "image/png"),
			data: map[string]any{
				"number": "BL-2025-0042", "date": "2025-03-14", "delivery_date": "2025-03-17",
				"order_number": "CMD-778", "customer_code": 41100,
				"customer": map[string]any{"name": "Boulangerie Françoise & Fils", "address": "3 place de la Gare\n69002 Lyon"},
				"lines": []any{
					ln("VIS-M6", "Vis à tête fraisée M6×20, acier zingué", 250, "0.125", 20),
					ln("EQ-90", "Équerre renforcée 90° — 80×80 mm", 12, 3.49, 20),
					ln("LIV-01", "Livre « Façonnage du métal »", 1, "24.90", 5.5),
					ln("TRANSP", "Transport & emballage", 1, 1234.5, "20"),
				},
				"notes": "Livraison au quai n° 2.\nMerci de vérifier l'état des colis à réception.",
			},
			want: []string{
				"Bon de livraison N° BL-2025-0042",
				"Date 14/03/2025", "Date de livraison 17/03/2025", "Code client 41100",
				"VIS-M6 Vis à tête fraisée M6×20, acier zingué 250 0,125 € 20 % 31,25 €",
				"LIV-01 Livre « Façonnage du métal » 1 24,90 € 5,5 % 24,90 €",
				"Total HT 1 332,53 €",
				"TVA 5,5 % sur 24,90 € 1,37 €",
				"TVA 20 % sur 1 307,63 € 261,53 €",
				"Total TTC 1 595,43 €",
				"Page 1/1",
			},
		},
		{
			name: "invoice_en_usd", template: report.Invoice, company: company(t, "en", "USD", "image/jpeg"),
			data: map[string]any{
				"number": "INV-1007", "date": "2025-03-14T16:45:00+01:00", "due_date": "2025-04-13",
				"payment_terms": "30 days net", "customer": customer("Café Olé LLC"),
				"lines": []any{
					ln("CONS", "Consulting — café workshop", 3, 450, 20),
					ln("TRAV", "Travel expenses", 1, "212.35", 0),
				},
			},
			want: []string{
				"Invoice No. INV-1007", "Date March 14, 2025", "Due date April 13, 2025",
				"CONS Consulting — café workshop 3 $450.00 20% $1,350.00",
				"Total excl. VAT $1,562.35",
				"VAT 0% on $212.35 $0.00",
				"VAT 20% on $1,350.00 $270.00",
				"Total incl. VAT $1,832.35",
				"Page 1/1",
			},
		},
		{
			name: "credit_note_fr", template: report.CreditNote, company: company(t, "fr", "EUR", ""),
			data: map[string]any{
				"number": "AV-0009", "date": "2025-03-14", "invoice_number": "FA-2025-0311",
				"customer": customer("Garçon & Cie"),
				"lines": []any{
					ln("P-DEF", "Retour marchandise — pièces défectueuses", 4, 15.75, 20),
					ln("", "Remise commerciale", 1, -10, 20),
				},
			},
			want: []string{
				"Avoir N° AV-0009", "Facture d'origine FA-2025-0311",
				"Remise commerciale 1 -10,00 € 20 % -10,00 €",
				"Total HT 53,00 €", "TVA 20 % sur 53,00 € 10,60 €", "Total TTC 63,60 €",
			},
		},
		{
			name: "quote_es", template: report.Quote, company: company(t, "es", "EUR", "image/png"),
			data: map[string]any{
				"number": "P-2025-018", "date": "2025-03-14", "valid_until": "2025-04-14",
				"customer": customer("Señalética Riojana S.L."),
				"lines": []any{
					ln("DIS", "Diseño de señalética para la nave", 2, 1500, 21),
					ln("INS", "Instalación en Logroño (1,5 jornadas)", 1.5, "80.333", 21),
					ln("LIB", "Libro técnico", 1, 19.99, 4),
				},
				"notes": "Presupuesto sujeto a confirmación del pedido.",
			},
			want: []string{
				"Presupuesto N.º P-2025-018", "Válido hasta 14/04/2025",
				"INS Instalación en Logroño (1,5 jornadas) 1,5 80,333 € 21 % 120,50 €",
				"Base imponible 3.140,49 €",
				"IVA 4 % sobre 19,99 € 0,80 €",
				// 3 120,50 × 21 % = 655,305: half away from zero gives 655,31.
				"IVA 21 % sobre 3.120,50 € 655,31 €",
				"Total 3.796,60 €",
				"Página 1/1",
			},
		},
		{
			name: "order_ack_en_eur", template: report.OrderAck, company: company(t, "en", "EUR", ""),
			data: map[string]any{
				"number": "ARC-5521", "date": "2025-03-14", "customer_reference": "PO 8841", "delivery_date": "2025-03-28",
				"customer": customer("Acme Ltd"),
				"lines":    []any{ln("BR-1", "Steel bracket", 1000, "1.2345", 20)},
			},
			want: []string{
				"Order acknowledgement No. ARC-5521", "Your reference PO 8841",
				"BR-1 Steel bracket 1,000 €1.2345 20% €1,234.50",
				"Total excl. VAT €1,234.50", "VAT 20% on €1,234.50 €246.90", "Total incl. VAT €1,481.40",
			},
		},
		{
			name: "supplier_order_es_usd", template: report.SupplierOrder, company: company(t, "es", "USD", ""),
			data: map[string]any{
				"number": "PC-3001", "date": "2025-03-14", "buyer": "Íñigo Muñoz",
				"supplier": map[string]any{"name": "Tornillería del Norte", "address": "Bilbao"},
				"lines": []any{
					ln("M8", "Tornillos M8", 500, 0.08, 21),
					ln("AR8", "Arandelas", 500, 0.02, 21),
				},
			},
			want: []string{
				"Pedido a proveedor N.º PC-3001", "Comprador Íñigo Muñoz", "Proveedor",
				"Base imponible 50,00 $", "IVA 21 % sobre 50,00 $ 10,50 $", "Total 60,50 $",
			},
		},
		{
			name: "supplier_order_reminder_fr_chf", template: report.SupplierOrderReminder, company: company(t, "fr", "CHF", ""),
			data: map[string]any{
				"number": "CF-0777", "date": "2025-03-14", "order_date": "2025-02-10", "expected_date": "2025-03-01",
				"supplier": map[string]any{"name": "Roulements Genève SA", "address": "Rue du Rhône 1\n1204 Genève"},
				"lines":    []any{ln("6204", "Roulements à billes 6204", 20, 7.4, 8.1)},
			},
			want: []string{
				"Relance de commande fournisseur N° CF-0777", "Date de commande 10/02/2025",
				"Sauf erreur de notre part",
				"Total HT 148,00 CHF", "TVA 8,1 % sur 148,00 CHF 11,99 CHF", "Total TTC 159,99 CHF",
			},
		},
	}
	r := MustRenderer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdf, err := r.Render(context.Background(), nil, tt.company, &envoi.ReportRequest{Template: tt.template, Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
				t.Fatalf("output does not start with %%PDF-: %q", pdf[:min(len(pdf), 16)])
			}
			pages := pdfText(t, pdf)
			text := strings.Join(pages, "\f")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q", w)
				}
			}
			golden(t, tt.name, text)
		})
	}
}

// deliveryNote returns the data of a delivery note with n lines.
func deliveryNote(n int) map[string]any {
	lines := make([]any, n)
	for i := range lines {
		lines[i] = ln(fmt.Sprintf("ART-%03d", i+1), fmt.Sprintf("Pièce usinée n° %d, finition brossée", i+1), 2, "10.005", 20)
	}
	return map[string]any{
		"number": "BL-2025-0100", "date": "2025-03-14",
		"customer": map[string]any{"name": "Société Générale d'Équipement", "address": "1 avenue de la République\n33000 Bordeaux"},
		"lines":    lines,
	}
}

func TestPageBreaks(t *testing.T) {
	r := MustRenderer(t)
	pdf, err := r.Render(context.Background(), &envoi.DocumentFlow{Code: "BL", Report: report.DeliveryNote}, company(t, "fr", "EUR", "image/png"), &envoi.ReportRequest{Data: deliveryNote(100)})
	if err != nil {
		t.Fatal(err)
	}
	pages := pdfText(t, pdf)
	if len(pages) < 3 {
		t.Fatalf("%d pages for 100 lines, want 3 or more", len(pages))
	}
	if n := pageCount(pdf); n != len(pages) {
		t.Errorf("pageCount = %d, pdftotext pages = %d", n, len(pages))
	}
	header := "Article Désignation Qté P.U. HT TVA Montant HT"
	for i, p := range pages {
		if !strings.Contains(p, header) {
			t.Errorf("page %d lacks the table's header row %q", i+1, header)
		}
		if want := fmt.Sprintf("Page %d/%d", i+1, len(pages)); !strings.Contains(p, want) {
			t.Errorf("page %d lacks %q", i+1, want)
		}
		if i > 0 && !strings.Contains(p, "Bon de livraison N° BL-2025-0100 (suite)") {
			t.Errorf("page %d lacks the running header", i+1)
		}
	}
	text := strings.Join(pages, "\f")
	for i := 1; i <= 100; i++ {
		// 2 × 10,005 = 20,01: each line is rounded once, half away from zero.
		row := fmt.Sprintf("ART-%03d Pièce usinée n° %d, finition brossée 2 10,005 € 20 %% 20,01 €", i, i)
		if c := strings.Count(text, row+"\n"); c != 1 {
			t.Errorf("line %d appears %d times, want once: %q", i, c, row)
		}
	}
	for _, w := range []string{"Total HT 2 001,00 €", "TVA 20 % sur 2 001,00 € 400,20 €", "Total TTC 2 401,20 €"} {
		if !strings.Contains(pages[len(pages)-1], w) {
			t.Errorf("last page lacks %q", w)
		}
	}
	golden(t, "delivery_note_100_lines", text)
}

func TestLongDescriptionSpansPages(t *testing.T) {
	words := make([]string, 1500)
	for i := range words {
		words[i] = fmt.Sprintf("mot%04d", i)
	}
	data := deliveryNote(2)
	data["lines"].([]any)[1].(map[string]any)["description"] = strings.Join(words, " ")
	pdf, err := MustRenderer(t).Render(context.Background(), nil, company(t, "fr", "", ""), &envoi.ReportRequest{Template: report.DeliveryNote, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	pages := pdfText(t, pdf)
	if len(pages) < 2 {
		t.Fatalf("%d pages, want the description to continue on a second page", len(pages))
	}
	text := strings.Join(pages, " ")
	for _, w := range words {
		if !strings.Contains(text, w) {
			t.Fatalf("text lacks %q: the long description lost words", w)
		}
	}
	for i, p := range pages {
		if !strings.Contains(p, "Désignation") {
			t.Errorf("page %d lacks the table's header row", i+1)
		}
	}
}

func TestMissingParameters(t *testing.T) {
	data := deliveryNote(6)
	delete(data, "number")
	data["date"] = "14/03/2025" // wrong, reported beside the missing ones
	data["customer"] = map[string]any{"address": "Bordeaux"}
	lines := data["lines"].([]any)
	delete(lines[3].(map[string]any), "quantity")
	lines[5].(map[string]any)["unit_price"] = ""
	lines[5].(map[string]any)["vat_rate"] = nil

	_, err := MustRenderer(t).Render(context.Background(), nil, company(t, "fr", "", ""), &envoi.ReportRequest{Template: report.DeliveryNote, Data: data})
	if got := envoi.ErrorCode(err); got != envoi.EReportMissingParameters {
		t.Fatalf("code = %q, want %q (%v)", got, envoi.EReportMissingParameters, err)
	}
	e := envoi.AsError(err)
	want := []string{"number", "customer.name", "lines[3].quantity", "lines[5].unit_price", "lines[5].vat_rate"}
	if got, _ := e.Details["parameters"].([]string); !slices.Equal(got, want) {
		t.Errorf("parameters = %v, want %v", got, want)
	}
	if got, _ := e.Details["invalid"].([]string); !slices.Equal(got, []string{"date"}) {
		t.Errorf("invalid = %v, want [date]", got)
	}
	for _, name := range want {
		if !strings.Contains(e.Message, name) {
			t.Errorf("message %q does not name %s", e.Message, name)
		}
	}

	t.Run("NoData", func(t *testing.T) {
		_, err := MustRenderer(t).Render(context.Background(), nil, nil, &envoi.ReportRequest{Template: report.Invoice})
		e := envoi.AsError(err)
		if e.Code != envoi.EReportMissingParameters {
			t.Fatalf("code = %q, want %q", e.Code, envoi.EReportMissingParameters)
		}
		if got, want := e.Details["parameters"], []string{"number", "date", "customer", "lines"}; !slices.Equal(got.([]string), want) {
			t.Errorf("parameters = %v, want %v", got, want)
		}
	})
}

func TestInvalidParameters(t *testing.T) {
	tests := []struct {
		name   string
		change func(map[string]any)
		want   []string
	}{
		{"QuantityNotANumber", func(d map[string]any) { d["lines"].([]any)[2].(map[string]any)["quantity"] = "abc" }, []string{"lines[2].quantity"}},
		{"CommaDecimal", func(d map[string]any) { d["lines"].([]any)[0].(map[string]any)["unit_price"] = "12,50" }, []string{"lines[0].unit_price"}},
		{"VATRateOver100", func(d map[string]any) { d["lines"].([]any)[1].(map[string]any)["vat_rate"] = 120 }, []string{"lines[1].vat_rate"}},
		{"FloatNoise", func(d map[string]any) {
			tenth := 0.1
			d["lines"].([]any)[0].(map[string]any)["quantity"] = tenth + 0.2 // 0.30000000000000004
		}, []string{"lines[0].quantity"}},
		{"DateFormat", func(d map[string]any) { d["date"] = "March 14" }, []string{"date"}},
		{"LinesNotAList", func(d map[string]any) { d["lines"] = "none" }, []string{"lines"}},
		{"LineNotAnObject", func(d map[string]any) { d["lines"].([]any)[1] = 42 }, []string{"lines[1]"}},
		{"PartyNotAnObject", func(d map[string]any) { d["customer"] = "Bordeaux" }, []string{"customer"}},
		{"NumberIsAnObject", func(d map[string]any) { d["number"] = map[string]any{"x": 1} }, []string{"number"}},
		{"Several", func(d map[string]any) {
			d["date"] = true
			d["lines"].([]any)[0].(map[string]any)["quantity"] = "1e3"
		}, []string{"date", "lines[0].quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := deliveryNote(3)
			tt.change(data)
			_, err := MustRenderer(t).Render(context.Background(), nil, nil, &envoi.ReportRequest{Template: report.DeliveryNote, Data: data})
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EInvalidInput {
				t.Fatalf("error = %v, want %s", err, envoi.EInvalidInput)
			}
			if got, _ := e.Details["parameters"].([]string); !slices.Equal(got, tt.want) {
				t.Errorf("parameters = %v, want %v", got, tt.want)
			}
			if e.Details["field"] != tt.want[0] {
				t.Errorf("field = %v, want %s", e.Details["field"], tt.want[0])
			}
			reasons, _ := e.Details["reasons"].(map[string]string)
			for _, n := range tt.want {
				if reasons[n] == "" {
					t.Errorf("no reason for %s", n)
				}
			}
		})
	}
}

func TestTemplateChoice(t *testing.T) {
	r := MustRenderer(t)
	data := deliveryNote(1)
	tests := []struct {
		name string
		df   *envoi.DocumentFlow
		req  *envoi.ReportRequest
		code string
	}{
		{"FlowDefault", &envoi.DocumentFlow{Code: "BL", Report: report.DeliveryNote}, &envoi.ReportRequest{Data: data}, ""},
		{"Named", &envoi.DocumentFlow{Code: "BL"}, &envoi.ReportRequest{Template: report.DeliveryNote, Data: data}, ""},
		{"NamedOverridesFlow", &envoi.DocumentFlow{Code: "BL", Report: "nope"}, &envoi.ReportRequest{Template: report.DeliveryNote, Data: data}, ""},
		{"NoTemplate", &envoi.DocumentFlow{Code: "BL"}, &envoi.ReportRequest{Data: data}, envoi.EInvalidInput},
		{"NoFlowNoTemplate", nil, &envoi.ReportRequest{Data: data}, envoi.EInvalidInput},
		{"Unknown", nil, &envoi.ReportRequest{Template: "bon_de_commande", Data: data}, envoi.EInvalidInput},
		{"NoRequest", nil, nil, envoi.EInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Render(context.Background(), tt.df, nil, tt.req)
			if got := envoi.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
		})
	}
	if got := r.Names(); !slices.Equal(got, []string{"credit_note", "delivery_note", "invoice", "order_ack", "quote", "supplier_order", "supplier_order_reminder"}) {
		t.Errorf("Names = %v", got)
	}
}

func TestCompanyErrors(t *testing.T) {
	tests := []struct {
		name    string
		company *envoi.Company
		field   string
	}{
		{"LogoNotAnImage", &envoi.Company{Logo: []byte("GIF89a not really"), LogoType: "image/png"}, "logo"},
		{"LogoTruncated", &envoi.Company{Logo: logo(t, "image/png")[:60], LogoType: "image/png"}, "logo"},
		{"Currency", &envoi.Company{Currency: "EURO"}, "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MustRenderer(t).Render(context.Background(), nil, tt.company, &envoi.ReportRequest{Template: report.DeliveryNote, Data: deliveryNote(1)})
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != tt.field {
				t.Fatalf("error = %v, want %s on field %s", err, envoi.EInvalidInput, tt.field)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	r := MustRenderer(t)
	render := func() []byte {
		pdf, err := r.Render(context.Background(), nil, company(t, "fr", "", "image/png"), &envoi.ReportRequest{Template: report.DeliveryNote, Data: deliveryNote(40)})
		if err != nil {
			t.Fatal(err)
		}
		return pdf
	}
	a, b := render(), render()
	if !bytes.Equal(a, b) {
		t.Error("two renders of the same document differ")
	}
	if !bytes.Contains(a, []byte("/CreationDate (D:20250314093000")) {
		t.Error("the creation date is not the injected clock's")
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := MustRenderer(t).Render(ctx, nil, nil, &envoi.ReportRequest{Template: report.DeliveryNote, Data: deliveryNote(1)})
	if err != context.Canceled {
		t.Errorf("Render with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestConcurrentRenders(t *testing.T) {
	r := MustRenderer(t)
	var wg sync.WaitGroup
	results := make([][]byte, 4)
	for i := range results {
		wg.Go(func() {
			pdf, err := r.Render(context.Background(), nil, company(t, "es", "", "image/png"), &envoi.ReportRequest{Template: report.Quote, Data: deliveryNote(30)})
			if err != nil {
				t.Error(err)
			}
			results[i] = pdf
		})
	}
	tmpl, err := os.ReadFile("testdata/packing_list.json")
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		pt, err := report.ParseTemplate(tmpl)
		if err == nil {
			err = r.Register("packing_list", pt)
		}
		if err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	for i := range results {
		if !bytes.Equal(results[i], results[0]) {
			t.Errorf("render %d differs from render 0", i)
		}
	}
}

// BenchmarkRenderDeliveryNote renders a 100-line delivery note of 3 pages
// with a logo, as a send would.
func BenchmarkRenderDeliveryNote(b *testing.B) {
	r := MustRenderer(b)
	c := company(b, "fr", "EUR", "image/png")
	req := &envoi.ReportRequest{Template: report.DeliveryNote, Data: deliveryNote(100)}
	pdf, err := r.Render(context.Background(), nil, c, req)
	if err != nil {
		b.Fatal(err)
	}
	if n := pageCount(pdf); n != 3 {
		b.Fatalf("%d pages, want the benchmark's document on 3", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(context.Background(), nil, c, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(pdf)), "pdf-bytes")
}

// Characters fpdf cannot write (emoji beyond the Basic Multilingual Plane,
// control characters, bidi overrides) must not fail a send.
func TestUnprintableCharacters(t *testing.T) {
	weird := "Colis 📦 \u202eégal\u202c\x00\x07 fin"
	data := deliveryNote(1)
	data["number"] = "BL 🚚 1"
	data["lines"].([]any)[0].(map[string]any)["description"] = weird
	data["customer"] = map[string]any{"name": "Client 😀\nSA", "address": weird}
	c := company(t, "fr", "", "")
	c.Name = "FORTERRO 🏭"
	pdf, err := MustRenderer(t).Render(context.Background(), nil, c, &envoi.ReportRequest{Template: report.DeliveryNote, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(pdfText(t, pdf), "\f")
	for _, w := range []string{"Bon de livraison N° BL \ufffd 1", "Client \ufffd SA", "ART-001 Colis \ufffd égal fin 2"} {
		if !strings.Contains(text, w) {
			t.Errorf("text lacks %q:\n%s", w, text)
		}
	}
}
