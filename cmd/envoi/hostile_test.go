package main_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"envoi"
)

// The hostile-input tests send what an attacker, a buggy ERP or a careless
// administrator would, through the HTTP API of a running envoi. Each input
// gets a 4xx with a code of the catalogue, or is accepted and made harmless
// (checked in the message it would send); never a 5xx, never a panic.

// hostileEnv boots envoi, configured and consented, for the hostile tests.
func hostileEnv(t *testing.T) *Env {
	t.Helper()
	e := MustStart(t, EnvOptions{})
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}
	t.Cleanup(func() { checkNoPanic(t, e) })
	return e
}

// wantError fails unless r is an error answer with status and code, the
// code one of the catalogue's, with a remedy.
func wantError(t testing.TB, r rawResult, status int, code string) APIError {
	t.Helper()
	var e APIError
	if r.Err != nil {
		t.Fatalf("no answer: %v", r.Err)
	}
	if err := jsonUnmarshal(r.Body, &e); err != nil {
		t.Fatalf("status %d, body is not an API error: %.300s", r.Status, r.Body)
	}
	if r.Status != status || e.Error.Code != code {
		t.Errorf("status %d code %q, want %d %q: %.500s", r.Status, e.Error.Code, status, code, r.Body)
	}
	if !slices.Contains(envoi.Codes(), e.Error.Code) {
		t.Errorf("code %q is not in the catalogue", e.Error.Code)
	}
	if e.Error.Remedy == "" {
		t.Errorf("no remedy: %.300s", r.Body)
	}
	return e
}

// preview composes req without sending it; it returns the .eml when envoi
// accepted the request (200) and the answer otherwise.
func (e *Env) preview(req any) rawResult {
	return e.call("POST", "/v1/messages/preview", e.Key, req)
}

// allowedHeaders are the header fields envoi writes at the top of a message.
var allowedHeaders = []string{"Date", "Importance", "MIME-Version", "Message-ID", "References", "X-Envoi-Message-Id", "Subject", "X-Priority",
	"From", "To", "Cc", "Content-Type", "Disposition-Notification-To"}

// allowedPartHeaders are those of the MIME parts.
var allowedPartHeaders = []string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-Id"}

// checkMessage fails the test when eml is not a well-formed message with
// only envoi's own header fields: nothing injected, no NUL, no bare CR or
// LF, no line of white space alone in a folded header, in the message and
// in each of its parts. It returns the parsed message's parts.
func checkMessage(t testing.TB, eml []byte) []mimePart {
	t.Helper()
	head, _, ok := bytes.Cut(eml, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in %.300q", eml)
	}
	checkHeaderBlock(t, "message", string(head), allowedHeaders)
	if bytes.IndexByte(eml, 0) >= 0 {
		t.Errorf("the message holds a NUL byte")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(eml))
	if err != nil {
		t.Fatalf("the message does not parse: %v", err)
	}
	if n := len(msg.Header["Subject"]); n != 1 {
		t.Errorf("%d Subject fields", n)
	}
	parts, err := mimeParts(textprotoHeader(msg.Header), msg.Body)
	if err != nil {
		t.Fatalf("MIME structure: %v", err)
	}
	for _, p := range parts {
		for k := range p.header {
			if !slices.Contains(allowedPartHeaders, k) {
				t.Errorf("part of type %s has header %s: %q", p.header.Get("Content-Type"), k, p.header[k])
			}
		}
	}
	return parts
}

func checkHeaderBlock(t testing.TB, where, head string, allowed []string) {
	t.Helper()
	for _, line := range strings.Split(head, "\r\n") {
		switch {
		case strings.ContainsAny(line, "\r\n"):
			t.Errorf("%s header: bare CR or LF in %q", where, line)
		case strings.TrimLeft(line, " \t") == "":
			t.Errorf("%s header: a line of white space alone (%q) in\n%s", where, line, head)
		case line[0] == ' ' || line[0] == '\t':
			// continuation
		default:
			name, _, ok := strings.Cut(line, ":")
			if !ok || !slices.Contains(allowed, name) {
				t.Errorf("%s header: unexpected line %q", where, line)
			}
		}
	}
}

// mimePart is a leaf part of a message, decoded.
type mimePart struct {
	header   mail.Header
	filename string
	body     []byte
}

func textprotoHeader(h mail.Header) map[string][]string { return h }

