package compose_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"envoi"
	"envoi/compose"
)

func TestComposeErrors(t *testing.T) {
	big := make([]byte, 6<<20)
	tests := []struct {
		name    string
		setup   func(s *fakeStore, m *envoi.Message, c *compose.Composer)
		code    string
		details map[string]any
	}{
		{
			name:  "ErrNoFlow",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) { s.flows["m365"].Operators = nil },
			code:  envoi.ENoFlowForOperator,
		},
		{
			name:  "ErrNoMailSetting",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) { delete(s.settings, "BL") },
			code:  envoi.EMailSettingNotFound,
		},
		{
			name:  "ErrNoDocumentFlow",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) { delete(s.docFlows, "BL") },
			code:  envoi.EDocumentFlowNotFound,
		},
		{
			name:  "ErrNoOperator",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) { delete(s.operators, "jdupont") },
			code:  envoi.ENotFound,
		},
		{
			name:  "ErrNoCompany",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) { m.Request.Company = "OTHER" },
			code:  envoi.ENotFound,
		},
		{
			name:  "ErrOperatorWithoutEmail",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) { s.operators["jdupont"].Email = "" },
			code:  envoi.EInvalidInput,
		},
		{
			name: "ErrKeywordMissing",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				s.settings["BL"].Body = "[CLIENT] [ID_BL] [DATE_BL] [CLIENT]"
				m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 1}}
				s.rules["BL"].Pattern = "BL_[ID_BL]_[NUM_CMD]"
				m.Request.Context = map[string]string{"ID_BL": "1"}
			},
			code:    envoi.EKeywordMissing,
			details: map[string]any{"keywords": []string{"SOCIETE", "CLIENT", "DATE_BL", "NUM_CMD"}},
		},
		{
			name: "ErrAttachmentsTooBig",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				s.flows["m365"].MaxAttachmentsMB = 10
				m.Request.Attachments = []envoi.Attachment{{Filename: "a.bin", Content: big}, {Filename: "b.bin", Content: big}}
			},
			code:    envoi.EAttachmentsTooBig,
			details: map[string]any{"limit_bytes": int64(10 << 20), "total_bytes": int64(12 << 20)},
		},
		{
			name: "ErrAttachmentsTooBigWithReport",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				s.flows["m365"].MaxAttachmentsMB = 6
				m.Request.Attachments = []envoi.Attachment{{Filename: "a.bin", Content: big}}
				c.Reports = renderFunc(func(context.Context, *envoi.DocumentFlow, *envoi.Company, *envoi.ReportRequest) ([]byte, error) {
					return make([]byte, 1000), nil
				})
				m.Request.Report = &envoi.ReportRequest{}
			},
			code:    envoi.EAttachmentsTooBig,
			details: map[string]any{"limit_bytes": int64(6 << 20), "total_bytes": int64(6<<20 + 1000)},
		},
		{
			name: "ErrReportMissingParameters",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"header": "x"}}
			},
			code:    envoi.EReportMissingParameters,
			details: map[string]any{"parameters": []string{"lines"}},
		},
		{
			name: "ErrNoRenderer",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				c.Reports = nil
				m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 1}}
			},
			code: envoi.EInvalidInput,
		},
		{
			name: "ErrInvalidRecipient",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				m.Request.To = []string{"achats@client.test\r\nBcc: victim@evil.test"}
			},
			code: envoi.EInvalidInput,
		},
		{
			name: "ErrMessageIDInjection",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				m.MessageID = "<a@b>\r\nBcc: victim@evil.test"
			},
			code: envoi.EInvalidInput,
		},
		{
			name: "ErrSubjectOverHeaderQuota",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				s.settings["BL"].Subject = strings.Repeat("[ID_BL] ", 8)
				m.Request.Context["ID_BL"] = strings.Repeat("x", 9000)
			},
			code:    envoi.EInvalidInput,
			details: map[string]any{"field": "context", "limit_bytes": envoi.MaxHeaderBytes},
		},
		{
			name:  "ErrPriority",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) { s.settings["BL"].Priority = "urgent" },
			code:  envoi.EInvalidInput,
		},
		{
			name: "ErrGenericMailboxAddress",
			setup: func(s *fakeStore, m *envoi.Message, c *compose.Composer) {
				m.Request.Operator = "vente1"
				s.flows["shared"].GenericMailbox.Email = "not an address"
			},
			code: envoi.EInvalidFlowData,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newStore(t), newMessage()
			c := newComposer(s)
			tt.setup(s, m, c)
			mail, err := c.Compose(context.Background(), m)
			if err == nil {
				t.Fatalf("Compose succeeded (%d bytes), want %s", mail.Envelope().Size, tt.code)
			}
			var e *envoi.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *envoi.Error", err)
			}
			if e.Code != tt.code {
				t.Fatalf("code = %s (%v), want %s", e.Code, err, tt.code)
			}
			for k, want := range tt.details {
				got := e.Details[k]
				switch w := want.(type) {
				case []string:
					g, _ := got.([]string)
					if !slices.Equal(g, w) {
						t.Errorf("details[%s] = %v, want %v", k, got, want)
					}
				default:
					if got != want {
						t.Errorf("details[%s] = %v (%T), want %v (%T)", k, got, got, want, want)
					}
				}
			}
		})
	}
}

