package envoi_test

import (
	"testing"

	"envoi"
)

func TestInternalAddress(t *testing.T) {
	for _, tt := range []struct {
		host string
		kind string
	}{
		{"127.0.0.1", "loopback"}, {"127.8.9.10", "loopback"}, {"::1", "loopback"}, {"[::1]", "loopback"},
		{"localhost", "loopback"}, {"LocalHost.", "loopback"}, {"relay.localhost", "loopback"},
		{"10.1.2.3", "private"}, {"172.16.0.1", "private"}, {"192.168.1.1", "private"}, {"fd00::1", "private"},
		{"169.254.169.254", "link-local"}, {"fe80::1%eth0", "link-local"},
		{"0.0.0.0", "unspecified"}, {"100.64.0.1", "shared"}, {"::ffff:10.0.0.1", "private"},
		{"192.0.2.10", ""}, {"8.8.8.8", ""}, {"smtp.office365.com", ""}, {"localhost.example.org", ""}, {"", ""},
	} {
		kind, ok := envoi.InternalAddress(tt.host)
		if kind != tt.kind || ok != (tt.kind != "") {
			t.Errorf("InternalAddress(%q) = %q, %v; want %q", tt.host, kind, ok, tt.kind)
		}
	}
}

func TestRepoint(t *testing.T) {
	base := func() *envoi.AuthFlow {
		return &envoi.AuthFlow{Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Tenant: "contoso", ClientID: "app",
			TokenURL: "https://login.microsoftonline.com/[tenant]/oauth2/v2.0/token", AuthURL: "https://login.microsoftonline.com/[tenant]/oauth2/v2.0/authorize",
			SMTP: envoi.SMTPServer{Host: "smtp.office365.com", Port: 587, Security: envoi.SecuritySTARTTLS}}
	}
	all := envoi.Repointing{ClientSecret: true, ServiceAccountKey: true, Tokens: true}
	for _, tt := range []struct {
		name   string
		change func(f *envoi.AuthFlow)
		want   envoi.Repointing
	}{
		{"Nothing", func(f *envoi.AuthFlow) { f.Name = "x"; f.Scope = "y" }, envoi.Repointing{}},
		{"AuthURL", func(f *envoi.AuthFlow) { f.AuthURL = "https://evil.example/authorize" }, envoi.Repointing{}},
		{"DeviceURL", func(f *envoi.AuthFlow) { f.DeviceURL = "https://evil.example/device" }, envoi.Repointing{}},
		{"TokenURL", func(f *envoi.AuthFlow) { f.TokenURL = "https://evil.example/token" }, all},
		{"Tenant", func(f *envoi.AuthFlow) { f.Tenant = "other" }, all},
		{"ClientID", func(f *envoi.AuthFlow) { f.ClientID = "other" }, envoi.Repointing{ClientSecret: true, Tokens: true}},
		{"ClientIDWithSecret", func(f *envoi.AuthFlow) { f.ClientID, f.ClientSecret = "other", "new" }, envoi.Repointing{Tokens: true}},
		{"TokenURLWithKey", func(f *envoi.AuthFlow) { f.TokenURL, f.ServiceAccountKey = "https://evil.example/token", "{}" }, envoi.Repointing{ClientSecret: true, Tokens: true}},
		{"SMTPHostCase", func(f *envoi.AuthFlow) { f.SMTP.Host = "SMTP.Office365.com" }, envoi.Repointing{}},
		{"SMTPHost", func(f *envoi.AuthFlow) { f.SMTP.Host = "smtp.evil.example" }, envoi.Repointing{Tokens: true, SMTP: true}},
		{"SMTPPort", func(f *envoi.AuthFlow) { f.SMTP.Port = 25 }, envoi.Repointing{Tokens: true, SMTP: true}},
		{"SMTPSecurity", func(f *envoi.AuthFlow) { f.SMTP.Security = envoi.SecurityNone }, envoi.Repointing{Tokens: true, SMTP: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			tt.change(f)
			if got := envoi.Repoint(base(), f); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := envoi.Repoint(nil, base()); got.Any() {
		t.Errorf("a new flow drops %+v", got)
	}
}

func TestFlowWarnings(t *testing.T) {
	codes := func(f *envoi.AuthFlow) (out []string) {
		for _, w := range f.Warnings() {
			out = append(out, w.Code+":"+w.Field)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		flow envoi.AuthFlow
		want []string
	}{
		{"Public", envoi.AuthFlow{Kind: envoi.KindSMTPBasic, SMTP: envoi.SMTPServer{Host: "smtp.example.org", Port: 587, Security: envoi.SecuritySTARTTLS}}, nil},
		{"LocalRelayNone", envoi.AuthFlow{Kind: envoi.KindSMTPBasic, SMTP: envoi.SMTPServer{Host: "localhost", Port: 25, Security: envoi.SecurityNone}},
			[]string{"internal_address:smtp.host"}},
		{"PublicNone", envoi.AuthFlow{Kind: envoi.KindSMTPBasic, SMTP: envoi.SMTPServer{Host: "smtp.example.org", Port: 25, Security: envoi.SecurityNone}},
			[]string{"cleartext_credentials:smtp.security"}},
		{"PrivateNone", envoi.AuthFlow{Kind: envoi.KindSMTPBasic, SMTP: envoi.SMTPServer{Host: "10.0.0.5", Port: 25, Security: envoi.SecurityNone}},
			[]string{"internal_address:smtp.host", "cleartext_credentials:smtp.security"}},
		{"OAuthURLs", envoi.AuthFlow{Kind: envoi.KindOAuth2, Tenant: "t", TokenURL: "http://169.254.169.254/[tenant]/token",
			DeviceURL: "http://[::1]:8080/device", UserinfoURL: "https://192.168.0.2/userinfo", AuthURL: "http://127.0.0.1/authorize",
			SMTP: envoi.SMTPServer{Host: "smtp.example.org", Port: 587, Security: envoi.SecuritySTARTTLS}},
			[]string{"internal_address:token_url", "internal_address:device_url", "internal_address:userinfo_url"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := codes(&tt.flow)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
