package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func deliveryNoteData() map[string]any {
	return map[string]any{
		"number": "12345", "date": "2026-11-20",
		"customer": map[string]any{"name": "Société Générale d'Équipement", "address": "12 rue de l'Église\n75001 Paris"},
		"lines": []map[string]any{
			{"article": "A-100", "description": "Câble électrique 3×2,5 mm²", "quantity": "10", "unit_price": "12.50", "vat_rate": "20"},
			{"article": "B-200", "description": "Boîte de dérivation", "quantity": "4", "unit_price": "3.99", "vat_rate": "20"},
		},
	}
}

// TestReportArchiveEndToEnd renders the delivery note to PDF, names it by the
// file-name rule, sends it, then finds it archived with its entity and
// downloads it intact; and it runs an administrator's template through
// save, validation and preview.
func TestReportArchiveEndToEnd(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	e.MustDo(200, "PUT", "/v1/file-names/BL", map[string]any{"pattern": "BL_[ID_BL]_[SOCIETE]", "archive": true, "file_type": "delivery_note"}, nil)

	req := blRequest("client@example.org")
	req["report"] = map[string]any{"template": "delivery_note", "data": deliveryNoteData()}
	var m messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", req, &m)
	if m.Status != "sent" {
		t.Fatalf("message: %s", fmtJSON(m))
	}
	var raw string
	for _, sm := range e.SMTP.Messages() {
		if strings.Contains(string(sm.Data), m.MessageID) {
			raw = string(sm.Data)
		}
	}
	if !strings.Contains(raw, "filename=BL_12345_FORTERRO.pdf") || !strings.Contains(raw, "application/pdf") {
		t.Errorf("the sent message has no PDF named by the rule:\n%.2000s", raw)
	}

	var docs []struct {
		ID, FileName, ContentType, SHA256 string
		Size                              int64
	}
	// The document is archived once the message is recorded sent.
	for deadline := time.Now().Add(10 * time.Second); len(docs) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		e.MustDo(200, "GET", "/v1/archive?entity_type=BL&entity_id=12345", nil, &docs)
	}
	if len(docs) != 2 {
		t.Fatalf("archived documents: %s, want the PDF and the .eml\n%s", fmtJSON(docs), e.Logs())
	}
	for _, d := range docs {
		req, _ := http.NewRequest("GET", e.Base+"/v1/archive/"+d.ID, nil)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(b)
		if resp.StatusCode != 200 || hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(b)) != d.Size {
			t.Errorf("download %s: %d, %d bytes", d.FileName, resp.StatusCode, len(b))
		}
		if d.ContentType == "application/pdf" && (d.FileName != "BL_12345_FORTERRO.pdf" || !bytes.HasPrefix(b, []byte("%PDF-"))) {
			t.Errorf("archived PDF %q does not look like the document", d.FileName)
		}
	}
	var none []any
	e.MustDo(200, "GET", "/v1/archive?entity_type=BL&entity_id=99999", nil, &none)
	if len(none) != 0 {
		t.Errorf("another entity has documents: %v", none)
	}

	t.Run("CustomTemplate", func(t *testing.T) {
		body, err := os.ReadFile("../../report/testdata/packing_list.json")
		if err != nil {
			t.Fatal(err)
		}
		var tpl map[string]any
		if err := json.Unmarshal(body, &tpl); err != nil {
			t.Fatal(err)
		}
		e.MustDo(200, "PUT", "/v1/report-templates/packing_list", tpl, nil)
		var list []struct {
			Name            string
			Builtin, Custom bool
		}
		e.MustDo(200, "GET", "/v1/report-templates", nil, &list)
		found := false
		for _, l := range list {
			found = found || (l.Name == "packing_list" && l.Custom)
		}
		if !found {
			t.Errorf("packing_list not listed: %+v", list)
		}
		var apiErr APIError
		if got := e.Do("PUT", "/v1/report-templates/broken", map[string]any{"title": map[string]string{"en": "x"}, "blocks": []map[string]any{{"type": "nonsense"}}}, &apiErr); got != 422 || apiErr.Error.Code != "report_template_invalid" {
			t.Errorf("invalid template: %d %s", got, fmtJSON(apiErr))
		}
		b, _ := json.Marshal(map[string]any{"name": "delivery_note", "company": "FORTERRO", "data": deliveryNoteData()})
		preq, _ := http.NewRequest("POST", e.Base+"/v1/report-templates/preview", bytes.NewReader(b))
		preq.Header.Set("Authorization", "Bearer "+e.Key)
		resp, err := http.DefaultClient.Do(preq)
		if err != nil {
			t.Fatal(err)
		}
		pdf, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Errorf("preview: %d %s %.100q", resp.StatusCode, resp.Header.Get("Content-Type"), pdf)
		}
		if got := e.Do("POST", "/v1/report-templates/preview", map[string]any{"name": "delivery_note", "data": map[string]any{"number": "1"}}, &apiErr); got != 422 || apiErr.Error.Code != "report_missing_parameters" {
			t.Errorf("preview with missing data: %d %s", got, fmtJSON(apiErr))
		}
	})
}