// TestComposeRendersNothingOverLimit checks that attachments over the limit
// are refused before the report is rendered.
func TestComposeRendersNothingOverLimit(t *testing.T) {
	s, m := newStore(t), newMessage()
	c := newComposer(s)
	s.flows["m365"].MaxAttachmentsMB = 1
	m.Request.Attachments = []envoi.Attachment{{Filename: "a.bin", Content: make([]byte, 2<<20)}}
	m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 1}}
	rendered := false
	c.Reports = renderFunc(func(context.Context, *envoi.DocumentFlow, *envoi.Company, *envoi.ReportRequest) ([]byte, error) {
		rendered = true
		return []byte("%PDF"), nil
	})
	if _, err := c.Compose(context.Background(), m); envoi.ErrorCode(err) != envoi.EAttachmentsTooBig {
		t.Fatalf("err = %v, want attachments_too_big", err)
	}
	if rendered {
		t.Error("the report was rendered although the attachments were already over the limit")
	}
}

// TestComposeNoLimit checks that a flow with no limit (0) takes any size.
func TestComposeNoLimit(t *testing.T) {
	s, m := newStore(t), newMessage()
	s.flows["m365"].MaxAttachmentsMB = 0
	m.Request.Attachments = []envoi.Attachment{{Filename: "a.bin", Content: make([]byte, 3<<20)}}
	compose1(t, s, m)
}

// TestComposeHeaderInjection fills every place a header is made from with
// line breaks, NUL and fake header fields: none may reach the header.
func TestComposeHeaderInjection(t *testing.T) {
	evil := "ACME\r\nBcc: victim@evil.test\r\nX-Injected: yes\x00\n\rSubject: spoof"
	s, m := newStore(t), newMessage()
	s.settings["BL"].Subject = "[SOCIETE] : BL [ID_BL]\r\nX-From-Setting: yes"
	s.settings["BL"].ReadReceipt = true
	s.operators["jdupont"].Name = "Jerome\r\nX-From-Name: yes"
	s.companies["FORTERRO"].Name = "Forterro\r\nX-Company: yes"
	m.Request.Context = map[string]string{"SOCIETE": evil, "ID_BL": "12\x00345\r\n"}
	m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 1}}
	s.rules["BL"].Pattern = "[SOCIETE]"
	m.Request.Attachments = []envoi.Attachment{{
		Filename:    "evil\r\nContent-Type: text/html\r\n\r\n<script>.pdf",
		ContentType: "application/pdf\r\nX-Attachment: yes",
		Content:     []byte("%PDF"),
	}}
	mail, raw := compose1(t, s, m)
	p := parse(t, raw)
	for _, f := range []string{"Bcc", "X-Injected", "X-From-Setting", "X-From-Name", "X-Company", "X-Attachment"} {
		if v, ok := p.header[f]; ok {
			t.Errorf("injected header %s: %q", f, v)
		}
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for line := range strings.Lines(string(head)) {
		name, _, _ := strings.Cut(line, ":")
		if line[0] != ' ' && !slices.Contains([]string{"Date", "Disposition-Notification-To", "Importance",
			"MIME-Version", "Message-ID", "References", "X-Envoi-Message-Id", "Subject", "X-Priority", "From", "To", "Content-Type"}, name) {
			t.Errorf("unexpected header line %q", line)
		}
	}
	if bytes.IndexByte(raw, 0) >= 0 {
		t.Error("a NUL was written")
	}
	if got := p.header["Subject"]; len(got) != 1 {
		t.Fatalf("Subject fields: %q", got)
	}
	subject := decodeHeader(t, p.header.Get("Subject"))
	if !strings.HasPrefix(subject, "ACME Bcc: victim@evil.test X-Injected: yes") || strings.ContainsAny(subject, "\r\n\x00") {
		t.Errorf("Subject = %q", subject)
	}
	if slices.Contains(mail.Envelope().Recipients, "victim@evil.test") {
		t.Errorf("the injected Bcc reached the envelope: %v", mail.Envelope().Recipients)
	}
	if len(p.attachments()) != 2 {
		t.Fatalf("structure %s", p.structure)
	}
	for _, a := range p.attachments() {
		if strings.ContainsAny(a.filename, "\r\n\x00/\\<>") || a.mediaType != "application/pdf" {
			t.Errorf("attachment %q of type %s", a.filename, a.mediaType)
		}
	}
	if bytes.Contains(p.only(t, "text/plain").body, []byte{0}) {
		t.Error("a NUL reached the text part")
	}
}

