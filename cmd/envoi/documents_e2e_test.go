package main_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"envoi/internal/testimage"
)

// archivedDoc is an entry of GET /v1/archive.
type archivedDoc struct {
	ID           string `json:"id"`
	EntityType   string `json:"entity_type"`
	EntityID     string `json:"entity_id"`
	DocumentFlow string `json:"document_flow"`
	MessageID    string `json:"message_id"`
	FileName     string `json:"file_name"`
	FileType     string `json:"file_type"`
	ContentType  string `json:"content_type"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
}

// waitArchived lists the documents archived for BL id until there are n.
func (e *Env) waitArchived(t *testing.T, id string, n int) []archivedDoc {
	t.Helper()
	var docs []archivedDoc
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		e.MustDo(200, "GET", "/v1/archive?entity_type=BL&entity_id="+id, nil, &docs)
		if len(docs) >= n {
			break
		}
	}
	if len(docs) != n {
		t.Fatalf("archived for BL %s: %s, want %d entries", id, fmtJSON(docs), n)
	}
	return docs
}

// download reads an archived document's bytes.
func (e *Env) download(t *testing.T, id string) []byte {
	t.Helper()
	r := e.call("GET", "/v1/archive/"+id, e.Key, nil)
	if r.Err != nil || r.Status != 200 {
		t.Fatalf("download %s: %d %v %.300s", id, r.Status, r.Err, r.Body)
	}
	return r.Body
}

// sentRaw returns the message the SMTP server received with messageID.
func (e *Env) sentRaw(t *testing.T, messageID string) []byte {
	t.Helper()
	for _, sm := range e.SMTP.Messages() {
		if bytes.Contains(sm.Data, []byte(messageID)) {
			return sm.Data
		}
	}
	t.Fatalf("the SMTP server did not receive %s", messageID)
	return nil
}

func attachmentsOf(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range checkMessage(t, raw) {
		if p.filename != "" && !strings.HasPrefix(p.header.Get("Content-Disposition"), "inline") {
			out[p.filename] = p.body
		}
	}
	return out
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestDocumentsEndToEnd drives issue 15's document side through the API on
// SQLite and PostgreSQL: the ERP's own PDF as the document, footers and
// signatures stacked as the seed says, file names for print and export,
// and the archive of a document produced outside mail (also by the CLI).
func TestDocumentsEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL})
			e.Configure()
			if status, page := e.Consent("O365", "jdupont"); status != 200 {
				t.Fatalf("consent: %d %s", status, page)
			}
			e.MustDo(200, "PUT", "/v1/file-names/BL", map[string]any{"pattern": "BL_[ID_BL]_[SOCIETE]", "archive": true, "file_type": "delivery_note"}, nil)
			t.Run("ERPDocument", func(t *testing.T) { testERPDocument(t, e) })
			t.Run("Signatures", func(t *testing.T) { testSignatureStack(t, e) })
			t.Run("FileNames", func(t *testing.T) { testResolveFileName(t, e) })
			t.Run("ArchiveOutsideMail", func(t *testing.T) { testArchiveOutsideMail(t, e) })
			t.Run("ReportDataShape", func(t *testing.T) { testReportDataShape(t, e) })
		})
	}
}

// testERPDocument: the attachment marked document (else the first PDF) is
// sent and archived under the rule's name, its bytes unchanged.
func testERPDocument(t *testing.T, e *Env) {
	cgv := []byte("%PDF-1.4\nconditions generales\n%%EOF\n")
	bl := []byte("%PDF-1.7\nthe ERP's own delivery note 12345\n%%EOF\n")
	att := func(name string, b []byte, doc bool) map[string]any {
		a := map[string]any{"filename": name, "content_type": "application/pdf", "content_base64": base64.StdEncoding.EncodeToString(b)}
		if doc {
			a["document"] = true
		}
		return a
	}
	for _, tt := range []struct {
		name string
		id   string
		atts []map[string]any
	}{
		{"Marked", "12345", []map[string]any{att("CGV.pdf", cgv, false), att("etat BL 12345.pdf", bl, true)}},
		{"FirstPDF", "12346", []map[string]any{att("etat BL 12346.pdf", bl, false), att("CGV.pdf", cgv, false)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := blRequest("client@example.org")
			req["context"] = map[string]string{"SOCIETE": "FORTERRO", "ID_BL": tt.id}
			req["entity"] = map[string]string{"type": "BL", "id": tt.id}
			req["attachments"] = tt.atts
			var m messageJSON
			e.MustDo(200, "POST", "/v1/messages?wait=10s", req, &m)
			if m.Status != "sent" {
				t.Fatalf("message: %s", fmtJSON(m))
			}
			want := "BL_" + tt.id + "_FORTERRO.pdf"
			files := attachmentsOf(t, e.sentRaw(t, m.MessageID))
			if !bytes.Equal(files[want], bl) || !bytes.Equal(files["CGV.pdf"], cgv) || len(files) != 2 {
				t.Errorf("attachments sent: %v, want %s (the ERP's bytes) and CGV.pdf", keys(files), want)
			}
			docs := e.waitArchived(t, tt.id, 2)
			var pdf *archivedDoc
			for i := range docs {
				if docs[i].ContentType == "application/pdf" {
					pdf = &docs[i]
				}
			}
			if pdf == nil || pdf.FileName != want || pdf.FileType != "delivery_note" || pdf.SHA256 != sha(bl) || pdf.MessageID != m.ID {
				t.Fatalf("archived: %s, want %s of type delivery_note with the ERP's bytes", fmtJSON(docs), want)
			}
			if got := e.download(t, pdf.ID); !bytes.Equal(got, bl) {
				t.Errorf("the archived document is not the ERP's bytes")
			}
		})
	}
	t.Run("TwoDocuments", func(t *testing.T) {
		req := blRequest("client@example.org")
		req["attachments"] = []map[string]any{att("a.pdf", bl, true), att("b.pdf", cgv, true)}
		ae := wantError(t, e.call("POST", "/v1/messages", e.Key, req), 400, "invalid_input")
		if ae.Error.Details["field"] != "attachments[1].document" {
			t.Errorf("details %v, want the field attachments[1].document", ae.Error.Details)
		}
	})
	t.Run("DocumentBesideReport", func(t *testing.T) {
		req := blRequest("client@example.org")
		req["report"] = map[string]any{"template": "delivery_note", "data": deliveryNoteData()}
		req["attachments"] = []map[string]any{att("a.pdf", bl, true)}
		ae := wantError(t, e.call("POST", "/v1/messages", e.Key, req), 400, "invalid_input")
		if ae.Error.Details["field"] != "attachments[0].document" {
			t.Errorf("details %v, want the field attachments[0].document", ae.Error.Details)
		}
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// testSignatureStack: the company's signature_html is sanitized when saved
// and used when the operator has none; an operator's signature replaces it
// only: both footers and the logo stay, in the seed's order.
func testSignatureStack(t *testing.T, e *Env) {
	var c struct {
		SignatureHTML string `json:"signature_html"`
		LogoSet       bool   `json:"logo_set"`
	}
	e.MustDo(200, "PUT", "/v1/companies/SIG", map[string]any{
		"name": "Forterro Sig", "footer_text": "COMPANY-FOOTER", "signature_html": hostileSignature,
		"logo_png_base64": base64.StdEncoding.EncodeToString(testimage.PNG(8, 4, false)),
	}, &c)
	checkSanitizedSignature(t, "company answer", c.SignatureHTML)
	e.MustDo(200, "GET", "/v1/companies/SIG", nil, &c)
	checkSanitizedSignature(t, "company", c.SignatureHTML)
	if !c.LogoSet {
		t.Fatal("the logo was not kept")
	}
	e.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne Dupont", "email": "user@example.com", "oauth_enabled": true,
		"footer_text": "OPERATOR-FOOTER"}, nil)
	t.Cleanup(func() {
		e.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne Dupont", "email": "user@example.com", "oauth_enabled": true}, nil)
	})

	parts := func() (plain, html string, logo bool) {
		t.Helper()
		req := blRequest("client@example.org")
		req["company"] = "SIG"
		r := e.preview(req)
		if r.Status != 200 {
			t.Fatalf("preview: %d %.300s", r.Status, r.Body)
		}
		ps := checkMessage(t, r.Body)
		for _, p := range ps {
			if strings.HasPrefix(p.header.Get("Content-Disposition"), "inline") && strings.HasPrefix(p.header.Get("Content-Type"), "image/png") {
				logo = true
			}
		}
		return string(partOfType(ps, "text/plain").body), string(partOfType(ps, "text/html").body), logo
	}
	inOrder := func(where, s string, marks ...string) {
		t.Helper()
		last := -1
		for _, m := range marks {
			i := strings.Index(s, m)
			if i < 0 || i < last {
				t.Errorf("%s: %q missing or out of order (want %q):\n%s", where, m, marks, s)
				return
			}
			last = i
		}
	}

	plain, html, logo := parts()
	inOrder("company signature, html", html, "Veuillez trouver le BL", "OPERATOR-FOOTER", "COMPANY-FOOTER", "<b>Jeanne</b>", `src="cid:`)
	inOrder("company signature, text", plain, "Veuillez trouver le BL", "OPERATOR-FOOTER", "COMPANY-FOOTER", "Jeanne")
	if !logo || strings.Contains(html, "script") {
		t.Errorf("logo inline %v; html:\n%s", logo, html)
	}

	e.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne Dupont", "email": "user@example.com", "oauth_enabled": true,
		"footer_text": "OPERATOR-FOOTER", "signature_html": "<p>OPERATOR-SIGNATURE</p>"}, nil)
	plain, html, logo = parts()
	inOrder("operator signature, html", html, "Veuillez trouver le BL", "OPERATOR-FOOTER", "COMPANY-FOOTER", "OPERATOR-SIGNATURE", `src="cid:`)
	inOrder("operator signature, text", plain, "OPERATOR-FOOTER", "COMPANY-FOOTER", "OPERATOR-SIGNATURE")
	if !logo || strings.Contains(html, "<b>Jeanne</b>") || strings.Count(html, `class="envoi-signature"`) != 1 {
		t.Errorf("with an operator signature: logo %v, want the logo and only the operator's signature:\n%s", logo, html)
	}
}

