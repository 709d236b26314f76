package compose_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	netmail "net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/compose"
)

var update = flag.Bool("update", false, "rewrite the golden .eml files under testdata")

// golden compares got with testdata/name.eml, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".eml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./compose -run TestCompose -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (%d bytes, want %d); got:\n%s", path, len(got), len(want), got)
	}
}

func compose1(t *testing.T, s *fakeStore, m *envoi.Message) (*compose.Mail, []byte) {
	t.Helper()
	mail, err := newComposer(s).Compose(context.Background(), m)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	var b bytes.Buffer
	n, err := mail.WriteTo(&b)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(b.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, b.Len())
	}
	if got := mail.Envelope().Size; got != int64(b.Len()) {
		t.Errorf("Envelope().Size = %d, WriteTo wrote %d bytes", got, b.Len())
	}
	return mail, b.Bytes()
}

const (
	altOnly   = "multipart/alternative[text/plain,text/html]"
	withLogo  = "multipart/related[" + altOnly + ",image/png]"
	jdupont   = "jerome.dupre@forterro.test"
	customer  = "achats@client.test"
	signature = `<p>Jérôme <b>Dupré</b><br>Responsable logistique</p>`
)

func TestCompose(t *testing.T) {
	pdf, _ := testRenderer(context.Background(), &envoi.DocumentFlow{Code: "BL"}, &envoi.Company{Code: "FORTERRO"},
		&envoi.ReportRequest{Data: map[string]any{"lines": 1}})
	cgv := []byte("%PDF-1.4\nconditions générales de vente\n%%EOF\n")

	tests := []struct {
		name  string
		setup func(s *fakeStore, m *envoi.Message)

		structure  string
		importance string
		xPriority  string
		receipt    bool
		fromName   string
		from       string
		username   string
		tokenOp    string
		subject    string
		recipients []string
		plain      []string // substrings of the text/plain part
		notPlain   []string
		html       []string // substrings of the text/html part
		notHTML    []string
		files      map[string][]byte // attachments by name
	}{
		{
			name:       "priority_low",
			setup:      func(s *fakeStore, m *envoi.Message) { s.settings["BL"].Priority = envoi.PriorityLow },
			importance: "low", xPriority: "5",
		},
		{
			name:       "priority_normal",
			setup:      func(s *fakeStore, m *envoi.Message) {},
			importance: "normal", xPriority: "3",
		},
		{
			name:       "priority_high",
			setup:      func(s *fakeStore, m *envoi.Message) { s.settings["BL"].Priority = envoi.PriorityHigh },
			importance: "high", xPriority: "1",
		},
		{
			name:    "receipt_on",
			setup:   func(s *fakeStore, m *envoi.Message) { s.settings["BL"].ReadReceipt = true },
			receipt: true,
		},
		{
			name: "copy_on",
			setup: func(s *fakeStore, m *envoi.Message) {
				s.settings["BL"].CopyToSender = true
				m.Request.Bcc = []string{"archives@forterro.test"}
			},
			recipients: []string{customer, "archives@forterro.test", jdupont},
		},
		{
			name:  "signature_company",
			setup: func(s *fakeStore, m *envoi.Message) {},
			plain: []string{"Service logistique", "Forterro SAS - 12 rue de la Paix"},
			html:  []string{`<div class="envoi-company-footer">Forterro SAS - 12 rue de la Paix, 75002 Paris<br>`, `<img src="cid:`},
		},
		{
			// An operator signature comes after the company's footer, and
			// the company's logo still follows it (seed §4.1).
			name:     "signature_operator",
			setup:    func(s *fakeStore, m *envoi.Message) { s.operators["jdupont"].SignatureHTML = signature },
			plain:    []string{"Service logistique", "Forterro SAS - 12 rue de la Paix, 75002 Paris\nwww.forterro.test\n\nJérôme Dupré\nResponsable logistique"},
			html:     []string{signature, `<div class="envoi-company-footer">`, `<img src="cid:`},
			notPlain: []string{"Responsable logistique\n\nForterro"},
		},
		{
			name: "accents",
			setup: func(s *fakeStore, m *envoi.Message) {
				s.operators["jdupont"].Name = "Jérôme Dupré"
				m.Request.To = []string{"Hélène Côté <helene.cote@client.test>"}
				m.Request.Cc = []string{`"Zoë Müller, Achats" <zoe@client.test>`}
				m.Request.Context = map[string]string{"SOCIETE": "Société Générale d'Équipement", "ID_BL": "BL-2026-ÉTÉ-0001"}
			},
			fromName:   "Jérôme Dupré",
			subject:    "Société Générale d'Équipement : Envoi du BL : BL-2026-ÉTÉ-0001",
			recipients: []string{"helene.cote@client.test", "zoe@client.test"},
			plain:      []string{"bon de livraison BL-2026-ÉTÉ-0001 de Société Générale d'Équipement."},
			html:       []string{"bon de livraison BL-2026-ÉTÉ-0001 de Société Générale d&#39;Équipement."},
		},
		{
			name: "two_attachments",
			setup: func(s *fakeStore, m *envoi.Message) {
				m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": []any{"A"}}}
				m.Request.Attachments = []envoi.Attachment{{Filename: "../../CGV générales.pdf", ContentType: "application/pdf", Content: cgv}}
				m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
			},
			structure: "multipart/mixed[" + withLogo + ",application/pdf,application/pdf]",
			files:     map[string][]byte{"BL_12345_FORTERRO.pdf": pdf, "CGV générales.pdf": cgv},
		},
		{
			name: "generic_mailbox",
			setup: func(s *fakeStore, m *envoi.Message) {
				m.Request.Operator = "vente1"
				s.settings["BL"].CopyToSender = true
			},
			fromName: "Forterro SAS", from: "ventes@forterro.test",
			username: "ventes@forterro.test", tokenOp: "-",
			recipients: []string{customer, "ventes@forterro.test"},
		},
		{
			name: "no_company",
			setup: func(s *fakeStore, m *envoi.Message) {
				m.Request.Company = ""
			},
			structure: altOnly,
			notPlain:  []string{"Forterro SAS - 12 rue"},
			notHTML:   []string{"cid:", "envoi-company-footer"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newStore(t), newMessage()
			tt.setup(s, m)
			mail, raw := compose1(t, s, m)
			golden(t, tt.name, raw)
			p := parse(t, raw)

			// Header fields.
			h := p.header
			if _, ok := h["Bcc"]; ok {
				t.Errorf("a Bcc header was written: %q", h["Bcc"])
			}
			if got := h.Get("Message-Id"); got != messageID {
				t.Errorf("Message-ID = %q, want %q", got, messageID)
			}
			if got, err := h.Date(); err != nil || !got.Equal(clock) {
				t.Errorf("Date = %v (%v), want %v", got, err, clock)
			}
			if got := h.Get("Mime-Version"); got != "1.0" {
				t.Errorf("MIME-Version = %q", got)
			}
			wantSubject := tt.subject
			if wantSubject == "" {
				wantSubject = "FORTERRO : Envoi du BL : 12345"
			}
			if got := decodeHeader(t, h.Get("Subject")); got != wantSubject {
				t.Errorf("Subject = %q, want %q", got, wantSubject)
			}
			if mail.Subject != wantSubject {
				t.Errorf("Mail.Subject = %q, want %q", mail.Subject, wantSubject)
			}
			from, err := h.AddressList("From")
			if err != nil || len(from) != 1 {
				t.Fatalf("From %q: %v", h.Get("From"), err)
			}
			wantFrom, wantName := jdupont, "Jerome Dupre"
			if tt.from != "" {
				wantFrom = tt.from
			}
			if tt.fromName != "" {
				wantName = tt.fromName
			}
			if from[0].Address != wantFrom || from[0].Name != wantName {
				t.Errorf("From = %q <%s>, want %q <%s>", from[0].Name, from[0].Address, wantName, wantFrom)
			}
			wantImportance, wantX := "normal", "3"
			if tt.importance != "" {
				wantImportance, wantX = tt.importance, tt.xPriority
			}
			if got := h.Get("Importance"); got != wantImportance {
				t.Errorf("Importance = %q, want %q", got, wantImportance)
			}
			if got := h.Get("X-Priority"); got != wantX {
				t.Errorf("X-Priority = %q, want %q", got, wantX)
			}
			mdn := h.Get("Disposition-Notification-To")
			if tt.receipt {
				a, err := netmail.ParseAddress(decodeHeader(t, mdn))
				if err != nil || a.Address != wantFrom {
					t.Errorf("Disposition-Notification-To = %q (%v), want the sender %s", mdn, err, wantFrom)
				}
			} else if mdn != "" {
				t.Errorf("Disposition-Notification-To = %q, want none", mdn)
			}
			if len(m.Request.To) > 0 {
				to, err := h.AddressList("To")
				if err != nil || len(to) != len(m.Request.To) {
					t.Errorf("To = %q (%v), want %d addresses", h.Get("To"), err, len(m.Request.To))
				}
				if tt.name == "accents" && (err != nil || to[0].Name != "Hélène Côté") {
					t.Errorf("To name = %q, want Hélène Côté", h.Get("To"))
				}
			}
			if tt.name == "accents" {
				cc, err := h.AddressList("Cc")
				if err != nil || len(cc) != 1 || cc[0].Name != "Zoë Müller, Achats" {
					t.Errorf("Cc = %q (%v), want Zoë Müller, Achats", h.Get("Cc"), err)
				}
				for _, f := range []string{"From", "To", "Cc", "Subject"} {
					if v := h.Get(f); strings.ContainsFunc(v, func(r rune) bool { return r > 0x7e }) {
						t.Errorf("%s is not 7-bit: %q", f, v)
					}
				}
			}

			// Envelope and identity.
			env := mail.Envelope()
			wantRcpt := tt.recipients
			if wantRcpt == nil {
				wantRcpt = []string{customer}
			}
			if env.From != wantFrom || !slices.Equal(env.Recipients, wantRcpt) {
				t.Errorf("envelope = %s -> %v, want %s -> %v", env.From, env.Recipients, wantFrom, wantRcpt)
			}
			id := mail.Identity()
			wantUser, wantOp := jdupont, "jdupont"
			if tt.username != "" {
				wantUser, wantOp = tt.username, ""
			}
			if id.Username != wantUser || id.Key.Operator != wantOp || id.Key.Flow != id.Flow.Code || id.Password != "" {
				t.Errorf("identity = %+v, want user %s, operator %q", id.Key, id.Username, wantOp)
			}

			// MIME structure.
			wantStructure := tt.structure
			if wantStructure == "" {
				wantStructure = withLogo
			}
			if p.structure != wantStructure {
				t.Errorf("structure = %s, want %s", p.structure, wantStructure)
			}
			plain := string(p.only(t, "text/plain").body)
			htm := string(p.only(t, "text/html").body)
			for _, l := range p.leaves {
				if strings.HasPrefix(l.mediaType, "text/") && l.params["charset"] != "UTF-8" {
					t.Errorf("%s charset = %q", l.mediaType, l.params["charset"])
				}
			}
			if !strings.HasPrefix(plain, "Bonjour,\r\n\r\nVeuillez trouver ci-joint le bon de livraison") {
				t.Errorf("plain part starts %q", plain[:min(80, len(plain))])
			}
			if !strings.Contains(htm, "Bonjour,<br>\r\n<br>\r\nVeuillez trouver") {
				t.Errorf("HTML part does not keep line breaks as <br>:\n%s", htm)
			}
			for _, s := range tt.plain {
				if !strings.Contains(strings.ReplaceAll(plain, "\r\n", "\n"), s) {
					t.Errorf("plain part lacks %q:\n%s", s, plain)
				}
			}
			for _, s := range tt.notPlain {
				if strings.Contains(plain, s) {
					t.Errorf("plain part has %q:\n%s", s, plain)
				}
			}
			for _, s := range tt.html {
				if !strings.Contains(strings.ReplaceAll(htm, "\r\n", "\n"), s) {
					t.Errorf("HTML part lacks %q:\n%s", s, htm)
				}
			}
			for _, s := range tt.notHTML {
				if strings.Contains(htm, s) {
					t.Errorf("HTML part has %q:\n%s", s, htm)
				}
			}
			if strings.Contains(wantStructure, "image/png") {
				logo := p.only(t, "image/png")
				if !bytes.Equal(logo.body, s.companies["FORTERRO"].Logo) || logo.disposition != "inline" {
					t.Errorf("logo: %d bytes, disposition %q", len(logo.body), logo.disposition)
				}
				cid := strings.Trim(logo.contentID, "<>")
				if cid == "" || !strings.Contains(htm, `src="cid:`+cid+`"`) {
					t.Errorf("the HTML does not show the logo's Content-ID %q", logo.contentID)
				}
			}

			// Attachments.
			att := p.attachments()
			if len(att) != len(tt.files) {
				t.Errorf("%d attachments, want %d", len(att), len(tt.files))
			}
			for _, a := range att {
				want, ok := tt.files[a.filename]
				if !ok || !bytes.Equal(a.body, want) {
					t.Errorf("attachment %q (%d bytes) is not one of the files sent", a.filename, len(a.body))
				}
			}
			if len(mail.Attachments) != len(tt.files) {
				t.Errorf("Mail.Attachments = %+v", mail.Attachments)
			}
		})
	}
}

