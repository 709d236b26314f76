package envoi_test

import (
	"fmt"
	"strings"
	"testing"

	"envoi"
)

// TestSendRequestQuotas: each quota of one request is a 4xx invalid_input
// naming the field and the limit; a request at each limit passes.
func TestSendRequestQuotas(t *testing.T) {
	base := func() *envoi.SendRequest {
		return &envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"a@example.org"}}
	}
	files := func(n int) []envoi.Attachment {
		out := make([]envoi.Attachment, n)
		for i := range out {
			out[i] = envoi.Attachment{Filename: fmt.Sprintf("f%d.txt", i)}
		}
		return out
	}
	keys := func(n int) map[string]string {
		out := map[string]string{}
		for i := range n {
			out[fmt.Sprintf("K%d", i)] = "v"
		}
		return out
	}
	// 40 addresses of 1,700 bytes: 68,000 bytes of header, within 500 recipients.
	longAddrs := make([]string, 40)
	for i := range longAddrs {
		longAddrs[i] = fmt.Sprintf("%s <a%d@example.org>", strings.Repeat("N", 1680), i)
	}
	for _, c := range []struct {
		name  string
		edit  func(r *envoi.SendRequest)
		field string // "" when accepted
	}{
		{"AttachmentsAtLimit", func(r *envoi.SendRequest) { r.Attachments = files(envoi.MaxAttachments) }, ""},
		{"AttachmentsOver", func(r *envoi.SendRequest) { r.Attachments = files(envoi.MaxAttachments + 1) }, "attachments"},
		{"ContextAtLimit", func(r *envoi.SendRequest) { r.Context = keys(envoi.MaxContextKeys) }, ""},
		{"ContextOver", func(r *envoi.SendRequest) { r.Context = keys(envoi.MaxContextKeys + 1) }, "context"},
		{"ValueAtLimit", func(r *envoi.SendRequest) {
			r.Context = map[string]string{"K": strings.Repeat("é", envoi.MaxKeywordValue-1)}
		}, ""},
		{"ValueOver", func(r *envoi.SendRequest) {
			r.Context = map[string]string{"K": strings.Repeat("x", envoi.MaxKeywordValue)}
		}, "context"},
		{"HeadersOverInAddresses", func(r *envoi.SendRequest) { r.Cc = longAddrs }, "cc"},
		{"HeadersOverInFileNames", func(r *envoi.SendRequest) {
			r.Attachments = []envoi.Attachment{{Filename: strings.Repeat("n", envoi.MaxHeaderBytes) + ".pdf"}}
		}, "attachments"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			c.edit(r)
			err := r.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want accepted", err)
				}
				return
			}
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EInvalidInput || e.Details["field"] != c.field || e.Remedy == "" {
				t.Fatalf("Validate = %v (%+v), want invalid_input on %s", err, e, c.field)
			}
		})
	}
}
