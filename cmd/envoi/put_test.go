package main_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPutKeepsWhatItLeavesOut: a PUT sets the fields it names and keeps
// the others, so a script that sends a few fields after an apply does not
// clear the rest; a field given empty or null is cleared; a misspelt field
// is still refused.
func TestPutKeepsWhatItLeavesOut(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL})
			e.Configure()
			e.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"language": "es", "currency": "USD", "address": "1 rue de la Paix"}, nil)
			var c map[string]any
			e.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro SA", "footer_text": "new footer"}, &c)
			for k, want := range map[string]any{"name": "Forterro SA", "footer_text": "new footer", "language": "es", "currency": "USD", "address": "1 rue de la Paix"} {
				if c[k] != want {
					t.Errorf("company %s = %v, want %v (%s)", k, c[k], want, fmtJSON(c))
				}
			}
			c = nil // omitempty fields are absent from the answer
			e.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"address": "", "currency": nil}, &c)
			if c["address"] != nil || c["currency"] != nil || c["language"] != "es" {
				t.Errorf("empty and null clear, the rest stays: %s", fmtJSON(c))
			}

			var op map[string]any
			e.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"footer_text": "Jeanne, service client"}, &op)
			if op["oauth_enabled"] != true || op["email"] != "user@example.com" || op["footer_text"] != "Jeanne, service client" {
				t.Errorf("operator after a partial PUT: %s", fmtJSON(op))
			}

			var before, after map[string]any
			e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &before)
			e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{"smtp": map[string]any{"port": before["smtp"].(map[string]any)["port"]}, "max_attachments_mb": 12}, &after)
			for _, k := range []string{"scope", "token_url", "client_id", "client_secret_set", "operators", "tenant"} {
				if fmtJSON(after[k]) != fmtJSON(before[k]) {
					t.Errorf("auth flow %s: %s after a partial PUT, was %s", k, fmtJSON(after[k]), fmtJSON(before[k]))
				}
			}
			if fmtJSON(after["smtp"]) != fmtJSON(before["smtp"]) || after["max_attachments_mb"] != float64(12) {
				t.Errorf("auth flow smtp %s (was %s), max_attachments_mb %v", fmtJSON(after["smtp"]), fmtJSON(before["smtp"]), after["max_attachments_mb"])
			}

			var ms map[string]any
			e.MustDo(200, "PUT", "/v1/mail-settings/BL", map[string]any{"read_receipt": true}, &ms)
			if ms["subject"] != "[SOCIETE] : Envoi du BL : [ID_BL]" || ms["priority"] != "high" || ms["read_receipt"] != true {
				t.Errorf("mail setting after a partial PUT: %s", fmtJSON(ms))
			}

			var apiErr APIError
			if got := e.Do("PUT", "/v1/companies/FORTERRO", map[string]any{"nmae": "typo"}, &apiErr); got != 400 || apiErr.Error.Details["field"] != "nmae" {
				t.Errorf("misspelt field: %d %s", got, fmtJSON(apiErr))
			}
		})
	}
}

// TestValidationAtSave: what would only fail later is refused when saved,
// with the field named: a company without a name, a mail setting without a
// subject, a document flow whose report names no template, a message
// filter on a status that does not exist.
func TestValidationAtSave(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	for _, c := range []struct {
		method, path string
		body         any
		field        string
	}{
		{"PUT", "/v1/companies/NEWCO", map[string]any{"footer_text": "x"}, "name"},
		{"PUT", "/v1/companies/FORTERRO", map[string]any{"name": "  "}, "name"},
		{"PUT", "/v1/mail-settings/BL", map[string]any{"subject": ""}, "subject"},
		{"PUT", "/v1/mail-settings/FACTURE_CLIENT", map[string]any{"body": "Hello"}, "subject"},
		{"PUT", "/v1/document-flows/BL", map[string]any{"report": "no_such_template"}, "report"},
		{"GET", "/v1/messages?status=sendt", nil, "status"},
	} {
		var apiErr APIError
		if got := e.Do(c.method, c.path, c.body, &apiErr); got != 400 || apiErr.Error.Code != "invalid_input" || apiErr.Error.Details["field"] != c.field {
			t.Errorf("%s %s %v: %d %s, want 400 invalid_input on %s", c.method, c.path, c.body, got, fmtJSON(apiErr), c.field)
		}
	}
	e.MustDo(200, "PUT", "/v1/document-flows/BL", map[string]any{"report": "delivery_note"}, nil)
	e.MustDo(200, "GET", "/v1/messages?status=consent_required", nil, nil)
	if out, code := e.RunCode("messages", "list", "--status", "sendt"); code != 2 || !strings.Contains(out, "not a message status") {
		t.Errorf("messages list --status sendt: exit %d\n%s", code, out)
	}
}

// TestEmptyListsAreArrays: every listing of a fresh installation answers
// [] rather than null.
func TestEmptyListsAreArrays(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	for _, path := range []string{"/v1/companies", "/v1/groups", "/v1/operators", "/v1/auth-flows", "/v1/tokens",
		"/v1/file-names", "/v1/messages", "/v1/archive?entity_type=BL&entity_id=1"} {
		var raw json.RawMessage
		e.MustDo(200, "GET", path, nil, &raw)
		if strings.TrimSpace(string(raw)) != "[]" {
			t.Errorf("GET %s on a fresh installation: %s, want []", path, raw)
		}
	}
}

// TestMessageShowsSubjectAndRecipients: a message shows the subject it was
// sent with and its recipients, in the API (one and in lists) and in
// `envoi messages show`.
func TestMessageShowsSubjectAndRecipients(t *testing.T) {
	e := MustStart(t, EnvOptions{CheckAPI: true})
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	req := blRequest("client@example.org")
	req["cc"] = []string{"compta@example.org"}
	var m struct {
		ID         string   `json:"id"`
		Subject    string   `json:"subject"`
		Recipients []string `json:"recipients"`
	}
	e.MustDo(200, "POST", "/v1/messages?wait=10s", req, &m)
	const subject = "FORTERRO : Envoi du BL : 12345"
	if m.Subject != subject || strings.Join(m.Recipients, ",") != "client@example.org,compta@example.org" {
		t.Errorf("answer: subject %q, recipients %v", m.Subject, m.Recipients)
	}
	var list []struct {
		Subject    string   `json:"subject"`
		Recipients []string `json:"recipients"`
	}
	e.MustDo(200, "GET", "/v1/messages", nil, &list)
	if len(list) != 1 || list[0].Subject != subject || len(list[0].Recipients) == 0 || list[0].Recipients[0] != "client@example.org" {
		t.Errorf("list: %+v", list)
	}
	out := e.Run("messages", "show", m.ID)
	if !strings.Contains(out, "subject:     "+subject) || !strings.Contains(out, "recipients:  client@example.org, compta@example.org") {
		t.Errorf("messages show:\n%s", out)
	}
}