func TestComposeArchive(t *testing.T) {
	t.Run("Report", func(t *testing.T) {
		s, m := newStore(t), newMessage()
		m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 2}}
		m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
		mail, raw := compose1(t, s, m)
		if !mail.Archive() || mail.Document == nil || mail.Document.Name != "BL_12345_FORTERRO.pdf" {
			t.Fatalf("Archive() = %v, Document = %+v", mail.Archive(), mail.Document)
		}
		p := parse(t, raw)
		if got := p.attachments()[0].body; !bytes.Equal(got, mail.Document.Content) {
			t.Errorf("the archived document is not the attached one")
		}
		if mail.FileNameRule.FileType != "BL" || mail.Entity.ID != "12345" {
			t.Errorf("rule %+v, entity %+v", mail.FileNameRule, mail.Entity)
		}
	})
	t.Run("NoEntity", func(t *testing.T) {
		s, m := newStore(t), newMessage()
		m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 2}}
		if mail, _ := compose1(t, s, m); mail.Archive() {
			t.Error("Archive() = true without an entity to store the document with")
		}
	})
	t.Run("NoRule", func(t *testing.T) {
		s, m := newStore(t), newMessage()
		delete(s.rules, "BL")
		m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 2}}
		m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
		mail, _ := compose1(t, s, m)
		if mail.Archive() || mail.Document == nil || mail.Document.Name != "BL_12345.pdf" {
			t.Errorf("Archive() = %v, Document = %+v, want no archive and BL_12345.pdf", mail.Archive(), mail.Document)
		}
	})
	t.Run("ERPDocument", func(t *testing.T) {
		s, m := newStore(t), newMessage()
		m.Request.Attachments = []envoi.Attachment{
			{Filename: "notes.txt", Content: []byte("notes")},
			{Filename: "BL 12345.PDF", Content: []byte("%PDF-1.4 erp")},
		}
		m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
		mail, _ := compose1(t, s, m)
		if mail.Document == nil || mail.Document.Name != "BL_12345_FORTERRO.pdf" || mail.Document.ContentType != "application/pdf" {
			t.Errorf("Document = %+v, want the ERP's PDF named by the rule", mail.Document)
		}
		if !mail.Archive() {
			t.Errorf("Archive() = false, want true: the rule asks for it and the ERP sent the document")
		}
		if got := mail.Attachments[0].ContentType; got != "text/plain; charset=utf-8" {
			t.Errorf("notes.txt content type = %q", got)
		}
	})
}

