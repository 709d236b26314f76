package envoi_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"strconv"
	"strings"
	"testing"

	"envoi"
)

// TestCatalogue checks that every code declared in error.go has a message
// and a remedy in English, French and Spanish.
func TestCatalogue(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, c := range envoi.Codes() {
		known[c] = true
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING || !strings.HasPrefix(vs.Names[0].Name, "E") {
			return true
		}
		code, _ := strconv.Unquote(lit.Value)
		n++
		if !known[code] {
			t.Errorf("code %s (%s) has no entry in the catalogue", code, vs.Names[0].Name)
		}
		for _, lang := range envoi.Languages {
			d := envoi.Describe(code, lang)
			if d.Message == "" || d.Remedy == "" {
				t.Errorf("code %s lacks a message or remedy in %s", code, lang)
			}
			if lang != "en" && d == envoi.Describe(code, "en") {
				t.Errorf("code %s: %s text is the English one", code, lang)
			}
		}
		return true
	})
	if n < 7 {
		t.Fatalf("found %d codes in error.go; the parse went wrong", n)
	}
	for _, seed := range []string{envoi.EMailSettingNotFound, envoi.ENoFlowForOperator, envoi.EAttachmentsTooBig, envoi.EOperatorNotInFlow, envoi.EInvalidFlowData, envoi.EReportMissingParameters, envoi.EConsentRequired} {
		if !known[seed] {
			t.Errorf("the seed's code %s is missing", seed)
		}
	}
	if got := envoi.Describe(envoi.ENoFlowForOperator, "fr").Message; got != "Aucun flux trouvé pour l'utilisateur connecté" {
		t.Errorf("French wording of no_flow_for_operator = %q, want the seed's", got)
	}
}

func TestErrorHelpers(t *testing.T) {
	base := envoi.FieldError(envoi.EInvalidFlowData, "tenant", "required")
	wrapped := fmt.Errorf("sqlstore: put flow: %w", base)
	if got := envoi.ErrorCode(wrapped); got != envoi.EInvalidFlowData {
		t.Errorf("ErrorCode = %q, want %q", got, envoi.EInvalidFlowData)
	}
	if got := envoi.ErrorCode(errors.New("boom")); got != envoi.EInternal {
		t.Errorf("ErrorCode(plain) = %q, want internal", got)
	}
	if envoi.ErrorCode(nil) != "" || envoi.AsError(nil) != nil {
		t.Error("nil error has a code")
	}
	l := base.Localize("es")
	if l.Message != "Datos no válidos" || l.Details["field"] != "tenant" || l.Details["reason"] == nil {
		t.Errorf("Localize(es) = %+v", l)
	}
	if base.Details["reason"] != nil {
		t.Error("Localize changed the original's details")
	}
}

func TestSubstitute(t *testing.T) {
	values := map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "12345", "EVIL": "<b>x</b>\r\nBcc: a@b.c"}
	cases := []struct {
		name, text string
		escape     func(string) string
		want, code string
	}{
		{"OK", "[SOCIETE] : Envoi du BL : [ID_BL]", nil, "FORTERRO : Envoi du BL : 12345", ""},
		{"Repeated", "[ID_BL]/[ID_BL]", nil, "12345/12345", ""},
		{"NotAKeyword", "[lower] [ ] [] [1X]", nil, "[lower] [ ] [] [1X]", ""},
		{"HTML", "<p>[EVIL]</p>", html.EscapeString, "<p>&lt;b&gt;x&lt;/b&gt;\r\nBcc: a@b.c</p>", ""},
		{"Header", "S: [EVIL]", envoi.CleanHeader, "S: <b>x</b>  Bcc: a@b.c", ""},
		{"ErrMissing", "[ID_BL] [CLIENT] [DATE] [CLIENT]", nil, "", envoi.EKeywordMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := envoi.Substitute(c.text, values, c.escape)
			if envoi.ErrorCode(err) != c.code {
				t.Fatalf("err = %v, want code %q", err, c.code)
			}
			if got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			if c.code == envoi.EKeywordMissing {
				if kw := envoi.AsError(err).Details["keywords"].([]string); strings.Join(kw, ",") != "CLIENT,DATE" {
					t.Errorf("missing keywords = %v, want CLIENT,DATE", kw)
				}
			}
		})
	}
}

