package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// preview asks e for the message req would compose and returns its
// Subject header line (ASCII subjects only).
func previewSubject(t *testing.T, e *Env, req map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(req)
	r, _ := http.NewRequest("POST", e.Base+"/v1/messages/preview", bytes.NewReader(b))
	r.Header.Set("Authorization", "Bearer "+e.Key)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	eml, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("preview: %d %s", resp.StatusCode, eml)
	}
	for line := range strings.SplitSeq(string(eml), "\r\n") {
		if s, ok := strings.CutPrefix(line, "Subject: "); ok {
			return s
		}
	}
	t.Fatalf("no Subject in the preview:\n%.1000s", eml)
	return ""
}

// TestMailSettingVariants: a mail setting with variants for a company,
// for a language, and for both. The request's language (a BCP 47 tag),
// else its company's, picks the variant: company and language, company
// only, language only, then the default; preview and send choose alike.
// Variants are read, listed with the default, deleted by query parameters,
// and set by envoi apply.
func TestMailSettingVariants(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL})
			e.Configure() // the default: "[SOCIETE] : Envoi du BL : [ID_BL]"
			e.MustDo(200, "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro", "language": "fr"}, nil)
			e.MustDo(200, "PUT", "/v1/companies/IBERICA", map[string]any{"name": "Iberica", "language": "es"}, nil)
			put := func(query, subject string) {
				e.MustDo(200, "PUT", "/v1/mail-settings/BL"+query, map[string]any{"subject": subject, "body": "[ID_BL]"}, nil)
			}
			put("?company=FORTERRO&language=en", "Forterro EN [ID_BL]")
			put("?company=FORTERRO", "Forterro [ID_BL]")
			put("?language=es", "ES [ID_BL]")
			put("?language=en-GB", "EN [ID_BL]") // kept as en

			req := func(company, language string) map[string]any {
				r := blRequest("client@example.org")
				r["company"] = company
				if language != "" {
					r["language"] = language
				}
				return r
			}
			for _, c := range []struct{ company, language, want string }{
				{"FORTERRO", "en-GB", "Forterro EN 12345"}, // company and language
				{"FORTERRO", "", "Forterro 12345"},         // company's fr: no (FORTERRO, fr), the company's
				{"IBERICA", "", "ES 12345"},                // the company's language, es
				{"IBERICA", "en", "EN 12345"},              // the request's language wins
				{"IBERICA", "de", "FORTERRO : Envoi du BL : 12345"},
			} {
				if got := previewSubject(t, e, req(c.company, c.language)); got != c.want {
					t.Errorf("company %s, language %q: subject %q, want %q", c.company, c.language, got, c.want)
				}
			}

			// A send chooses as the preview does.
			if status, page := e.Consent("O365", "jdupont"); status != 200 {
				t.Fatalf("consent: %d %s", status, page)
			}
			var m messageJSON
			e.MustDo(200, "POST", "/v1/messages?wait=10s", req("IBERICA", ""), &m)
			if m.Status != "sent" {
				t.Fatalf("send: %s", fmtJSON(m))
			}
			found := false
			for _, sm := range e.SMTP.Messages() {
				if strings.Contains(string(sm.Data), m.MessageID) {
					found = strings.Contains(string(sm.Data), "\r\nSubject: ES 12345\r\n")
				}
			}
			if !found {
				t.Errorf("the message sent for IBERICA does not have the es variant's subject")
			}

			var def struct {
				Subject  string `json:"subject"`
				Variants []struct {
					Company, Language, Subject string
				} `json:"variants"`
			}
			e.MustDo(200, "GET", "/v1/mail-settings/BL", nil, &def)
			if def.Subject != "[SOCIETE] : Envoi du BL : [ID_BL]" || len(def.Variants) != 4 {
				t.Errorf("GET default: %s, want the default and 4 variants", fmtJSON(def))
			}
			var v struct{ Company, Language, Subject string }
			e.MustDo(200, "GET", "/v1/mail-settings/BL?company=FORTERRO&language=EN", nil, &v)
			if v.Company != "FORTERRO" || v.Language != "en" || v.Subject != "Forterro EN [ID_BL]" {
				t.Errorf("GET variant: %s", fmtJSON(v))
			}
			if status := e.Do("DELETE", "/v1/mail-settings/BL?company=FORTERRO&language=en", nil, nil); status != 204 {
				t.Fatalf("DELETE variant: %d", status)
			}
			e.MustDo(404, "GET", "/v1/mail-settings/BL?company=FORTERRO&language=en", nil, nil)
			if got := previewSubject(t, e, req("FORTERRO", "en")); got != "Forterro 12345" {
				t.Errorf("after deleting the (FORTERRO, en) variant: %q, want the company's", got)
			}
			var bad struct{ Error struct{ Code string } }
			for _, q := range []string{"?language=not+a+tag", "?company=NOPE", "?language=x"} {
				bad.Error.Code = ""
				if status := e.Do("PUT", "/v1/mail-settings/BL"+q, map[string]any{"subject": "s"}, &bad); status/100 != 4 || bad.Error.Code == "" {
					t.Errorf("PUT %s: %d %s, want a 4xx with a code", q, status, fmtJSON(bad))
				}
			}
			r := req("FORTERRO", "français")
			if status := e.Do("POST", "/v1/messages/preview", r, &bad); status != 400 || bad.Error.Code != "invalid_input" {
				t.Errorf("a request in language %q: %d %s, want 400 invalid_input", "français", status, fmtJSON(bad))
			}

			// envoi apply sets variants too.
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(cfg, []byte(`mail_settings:
  BL:
    variants:
      - {company: IBERICA, language: es, subject: "Iberica ES [ID_BL]", body: "Hola"}
`), 0o600); err != nil {
				t.Fatal(err)
			}
			e.Run("apply", "-f", cfg)
			if got := previewSubject(t, e, req("IBERICA", "")); got != "Iberica ES 12345" {
				t.Errorf("after apply: %q", got)
			}
			e.MustDo(200, "GET", "/v1/mail-settings/BL", nil, &def)
			if def.Subject != "[SOCIETE] : Envoi du BL : [ID_BL]" {
				t.Errorf("apply of variants alone changed the default: %q", def.Subject)
			}
		})
	}
}
