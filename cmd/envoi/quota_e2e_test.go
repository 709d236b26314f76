package main_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestSendQuotasAndQuotedLocalParts: through the API, a send over a quota
// of one request, or to a quoted local part, is refused at acceptance with
// a 400 invalid_input naming the field; nothing is queued.
func TestSendQuotasAndQuotedLocalParts(t *testing.T) {
	e := hostileEnv(t)
	many := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"filename": fmt.Sprintf("f%d.txt", i), "content_base64": "aGk="}
		}
		return out
	}
	keys := map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "1"}
	for i := range 200 {
		keys[fmt.Sprintf("K%d", i)] = "v"
	}
	cases := []struct {
		name  string
		edit  func(req map[string]any)
		field string
	}{
		{"QuotedLocalPart", func(req map[string]any) { req["to"] = []string{`"a,b"@example.org`} }, "to"},
		{"QuotedLocalPartCc", func(req map[string]any) { req["cc"] = []string{`Jo <"a b"@example.org>`} }, "cc"},
		{"Attachments", func(req map[string]any) { req["attachments"] = many(101) }, "attachments"},
		{"ContextKeys", func(req map[string]any) { req["context"] = keys }, "context"},
		{"KeywordValue", func(req map[string]any) {
			req["context"] = map[string]string{"SOCIETE": "FORTERRO", "ID_BL": strings.Repeat("9", 10_001)}
		}, "context"},
		{"HeaderBytes", func(req map[string]any) {
			var to []string
			for i := range 40 {
				to = append(to, fmt.Sprintf("%s <c%d@example.org>", strings.Repeat("N", 1700), i))
			}
			req["to"] = to
		}, "to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := blRequest("client@example.org")
			c.edit(req)
			ae := wantError(t, e.call("POST", "/v1/messages", e.Key, req), 400, "invalid_input")
			if ae.Error.Details["field"] != c.field {
				t.Errorf("details %v, want the field %s", ae.Error.Details, c.field)
			}
		})
	}
}
