package smtp_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"envoi"
	"envoi/internal/testmail"
	"envoi/smtp"
)

// TestSend_NoCredentialsInClearToAnotherMachine: with security none, a
// password or an access token is never sent to a host that is not this
// machine: invalid_flow_data on smtp.security with a remedy, before any
// connection. (The context is already cancelled so that even a sender
// without this check could not reach the non-loopback address: it would
// fail with smtp_unavailable instead.) A relay on loopback with security
// none keeps working, with a password or without.
func TestSend_NoCredentialsInClearToAnotherMachine(t *testing.T) {
	const remote = "192.0.2.25" // TEST-NET-1 (RFC 5737), never dialed
	for _, oauth := range []bool{false, true} {
		name := "Password"
		if oauth {
			name = "Token"
		}
		t.Run(name, func(t *testing.T) {
			ts := &tokens{Token: goodToken}
			s := &smtp.Sender{Tokens: ts}
			t.Cleanup(func() { s.Close() })
			id := envoi.Identity{
				Flow:     &envoi.AuthFlow{Code: "plain", Kind: envoi.KindSMTPBasic, SMTP: envoi.SMTPServer{Host: remote, Port: 25, Security: envoi.SecurityNone}},
				Username: operatorEmail,
				Password: password,
			}
			if oauth {
				id.Flow.Kind, id.Password, id.Key = envoi.KindOAuth2, "", envoi.TokenKey{Flow: "plain", Operator: "jdupont"}
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			msg := testMessage("Clear")
			err := s.Send(ctx, id, envelope(msg), bytes.NewReader(msg))
			e := envoi.AsError(err)
			if e == nil || e.Code != envoi.EInvalidFlowData || e.Temporary || e.Details["field"] != "smtp.security" ||
				!strings.Contains(e.Remedy, "starttls") {
				t.Fatalf("got %v (remedy %q), want permanent %s on smtp.security with a remedy", err, e.Remedy, envoi.EInvalidFlowData)
			}
			if calls, _ := ts.counts(); calls != 0 {
				t.Errorf("the token source was asked %d times", calls)
			}
			steps, err := s.Probe(ctx, id, operatorEmail, "")
			if envoi.ErrorCode(err) != envoi.EInvalidFlowData || stepNames(steps) != "tls!" {
				t.Errorf("probe: got %q, %v; want tls! and %s", stepNames(steps), err, envoi.EInvalidFlowData)
			}
		})
	}
	t.Run("LoopbackRelay", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone})
		for _, host := range []string{"127.0.0.1", "localhost"} {
			id := basicIdentity(srv)
			id.Flow.SMTP.Host = host
			if e := sendErr(t, newSender(t, srv, nil), id, nil); e != nil {
				t.Fatalf("%s: %v", host, e)
			}
		}
		if got := srv.AuthCommands(); got != 2 {
			t.Errorf("AUTH commands: got %d, want 2", got)
		}
	})
	t.Run("LoopbackRelayOAuth", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone})
		if e := sendErr(t, newSender(t, srv, &tokens{Token: goodToken}), oauthIdentity(srv), nil); e != nil {
			t.Fatal(e)
		}
	})
}
