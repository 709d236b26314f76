package main_test

import "testing"

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