func mimeParts(h map[string][]string, body io.Reader) ([]mimePart, error) {
	header := mail.Header(h)
	mt, params, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return nil, fmt.Errorf("content type %q: %w", header.Get("Content-Type"), err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		var out []mimePart
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			sub, err := mimeParts(p.Header, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	var r io.Reader = body
	switch strings.ToLower(header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		d, err := decodeBase64Lines(b)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(d)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	p := mimePart{header: header, body: b}
	if cd := header.Get("Content-Disposition"); cd != "" {
		_, dp, err := mime.ParseMediaType(cd)
		if err != nil {
			return nil, fmt.Errorf("content disposition %q: %w", cd, err)
		}
		p.filename = dp["filename"]
	}
	return []mimePart{p}, nil
}

func partOfType(parts []mimePart, mediaType string) *mimePart {
	for i, p := range parts {
		if mt, _, _ := mime.ParseMediaType(p.header.Get("Content-Type")); mt == mediaType && p.filename == "" {
			return &parts[i]
		}
	}
	return nil
}

// hostileValues are what an attacker puts in a field that ends in a header.
var hostileValues = map[string]string{
	"CRLF":       "x\r\nX-Injected: yes",
	"LF":         "x\nX-Injected: yes",
	"CR":         "x\rX-Injected: yes",
	"NUL":        "x\x00X-Injected: yes",
	"BlankLine":  "x\r\n\r\n<html>a body of my own</html>",
	"FoldSpaces": "x" + strings.Repeat(" ", 70) + "\r\n" + strings.Repeat(" ", 80) + "y ",
}

// TestHostileHeaderFields puts CR, LF and NUL in every field of a send
// request that ends in a header or the envelope: addresses and codes are
// refused; keyword values, file names and content types are cleaned.
func TestHostileHeaderFields(t *testing.T) {
	e := hostileEnv(t)
	refused := []struct {
		field  string
		mutate func(r map[string]any, v string)
	}{
		{"to", func(r map[string]any, v string) { r["to"] = []string{"client@example.org" + v} }},
		{"to/name", func(r map[string]any, v string) { r["to"] = []string{"Client " + v + " <client@example.org>"} }},
		{"cc", func(r map[string]any, v string) { r["cc"] = []string{"copy@example.org" + v} }},
		{"bcc", func(r map[string]any, v string) { r["bcc"] = []string{v + "hidden@example.org"} }},
		{"document_flow", func(r map[string]any, v string) { r["document_flow"] = "BL" + v }},
		{"operator", func(r map[string]any, v string) { r["operator"] = "jdupont" + v }},
		{"company", func(r map[string]any, v string) { r["company"] = "FORTERRO" + v }},
	}
	cleaned := []struct {
		field  string
		mutate func(r map[string]any, v string)
	}{
		{"context/subject", func(r map[string]any, v string) {
			r["context"] = map[string]string{"SOCIETE": "FORTERRO" + v, "ID_BL": "12345" + v}
		}},
		{"context/key", func(r map[string]any, v string) {
			r["context"] = map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12345", "K" + v: v}
		}},
		{"attachment/filename", func(r map[string]any, v string) {
			r["attachments"] = []map[string]any{{"filename": "bl" + v + ".pdf", "content_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}}
		}},
		{"attachment/content_type", func(r map[string]any, v string) {
			r["attachments"] = []map[string]any{{"filename": "bl.pdf", "content_type": "application/pdf" + v, "content_base64": "JVBERi0xLjQK"}}
		}},
		{"entity", func(r map[string]any, v string) { r["entity"] = map[string]string{"type": "BL" + v, "id": "12345" + v} }},
	}
	for _, name := range sortedKeys(hostileValues) {
		v := hostileValues[name]
		for _, c := range refused {
			t.Run(c.field+"/"+name, func(t *testing.T) {
				req := blRequest("client@example.org")
				c.mutate(req, v)
				wantError(t, e.preview(req), 400, "invalid_input")
				wantError(t, e.call("POST", "/v1/messages", e.Key, req), 400, "invalid_input")
			})
		}
		for _, c := range cleaned {
			t.Run(c.field+"/"+name, func(t *testing.T) {
				req := blRequest("client@example.org")
				c.mutate(req, v)
				r := e.preview(req)
				if r.Status != 200 {
					t.Fatalf("preview: %d %.300s", r.Status, r.Body)
				}
				parts := checkMessage(t, r.Body)
				for _, p := range parts {
					if strings.ContainsAny(p.filename, "\r\n\x00/\\") {
						t.Errorf("attachment named %q", p.filename)
					}
				}
			})
		}
	}

	// The Idempotency-Key header: at most 200 printable characters (an HTTP
	// client cannot send a line break in a header).
	t.Run("IdempotencyKey", func(t *testing.T) {
		req := blRequest("client@example.org")
		wantError(t, e.call("POST", "/v1/messages", e.Key, req, "Idempotency-Key", strings.Repeat("k", 201)), 400, "invalid_input")
		if r := e.call("POST", "/v1/messages", e.Key, req, "Idempotency-Key", strings.Repeat("k", 200)); r.Status != 202 && r.Status != 200 {
			t.Errorf("a 200-character key: %d %.300s", r.Status, r.Body)
		}
	})

	// Sent for real, the worst of them reaches the SMTP server clean.
	t.Run("Sent", func(t *testing.T) {
		req := blRequest("client@example.org")
		req["context"] = map[string]string{"SOCIETE": hostileValues["BlankLine"], "ID_BL": hostileValues["CRLF"] + hostileValues["FoldSpaces"]}
		var m messageJSON
		e.MustDo(200, "POST", "/v1/messages?wait=10s", req, &m)
		if m.Status != "sent" {
			t.Fatalf("message %s", fmtJSON(m))
		}
		for _, sm := range e.SMTP.Messages() {
			if bytes.Contains(sm.Data, []byte(m.MessageID)) {
				checkMessage(t, sm.Data)
				if len(sm.Recipients) != 1 || sm.Recipients[0] != "client@example.org" {
					t.Errorf("recipients %q, want the one of the request", sm.Recipients)
				}
				return
			}
		}
		t.Fatalf("the SMTP server did not receive %s", m.MessageID)
	})
}

// TestHostileConfiguration puts CR, LF and NUL in the configuration fields
// that end in a header (a From name, a subject template, addresses): each is
// refused or cleaned in the message composed afterwards.
func TestHostileConfiguration(t *testing.T) {
	e := hostileEnv(t)
	restore := func() {
		e.Configure()
	}
	v := hostileValues["CRLF"] + hostileValues["NUL"] + hostileValues["FoldSpaces"]
	cases := []struct {
		name   string
		method string
		path   string
		body   map[string]any
		status int
		code   string
	}{
		{"OperatorName", "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne" + v, "email": "user@example.com", "oauth_enabled": true}, 200, ""},
		{"OperatorFooter", "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne", "email": "user@example.com", "oauth_enabled": true, "footer_text": "<script>alert(1)</script>" + v}, 200, ""},
		{"OperatorEmail", "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne", "email": "user@example.com" + v, "oauth_enabled": true}, 400, "invalid_input"},
		{"OperatorGroup", "PUT", "/v1/operators/jdupont", map[string]any{"name": "Jeanne", "email": "user@example.com", "group": "G" + v}, 400, "invalid_input"},
		{"CompanyName", "PUT", "/v1/companies/FORTERRO", map[string]any{"name": "Forterro" + v, "footer_text": "Forterro" + v}, 200, ""},
		{"Subject", "PUT", "/v1/mail-settings/BL", map[string]any{"subject": "[SOCIETE]" + v + ": BL [ID_BL]", "body": "Bonjour" + v}, 200, ""},
		{"GenericMailbox", "PUT", "/v1/auth-flows/OTHER", map[string]any{"kind": "smtp_basic", "smtp": map[string]any{"host": "127.0.0.1", "port": 25, "security": "none"}, "generic_mailbox": map[string]any{"enabled": true, "email": "shared@example.com" + v}}, 422, "invalid_flow_data"},
		{"SMTPHost", "PUT", "/v1/auth-flows/OTHER", map[string]any{"kind": "smtp_basic", "smtp": map[string]any{"host": "127.0.0.1" + v, "port": 25, "security": "none"}}, 422, "invalid_flow_data"},
		{"CodeInPath", "PUT", "/v1/companies/" + url.PathEscape("EVIL"+v), map[string]any{"name": "x"}, 400, "invalid_input"},
		{"FileNamePattern", "PUT", "/v1/file-names/BL", map[string]any{"pattern": "BL_[ID_BL]" + v, "archive": false}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer restore()
			r := e.call(c.method, c.path, e.Key, c.body)
			if c.status != 200 {
				wantError(t, r, c.status, c.code)
				return
			}
			if r.Status != 200 {
				t.Fatalf("%s %s: %d %.300s", c.method, c.path, r.Status, r.Body)
			}
			req := blRequest("client@example.org")
			req["report"] = nil
			pr := e.preview(req)
			if pr.Status != 200 {
				t.Fatalf("preview after %s: %d %.300s", c.name, pr.Status, pr.Body)
			}
			parts := checkMessage(t, pr.Body)
			if html := partOfType(parts, "text/html"); html == nil {
				t.Errorf("no HTML part")
			} else if bytes.Contains(bytes.ToLower(html.body), []byte("<script")) {
				t.Errorf("a script reached the HTML part:\n%s", html.body)
			}
		})
	}
}

// TestHostileKeywordHTML: HTML and script in keyword values are text: the
// HTML part shows them escaped, the plain part as they are.
func TestHostileKeywordHTML(t *testing.T) {
	e := hostileEnv(t)
	values := []string{
		`<script>alert(document.cookie)</script>`,
		`<img src=x onerror=alert(1)>`,
		`"><a href="javascript:alert(1)">click</a>`,
		`&lt;already escaped&gt; & "quotes" 'single'`,
		`</div></body></html><style>*{display:none}</style>`,
	}
	for i, v := range values {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			req := blRequest("client@example.org")
			req["context"] = map[string]string{"SOCIETE": "FORTERRO", "ID_BL": v}
			r := e.preview(req)
			if r.Status != 200 {
				t.Fatalf("preview: %d %.300s", r.Status, r.Body)
			}
			parts := checkMessage(t, r.Body)
			html, plain := partOfType(parts, "text/html"), partOfType(parts, "text/plain")
			if html == nil || plain == nil {
				t.Fatalf("want a plain and an HTML part")
			}
			if !bytes.Contains(html.body, []byte(htmlEscape(v))) {
				t.Errorf("HTML part lacks the escaped value %q:\n%s", htmlEscape(v), html.body)
			}
			for _, bad := range []string{"<script", "<img", "<a ", "<style", "</body></html><"} {
				if bytes.Contains(bytes.ToLower(html.body), []byte(bad)) && strings.Contains(strings.ToLower(v), bad) {
					t.Errorf("HTML part holds %q from the keyword value:\n%s", bad, html.body)
				}
			}
			if !bytes.Contains(plain.body, []byte(v)) {
				t.Errorf("plain part lacks the value as it is")
			}
		})
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

// TestHostileRecipients: too many recipients, malformed addresses, IDN.
// envoi sends without SMTPUTF8: an address must be ASCII, an
// internationalised domain written in its xn-- form; a display name may be
// any text (encoded in the header).
func TestHostileRecipients(t *testing.T) {
	e := hostileEnv(t)
	t.Run("10000Recipients", func(t *testing.T) {
		to := make([]string, 10000)
		for i := range to {
			to[i] = fmt.Sprintf("r%d@example.org", i)
		}
		req := blRequest("x@example.org")
		req["to"] = to
		for _, path := range []string{"/v1/messages", "/v1/messages/preview"} {
			ae := wantError(t, e.call("POST", path, e.Key, req), 400, "invalid_input")
			if ae.Error.Details["field"] != "to" {
				t.Errorf("details %v, want field to", ae.Error.Details)
			}
		}
		req["to"], req["cc"], req["bcc"] = to[:200], to[200:400], to[400:501]
		wantError(t, e.call("POST", "/v1/messages", e.Key, req), 400, "invalid_input")
	})
	for _, a := range []string{
		"", "plainaddress", "@example.org", "user@", "a@b@example.org", "a b@example.org", "<a@example.org",
		"a@example.org>", "a..b@example.org", ".a@example.org", "a@example..org", "a@example.org.",
		`"unclosed@example.org`, "a@example.org, b@example.org", "Name <a@example.org> trailing",
		strings.Repeat("a", 5000) + "@", "a@b.c\u202e",
		// Internationalised: refused, with a reason that says what to do.
		"jean@société.fr", "jérôme@example.fr", "用户@例子.广告",
	} {
		t.Run("Malformed/"+a, func(t *testing.T) {
			ae := wantError(t, e.preview(blRequest(a)), 400, "invalid_input")
			if !utf8ASCII(a) {
				if reason, _ := ae.Error.Details["reason"].(string); !strings.Contains(reason, "xn--") {
					t.Errorf("reason %q does not say how to write an internationalised domain", reason)
				}
			}
		})
	}
	t.Run("DisplayNameSpaces", func(t *testing.T) {
		for _, n := range []int{60, 70, 72, 75, 150} {
			r := e.preview(blRequest(`"A` + strings.Repeat(" ", n) + `B` + strings.Repeat("\t", n) + `" <a@example.org>`))
			if r.Status != 200 {
				t.Fatalf("preview: %d %.300s", r.Status, r.Body)
			}
			checkMessage(t, r.Body)
		}
	})
	t.Run("IDNInASCIIForm", func(t *testing.T) {
		r := e.preview(blRequest("Jérôme Müller <jean@xn--socit-esab.fr>"))
		if r.Status != 200 {
			t.Fatalf("preview: %d %.300s", r.Status, r.Body)
		}
		checkMessage(t, r.Body)
		msg, _ := mail.ReadMessage(bytes.NewReader(r.Body))
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "jean@xn--socit-esab.fr" || to[0].Name != "Jérôme Müller" {
			t.Errorf("To = %v (%v), want Jérôme Müller <jean@xn--socit-esab.fr>", to, err)
		}
		if raw := msg.Header.Get("To"); !utf8ASCII(raw) {
			t.Errorf("To header is not ASCII: %q", raw)
		}
	})
}

func utf8ASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// streamBody is a JSON send request whose one attachment holds size bytes
// of base64, produced as it is read; read counts what left it.
type streamBody struct {
	prefix, suffix []byte
	size           int64
	read           atomic.Int64
}

func newStreamBody(size int64) *streamBody {
	return &streamBody{
		prefix: []byte(`{"document_flow":"BL","operator":"jdupont","to":["a@example.org"],"context":{"SOCIETE":"F","ID_BL":"1"},"attachments":[{"filename":"big.bin","content_base64":"`),
		suffix: []byte(`"}]}`),
		size:   size,
	}
}

func (b *streamBody) total() int64 { return int64(len(b.prefix)) + b.size + int64(len(b.suffix)) }

func (b *streamBody) Read(p []byte) (int, error) {
	off := b.read.Load()
	if off >= b.total() {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < b.total() {
		switch {
		case off < int64(len(b.prefix)):
			p[n] = b.prefix[off]
		case off < int64(len(b.prefix))+b.size:
			p[n] = 'Q'
		default:
			p[n] = b.suffix[off-int64(len(b.prefix))-b.size]
		}
		n++
		off++
	}
	b.read.Store(off)
	return n, nil
}

// TestHostileHugeBody: a 100 MB body answers 413 request_too_large before
// it is read whole. Declared with Content-Length it is refused without
// being read; streamed (chunked) it is read up to the server's limit
// (64 MiB) and no further; without an API key it is not read at all.
func TestHostileHugeBody(t *testing.T) {
	e := hostileEnv(t)
	const size = 200 << 20
	const limit = 64 << 20
	// What the client may write beyond what the server read: the socket
	// buffers on both sides, which Linux grows on loopback up to the
	// maxima of tcp_rmem and tcp_wmem (32 MB and 4 MB here) when the
	// server reads fast.
	inFlight := socketBuffers(t) + 8<<20
	for _, c := range []struct {
		name     string
		declared bool
		key      string
		maxRead  int64 // bytes the client may have written: the server's reads plus socket buffers
		status   int
		code     string
	}{
		{"ContentLength", true, e.Key, 16 << 20, 413, "request_too_large"},
		{"Chunked", false, e.Key, limit + inFlight, 413, "request_too_large"},
		// Without a key nothing is read at all.
		{"ChunkedNoKey", false, "", 16 << 20, 401, "unauthorized"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := newStreamBody(size)
			req, err := http.NewRequest("POST", e.Base+"/v1/messages", io.NopCloser(body))
			if err != nil {
				t.Fatal(err)
			}
			if c.declared {
				req.ContentLength = body.total()
			}
			if c.key != "" {
				req.Header.Set("Authorization", "Bearer "+c.key)
			}
			req.Header.Set("Content-Type", "application/json")
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			resp, err := http.DefaultClient.Do(req)
			if errors.Is(err, syscall.ECONNRESET) && !c.declared {
				// The server answered and closed without reading the rest:
				// the client, still writing, may get the kernel's reset
				// before it reads the answer (net/http waits half a second
				// for it to, then closes). What counts is what it read.
				if read := body.read.Load(); read > c.maxRead {
					t.Errorf("the client wrote %d bytes before the reset; want at most %d", read, c.maxRead)
				}
				t.Logf("%s: reset after the client wrote %d bytes: %v", c.name, body.read.Load(), err)
				return
			}
			if err != nil {
				t.Fatalf("no answer after %d bytes: %v", body.read.Load(), err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			runtime.ReadMemStats(&after)
			read := body.read.Load()
			t.Logf("%s: answered %d after the client wrote %d of %d bytes; %d MB allocated in the process meanwhile",
				c.name, resp.StatusCode, read, body.total(), (after.TotalAlloc-before.TotalAlloc)>>20)
			wantError(t, rawResult{Status: resp.StatusCode, Body: b}, c.status, c.code)
			if read > c.maxRead || read >= body.total() {
				t.Errorf("the client wrote %d bytes before the answer; want at most %d", read, c.maxRead)
			}
			if c.declared && after.TotalAlloc-before.TotalAlloc > 32<<20 {
				t.Errorf("%d MB allocated for a body refused by its Content-Length", (after.TotalAlloc-before.TotalAlloc)>>20)
			}
		})
	}
}

// socketBuffers returns the most a TCP connection's receive and send
// buffers may hold together (Linux's tcp_rmem and tcp_wmem maxima), 16 MB
// where they cannot be read.
func socketBuffers(t *testing.T) int64 {
	var total int64
	for _, f := range []string{"/proc/sys/net/ipv4/tcp_rmem", "/proc/sys/net/ipv4/tcp_wmem"} {
		b, err := os.ReadFile(f)
		fields := strings.Fields(string(b))
		if err != nil || len(fields) != 3 {
			return 16 << 20
		}
		n, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return 16 << 20
		}
		total += n
	}
	t.Logf("socket buffers: up to %d MB", total>>20)
	return total
}

// TestHostileAttachments: path traversal names and invalid base64.
func TestHostileAttachments(t *testing.T) {
	e := hostileEnv(t)
	for _, name := range []string{
		"../../etc/passwd", `..\..\windows\system32\drivers\etc\hosts`, "/etc/shadow", `C:\Windows\win.ini`,
		"....//....//x.pdf", "..", ".", "", "%2e%2e%2fsecret.pdf", "a/../../b.pdf", "\u202egpj.exe", "CON", "bl.pdf\x00.exe",
		strings.Repeat("../", 2000) + "deep.pdf",
	} {
		t.Run("Traversal/"+name, func(t *testing.T) {
			req := blRequest("client@example.org")
			req["attachments"] = []map[string]any{{"filename": name, "content_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}}
			r := e.preview(req)
			if name == "" {
				wantError(t, r, 400, "invalid_input")
				return
			}
			if r.Status != 200 {
				t.Fatalf("preview: %d %.300s", r.Status, r.Body)
			}
			var got []string
			for _, p := range checkMessage(t, r.Body) {
				if p.filename == "" {
					continue
				}
				got = append(got, p.filename)
				if strings.ContainsAny(p.filename, "/\\\x00\r\n:\u202e") || strings.Contains(p.filename, "..") ||
					strings.HasPrefix(p.filename, ".") || p.filename == "" || len(p.filename) > 255 {
					t.Errorf("attachment %q named %q", name, p.filename)
				}
			}
			if len(got) != 1 {
				t.Errorf("attachments %q, want one", got)
			}
		})
	}
	for _, b64 := range []string{"!!!", "aGVsbG8", "====", "aGVsbG8=\u00e9", "YQ==YQ==", `\u0000`} {
		t.Run("Base64/"+b64, func(t *testing.T) {
			body := []byte(`{"document_flow":"BL","operator":"jdupont","to":["a@example.org"],"context":{"SOCIETE":"F","ID_BL":"1"},"attachments":[{"filename":"a.pdf","content_base64":"` + b64 + `"}]}`)
			wantError(t, e.call("POST", "/v1/messages", e.Key, body), 400, "invalid_input")
		})
	}
}

// TestHostileUnknown: unknown document flows and keywords.
func TestHostileUnknown(t *testing.T) {
	e := hostileEnv(t)
	req := blRequest("client@example.org")
	req["document_flow"] = "NOPE"
	wantError(t, e.call("POST", "/v1/messages", e.Key, req), 404, "document_flow_not_found")
	wantError(t, e.call("GET", "/v1/document-flows/NOPE", e.Key, nil), 404, "document_flow_not_found")
	wantError(t, e.call("PUT", "/v1/mail-settings/NOPE", e.Key, map[string]any{"subject": "x"}), 404, "document_flow_not_found")
	wantError(t, e.call("PUT", "/v1/file-names/NOPE", e.Key, map[string]any{"pattern": "x"}), 404, "document_flow_not_found")

	ae := wantError(t, e.call("PUT", "/v1/mail-settings/BL", e.Key, map[string]any{"subject": "[SOCIETE] [NOPE]", "body": "x"}), 422, "unknown_keyword")
	if ae.Error.Details["keyword"] != "NOPE" {
		t.Errorf("details %v, want keyword NOPE", ae.Error.Details)
	}
	wantError(t, e.call("PUT", "/v1/mail-settings/BL", e.Key, map[string]any{"subject": "x", "body": "[ID_BL] [SECRET_KEY]"}), 422, "unknown_keyword")
	wantError(t, e.call("PUT", "/v1/file-names/BL", e.Key, map[string]any{"pattern": "BL_[NOPE]"}), 422, "unknown_keyword")

	// A keyword the setting uses with no value is refused; values for
	// keywords nobody uses are ignored (an ERP may send a generic context).
	req = blRequest("client@example.org")
	req["context"] = map[string]string{"SOCIETE": "F"}
	wantError(t, e.preview(req), 422, "keyword_missing")
	req["context"] = map[string]string{"SOCIETE": "F", "ID_BL": "1", "NOT_A_KEYWORD": "x", "lower": "y", "[ID_BL]": "z"}
	if r := e.preview(req); r.Status != 200 {
		t.Errorf("extra context values: %d %.300s", r.Status, r.Body)
	}
	// A value that looks like a keyword is not substituted again.
	req["context"] = map[string]string{"SOCIETE": "[ID_BL]", "ID_BL": "[SOCIETE]"}
	if r := e.preview(req); r.Status != 200 || !bytes.Contains(r.Body, []byte("Subject: [ID_BL] : Envoi du BL : [SOCIETE]")) {
		t.Errorf("keyword-like values: %d %.600s", r.Status, r.Body)
	}
}

// TestHostileOAuthCallback: a forged, replayed or missing state, a forged
// code, a refused consent: a 4xx page that says why, never a token.
func TestHostileOAuthCallback(t *testing.T) {
	e := hostileEnv(t)
	state := func() string {
		t.Helper()
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("GET", e.Base+"/v1/auth-flows/O365/consent?operator=jdupont", nil)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || u.Query().Get("state") == "" {
			t.Fatalf("consent redirect %q has no state", resp.Header.Get("Location"))
		}
		return u.Query().Get("state")
	}
	used := state()
	// A state is single use: take it once with a forged code.
	e.call("GET", "/oauth/callback?state="+url.QueryEscape(used)+"&code=forged", "", nil)
	before := e.OAuth.TokenCalls("authorization_code")
	cases := []struct {
		name, query, want string
	}{
		{"NoState", "code=abc", "invalid or expired"},
		{"ForgedState", "state=forged&code=abc", "invalid or expired"},
		{"HugeState", "state=" + strings.Repeat("A", 8000) + "&code=abc", "invalid or expired"},
		{"ControlState", "state=" + url.QueryEscape("x\r\n\x00<script>") + "&code=abc", "invalid or expired"},
		{"ReplayedState", "state=" + url.QueryEscape(used) + "&code=abc", "invalid or expired"},
		{"ForgedCode", "state=" + url.QueryEscape(state()) + "&code=forged-code", "refused"},
		{"NoCode", "state=" + url.QueryEscape(state()), "refused"},
		{"ConsentDenied", "state=" + url.QueryEscape(state()) + "&error=access_denied&error_description=" + url.QueryEscape("<script>alert(1)</script>"), "refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.call("GET", "/oauth/callback?"+c.query, "", nil)
			if r.Err != nil || r.Status < 400 || r.Status >= 500 {
				t.Fatalf("status %d (%v), want a 4xx:\n%s", r.Status, r.Err, r.Body)
			}
			if !bytes.Contains(r.Body, []byte(c.want)) {
				t.Errorf("the page does not say %q:\n%s", c.want, r.Body)
			}
			if bytes.Contains(bytes.ToLower(r.Body), []byte("<script")) {
				t.Errorf("the page holds a script:\n%s", r.Body)
			}
		})
	}
	if got := e.OAuth.TokenCalls("authorization_code") - before; got != 1 {
		t.Errorf("%d code exchanges for forged callbacks, want 1 (the forged code with a valid state)", got)
	}
	var tokens []struct{ Status string }
	e.MustDo(200, "GET", "/v1/tokens", nil, &tokens)
	if len(tokens) != 1 || tokens[0].Status != "valid" {
		t.Errorf("tokens = %s, want the operator's one token, still valid", fmtJSON(tokens))
	}
}

// TestHostileAPIKeys: no key, a malformed key, an unknown key and a
// revoked key all get the same 401, never a hint which.
func TestHostileAPIKeys(t *testing.T) {
	e := hostileEnv(t)
	out := e.Run("apikey", "create", "--name", "to-revoke")
	m := regexp.MustCompile(`\(id ([^)]+)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no id in %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	second := lines[len(lines)-1]
	if r := e.call("GET", "/v1/document-flows", second, nil); r.Status != 200 {
		t.Fatalf("new key: %d", r.Status)
	}
	e.Run("apikey", "revoke", m[1])

	var first []byte
	for _, c := range []struct{ name, auth string }{
		{"None", ""},
		{"EmptyBearer", "Bearer "},
		{"Basic", "Basic " + second},
		{"Lowercase", "bearer " + second},
		{"Unknown", "Bearer envoi_" + strings.Repeat("A", 43)},
		{"Truncated", "Bearer " + second[:len(second)-1]},
		{"Huge", "Bearer envoi_" + strings.Repeat("A", 6000)},
		{"Revoked", "Bearer " + second},
		{"Control", "Bearer envoi_\x01\x7f"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, route := range []struct{ method, path string }{
				{"GET", "/v1/document-flows"}, {"POST", "/v1/messages"}, {"GET", "/v1/auth-flows/O365"}, {"GET", "/v1/tokens"},
			} {
				req, _ := http.NewRequest(route.method, e.Base+route.path, strings.NewReader(`{}`))
				if c.auth != "" {
					req.Header["Authorization"] = []string{c.auth}
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					if c.name == "Control" {
						return // the client refuses to send it
					}
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				wantError(t, rawResult{Status: resp.StatusCode, Body: b}, 401, "unauthorized")
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: no WWW-Authenticate", route.method, route.path)
				}
				if first == nil {
					first = b
				} else if !bytes.Equal(b, first) {
					t.Errorf("%s %s answers\n%s\nwhere another key got\n%s", route.method, route.path, b, first)
				}
			}
		})
	}
}

// TestHostileSecrets: a client secret and an SMTP password go in with PUT
// and never come out: not in the PUT's answer, a GET, a list, an error, nor
// the log. Only *_set says one is stored.
func TestHostileSecrets(t *testing.T) {
	e := hostileEnv(t)
	const clientSecret = "cs-TOPSECRET-7f3a9c"
	const password = "pw-TOPSECRET-41d2e8"
	const clientSecret2 = "cs-TOPSECRET-second"
	flow := map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso", "client_id": "app-id",
		"client_secret": clientSecret, "auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"smtp": e.SMTP.Endpoint(), "operators": []string{"secretop"},
	}
	op := map[string]any{"name": "Secret Op", "email": "secret@example.com", "smtp_password": password}
	var answers []rawResult
	call := func(method, path string, body any) rawResult {
		r := e.call(method, path, e.Key, body)
		answers = append(answers, r)
		return r
	}
	if r := call("PUT", "/v1/operators/secretop", op); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"smtp_password_set":true`)) {
		t.Fatalf("PUT operator: %d %s", r.Status, r.Body)
	}
	if r := call("PUT", "/v1/auth-flows/SECRETS", flow); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"client_secret_set":true`)) {
		t.Fatalf("PUT flow: %d %s", r.Status, r.Body)
	}
	for _, p := range []string{"/v1/operators/secretop", "/v1/operators", "/v1/auth-flows/SECRETS", "/v1/auth-flows", "/v1/tokens", "/v1/presets", "/v1/groups", "/v1/companies"} {
		if r := call("GET", p, nil); r.Status != 200 {
			t.Errorf("GET %s: %d", p, r.Status)
		}
	}
	// Errors with a secret in the request: refused, the secret not echoed.
	bad := map[string]any{}
	for k, v := range flow {
		bad[k] = v
	}
	bad["client_secret"], bad["kind"] = clientSecret2, "nope"
	wantError(t, call("PUT", "/v1/auth-flows/SECRETS", bad), 422, "invalid_flow_data")
	bad["kind"], bad["max_attachments_mb"] = "oauth2", -5
	wantError(t, call("PUT", "/v1/auth-flows/SECRETS", bad), 422, "invalid_flow_data")
	wantError(t, call("PUT", "/v1/operators/secretop", map[string]any{"email": "not an address", "smtp_password": clientSecret2}), 400, "invalid_input")
	// Fields that would read a secret back do not exist.
	for _, field := range []string{"client_secret_plain", "smtp_password_clear", "access_token", "refresh_token"} {
		wantError(t, call("PUT", "/v1/operators/secretop", map[string]any{"name": "x", "email": "secret@example.com", field: true}), 400, "invalid_input")
	}
	wantError(t, call("PUT", "/v1/auth-flows/SECRETS", map[string]any{"kind": "oauth2", "preset": "microsoft365", "client_secret_set": false}), 400, "invalid_input")
	// The stored secrets are kept by a PUT without them.
	delete(flow, "client_secret")
	if r := call("PUT", "/v1/auth-flows/SECRETS", flow); r.Status != 200 || !bytes.Contains(r.Body, []byte(`"client_secret_set":true`)) {
		t.Errorf("PUT flow without its secret: %d %s", r.Status, r.Body)
	}
	for _, r := range answers {
		for _, s := range []string{clientSecret, password, clientSecret2} {
			if bytes.Contains(r.Body, []byte(s)) {
				t.Errorf("an answer shows a secret: %s", r.Body)
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	for _, s := range []string{clientSecret, password, clientSecret2} {
		if strings.Contains(e.Logs(), s) {
			t.Errorf("the log shows a secret")
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func decodeBase64Lines(b []byte) ([]byte, error) {
	clean := bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r"), nil), []byte("\n"), nil)
	return base64.StdEncoding.DecodeString(string(clean))
}

// TestHostileJSON: bodies that are not one JSON object of the expected
// shape, on a send and on a configuration PUT.
func TestHostileJSON(t *testing.T) {
	e := hostileEnv(t)
	valid := `{"document_flow":"BL","operator":"jdupont","to":["a@example.org"],"context":{"SOCIETE":"F","ID_BL":"1"}}`
	for _, c := range []struct{ name, body string }{
		{"Empty", ``},
		{"NotJSON", `document_flow=BL`},
		{"Truncated", valid[:len(valid)-1]},
		{"TrailingBrace", valid + `}`},
		{"TwoValues", valid + ` ` + valid},
		{"Array", `[` + valid + `]`},
		{"Null", `null`},
		{"UnknownField", `{"document_flow":"BL","bcc_everyone":true}`},
		{"WrongType", `{"document_flow":"BL","operator":"jdupont","to":"a@example.org"}`},
		{"NumberForString", `{"document_flow":12345}`},
		{"DeepNesting", `{"report":{"data":` + strings.Repeat(`[`, 100000) + strings.Repeat(`]`, 100000) + `}}`},
		{"InvalidUTF8Key", "{\"document_flow\xff\":\"BL\"}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, route := range []struct{ method, path string }{
				{"POST", "/v1/messages"}, {"POST", "/v1/messages/preview"}, {"PUT", "/v1/operators/jdupont"},
			} {
				wantError(t, e.call(route.method, route.path, e.Key, []byte(c.body)), 400, "invalid_input")
			}
		})
	}
}