func TestComposeBasicSMTPIdentity(t *testing.T) {
	s, m := newStore(t), newMessage()
	m.Request.Operator = "mbasic"
	mail, _ := compose1(t, s, m)
	id := mail.Identity()
	if id.Username != "marie@forterro.test" || id.Password != "s3cret-password" || id.Flow.Kind != envoi.KindSMTPBasic {
		t.Errorf("identity = %s / password set %v / %s", id.Username, id.Password != "", id.Flow.Kind)
	}
}

// TestComposeDeterministic checks that a message composed twice is the same
// bytes, and that one Mail written from several goroutines at once is too.
func TestComposeDeterministic(t *testing.T) {
	s, m := newStore(t), newMessage()
	m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 2}}
	m.Request.Attachments = []envoi.Attachment{{Filename: "a.bin", Content: bytes.Repeat([]byte{0, 1, 2, 250}, 30_000)}}
	mail, first := compose1(t, s, m)
	_, second := compose1(t, s, m)
	if !bytes.Equal(first, second) {
		t.Fatal("composing the same message twice gave different bytes")
	}
	var wg sync.WaitGroup
	outs := make([][]byte, 4)
	for i := range outs {
		wg.Go(func() {
			var b bytes.Buffer
			if _, err := mail.WriteTo(&b); err != nil {
				t.Error(err)
			}
			outs[i] = b.Bytes()
		})
	}
	wg.Wait()
	for i, o := range outs {
		if !bytes.Equal(o, first) {
			t.Errorf("concurrent write %d differs", i)
		}
	}
}

