package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"envoi"
	"envoi/compose"
	envoihttp "envoi/http"
	"envoi/queue"
	"envoi/report"
	"envoi/secret"
	"envoi/sqlstore"
)

// FuzzDecodeSendRequest posts any body to POST /v1/messages/preview and
// POST /v1/messages through the real handler, on a real store (SQLite)
// with the real composer: the answer is never a 5xx; an error is the API's
// JSON error with a code of the catalogue and a remedy; a preview is a
// message whose header holds only envoi's fields (no injection, no NUL, no
// line of white space alone); an accepted request is one that decodes and
// validates. The seed corpus is under testdata/fuzz/FuzzDecodeSendRequest;
// run with go test -run '^$' -fuzz FuzzDecodeSendRequest ./http/
func FuzzDecodeSendRequest(f *testing.F) {
	for _, s := range []string{
		`{"document_flow":"BL","operator":"jdupont","company":"FORTERRO","to":["client@example.org"],"context":{"SOCIETE":"FORTERRO","ID_BL":"12345"}}`,
		`{"document_flow":"BL","operator":"jdupont","to":["a@b.c"],"cc":["Name <c@d.e>"],"bcc":["f@g.h"],"context":{"SOCIETE":"x\r\nBcc: v@evil.test","ID_BL":"<script>"},"entity":{"type":"BL","id":"1"}}`,
		`{"document_flow":"BL","operator":"jdupont","to":["a@b.c"],"context":{"SOCIETE":"S","ID_BL":"1"},"attachments":[{"filename":"../../x.pdf","content_type":"application/pdf\r\nX: y","content_base64":"JVBERi0xLjQK"}]}`,
		`{"document_flow":"BL","operator":"jdupont","to":["a@b.c"],"context":{"SOCIETE":"S","ID_BL":"1"},"report":{"template":"delivery_note","data":{"number":"1"}}}`,
		`{"document_flow":"BL","operator":"jdupont","to":["a@b.c"],"context":{"SOCIETE":"S","ID_BL":"../1\r\n"},"report":{"data":{"number":"BL-1","date":"2025-03-14","customer":{"name":"C"},"lines":[{"article":"A","description":"D","quantity":2,"unit_price":"1.5","vat_rate":20}]}}}`,
		`{"document_flow":"BL","operator":"jdupont","to":"a@b.c"}`,
		`{"document_flow":"BL","document_flow":"FACTURE","to":[null],"context":{"A":null}}`,
		`{"unknown":1}`,
		`[]`, `null`, `{}`, `{"to":[` + strings.Repeat(`"a@b.c",`, 600) + `"a@b.c"]}`,
		`{"attachments":[{"filename":"a","content_base64":"!!!"}]}`,
		`{"context":{"\u0000":"\ud800"}}`, "{\"document_flow\":\"BL\xff\"}", `{"entity":{"type":"","id":""}} {}`,
	} {
		f.Add(false, "", []byte(s))
	}
	f.Add(true, "key-1", []byte(`{"document_flow":"BL","operator":"jdupont","to":["a@b.c"],"context":{"SOCIETE":"S","ID_BL":"1"}}`))
	f.Add(true, "key\r\nX: y", []byte(`{}`))

	h, key := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, send bool, idempotencyKey string, body []byte) {
		path := "/v1/messages/preview"
		if send {
			path = "/v1/messages"
		}
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if idempotencyKey != "" {
			req.Header["Idempotency-Key"] = []string{idempotencyKey}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		switch {
		case rec.Code >= 500:
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
		case rec.Code >= 400:
			var e struct {
				Error struct{ Code, Message, Remedy string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("POST %s %q: %d with a body that is not the API's error: %s", path, body, rec.Code, rec.Body)
			}
			if !slices.Contains(envoi.Codes(), e.Error.Code) || e.Error.Remedy == "" {
				t.Errorf("POST %s %q: %d %s: not a catalogue code with a remedy", path, body, rec.Code, rec.Body)
			}
			return
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
			t.Fatalf("POST %s %q accepted (%d) a body that is not a JSON object", path, body, rec.Code)
		}
		var sr envoi.SendRequest
		if err := json.Unmarshal(body, &sr); err != nil {
			t.Fatalf("POST %s %q accepted (%d) a body that does not decode: %v", path, body, rec.Code, err)
		}
		if err := sr.Validate(); err != nil {
			t.Fatalf("POST %s %q accepted (%d) a request that does not validate: %v", path, body, rec.Code, err)
		}
		if send {
			var m struct{ ID, Status string }
			if rec.Code != 202 && rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &m) != nil || m.ID == "" {
				t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
			}
			return
		}
		checkEML(t, body, rec.Body.Bytes())
	})
}

