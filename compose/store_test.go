package compose_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"maps"
	"slices"
	"testing"
	"time"

	"envoi"
	"envoi/compose"
)

// fakeStore is the part of the store compose reads, on maps. The real
// sqlstore is written in parallel; its conformance suite covers the lookups
// and their not-found codes, which this fake returns the same way.
type fakeStore struct {
	flows     map[string]*envoi.AuthFlow // by code
	settings  map[string]*envoi.MailSetting
	docFlows  map[string]*envoi.DocumentFlow
	operators map[string]*envoi.Operator
	companies map[string]*envoi.Company
	rules     map[string]*envoi.FileNameRule
}

var _ compose.Store = (*fakeStore)(nil)

func (s *fakeStore) FlowForOperator(_ context.Context, operator string) (*envoi.AuthFlow, error) {
	op := s.operators[operator]
	for _, code := range slices.Sorted(maps.Keys(s.flows)) {
		f := s.flows[code]
		if slices.Contains(f.Operators, operator) || (op != nil && op.Group != "" && slices.Contains(f.Groups, op.Group)) {
			c := *f
			return &c, nil
		}
	}
	return nil, envoi.Errorf(envoi.ENoFlowForOperator, "no flow for operator %s", operator)
}

func (s *fakeStore) MailSetting(_ context.Context, documentFlow string) (*envoi.MailSetting, error) {
	if v, ok := s.settings[documentFlow]; ok {
		c := *v
		return &c, nil
	}
	return nil, envoi.Errorf(envoi.EMailSettingNotFound, "no mail setting for %s", documentFlow)
}

// ChooseMailSetting finds variants in settings under "FLOW/COMPANY/LANGUAGE".
func (s *fakeStore) ChooseMailSetting(ctx context.Context, documentFlow, company, language string) (*envoi.MailSetting, error) {
	for _, c := range envoi.MailSettingChoices(company, language) {
		if c == [2]string{} {
			return s.MailSetting(ctx, documentFlow)
		}
		if v, ok := s.settings[documentFlow+"/"+c[0]+"/"+c[1]]; ok {
			c := *v
			return &c, nil
		}
	}
	return s.MailSetting(ctx, documentFlow)
}

func (s *fakeStore) DocumentFlow(_ context.Context, code string) (*envoi.DocumentFlow, error) {
	if v, ok := s.docFlows[code]; ok {
		c := *v
		return &c, nil
	}
	return nil, envoi.Errorf(envoi.ENotFound, "document flow %s not found", code)
}

func (s *fakeStore) Operator(_ context.Context, code string) (*envoi.Operator, error) {
	if v, ok := s.operators[code]; ok {
		c := *v
		return &c, nil
	}
	return nil, envoi.Errorf(envoi.ENotFound, "operator %s not found", code)
}

func (s *fakeStore) Company(_ context.Context, code string) (*envoi.Company, error) {
	if v, ok := s.companies[code]; ok {
		c := *v
		return &c, nil
	}
	return nil, envoi.Errorf(envoi.ENotFound, "company %s not found", code)
}

func (s *fakeStore) FileNameRule(_ context.Context, documentFlow string) (*envoi.FileNameRule, error) {
	if v, ok := s.rules[documentFlow]; ok {
		c := *v
		return &c, nil
	}
	return nil, envoi.Errorf(envoi.ENotFound, "no file-name rule for %s", documentFlow)
}

// renderFunc adapts a function to compose.ReportRenderer.
type renderFunc func(ctx context.Context, d *envoi.DocumentFlow, c *envoi.Company, req *envoi.ReportRequest) ([]byte, error)

func (f renderFunc) Render(ctx context.Context, d *envoi.DocumentFlow, c *envoi.Company, req *envoi.ReportRequest) ([]byte, error) {
	return f(ctx, d, c, req)
}