// TestComposePreview composes a message that has no Message-ID yet, as a
// preview does: one is made under MessageIDDomain.
func TestComposePreview(t *testing.T) {
	s, m := newStore(t), newMessage()
	m.MessageID = ""
	c := newComposer(s)
	c.MessageIDDomain = "mail.forterro.test"
	mail, err := c.Compose(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := mail.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	p := parse(t, b.Bytes())
	id := p.header.Get("Message-Id")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@mail.forterro.test>") || id != mail.MessageID {
		t.Errorf("Message-ID = %q (Mail.MessageID %q)", id, mail.MessageID)
	}
	if m.MessageID != "" {
		t.Errorf("Compose modified the message: MessageID = %q", m.MessageID)
	}
}

// TestComposeCarriesEnvoiID checks that envoi's id is in the message
// twice beside its Message-ID, which References repeats: in the private
// header for a stored message, and for a preview the id its Message-ID was
// made of.
func TestComposeCarriesEnvoiID(t *testing.T) {
	s, m := newStore(t), newMessage()
	_, raw := compose1(t, s, m)
	h := parse(t, raw).header
	if got := h.Get(envoi.HeaderMessageID); got != m.ID {
		t.Errorf("%s = %q, want %q", envoi.HeaderMessageID, got, m.ID)
	}
	if got := h.Get("References"); got != h.Get("Message-Id") || got == "" {
		t.Errorf("References = %q, Message-ID %q", got, h.Get("Message-Id"))
	}

	m.ID, m.MessageID = "", ""
	_, raw = compose1(t, s, m)
	h = parse(t, raw).header
	id := h.Get(envoi.HeaderMessageID)
	if !strings.HasPrefix(id, "msg_") || envoi.MessageIDFor(id, "") != h.Get("Message-Id") || h.Get("References") != h.Get("Message-Id") {
		t.Errorf("preview: %s = %q, Message-ID %q, References %q", envoi.HeaderMessageID, id, h.Get("Message-Id"), h.Get("References"))
	}
}

