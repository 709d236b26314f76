package smtp_test

import (
	"context"
	"strings"
	"testing"

	"envoi"
	"envoi/internal/testmail"
)

func stepNames(steps []envoi.TestStep) string {
	var b strings.Builder
	for i, s := range steps {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s.Name)
		if !s.OK {
			b.WriteString("!")
		}
	}
	return b.String()
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name       string
		opts       testmail.SMTPOptions
		fault      testmail.SMTPFault
		oauth      bool
		tokens     *tokens
		password   string
		rcpt       string
		wantSteps  string
		wantCode   string
		wantDetail string // in the failed step's detail
	}{
		{name: "OK/Basic", wantSteps: "connect tls auth mail_from rcpt_to rset"},
		{name: "OK/OAuth", oauth: true, wantSteps: "connect tls auth mail_from rcpt_to rset"},
		{name: "OK/ImplicitTLS", opts: testmail.SMTPOptions{Security: testmail.SMTPSecurityTLS}, wantSteps: "connect tls auth mail_from rcpt_to rset"},
		{name: "ConnectRefused", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultConnect}, wantSteps: "connect!",
			wantCode: envoi.ESMTPUnavailable, wantDetail: "Service not available"},
		{name: "NoSTARTTLS", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultNoSTARTTLS}, wantSteps: "connect tls!",
			wantCode: envoi.ESMTPTLS, wantDetail: "STARTTLS"},
		{name: "WrongPassword", password: "wrong", wantSteps: "connect tls auth!",
			wantCode: envoi.ESMTPAuthFailed, wantDetail: "Username and Password not accepted"},
		{name: "AuthDisabled", oauth: true, fault: testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, EnhancedCode: "5.7.139", Text: "SmtpClientAuthentication is disabled for the Tenant"},
			wantSteps: "connect tls auth!", wantCode: envoi.ESMTPAuthDisabled, wantDetail: "SmtpClientAuthentication is disabled"},
		{name: "ConsentRequired", oauth: true, tokens: &tokens{Err: envoi.Errorf(envoi.EConsentRequired, "refresh token expired")},
			wantSteps: "connect tls auth!", wantCode: envoi.EConsentRequired, wantDetail: "refresh token expired"},
		{name: "SenderRefused", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultMail, Code: 550, EnhancedCode: "5.7.60", Text: "Client does not have permissions to send as this sender"},
			wantSteps: "connect tls auth mail_from!", wantCode: envoi.ESMTPPermanent, wantDetail: "permissions to send as this sender"},
		{name: "RecipientRefused", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt}, rcpt: "nobody@customer.test",
			wantSteps: "connect tls auth mail_from rcpt_to!", wantCode: envoi.ESMTPRecipientRefused, wantDetail: "User unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.opts)
			srv.Fail(tt.fault)
			ts := tt.tokens
			if ts == nil {
				ts = &tokens{Token: goodToken, Fresh: goodToken}
			}
			s := newSender(t, srv, ts)
			id := basicIdentity(srv)
			if tt.oauth {
				id = oauthIdentity(srv)
			}
			if tt.password != "" {
				id.Password = tt.password
			}
			steps, err := s.Probe(context.Background(), id, operatorEmail, tt.rcpt)
			if got := stepNames(steps); got != tt.wantSteps {
				t.Errorf("steps: got %q, want %q", got, tt.wantSteps)
			}
			if got := envoi.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("error: got %v, want code %q", err, tt.wantCode)
			}
			if tt.wantDetail != "" {
				if last := steps[len(steps)-1]; !strings.Contains(last.Detail, tt.wantDetail) {
					t.Errorf("detail of %s: got %q, want it to contain %q", last.Name, last.Detail, tt.wantDetail)
				}
			}
			for _, st := range steps {
				if st.Detail == "" {
					t.Errorf("step %s has no detail", st.Name)
				}
				if strings.Contains(st.Detail, password) || strings.Contains(st.Detail, goodToken) {
					t.Errorf("step %s shows a secret: %q", st.Name, st.Detail)
				}
			}
			if got := srv.MessageCount(); got != 0 {
				t.Errorf("the probe sent %d messages", got)
			}
		})
	}
}

func TestProbe_DoesNotPool(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	for range 2 {
		if _, err := s.Probe(context.Background(), basicIdentity(srv), operatorEmail, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections: got %d, want 2 (a probe always tests a fresh connection)", got)
	}
}

func TestProbe_InvalidInput(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	steps, err := s.Probe(context.Background(), basicIdentity(srv), "not an address", "")
	if got := envoi.ErrorCode(err); got != envoi.EInvalidInput || len(steps) != 0 {
		t.Fatalf("got %v with %d steps, want %s and no step", err, len(steps), envoi.EInvalidInput)
	}
}