func TestMailSettingKeywords(t *testing.T) {
	bl := &envoi.DocumentFlow{Code: "BL", Keywords: []string{"SOCIETE", "ID_BL"}}
	ok := &envoi.MailSetting{DocumentFlow: "BL", Subject: "[SOCIETE] : Envoi du BL : [ID_BL]"}
	if err := ok.Validate(bl); err != nil || ok.Priority != envoi.PriorityNormal {
		t.Errorf("valid setting: %v, priority %q", err, ok.Priority)
	}
	bad := &envoi.MailSetting{DocumentFlow: "BL", Subject: "ok", Body: "Facture [ID_FACTURE]"}
	err := bad.Validate(bl)
	if e := envoi.AsError(err); e == nil || e.Code != envoi.EUnknownKeyword || e.Details["keyword"] != "ID_FACTURE" || e.Details["field"] != "body" {
		t.Errorf("unknown keyword: %v", err)
	}
	prio := &envoi.MailSetting{Priority: "urgent"}
	if envoi.ErrorCode(prio.Validate(bl)) != envoi.EInvalidInput {
		t.Error("priority urgent accepted")
	}
}

func TestAuthFlowValidate(t *testing.T) {
	m365 := func() *envoi.AuthFlow {
		return &envoi.AuthFlow{Code: "O365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, ClientID: "id", Tenant: "contoso"}
	}
	cases := []struct {
		name   string
		mutate func(*envoi.AuthFlow)
		field  string
	}{
		{"OK", func(*envoi.AuthFlow) {}, ""},
		{"ErrCode", func(f *envoi.AuthFlow) { f.Code = "a b" }, "code"},
		{"ErrKind", func(f *envoi.AuthFlow) { f.Kind = "ntlm" }, "kind"},
		{"ErrTenant", func(f *envoi.AuthFlow) { f.Tenant = "" }, "tenant"},
		{"ErrClientID", func(f *envoi.AuthFlow) { f.ClientID = " " }, "client_id"},
		{"ErrNoOfflineAccess", func(f *envoi.AuthFlow) { f.Scope = "https://outlook.office.com/SMTP.Send" }, "scope"},
		{"ErrMixedScopes", func(f *envoi.AuthFlow) {
			f.Scope = "offline_access https://outlook.office.com/SMTP.Send https://graph.microsoft.com/Mail.Send"
		}, "scope"},
		{"ErrPort", func(f *envoi.AuthFlow) { f.SMTP.Port = 70000 }, "smtp.port"},
		{"ErrSecurity", func(f *envoi.AuthFlow) { f.SMTP.Security = "ssl" }, "smtp.security"},
		{"ErrGenericMailbox", func(f *envoi.AuthFlow) { f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "nope"} }, "generic_mailbox.email"},
		{"ErrAppOnlyWithoutMailbox", func(f *envoi.AuthFlow) { f.Grant = envoi.GrantClientCredentials }, "generic_mailbox"},
		{"ErrAttachmentLimit", func(f *envoi.AuthFlow) { f.MaxAttachmentsMB = -1 }, "max_attachments_mb"},
		{"ErrOperatorCode", func(f *envoi.AuthFlow) { f.Operators = []string{"../x"} }, "operators"},
		{"ErrTokenAuthMethod", func(f *envoi.AuthFlow) { f.TokenAuthMethod = "private_key_jwt" }, "token_auth_method"},
		{"ErrBasicWithoutSecret", func(f *envoi.AuthFlow) { f.TokenAuthMethod = envoi.TokenAuthBasic }, "client_secret"},
		{"BasicWithSecret", func(f *envoi.AuthFlow) { f.TokenAuthMethod, f.ClientSecretSet = envoi.TokenAuthBasic, true }, ""},
		{"NoneWithSecretStored", func(f *envoi.AuthFlow) { f.TokenAuthMethod, f.ClientSecret = envoi.TokenAuthNone, "kept, not sent" }, ""},
		{"IMAPOn", func(f *envoi.AuthFlow) { f.IMAP.Enabled = true }, ""},
		{"ErrIMAPNoHost", func(f *envoi.AuthFlow) { f.IMAP = envoi.IMAPServer{Enabled: true, Port: 993, Security: "tls"} }, "imap.host"},
		{"ErrIMAPPort", func(f *envoi.AuthFlow) { f.IMAP.Port = 0; f.IMAP.Enabled = true }, "imap.port"},
		{"ErrIMAPSecurity", func(f *envoi.AuthFlow) { f.IMAP.Security = "ssl" }, "imap.security"},
		{"ErrNoneForClientCredentials", func(f *envoi.AuthFlow) {
			f.TokenAuthMethod, f.Grant = envoi.TokenAuthNone, envoi.GrantClientCredentials
			f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "sales@example.com"}
		}, "token_auth_method"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := m365()
			if err := f.ApplyPreset(); err != nil {
				t.Fatal(err)
			}
			c.mutate(f)
			err := f.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid flow refused: %v", err)
				}
				r := f.Resolved()
				if r.TokenURL != "https://login.microsoftonline.com/contoso/oauth2/v2.0/token" || f.SMTP.Host != "smtp.office365.com" || f.SMTP.Port != 587 || f.RatePerMinute != 30 ||
					f.IMAP != (envoi.IMAPServer{Enabled: f.IMAP.Enabled, Host: "outlook.office365.com", Port: 993, Security: "tls"}) {
					t.Errorf("preset not applied: %+v", r)
				}
				return
			}
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EInvalidFlowData || e.Details["field"] != c.field {
				t.Errorf("err = %v, want invalid_flow_data on %s", err, c.field)
			}
		})
	}
	t.Run("ErrUnknownPreset", func(t *testing.T) {
		f := &envoi.AuthFlow{Code: "X", Kind: envoi.KindOAuth2, Preset: "yahoo"}
		if e := envoi.AsError(f.ApplyPreset()); e == nil || e.Details["field"] != "preset" {
			t.Errorf("unknown preset: %v", e)
		}
	})
	t.Run("GmailPreset", func(t *testing.T) {
		f := &envoi.AuthFlow{Code: "G", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, ClientID: "id"}
		if err := f.ApplyPreset(); err != nil {
			t.Fatal(err)
		}
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		if f.Scope != "https://mail.google.com/" || f.SMTP.Host != "smtp.gmail.com" || f.IMAP.Host != "imap.gmail.com" || f.IMAP.Port != 993 || f.AuthURL != "https://accounts.google.com/o/oauth2/v2/auth" {
			t.Errorf("gmail preset: %+v", f)
		}
	})
	t.Run("PresetTokenAuthMethods", func(t *testing.T) {
		for preset, want := range map[string]string{envoi.PresetMicrosoft365: envoi.TokenAuthPost, envoi.PresetGmail: envoi.TokenAuthPost, envoi.PresetGeneric: envoi.TokenAuthAuto} {
			f := &envoi.AuthFlow{Code: "F", Kind: envoi.KindOAuth2, Preset: preset}
			if err := f.ApplyPreset(); err != nil || f.TokenAuthMethod != want {
				t.Errorf("%s: got %q (%v), want %q", preset, f.TokenAuthMethod, err, want)
			}
			f = &envoi.AuthFlow{Code: "F", Kind: envoi.KindOAuth2, Preset: preset, TokenAuthMethod: envoi.TokenAuthBasic}
			if _ = f.ApplyPreset(); f.TokenAuthMethod != envoi.TokenAuthBasic {
				t.Errorf("%s: the preset replaced the chosen method: %q", preset, f.TokenAuthMethod)
			}
		}
	})
}

func TestParseAddress(t *testing.T) {
	for in, ok := range map[string]bool{
		"a@b.c": true, "Jeanne Dupont <jd@forterro.fr>": true, "=?utf-8?q?Ren=C3=A9?= <r@x.fr>": true,
		`"a,b"@example.org`: false, `"a b"@example.org`: false, `"ab"@example.org`: true /* the quotes change nothing: sent as ab@ */, `a..b@example.org`: false,
		"o'brien+tag@example.org": true, "x.y_z-1@example.org": true,
		"": false, "nope": false, "a@": false, "@b.c": false, "a@b.c\r\nBcc: x@y.z": false, "a\x00@b.c": false,
	} {
		_, err := envoi.ParseAddress(in)
		if (err == nil) != ok {
			t.Errorf("ParseAddress(%q) = %v, want ok %v", in, err, ok)
		}
	}
}