// TestComposeMessageIDVerbatim checks that an id without angle brackets is
// kept as it is, in brackets.
func TestComposeMessageIDVerbatim(t *testing.T) {
	s, m := newStore(t), newMessage()
	m.MessageID = "K7X2ABC@envoi.example"
	_, raw := compose1(t, s, m)
	if got := parse(t, raw).header.Get("Message-Id"); got != "<K7X2ABC@envoi.example>" {
		t.Errorf("Message-ID = %q", got)
	}
}

func TestComposeClock(t *testing.T) {
	s, m := newStore(t), newMessage()
	c := newComposer(s)
	later := clock.Add(36 * time.Hour)
	c.Now = func() time.Time { return later }
	mail, err := c.Compose(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = mail.WriteTo(&b)
	if got, err := parse(t, b.Bytes()).header.Date(); err != nil || !got.Equal(later) {
		t.Errorf("Date = %v (%v), want %v", got, err, later)
	}
}

// TestComposeFileNames checks the names attachments are sent under: the
// ERP's names are paths at worst (their last element is kept, cleaned), the
// report is named by the file-name rule with ".pdf" forced.
func TestComposeFileNames(t *testing.T) {
	tests := []struct {
		name    string
		erp     string // an ERP attachment's name, or
		pattern string // the rule's pattern for the report ("-": no rule)
		entity  string
		id      string
		want    string
	}{
		{name: "PathTraversal", erp: "../../etc/passwd", want: "passwd"},
		{name: "WindowsPath", erp: `C:\Users\jd\..\facture.pdf`, want: "facture.pdf"},
		{name: "LineBreaks", erp: "fac\r\nture.pdf", want: "fac ture.pdf"},
		{name: "BidiOverride", erp: "invoice\u202Efdp.exe", want: "invoicefdp.exe"},
		{name: "HiddenFile", erp: ".htaccess", want: "document.htaccess"},
		{name: "OnlyDirectory", erp: "dir/", want: "document"},
		{name: "Rule", pattern: "BL_[ID_BL]_[SOCIETE]", id: "12345", want: "BL_12345_FORTERRO.pdf"},
		{name: "RuleSeparatorInValue", pattern: "BL [ID_BL]", id: "2026/001", want: "BL 2026_001.pdf"},
		{name: "RuleOtherExtension", pattern: "[ID_BL]", id: "x.exe", want: "x.exe.pdf"},
		{name: "RuleTraversalInValue", pattern: "[ID_BL]", id: "../../x", want: "_._x.pdf"},
		{name: "NoRule", pattern: "-", entity: "12345", want: "BL_12345.pdf"},
		{name: "NoRuleBracketsInEntity", pattern: "-", entity: "A[B]", want: "BL_A[B].pdf"},
		{name: "NoRuleNoEntity", pattern: "-", want: "BL.pdf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newStore(t), newMessage()
			if tt.id != "" {
				m.Request.Context["ID_BL"] = tt.id
			}
			if tt.erp != "" {
				// Without a rule, the ERP's PDF keeps its own name.
				delete(s.rules, "BL")
				m.Request.Attachments = []envoi.Attachment{{Filename: tt.erp, Content: []byte("x")}}
			} else {
				m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 1}}
				if tt.pattern == "-" {
					delete(s.rules, "BL")
				} else {
					s.rules["BL"].Pattern = tt.pattern
				}
				if tt.entity != "" {
					m.Request.Entity = &envoi.Entity{Type: "BL", ID: tt.entity}
				}
			}
			mail, raw := compose1(t, s, m)
			att := parse(t, raw).attachments()
			if len(att) != 1 || att[0].filename != tt.want || mail.Attachments[0].Name != tt.want {
				t.Fatalf("attachments %+v, want one named %q", mail.Attachments, tt.want)
			}
		})
	}
}