// testResolveFileName: the name for print and export is the mail's, cleaned
// the same way; an unknown flow is 404, a keyword without a value 422. The
// CLI prints the same name.
func testResolveFileName(t *testing.T, e *Env) {
	hostile := map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "../..\\2026/001\u202e"}
	var out struct {
		FileName string `json:"file_name"`
		FileType string `json:"file_type"`
		Archive  bool   `json:"archive"`
	}
	e.MustDo(200, "POST", "/v1/file-names/BL/resolve", map[string]any{"context": hostile, "company": "FORTERRO", "operator": "jdupont"}, &out)
	if out.FileType != "delivery_note" || !out.Archive || strings.ContainsAny(out.FileName, "/\\\u202e") || !strings.HasSuffix(out.FileName, "_FORTERRO.pdf") {
		t.Errorf("resolve: %+v", out)
	}
	// The same context in a mail: the document's name is the same.
	req := blRequest("client@example.org")
	req["context"] = hostile
	req["attachments"] = []map[string]any{{"filename": "x.pdf", "content_type": "application/pdf", "content_base64": base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 x"))}}
	r := e.preview(req)
	if r.Status != 200 {
		t.Fatalf("preview: %d %.300s", r.Status, r.Body)
	}
	if files := attachmentsOf(t, r.Body); files[out.FileName] == nil {
		t.Errorf("the mail names the document %v, resolve %q", keys(files), out.FileName)
	}

	ae := wantError(t, e.call("POST", "/v1/file-names/NOPE/resolve", e.Key, map[string]any{"context": map[string]string{}}), 404, "document_flow_not_found")
	if ae.Error.Details["document_flow"] != "NOPE" {
		t.Errorf("unknown flow: details %v", ae.Error.Details)
	}
	wantError(t, e.call("POST", "/v1/file-names/BL/resolve", e.Key, map[string]any{"context": map[string]string{"SOCIETE": "X"}}), 422, "keyword_missing")
	wantError(t, e.call("POST", "/v1/file-names/BL/resolve", e.Key, map[string]any{"context": map[string]string{}, "company": "NOBODY"}), 404, "not_found")
	wantError(t, e.call("POST", "/v1/file-names/BL/resolve", e.Key, map[string]any{"contexte": map[string]string{}}), 400, "invalid_input")

	if got := strings.TrimSpace(e.Run("file-names", "resolve", "BL", "ID_BL=12345", "SOCIETE=FORTERRO")); got != "BL_12345_FORTERRO.pdf" {
		t.Errorf("CLI: %q", got)
	}
	if out, code := e.RunCode("file-names", "resolve", "BL", "SOCIETE=FORTERRO"); code != 1 || !strings.Contains(out, "keyword_missing") || !strings.Contains(out, "ID_BL") {
		t.Errorf("CLI without ID_BL: exit %d\n%s", code, out)
	}
	if out, code := e.RunCode("file-names", "resolve", "BL", "ID_BL"); code != 2 || !strings.Contains(out, "KEY=VALUE") {
		t.Errorf("CLI with a bad argument: exit %d\n%s", code, out)
	}
	if out, code := e.RunCode("file-names", "resolve", "--help"); code != 0 || !strings.Contains(out, "file-names resolve FLOW") {
		t.Errorf("CLI --help: exit %d\n%s", code, out)
	}
}

// testArchiveOutsideMail: a printed document is archived with its entity,
// named by the rule and filed as its type, listed, downloaded intact; by
// the API and by the CLI.
func testArchiveOutsideMail(t *testing.T, e *Env) {
	printed := []byte("%PDF-1.7\nprinted delivery note 555\n%%EOF\n")
	var d archivedDoc
	e.MustDo(201, "POST", "/v1/archive", map[string]any{
		"document_flow": "BL", "entity": map[string]string{"type": "BL", "id": "555"},
		"context": map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "555"}, "content_type": "application/pdf",
		"content_base64": base64.StdEncoding.EncodeToString(printed), "filename": "ignored because the rule names it.pdf",
	}, &d)
	if d.FileName != "BL_555_FORTERRO.pdf" || d.FileType != "delivery_note" || d.SHA256 != sha(printed) || d.MessageID != "" || d.ID == "" {
		t.Errorf("archived: %s", fmtJSON(d))
	}
	docs := e.waitArchived(t, "555", 1)
	if docs[0].ID != d.ID {
		t.Errorf("listed %s, want %s", fmtJSON(docs), d.ID)
	}
	if !bytes.Equal(e.download(t, d.ID), printed) {
		t.Errorf("the download is not the printed document")
	}

	for _, tt := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"NoEntity", map[string]any{"document_flow": "BL", "context": map[string]string{}, "content_base64": "JVBERg=="}, 400, "invalid_input"},
		{"Empty", map[string]any{"document_flow": "BL", "entity": map[string]string{"type": "BL", "id": "1"}}, 400, "invalid_input"},
		{"BadBase64", map[string]any{"document_flow": "BL", "entity": map[string]string{"type": "BL", "id": "1"}, "content_base64": "%%%"}, 400, "invalid_input"},
		{"UnknownFlow", map[string]any{"document_flow": "NOPE", "entity": map[string]string{"type": "BL", "id": "1"}, "content_base64": "JVBERg=="}, 404, "document_flow_not_found"},
		{"KeywordMissing", map[string]any{"document_flow": "BL", "entity": map[string]string{"type": "BL", "id": "1"}, "content_base64": "JVBERg=="}, 422, "keyword_missing"},
	} {
		t.Run(tt.name, func(t *testing.T) { wantError(t, e.call("POST", "/v1/archive", e.Key, tt.body), tt.status, tt.code) })
	}

	// An export with no rule of its own: the given name, cleaned.
	e.MustDo(200, "PUT", "/v1/document-flows/EXPORT_CLI", map[string]any{"name": "Export clients", "keywords": []string{}}, nil)
	csv := []byte("code;nom\n1;Dupont\n")
	e.MustDo(201, "POST", "/v1/archive", map[string]any{
		"document_flow": "EXPORT_CLI", "entity": map[string]string{"type": "BL", "id": "556"},
		"content_type": "text/csv", "content_base64": base64.StdEncoding.EncodeToString(csv), "filename": "../clients.csv",
	}, &d)
	if d.FileName != "clients.csv" || d.ContentType != "text/csv" || d.FileType != "" {
		t.Errorf("export archived: %s", fmtJSON(d))
	}

	// The CLI.
	file := filepath.Join(t.TempDir(), "bl 557.pdf")
	if err := os.WriteFile(file, printed, 0o600); err != nil {
		t.Fatal(err)
	}
	out := e.Run("archive", "add", "--flow", "BL", "--entity-type", "BL", "--entity-id", "557", "--set", "ID_BL=557", "--set", "SOCIETE=FORTERRO", file)
	if !strings.Contains(out, "BL_557_FORTERRO.pdf") {
		t.Errorf("CLI: %s", out)
	}
	docs = e.waitArchived(t, "557", 1)
	if docs[0].FileName != "BL_557_FORTERRO.pdf" || docs[0].FileType != "delivery_note" || docs[0].SHA256 != sha(printed) {
		t.Errorf("CLI archived %s", fmtJSON(docs))
	}
	if out, code := e.RunCode("archive", "add", "--flow", "BL", file); code != 2 || !strings.Contains(out, "--entity-type") {
		t.Errorf("CLI without an entity: exit %d\n%s", code, out)
	}
	if out, code := e.RunCode("archive", "add", "--flow", "BL", "--entity-type", "BL", "--entity-id", "1", filepath.Join(t.TempDir(), "none.pdf")); code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("CLI with a missing file: exit %d\n%s", code, out)
	}
	if out, code := e.RunCode("archive", "--help"); code != 0 || !strings.Contains(out, "archive add --flow") {
		t.Errorf("CLI --help: exit %d\n%s", code, out)
	}
}

