package main_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type messageJSON struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Attempts  int    `json:"attempts"`
	MessageID string `json:"message_id"`
	SentAt    string `json:"sent_at"`
	Error     *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func blRequest(to string) map[string]any {
	return map[string]any{
		"document_flow": "BL", "operator": "jdupont", "company": "FORTERRO",
		"to": []string{to}, "context": map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12345"},
		"entity": map[string]string{"type": "BL", "id": "12345"},
	}
}

// TestSendEndToEnd boots envoi, configures it through the API, consents as
// the operator through the test provider, sends a delivery note with
// XOAUTH2 over STARTTLS and reads it as the SMTP server received it.
func TestSendEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL})
			e.Configure()

			// Before any consent the message is accepted and parks.
			var parked messageJSON
			e.MustDo(202, "POST", "/v1/messages?wait=10s", blRequest("early@example.org"), &parked)
			if parked.Status != "consent_required" || parked.Error == nil || parked.Error.Code != "consent_required" {
				t.Fatalf("before consent: %s, want parked on consent_required", fmtJSON(parked))
			}

			status, page := e.Consent("O365", "jdupont")
			if status != 200 || !strings.Contains(page, "user@example.com") {
				t.Fatalf("callback page: %d\n%s", status, page)
			}

			var m messageJSON
			e.MustDo(200, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &m, "Idempotency-Key", "bl-12345")
			if m.Status != "sent" || m.SentAt == "" || m.MessageID == "" {
				t.Fatalf("message = %s, want sent", fmtJSON(m))
			}
			var again messageJSON
			e.MustDo(200, "POST", "/v1/messages", blRequest("client@example.org"), &again, "Idempotency-Key", "bl-12345")
			if again.ID != m.ID {
				t.Errorf("same Idempotency-Key and body: id %s, want %s", again.ID, m.ID)
			}
			var conflict APIError
			if got := e.Do("POST", "/v1/messages", blRequest("other@example.org"), &conflict, "Idempotency-Key", "bl-12345"); got != 409 || conflict.Error.Code != "idempotency_conflict" {
				t.Errorf("same key, other body: %d %s, want 409 idempotency_conflict", got, conflict.Error.Code)
			}

			var got *struct{ subject, mech, raw string }
			for _, sm := range e.SMTP.Messages() {
				if strings.Contains(string(sm.Data), m.MessageID) {
					got = &struct{ subject, mech, raw string }{"", sm.AuthMechanism, string(sm.Data)}
				}
			}
			if got == nil {
				t.Fatalf("the SMTP server did not receive %s", m.MessageID)
			}
			if got.mech != "XOAUTH2" {
				t.Errorf("auth mechanism = %q, want XOAUTH2", got.mech)
			}
			for _, want := range []string{"Subject: FORTERRO : Envoi du BL : 12345", "To: <client@example.org>", "Importance: high", "Forterro SAS"} {
				if !strings.Contains(got.raw, want) {
					t.Errorf("sent message lacks %q:\n%s", want, got.raw)
				}
			}

			// The consent released the parked message: it goes out by itself.
			deadline := time.Now().Add(10 * time.Second)
			for parked.Status != "sent" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				e.MustDo(200, "GET", "/v1/messages/"+parked.ID, nil, &parked)
			}
			if parked.Status != "sent" {
				t.Errorf("parked message after consent: %s, want sent", fmtJSON(parked))
			}

			req, _ := http.NewRequest("GET", e.Base+"/v1/messages/"+m.ID+"/eml", nil)
			req.Header.Set("Authorization", "Bearer "+e.Key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			eml, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "message/rfc822" || !strings.Contains(string(eml), m.MessageID) {
				t.Errorf("GET eml: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		})
	}
}

// TestSendErrors checks the catalogue's codes through the API.
func TestSendErrors(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	e.MustDo(200, "PUT", "/v1/operators/orphan", map[string]any{"name": "No Flow", "email": "orphan@example.com"}, nil)

	cases := []struct {
		name   string
		mutate func(map[string]any)
		status int
		code   string
	}{
		{"ErrMailSettingNotFound", func(r map[string]any) { r["document_flow"] = "FACTURE_CLIENT" }, 422, "mail_setting_not_found"},
		{"ErrDocumentFlowNotFound", func(r map[string]any) { r["document_flow"] = "NO_SUCH_FLOW" }, 404, "document_flow_not_found"},
		{"ErrNoFlow", func(r map[string]any) { r["operator"] = "orphan" }, 422, "no_flow_for_operator"},
		{"ErrKeywordMissing", func(r map[string]any) { r["context"] = map[string]string{"SOCIETE": "X"} }, 422, "keyword_missing"},
		{"ErrBadRecipient", func(r map[string]any) { r["to"] = []string{"not an address"} }, 400, "invalid_input"},
		{"ErrHeaderInjection", func(r map[string]any) { r["to"] = []string{"a@b.c\r\nBcc: x@y.z"} }, 400, "invalid_input"},
		{"ErrAttachmentsTooBig", func(r map[string]any) {
			r["attachments"] = []map[string]string{{"filename": "big.bin", "content_type": "application/octet-stream", "content_base64": strings.Repeat("QUFB", 11<<20/3)}}
		}, 422, "attachments_too_big"},
		{"ErrReportMissingParameters", func(r map[string]any) {
			r["report"] = map[string]any{"template": "delivery_note", "data": map[string]any{"number": "12345"}}
		}, 422, "report_missing_parameters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := blRequest("client@example.org")
			c.mutate(req)
			var apiErr APIError
			got := e.Do("POST", "/v1/messages", req, &apiErr)
			if got != c.status || apiErr.Error.Code != c.code {
				t.Errorf("status %d code %q, want %d %q (%s)", got, apiErr.Error.Code, c.status, c.code, fmtJSON(apiErr))
			}
			if apiErr.Error.Remedy == "" {
				t.Errorf("no remedy in %s", fmtJSON(apiErr))
			}
		})
	}

	t.Run("ErrConfigForUnknownDocumentFlow", func(t *testing.T) {
		for _, c := range []struct {
			path string
			body map[string]any
		}{
			{"/v1/mail-settings/NO_SUCH_FLOW", map[string]any{"subject": "S", "body": "B"}},
			{"/v1/file-names/NO_SUCH_FLOW", map[string]any{"pattern": "x.pdf"}},
		} {
			var apiErr APIError
			if got := e.Do("PUT", c.path, c.body, &apiErr); got != 404 || apiErr.Error.Code != "document_flow_not_found" {
				t.Errorf("PUT %s: %d %s, want 404 document_flow_not_found", c.path, got, fmtJSON(apiErr))
			}
		}
	})

	t.Run("ErrUnauthorized", func(t *testing.T) {
		for _, key := range []string{"", "envoi_wrong", "Basic abc"} {
			req, _ := http.NewRequest("GET", e.Base+"/v1/document-flows", nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("key %q: status %d, want 401", key, resp.StatusCode)
			}
		}
	})
}