// TestComposeDeliveryRecord: acceptance's one record of the delivery holds
// the envelope, the identity, the transport, the archive decision and where
// the document's bytes are in the composed message, so the archive needs
// no parse of the message sent.
func TestComposeDeliveryRecord(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(s *fakeStore, m *envoi.Message)
		want  func(m *envoi.Message) []byte
	}{
		{"Report", func(s *fakeStore, m *envoi.Message) {
			m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 2}}
		}, nil},
		{"ERPDocumentAfterLogoAndText", func(s *fakeStore, m *envoi.Message) {
			m.Request.Attachments = []envoi.Attachment{
				{Filename: "notes.txt", Content: []byte("notes")},
				{Filename: "BL 12345.PDF", Content: bytes.Repeat([]byte("%PDF-1.4 erp\n"), 500)},
			}
		}, func(m *envoi.Message) []byte { return m.Request.Attachments[1].Content }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newStore(t), newMessage()
			tt.setup(s, m)
			m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
			mail, raw := compose1(t, s, m)
			d := mail.Delivery()
			if d.Transport != envoi.TransportSMTP || !d.Archive || d.FileType != "BL" {
				t.Errorf("transport %q, archive %v, file type %q; want smtp, true, BL", d.Transport, d.Archive, d.FileType)
			}
			if env := mail.Envelope(); d.Envelope.From != env.From || !slices.Equal(d.Envelope.Recipients, env.Recipients) || d.Envelope.Size != int64(len(raw)) {
				t.Errorf("envelope %+v, want %+v", d.Envelope, env)
			}
			if id := mail.Identity(); d.Identity.Key != id.Key || d.Identity.Username != id.Username || d.Identity.Operator != "jdupont" {
				t.Errorf("identity %+v, want %+v", d.Identity, id)
			}
			if d.Document == nil || d.Document.Name != mail.Document.Name {
				t.Fatalf("Document = %+v, want %s", d.Document, mail.Document.Name)
			}
			got, err := d.Document.Bytes(raw)
			if err != nil {
				t.Fatal(err)
			}
			want := mail.Document.Content
			if tt.want != nil {
				want = tt.want(m)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the document read from the message (%d bytes) is not the one sent (%d bytes)", len(got), len(want))
			}
			if _, err := d.Document.Bytes(raw[:d.Document.At+d.Document.Encoded-1]); envoi.ErrorCode(err) != envoi.EInternal {
				t.Errorf("a message without the document: %v, want %s", err, envoi.EInternal)
			}
		})
	}
	t.Run("NoRuleNoDocument", func(t *testing.T) {
		s, m := newStore(t), newMessage()
		delete(s.rules, "BL")
		m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
		mail, _ := compose1(t, s, m)
		if d := mail.Delivery(); d.Archive || d.Document != nil {
			t.Errorf("archive %v, document %+v; want neither", d.Archive, d.Document)
		}
	})
}

