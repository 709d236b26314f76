package main_test

import (
	"context"
	"mime"
	"strings"
	"testing"
	"time"

	"envoi/ui"
)

// TestConsentAlertInLanguages: the consent alert reaches each recipient in
// their language: the administrator whose account is in French gets the
// French text, the operator whose language is Spanish the Spanish one.
func TestConsentAlertInLanguages(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL})
			e.Configure()
			e.Run("admin", "create", "--email", "admin@example.com", "--name", "Admin", "--language", "fr")
			e.MustDo(200, "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne Dupont", "email": "user@example.com", "oauth_enabled": true, "language": "es"}, nil)
			e.MustDo(200, "PUT", "/v1/operators/system", map[string]any{"name": "envoi", "email": "envoi@example.com", "oauth_enabled": true}, nil)
			var flow map[string]any
			e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
			flow["operators"] = []string{"jdupont", "system"}
			for _, k := range []string{"code", "client_secret_set", "service_account_key_set", "updated_at"} {
				delete(flow, k)
			}
			e.MustDo(200, "PUT", "/v1/auth-flows/O365", flow, nil)
			e.OAuth.SetUser("envoi@example.com")
			if status, page := e.Consent("O365", "system"); status != 200 {
				t.Fatalf("consent of the system sender: %d %s", status, page)
			}
			e.OAuth.SetUser("user@example.com")
			if status, page := e.Consent("O365", "jdupont"); status != 200 {
				t.Fatalf("consent: %d %s", status, page)
			}
			if err := openStore(t, e).PutSetting(context.Background(), ui.SettingSystemSender, "system"); err != nil {
				t.Fatal(err)
			}

			e.OAuth.Revoke("user@example.com")
			var m messageJSON
			e.MustDo(202, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &m)
			if m.Status != "consent_required" {
				t.Fatalf("after revocation: %s, want consent_required", fmtJSON(m))
			}
			subjects := map[string]string{}
			for deadline := time.Now().Add(10 * time.Second); len(subjects) < 2 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				for _, sm := range e.SMTP.Messages() {
					msg, err := sm.Parse()
					if err != nil {
						t.Fatal(err)
					}
					subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
					for _, rcpt := range sm.Recipients {
						if rcpt == "admin@example.com" || rcpt == "user@example.com" {
							subjects[rcpt] = subject
						}
					}
				}
			}
			if got := subjects["admin@example.com"]; !strings.Contains(got, "doit s'authentifier de nouveau") {
				t.Errorf("the administrator's alert (fr): subject %q\n%s", got, e.Logs())
			}
			if got := subjects["user@example.com"]; !strings.Contains(got, "debe autenticarse de nuevo") {
				t.Errorf("the operator's alert (es): subject %q", got)
			}
		})
	}
}

// TestDocumentFlowNamesInLanguages: GET /v1/document-flows names the
// built-in flows in the language asked (?language= or Accept-Language),
// every one of them in French and Spanish; a renamed built-in flow keeps
// its name; without either, the names are as stored.
func TestDocumentFlowNamesInLanguages(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL})
			type flowJSON struct {
				Code, Name string
				Builtin    bool
			}
			list := func(query string, headers ...string) map[string]string {
				var flows []flowJSON
				e.MustDo(200, "GET", "/v1/document-flows"+query, nil, &flows, headers...)
				out := map[string]string{}
				for _, f := range flows {
					if f.Builtin {
						out[f.Code] = f.Name
					}
				}
				return out
			}
			en := list("")
			fr := list("?language=fr")
			es := list("", "Accept-Language", "es-ES, en;q=0.5")
			if len(en) < 30 || en["BL"] != "Delivery note" || fr["BL"] != "Bon de livraison" || es["BL"] != "Albarán de entrega" {
				t.Fatalf("BL: en %q fr %q es %q (%d built-in flows)", en["BL"], fr["BL"], es["BL"], len(en))
			}
			for code, name := range en {
				if fr[code] == name || es[code] == name || fr[code] == "" || es[code] == "" {
					t.Errorf("%s: en %q, fr %q, es %q: want a name in each language", code, name, fr[code], es[code])
				}
			}
			var one flowJSON
			e.MustDo(200, "GET", "/v1/document-flows/FACTURE_CLIENT?language=fr-CH", nil, &one)
			if one.Name != "Facture client" {
				t.Errorf("GET one in fr-CH: %q", one.Name)
			}
			e.MustDo(200, "PUT", "/v1/document-flows/BL", map[string]any{"name": "BL Helios", "keywords": []string{"SOCIETE", "ID_BL", "CLIENT", "DATE"}}, nil)
			if got := list("?language=fr")["BL"]; got != "BL Helios" {
				t.Errorf("a renamed built-in flow in fr: %q, want its own name", got)
			}
		})
	}
}