// testRenderer makes a small PDF-looking document from the request's data
// and refuses data without "lines", as a report template needing them would.
var testRenderer = renderFunc(func(_ context.Context, d *envoi.DocumentFlow, c *envoi.Company, req *envoi.ReportRequest) ([]byte, error) {
	if _, ok := req.Data["lines"]; !ok {
		return nil, envoi.Errorf(envoi.EReportMissingParameters, "missing lines").WithDetail("parameters", []string{"lines"})
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n% " + d.Code + " report")
	if c != nil {
		b.WriteString(" for " + c.Code)
	}
	b.WriteString("\n")
	for i := range 40 {
		b.WriteByte(byte(i * 7))
	}
	b.WriteString("\n%%EOF\n")
	return b.Bytes(), nil
})

// clock is the fixed time of every composed message.
var clock = time.Date(2026, 3, 2, 9, 30, 0, 0, time.FixedZone("CET", 3600))

const messageID = "<0001.golden@envoi.test>"

// newStore returns the configuration most tests start from: operator
// jdupont in Microsoft 365 flow m365 (10 MB limit), operator vente1 in the
// generic-mailbox flow shared, company FORTERRO with footer and logo, the
// BL document flow with its mail setting and file-name rule.
func newStore(tb testing.TB) *fakeStore {
	tb.Helper()
	return &fakeStore{
		flows: map[string]*envoi.AuthFlow{
			"m365": {
				Code: "m365", Name: "Microsoft 365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365,
				SMTP:             envoi.SMTPServer{Host: "smtp.office365.com", Port: 587, Security: envoi.SecuritySTARTTLS},
				MaxAttachmentsMB: 10, Operators: []string{"jdupont"},
			},
			"shared": {
				Code: "shared", Name: "Ventes", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail,
				SMTP:           envoi.SMTPServer{Host: "smtp.gmail.com", Port: 587, Security: envoi.SecuritySTARTTLS},
				GenericMailbox: envoi.GenericMailbox{Enabled: true, Email: "ventes@forterro.test"},
				Groups:         []string{"SALES"},
			},
			"basic": {
				Code: "basic", Name: "Relais", Kind: envoi.KindSMTPBasic,
				SMTP:      envoi.SMTPServer{Host: "mail.forterro.test", Port: 465, Security: envoi.SecurityTLS},
				Operators: []string{"mbasic"},
			},
		},
		settings: map[string]*envoi.MailSetting{
			"BL": {
				DocumentFlow: "BL",
				Subject:      "[SOCIETE] : Envoi du BL : [ID_BL]",
				Body:         "Bonjour,\n\nVeuillez trouver ci-joint le bon de livraison [ID_BL] de [SOCIETE].\n\nCordialement,",
				Priority:     envoi.PriorityNormal,
			},
		},
		docFlows: map[string]*envoi.DocumentFlow{
			"BL": {Code: "BL", Name: "Bon de livraison", Keywords: []string{"SOCIETE", "ID_BL"}, Report: "delivery_note"},
		},
		operators: map[string]*envoi.Operator{
			"jdupont": {Code: "jdupont", Name: "Jerome Dupre", Email: "jerome.dupre@forterro.test",
				FooterText: "Service logistique\nLigne directe 01 02 03 04 05", OAuthEnabled: true},
			"vente1": {Code: "vente1", Name: "Vendeur Un", Email: "vente1@forterro.test", Group: "SALES"},
			"mbasic": {Code: "mbasic", Name: "Marie Basic", Email: "marie@forterro.test", SMTPPassword: "s3cret-password"},
		},
		companies: map[string]*envoi.Company{
			"FORTERRO": {Code: "FORTERRO", Name: "Forterro SAS",
				FooterText: "Forterro SAS - 12 rue de la Paix, 75002 Paris\nwww.forterro.test",
				Logo:       testLogo(tb), LogoType: "image/png"},
		},
		rules: map[string]*envoi.FileNameRule{
			"BL": {DocumentFlow: "BL", Pattern: "BL_[ID_BL]_[SOCIETE]", Archive: true, FileType: "BL"},
		},
	}
}

// newMessage returns an accepted message of the BL flow for jdupont.
func newMessage() *envoi.Message {
	return &envoi.Message{
		ID:        "msg_golden",
		MessageID: messageID,
		Request: envoi.SendRequest{
			DocumentFlow: "BL",
			Operator:     "jdupont",
			Company:      "FORTERRO",
			To:           []string{"Client Achats <achats@client.test>"},
			Context:      map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12345"},
		},
	}
}

func newComposer(s compose.Store) *compose.Composer {
	return &compose.Composer{Store: s, Reports: testRenderer, Now: func() time.Time { return clock }}
}

// testLogo is a real 4x2 PNG.
func testLogo(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 2))
	for x := range 4 {
		img.Set(x, 0, color.NRGBA{R: 200, G: uint8(40 * x), B: 30, A: 255})
		img.Set(x, 1, color.NRGBA{R: 10, G: 90, B: uint8(50 * x), A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