// TestComposeERPDocument: the ERP's own document (the attachment marked
// document, else its first PDF) is named by the file-name rule, keeps its
// bytes, and is the delivery's document; the other files keep their names.
func TestComposeERPDocument(t *testing.T) {
	pdfA, pdfB := []byte("%PDF-1.4 conditions\n%%EOF\n"), []byte("%PDF-1.7 the delivery note\n%%EOF\n")
	xlsx := []byte("PK\x03\x04 sheet")
	for _, tt := range []struct {
		name  string
		atts  []envoi.Attachment
		doc   int    // index of the document
		want  string // its name
		other string // the other file's name
	}{
		{"FirstPDF", []envoi.Attachment{{Filename: "notes.txt", Content: []byte("n")}, {Filename: "BL 12345.PDF", Content: pdfB}},
			1, "BL_12345_FORTERRO.pdf", "notes.txt"},
		{"MarkedSecondPDF", []envoi.Attachment{{Filename: "CGV.pdf", Content: pdfA}, {Filename: "bl.pdf", Content: pdfB, Document: true}},
			1, "BL_12345_FORTERRO.pdf", "CGV.pdf"},
		{"MarkedSpreadsheet", []envoi.Attachment{{Filename: "CGV.pdf", Content: pdfA}, {Filename: "lignes.xlsx", Content: xlsx, Document: true}},
			1, "BL_12345_FORTERRO.xlsx", "CGV.pdf"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, m := newStore(t), newMessage()
			m.Request.Attachments = tt.atts
			m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
			mail, raw := compose1(t, s, m)
			att := parse(t, raw).attachments()
			if len(att) != 2 || att[tt.doc].filename != tt.want || att[1-tt.doc].filename != tt.other {
				t.Fatalf("attachments %+v, want %s and %s", mail.Attachments, tt.want, tt.other)
			}
			if !bytes.Equal(att[tt.doc].body, tt.atts[tt.doc].Content) {
				t.Errorf("the document's bytes changed")
			}
			d := mail.Delivery()
			if d.Document == nil || d.Document.Name != tt.want || !d.Archive {
				t.Fatalf("delivery document %+v archive %v", d.Document, d.Archive)
			}
			if b, err := d.Document.Bytes(raw); err != nil || !bytes.Equal(b, tt.atts[tt.doc].Content) {
				t.Errorf("the delivery's document is not the ERP's: %v", err)
			}
		})
	}
	t.Run("PatternKeywordMissing", func(t *testing.T) {
		s, m := newStore(t), newMessage()
		s.rules["BL"].Pattern = "BL_[ID_BL]_[CLIENT]"
		m.Request.Attachments = []envoi.Attachment{{Filename: "bl.pdf", Content: pdfB}}
		_, err := newComposer(s).Compose(context.Background(), m)
		if envoi.ErrorCode(err) != envoi.EKeywordMissing {
			t.Errorf("err = %v, want %s for CLIENT", err, envoi.EKeywordMissing)
		}
	})
}