// TestComposeEscapesHTML checks that keyword values are escaped in the HTML
// part, kept as they are in the plain part.
func TestComposeEscapesHTML(t *testing.T) {
	s, m := newStore(t), newMessage()
	m.Request.Context = map[string]string{"SOCIETE": `<script>alert("x")</script> & <b onmouseover=x>`, "ID_BL": "<img src=x onerror=alert(1)>"}
	_, raw := compose1(t, s, m)
	p := parse(t, raw)
	htm := string(p.only(t, "text/html").body)
	for _, bad := range []string{"<script", "<img src=x", "<b onmouseover"} {
		if strings.Contains(htm, bad) {
			t.Errorf("HTML part has %q:\n%s", bad, htm)
		}
	}
	if !strings.Contains(htm, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b onmouseover=x&gt;") {
		t.Errorf("HTML part lacks the escaped value:\n%s", htm)
	}
	if plain := string(p.only(t, "text/plain").body); !strings.Contains(plain, `<script>alert("x")</script> & <b onmouseover=x>`) {
		t.Errorf("plain part lacks the value as given:\n%s", plain)
	}
}

// TestComposeSignatureSanitised checks what is taken out of an operator's
// signature HTML, and what is kept.
func TestComposeSignatureSanitised(t *testing.T) {
	tests := []struct {
		name      string
		signature string
		keep      []string
		drop      []string
	}{
		{"Script", `<p>Jean</p><script>alert(1)</script><SCRIPT src=x></SCRIPT >after`,
			[]string{"<p>Jean</p>", "after"}, []string{"script", "alert"}},
		{"EventHandlers", `<a href="https://forterro.test" onclick="steal()" ONMOUSEOVER='x'>site</a><img src=logo.png onerror=alert(1)>`,
			// a relative image refers to nothing in a mail: it goes
			[]string{`<a href="https://forterro.test">site</a>`}, []string{"onclick", "steal", "onmouseover", "onerror", "<img"}},
		{"JavascriptURL", `<a href="javascript:alert(1)">a</a><a href=" JaVa&#x09;Script:alert(2)">b</a><a href="&#106;avascript:x">c</a>`,
			[]string{"abc"}, []string{"javascript", "alert", "<a"}},
		{"OtherSchemes", `<a href="vbscript:x">v</a><a href="data:text/html,x">d</a><img src="data:image/png;base64,iVBO"><a href="mailto:j@forterro.test">m</a>`,
			[]string{"vd", `<img src="data:image/png;base64,iVBO">`, `<a href="mailto:j@forterro.test">m</a>`}, []string{"vbscript", "text/html"}},
		{"Elements", `<style>body{}</style><iframe src="https://x"></iframe><form action="https://x"><input name=p>ok</form><svg><script>x</script></svg><object data=x></object>`,
			[]string{"ok"}, []string{"style", "iframe", "form", "input", "svg", "object"}},
		{"StyleAttr", `<span style="color:red">r</span><span style="background:url(javascript:x)">u</span><span style="width: expression(alert(1))">e</span>`,
			[]string{`<span style="color: red">r</span>`, "<span>u</span>", "<span>e</span>"}, []string{"expression", "url("}},
		{"StyleEscapes", `<span style="color: u\72l(https://x.test/a); background-color: #fff">a</span><span style="backgr\6fund: u\72l(https://x.test/b)">b</span>`,
			[]string{`<span style="background-color: #fff">a</span>`, "<span>b</span>"}, []string{"x.test", `\72`}},
		{"Overlay", `<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:99;background-color:white">Pay here</div>`,
			[]string{`<div style="width: 100%; height: 100%; background-color: white">Pay here</div>`}, []string{"position", "fixed", "z-index", "top"}},
		{"Comments", `<!--[if gte mso 9]><script>x</script><![endif]-->fin<!-- unterminated <script>`,
			[]string{"fin"}, []string{"script", "mso", "<!--"}},
		{"StrayBracket", `a < b and <3 <br/>c`,
			[]string{"a &lt; b and &lt;3 <br/>c"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newStore(t), newMessage()
			s.operators["jdupont"].SignatureHTML = tt.signature
			_, raw := compose1(t, s, m)
			htm := string(parse(t, raw).only(t, "text/html").body)
			_, sig, _ := strings.Cut(htm, `<div class="envoi-signature">`)
			// The logo follows the signature.
			sig, _, _ = strings.Cut(sig, "</div>\r\n<div class=\"envoi-logo\">")
			for _, k := range tt.keep {
				if !strings.Contains(sig, k) {
					t.Errorf("signature lacks %q: %s", k, sig)
				}
			}
			for _, d := range tt.drop {
				if strings.Contains(strings.ToLower(sig), d) {
					t.Errorf("signature has %q: %s", d, sig)
				}
			}
		})
	}
}
