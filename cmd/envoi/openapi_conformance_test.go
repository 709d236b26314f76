package main_test

import (
	"encoding/base64"
	"testing"
	"time"
)

// TestOpenAPIConformance calls every route of the API, with what succeeds
// and with the mistakes integrators make, and checks each answer against
// http/openapi.yaml (EnvOptions.CheckAPI): the status is one the
// description lists for that route, and the JSON is as described, every
// field of it documented. A route or a field added without its
// description fails here.
func TestOpenAPIConformance(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			e := MustStart(t, EnvOptions{DatabaseURL: dbURL, CheckAPI: true})
			conformanceCalls(t, e)
		})
	}
}

func conformanceCalls(t *testing.T, e *Env) {
	type call struct {
		method, path string
		body         any
		want         int
		headers      []string
	}
	run := func(calls ...call) {
		t.Helper()
		for _, c := range calls {
			if got := e.Do(c.method, c.path, c.body, nil, c.headers...); got != c.want {
				t.Errorf("%s %s: status %d, want %d", c.method, c.path, got, c.want)
			}
		}
	}
	pngLogo := base64.StdEncoding.EncodeToString(testPNG(t))

	// A fresh installation: empty lists, the catalogue, the presets.
	run(
		call{"GET", "/healthz", nil, 200, nil},
		call{"GET", "/readyz", nil, 200, nil},
		call{"GET", "/openapi.yaml", nil, 200, nil},
		call{"GET", "/metrics", nil, 200, nil},
		call{"GET", "/v1/companies", nil, 200, nil},
		call{"GET", "/v1/groups", nil, 200, nil},
		call{"GET", "/v1/operators", nil, 200, nil},
		call{"GET", "/v1/auth-flows", nil, 200, nil},
		call{"GET", "/v1/tokens", nil, 200, nil},
		call{"GET", "/v1/file-names", nil, 200, nil},
		call{"GET", "/v1/messages", nil, 200, nil},
		call{"GET", "/v1/document-flows", nil, 200, nil},
		call{"GET", "/v1/presets", nil, 200, nil},
		call{"GET", "/v1/mail-settings", nil, 200, nil},
		call{"GET", "/v1/report-templates", nil, 200, nil},
		call{"GET", "/v1/archive?entity_type=BL&entity_id=1", nil, 200, nil},
	)

	// Configuration, and its mistakes.
	e.Configure()
	run(
		call{"PUT", "/v1/companies/FORTERRO", map[string]any{"logo_png_base64": pngLogo, "language": "fr", "currency": "EUR", "address": "1 rue de la Paix"}, 200, nil},
		call{"PUT", "/v1/companies/NONAME", map[string]any{"footer_text": "x"}, 400, nil},
		call{"PUT", "/v1/companies/BAD%20CODE", map[string]any{"name": "x"}, 400, nil},
		call{"GET", "/v1/companies/FORTERRO", nil, 200, nil},
		call{"GET", "/v1/companies/NOPE", nil, 404, nil},
		call{"PUT", "/v1/groups/SALES", map[string]any{"name": "Sales"}, 200, nil},
		call{"PUT", "/v1/groups/BAD%20CODE", map[string]any{"name": "x"}, 400, nil},
		call{"PUT", "/v1/operators/other", map[string]any{"name": "Other", "email": "other@example.com", "group": "SALES", "language": "fr", "smtp_password": "pw"}, 200, nil},
		call{"PUT", "/v1/operators/other", map[string]any{"email": "not an address"}, 400, nil},
		call{"GET", "/v1/operators/other", nil, 200, nil},
		call{"GET", "/v1/operators/nope", nil, 404, nil},
		call{"PUT", "/v1/auth-flows/BASIC", map[string]any{"kind": "smtp_basic", "smtp": map[string]any{"host": "127.0.0.1", "port": 2525, "security": "none"}, "operators": []string{"other"}}, 200, nil},
		call{"PUT", "/v1/auth-flows/BAD", map[string]any{"kind": "carrier_pigeon"}, 422, nil},
		call{"PUT", "/v1/auth-flows/BAD", map[string]any{"smtp": map[string]any{"port": "twenty-five"}}, 400, nil},
		call{"PUT", "/v1/auth-flows/BAD2", map[string]any{"kind": "smtp_basic", "operators": []string{"jdupont"}}, 422, nil},
		call{"GET", "/v1/auth-flows/O365", nil, 200, nil},
		call{"GET", "/v1/auth-flows/NOPE", nil, 404, nil},
		call{"PUT", "/v1/document-flows/MYDOC", map[string]any{"name": "My document", "keywords": []string{"SOCIETE", "NUM"}, "report": "delivery_note"}, 200, nil},
		call{"PUT", "/v1/document-flows/MYDOC", map[string]any{"report": "no_such_template"}, 400, nil},
		call{"GET", "/v1/document-flows/BL", nil, 200, nil},
		call{"GET", "/v1/document-flows/NOPE", nil, 404, nil},
		call{"PUT", "/v1/mail-settings/MYDOC", map[string]any{"subject": "[SOCIETE] [NUM]", "body": "x", "priority": "low"}, 200, nil},
		call{"PUT", "/v1/mail-settings/MYDOC", map[string]any{"subject": "[NOPE]"}, 422, nil},
		call{"PUT", "/v1/mail-settings/MYDOC", map[string]any{"subject": ""}, 400, nil},
		call{"PUT", "/v1/mail-settings/MYDOC", map[string]any{"priority": "urgent"}, 400, nil},
		call{"PUT", "/v1/mail-settings/NOPE", map[string]any{"subject": "x"}, 404, nil},
		call{"GET", "/v1/mail-settings/BL", nil, 200, nil},
		call{"GET", "/v1/mail-settings/FACTURE_CLIENT", nil, 404, nil},
		call{"PUT", "/v1/file-names/BL", map[string]any{"pattern": "BL_[ID_BL].pdf", "archive": true, "file_type": "delivery_note"}, 200, nil},
		call{"PUT", "/v1/file-names/BL", map[string]any{"pattern": "[NOPE].pdf"}, 422, nil},
		call{"PUT", "/v1/file-names/NOPE", map[string]any{"pattern": "x.pdf"}, 404, nil},
		call{"GET", "/v1/file-names/BL", nil, 200, nil},
		call{"GET", "/v1/file-names/MYDOC", nil, 404, nil},
		call{"PUT", "/v1/companies/FORTERRO", map[string]any{"nmae": "typo"}, 400, nil},
	)

	// Report templates.
	tmpl := map[string]any{"title": map[string]any{"fr": "Mon document"}, "blocks": []any{map[string]any{"type": "text", "text": map[string]any{"fr": "Bonjour"}}}}
	run(
		call{"PUT", "/v1/report-templates/mine", tmpl, 200, nil},
		call{"PUT", "/v1/report-templates/broken", map[string]any{"blocks": "no"}, 422, nil},
		call{"GET", "/v1/report-templates/mine", nil, 200, nil},
		call{"GET", "/v1/report-templates/nope", nil, 404, nil},
		call{"POST", "/v1/report-templates/preview", map[string]any{"name": "mine"}, 200, nil},
		call{"POST", "/v1/report-templates/preview", map[string]any{"name": "nope"}, 400, nil},
		call{"DELETE", "/v1/report-templates/mine", nil, 204, nil},
		call{"DELETE", "/v1/report-templates/mine", nil, 404, nil},
	)

	// Sending.
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	bl := blRequest("client@example.org")
	var sent struct {
		ID string `json:"id"`
	}
	e.MustDo(200, "POST", "/v1/messages?wait=20s", bl, &sent, "Idempotency-Key", "conf-1")
	other := blRequest("client@example.org")
	other["context"] = map[string]string{"SOCIETE": "X", "ID_BL": "2"}
	mutate := func(f func(map[string]any)) map[string]any {
		r := blRequest("client@example.org")
		f(r)
		return r
	}
	run(
		call{"POST", "/v1/messages", bl, 202, nil},
		call{"POST", "/v1/messages?wait=20s", bl, 200, []string{"Idempotency-Key", "conf-1"}},
		call{"POST", "/v1/messages", other, 409, []string{"Idempotency-Key", "conf-1"}},
		call{"POST", "/v1/messages", mutate(func(r map[string]any) { r["to"] = []string{"not an address"} }), 400, nil},
		call{"POST", "/v1/messages?wait=forever", bl, 400, nil},
		call{"POST", "/v1/messages", mutate(func(r map[string]any) { r["operator"] = "nope" }), 404, nil},
		call{"POST", "/v1/messages", mutate(func(r map[string]any) { r["company"] = "NOPE" }), 404, nil},
		call{"POST", "/v1/messages", mutate(func(r map[string]any) { r["document_flow"] = "NOPE" }), 404, nil},
		call{"POST", "/v1/messages", mutate(func(r map[string]any) { r["document_flow"] = "FACTURE_CLIENT" }), 422, nil},
		call{"POST", "/v1/messages", mutate(func(r map[string]any) { r["context"] = map[string]string{} }), 422, nil},
		call{"POST", "/v1/messages", mutate(func(r map[string]any) { r["operator"] = "other" }), 202, nil},
		call{"POST", "/v1/messages/preview", bl, 200, nil},
		call{"POST", "/v1/messages/preview", mutate(func(r map[string]any) { r["context"] = map[string]string{} }), 422, nil},
		call{"POST", "/v1/messages/preview", mutate(func(r map[string]any) { r["operator"] = "nope" }), 404, nil},
		call{"GET", "/v1/messages/" + sent.ID, nil, 200, nil},
		call{"GET", "/v1/messages/msg_nope", nil, 404, nil},
		call{"GET", "/v1/messages/" + sent.ID + "/eml", nil, 200, nil},
		call{"GET", "/v1/messages/msg_nope/eml", nil, 404, nil},
		call{"POST", "/v1/messages/" + sent.ID + "/retry", nil, 409, nil},
		call{"POST", "/v1/messages/msg_nope/retry", nil, 404, nil},
		call{"GET", "/v1/messages?status=sent&limit=5", nil, 200, nil},
		call{"GET", "/v1/messages?status=sendt", nil, 400, nil},
		call{"GET", "/v1/messages?limit=0", nil, 400, nil},
		call{"GET", "/v1/messages?since=yesterday", nil, 400, nil},
		call{"GET", "/v1/tokens", nil, 200, nil},
		call{"POST", "/v1/auth-flows/O365/test", map[string]any{"operator": "jdupont"}, 200, nil},
		call{"POST", "/v1/auth-flows/O365/test", map[string]any{"operator": "other"}, 200, nil},
		call{"POST", "/v1/auth-flows/NOPE/test", map[string]any{"operator": "jdupont"}, 404, nil},
		call{"GET", "/v1/archive?entity_type=BL&entity_id=12345", nil, 200, nil},
		call{"GET", "/v1/archive", nil, 400, nil},
		call{"GET", "/v1/archive/arc_nope", nil, 404, nil},
	)

	// Documents, variants, scheduling, transports, webhooks.
	pdf := base64.StdEncoding.EncodeToString([]byte("%PDF-1.4\n%%EOF\n"))
	later := mutate(func(r map[string]any) { r["send_at"] = "2099-01-01T00:00:00Z" })
	soon := mutate(func(r map[string]any) {
		r["send_at"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		r["language"] = "es"
		r["attachments"] = []map[string]any{{"filename": "bl.pdf", "content_type": "application/pdf", "content_base64": pdf, "document": true}}
	})
	run(
		call{"PUT", "/v1/file-names/BL", map[string]any{"pattern": "BL_[ID_BL].pdf", "archive": true, "file_type": "delivery_note"}, 200, nil},
		call{"POST", "/v1/file-names/BL/resolve", map[string]any{"context": map[string]string{"ID_BL": "7"}}, 200, nil},
		call{"POST", "/v1/file-names/NOPE/resolve", map[string]any{"context": map[string]string{}}, 404, nil},
		call{"POST", "/v1/file-names/BL/resolve", map[string]any{"context": map[string]string{}}, 422, nil},
		call{"POST", "/v1/archive", map[string]any{"document_flow": "BL", "entity": map[string]string{"type": "BL", "id": "7"}, "context": map[string]string{"ID_BL": "7"}, "content_base64": pdf, "content_type": "application/pdf"}, 201, nil},
		call{"POST", "/v1/archive", map[string]any{"document_flow": "BL"}, 400, nil},
		call{"GET", "/v1/archive?entity_type=BL&entity_id=7", nil, 200, nil},
		call{"GET", "/v1/report-templates/delivery_note", nil, 200, nil},
		call{"POST", "/v1/report-templates/preview", map[string]any{"name": "delivery_note"}, 200, nil},
		call{"GET", "/v1/document-flows?language=fr", nil, 200, nil},
		call{"PUT", "/v1/mail-settings/BL?language=es", map[string]any{"subject": "[SOCIETE] : albarán [ID_BL]", "body": "Hola"}, 200, nil},
		call{"PUT", "/v1/mail-settings/BL?company=NOPE", map[string]any{"subject": "x"}, 404, nil},
		call{"GET", "/v1/mail-settings/BL?language=es", nil, 200, nil},
		call{"GET", "/v1/mail-settings/BL", nil, 200, nil},
		call{"POST", "/v1/messages", soon, 202, nil},
		call{"POST", "/v1/messages", later, 400, nil},
		call{"PUT", "/v1/auth-flows/GRAPH", map[string]any{"kind": "oauth2", "preset": "microsoft365", "transport": "graph", "client_id": "x", "tenant": "contoso"}, 200, nil},
		call{"PUT", "/v1/auth-flows/GRAPH", map[string]any{"transport": "pigeon"}, 422, nil},
		call{"PUT", "/v1/auth-flows/O365", map[string]any{"limits": map[string]any{"messages_per_minute": 30, "connections": 3}}, 200, nil},
		call{"DELETE", "/v1/mail-settings/BL?language=es", nil, 204, nil},
		call{"PUT", "/v1/webhooks/erp", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"message.sent", "message.bounced"}}, 200, nil},
		call{"PUT", "/v1/webhooks/bad", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"message.exploded"}}, 400, nil},
		call{"GET", "/v1/webhooks", nil, 200, nil},
		call{"GET", "/v1/webhooks/erp", nil, 200, nil},
		call{"GET", "/v1/webhooks/nope", nil, 404, nil},
		call{"GET", "/v1/webhooks/erp/deliveries", nil, 200, nil},
		call{"POST", "/v1/webhooks/erp/replay", map[string]any{"since": "2020-01-01T00:00:00Z"}, 202, nil},
		call{"DELETE", "/v1/webhooks/erp", nil, 204, nil},
		call{"DELETE", "/v1/webhooks/erp", nil, 404, nil},
	)

	// Removals.
	run(
		call{"DELETE", "/v1/file-names/BL", nil, 204, nil},
		call{"DELETE", "/v1/file-names/BL", nil, 404, nil},
		call{"DELETE", "/v1/mail-settings/MYDOC", nil, 204, nil},
		call{"DELETE", "/v1/mail-settings/MYDOC", nil, 404, nil},
		call{"DELETE", "/v1/document-flows/MYDOC", nil, 204, nil},
		call{"DELETE", "/v1/document-flows/BL", nil, 400, nil},
		call{"DELETE", "/v1/document-flows/NOPE", nil, 404, nil},
		call{"DELETE", "/v1/auth-flows/BASIC", nil, 204, nil},
		call{"DELETE", "/v1/auth-flows/BASIC", nil, 404, nil},
		call{"DELETE", "/v1/operators/other", nil, 204, nil},
		call{"DELETE", "/v1/operators/other", nil, 404, nil},
		call{"DELETE", "/v1/groups/SALES", nil, 204, nil},
		call{"DELETE", "/v1/groups/SALES", nil, 404, nil},
		call{"DELETE", "/v1/companies/NOPE", nil, 404, nil},
	)
}