// TestComposeEncodedAttachments: attachments given in base64
// (Attachment.Encoded, as the API keeps them) compose to the very bytes
// and delivery record that the same files given as bytes do, and the
// archive reads the document back from them.
func TestComposeEncodedAttachments(t *testing.T) {
	pdf := make([]byte, 100<<10+7)
	for i := range pdf {
		pdf[i] = byte(i*7 + i>>9)
	}
	copy(pdf, "%PDF-1.7\n")
	files := []envoi.Attachment{
		{Filename: "notes.txt", Content: []byte("notes")},
		{Filename: "empty.bin", Content: []byte{}},
		{Filename: "BL 12345.pdf", ContentType: "application/pdf", Content: pdf},
	}
	compose2 := func(encoded bool) (*compose.Mail, []byte) {
		s, m := newStore(t), newMessage()
		m.Request.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
		for _, f := range files {
			if encoded {
				f.Encoded, f.Content = []byte(base64.StdEncoding.EncodeToString(f.Content)), nil
			}
			m.Request.Attachments = append(m.Request.Attachments, f)
		}
		return compose1(t, s, m)
	}
	mail, raw := compose2(false)
	mailEnc, rawEnc := compose2(true)
	if !bytes.Equal(raw, rawEnc) {
		t.Fatalf("the message composed from base64 (%d bytes) differs from the one composed from bytes (%d bytes)", len(rawEnc), len(raw))
	}
	if !slices.Equal(mail.Attachments, mailEnc.Attachments) {
		t.Errorf("attachments %+v, want %+v", mailEnc.Attachments, mail.Attachments)
	}
	d, dEnc := mail.Delivery(), mailEnc.Delivery()
	if dEnc.Document == nil || *dEnc.Document != *d.Document || dEnc.Envelope.Size != d.Envelope.Size {
		t.Fatalf("delivery document %+v size %d, want %+v size %d", dEnc.Document, dEnc.Envelope.Size, d.Document, d.Envelope.Size)
	}
	got, err := dEnc.Document.Bytes(rawEnc)
	if err != nil || !bytes.Equal(got, pdf) {
		t.Errorf("the document read back: %d bytes (%v), want the %d bytes of the PDF", len(got), err, len(pdf))
	}
}