// testReportDataShape: a built-in template answers with the JSON Schema of
// its data, a stored one too; the preview renders sample data when given
// none.
func testReportDataShape(t *testing.T, e *Env) {
	var d struct {
		Name       string         `json:"name"`
		Builtin    bool           `json:"builtin"`
		Custom     bool           `json:"custom"`
		Template   map[string]any `json:"template"`
		DataSchema map[string]any `json:"data_schema"`
	}
	e.MustDo(200, "GET", "/v1/report-templates/delivery_note", nil, &d)
	if !d.Builtin || d.Custom || d.Template["parameters"] == nil {
		t.Errorf("delivery_note: builtin %v custom %v template %v", d.Builtin, d.Custom, d.Template != nil)
	}
	if d.DataSchema["$schema"] != "https://json-schema.org/draft/2020-12/schema" || fmtJSON(d.DataSchema["required"]) != fmtJSON([]string{"number", "date", "customer", "lines"}) {
		t.Errorf("data_schema: %s", fmtJSON(d.DataSchema))
	}
	// The schema's example is data a send takes.
	ex := d.DataSchema["examples"].([]any)[0]
	req := blRequest("client@example.org")
	req["report"] = map[string]any{"template": "delivery_note", "data": ex}
	if r := e.preview(req); r.Status != 200 {
		t.Errorf("a send with the schema's example: %d %.300s", r.Status, r.Body)
	}
	wantError(t, e.call("GET", "/v1/report-templates/nothing", e.Key, nil), 404, "not_found")

	for _, body := range []map[string]any{{"name": "invoice"}, {"name": "delivery_note", "company": "FORTERRO", "data": map[string]any{}}} {
		r := e.call("POST", "/v1/report-templates/preview", e.Key, body)
		if r.Status != 200 || !bytes.HasPrefix(r.Body, []byte("%PDF-")) {
			t.Errorf("preview %v without data: %d %.300s", body, r.Status, r.Body)
		}
	}
	// Data given is still checked.
	wantError(t, e.call("POST", "/v1/report-templates/preview", e.Key, map[string]any{"name": "invoice", "data": map[string]any{"number": "1"}}), 422, "report_missing_parameters")

	tpl, err := os.ReadFile("../../report/testdata/packing_list.json")
	if err != nil {
		t.Fatal(err)
	}
	e.MustDo(200, "PUT", "/v1/report-templates/packing_list", json.RawMessage(tpl), nil)
	e.MustDo(200, "GET", "/v1/report-templates/packing_list", nil, &d)
	if !d.Custom || d.Builtin || d.DataSchema["properties"] == nil {
		t.Errorf("stored template: %s", fmtJSON(d))
	}
}
