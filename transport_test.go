package envoi_test

import (
	"bytes"
	"testing"

	"envoi"
)

// TestFlowTransport: the preset fills the scope and endpoint of the
// transport, swaps a scope it filled for another transport, keeps a scope
// typed by the administrator; Validate refuses what cannot work.
func TestFlowTransport(t *testing.T) {
	m365 := func(transport, grant, scope string) *envoi.AuthFlow {
		f := &envoi.AuthFlow{Code: "O365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Tenant: "contoso",
			ClientID: "c", ClientSecret: "s", Transport: transport, Grant: grant, Scope: scope}
		if grant == envoi.GrantClientCredentials {
			f.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: "sales@example.com"}
		}
		return f
	}
	smtpScope := envoi.Presets()[envoi.PresetMicrosoft365].Scope
	for _, tc := range []struct {
		name                string
		flow                *envoi.AuthFlow
		scope, apiURL, code string
	}{
		{"GraphDelegated", m365("graph", "", ""), envoi.ScopeGraphSend, envoi.GraphURL, ""},
		{"GraphAppOnly", m365("graph", envoi.GrantClientCredentials, ""), envoi.ScopeGraphAppOnly, envoi.GraphURL, ""},
		{"GraphFromSMTPScope", m365("graph", "", smtpScope), envoi.ScopeGraphSend, envoi.GraphURL, ""},
		{"BackToSMTP", m365("smtp", "", envoi.ScopeGraphSend), smtpScope, "", ""},
		{"GraphTypedOutlookScope", m365("graph", "", "offline_access https://outlook.office.com/SMTP.Send"), "", "", "scope"},
		{"DefaultSMTP", m365("", "", ""), smtpScope, "", ""},
		{"GmailAPI", &envoi.AuthFlow{Code: "G", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, ClientID: "c", Transport: "gmail_api"},
			envoi.ScopeGmailSend, envoi.GmailAPIURL, ""},
		{"GraphOnGmail", &envoi.AuthFlow{Code: "G", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, ClientID: "c", Transport: "graph"}, "", "", "transport"},
		{"GmailAPIOnM365", m365("gmail_api", "", ""), "", "", "transport"},
		{"Unknown", m365("ews", "", ""), "", "", "transport"},
		{"BasicOnGraph", &envoi.AuthFlow{Code: "B", Kind: envoi.KindSMTPBasic, Transport: "graph"}, "", "", "transport"},
		{"BadAPIURL", func() *envoi.AuthFlow { f := m365("graph", "", ""); f.APIURL = "ftp://x"; return f }(), "", "", "api_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flow
			if err := f.ApplyPreset(); err != nil {
				t.Fatal(err)
			}
			err := f.Validate()
			if tc.code != "" {
				e := envoi.AsError(err)
				if err == nil || e.Code != envoi.EInvalidFlowData || e.Details["field"] != tc.code {
					t.Fatalf("Validate = %v, want invalid_flow_data on %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Scope != tc.scope || f.APIURL != tc.apiURL {
				t.Errorf("scope %q api_url %q, want %q %q", f.Scope, f.APIURL, tc.scope, tc.apiURL)
			}
			if f.Transport == "" {
				t.Errorf("transport left empty, want smtp")
			}
		})
	}
	t.Run("GraphNeedsNoSMTPServer", func(t *testing.T) {
		f := &envoi.AuthFlow{Code: "G", Kind: envoi.KindOAuth2, Preset: envoi.PresetGeneric, ClientID: "c", Transport: "graph",
			Scope: envoi.ScopeGraphSend, AuthURL: "https://login.example/a", TokenURL: "https://login.example/t", APIURL: "https://graph.example/v1.0"}
		if err := f.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := f.AppOnlyScope(); got != "" {
			t.Errorf("generic AppOnlyScope = %q", got)
		}
	})
	t.Run("AppOnlyScope", func(t *testing.T) {
		if got := m365("graph", "", "").AppOnlyScope(); got != envoi.ScopeGraphAppOnly {
			t.Errorf("graph: %q", got)
		}
		if got := m365("smtp", "", "").AppOnlyScope(); got != "https://outlook.office365.com/.default" {
			t.Errorf("smtp: %q", got)
		}
	})
}

// TestAPIMessage: a mail API takes recipients from the header fields, so
// the envelope's blind ones come as a Bcc field before the composed bytes,
// which are otherwise unchanged.
func TestAPIMessage(t *testing.T) {
	msg := []byte("From: a@example.com\r\nTo: \"Jo\" <jo@example.org>, ann@example.org\r\nCc: cc@example.org\r\nSubject: x\r\n\r\nbody to: bcc@example.org\r\n")
	d := &envoi.Delivery{Content: msg, Envelope: envoi.Envelope{Recipients: []string{"jo@example.org", "ann@example.org", "CC@example.org"}}}
	if got := envoi.APIMessage(d); !bytes.Equal(got, msg) {
		t.Errorf("no blind recipient: got %q", got)
	}
	d.Envelope.Recipients = append(d.Envelope.Recipients, "bcc@example.org", "nn@example.org")
	want := append([]byte("Bcc: bcc@example.org,\r\n nn@example.org\r\n"), msg...)
	if got := envoi.APIMessage(d); !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got[:60], want[:60])
	}
}

// TestRepointTransport: access tokens are dropped when they would go
// elsewhere: another transport, another API URL; not when the SMTP server
// of a flow on a mail API changes.
func TestRepointTransport(t *testing.T) {
	base := func() *envoi.AuthFlow {
		return &envoi.AuthFlow{Code: "O", Kind: envoi.KindOAuth2, TokenURL: "https://login.example/t", ClientID: "c",
			SMTP: envoi.SMTPServer{Host: "smtp.example", Port: 587, Security: "starttls"}}
	}
	graph := func(url string) *envoi.AuthFlow { f := base(); f.Transport, f.APIURL = "graph", url; return f }
	for _, tc := range []struct {
		name     string
		old, new *envoi.AuthFlow
		tokens   bool
	}{
		{"SMTPToGraph", base(), graph(""), true},
		{"GraphDefaultURL", graph(""), graph(envoi.GraphURL), false},
		{"GraphOtherURL", graph(""), graph("https://graph.microsoft.us/v1.0"), true},
		{"GraphSMTPHost", graph(""), func() *envoi.AuthFlow { f := graph(""); f.SMTP.Host = "other.example"; return f }(), false},
		{"SMTPHost", base(), func() *envoi.AuthFlow { f := base(); f.SMTP.Host = "other.example"; return f }(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := envoi.Repoint(tc.old, tc.new).Tokens; got != tc.tokens {
				t.Errorf("Tokens = %v, want %v", got, tc.tokens)
			}
		})
	}
}