var emlHeaders = []string{"Date", "Importance", "MIME-Version", "Message-ID", "References", "X-Envoi-Message-Id", "Subject", "X-Priority",
	"From", "To", "Cc", "Content-Type", "Disposition-Notification-To"}

// checkEML fails unless eml is a message with only envoi's header fields,
// well formed.
func checkEML(t *testing.T, in, eml []byte) {
	t.Helper()
	head, _, ok := bytes.Cut(eml, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("preview of %q: no end of header", in)
	}
	if bytes.IndexByte(eml, 0) >= 0 {
		t.Errorf("preview of %q holds a NUL", in)
	}
	for _, line := range strings.Split(string(head), "\r\n") {
		switch {
		case strings.ContainsAny(line, "\r\n"):
			t.Errorf("preview of %q: bare CR or LF in header line %q", in, line)
		case strings.TrimLeft(line, " \t") == "":
			t.Errorf("preview of %q: a header line of white space alone in\n%s", in, head)
		case line[0] == ' ' || line[0] == '\t':
		default:
			name, _, _ := strings.Cut(line, ":")
			if !slices.Contains(emlHeaders, name) {
				t.Errorf("preview of %q: unexpected header line %q", in, line)
			}
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(eml))
	if err != nil {
		t.Fatalf("preview of %q does not parse: %v", in, err)
	}
	if len(msg.Header["Subject"]) != 1 || len(msg.Header["From"]) != 1 {
		t.Errorf("preview of %q: Subject %q, From %q", in, msg.Header["Subject"], msg.Header["From"])
	}
}

// newFuzzServer wires the HTTP server to a store on SQLite with a company,
// an operator on a basic SMTP flow, the BL mail setting and file-name rule,
// and the real composer and report renderer; it returns the handler and an
// API key.
func newFuzzServer(tb testing.TB) (http.Handler, string) {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: tb.TempDir(), MasterKey: secret.NewKey(), KeyReloadInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(store.Migrate(ctx))
	must(store.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "Forterro", FooterText: "Forterro SAS"}))
	must(store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Name: "Jeanne Dupont", Email: "jdupont@forterro.example", FooterText: "Jeanne"}))
	must(store.PutAuthFlow(ctx, &envoi.AuthFlow{
		Code: "SMTP", Name: "SMTP", Kind: envoi.KindSMTPBasic, MaxAttachmentsMB: 1,
		SMTP:      envoi.SMTPServer{Host: "127.0.0.1", Port: 2525, Security: envoi.SecurityNone},
		Operators: []string{"jdupont"},
	}))
	must(store.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "[SOCIETE] : Envoi du BL : [ID_BL]", Body: "Bonjour,\n[ID_BL]", ReadReceipt: true}))
	must(store.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "BL", Pattern: "BL_[ID_BL]"}))
	key, rec := envoihttp.NewAPIKey("fuzz")
	must(store.CreateAPIKey(ctx, rec))

	c := &compose.Composer{Store: store, Reports: &report.Renderer{}}
	srv := &envoihttp.Server{Store: store, Messages: &queue.Service{Store: store, Composer: c}}
	return srv.Handler(), key
}
