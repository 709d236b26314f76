package smtp_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"syscall"
	"testing"

	"envoi"
	"envoi/smtp"
)

func reply(command string, code int, enhanced, text string) error {
	return &smtp.CommandError{Command: command, Code: code, EnhancedCode: enhanced, Text: text}
}

func TestClassify(t *testing.T) {
	consent := envoi.Errorf(envoi.EConsentRequired, "refresh token revoked")
	tests := []struct {
		name     string
		err      error
		wantCode string
		wantTemp bool
	}{
		{"421AtConnect", reply("CONNECT", 421, "4.3.2", "Service not available"), envoi.ESMTPUnavailable, true},
		{"421AnyCommand", reply("MAIL", 421, "4.7.66", "TLS 1.0 and 1.1 are not supported"), envoi.ESMTPUnavailable, true},
		{"451AfterData", reply("DATA", 451, "4.3.0", "Temporary server error"), envoi.ESMTPTemporary, true},
		{"452TooManyRecipients", reply("RCPT", 452, "4.5.3", "Too many recipients"), envoi.ESMTPTemporary, true},
		{"454TemporaryAuth", reply("AUTH", 454, "4.7.0", "Temporary authentication failure"), envoi.ESMTPTemporary, true},
		{"535_5.7.139", reply("AUTH", 535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant"), envoi.ESMTPAuthDisabled, false},
		{"535_5.7.3", reply("AUTH", 535, "5.7.3", "Authentication unsuccessful"), envoi.ESMTPAuthFailed, false},
		{"535_5.7.8", reply("AUTH", 535, "5.7.8", "Username and Password not accepted"), envoi.ESMTPAuthFailed, false},
		{"535WithoutEnhanced", reply("AUTH", 535, "", "authentication failed"), envoi.ESMTPAuthFailed, false},
		{"534AppPassword", reply("AUTH", 534, "5.7.9", "Application-specific password required"), envoi.ESMTPAuthFailed, false},
		{"504UnknownMechanism", reply("AUTH", 504, "5.7.4", "Unrecognized authentication type"), envoi.ESMTPAuthFailed, false},
		{"550_5.7.30", reply("AUTH", 550, "5.7.30", "Basic authentication is not supported for Client Submission"), envoi.ESMTPBasicAuthUnsupported, false},
		{"552AfterData", reply("DATA", 552, "5.3.4", "Message size exceeds fixed maximum message size"), envoi.ESMTPMessageTooBig, false},
		{"552AtMail", reply("MAIL", 552, "", "Message too big"), envoi.ESMTPMessageTooBig, false},
		{"554_5.3.4", reply("DATA", 554, "5.3.4", "Message too big for system"), envoi.ESMTPMessageTooBig, false},
		{"552MailboxFullAtRcpt", reply("RCPT", 552, "5.2.2", "Mailbox full"), envoi.ESMTPPermanent, false},
		{"550AtRcpt", reply("RCPT", 550, "5.1.1", "User unknown"), envoi.ESMTPRecipientRefused, false},
		{"551AtRcpt", reply("RCPT", 551, "5.1.6", "User not local"), envoi.ESMTPRecipientRefused, false},
		{"553AtRcpt", reply("RCPT", 553, "5.1.3", "Bad recipient address syntax"), envoi.ESMTPRecipientRefused, false},
		{"554_5.1.10AtRcpt", reply("RCPT", 554, "5.1.10", "Recipient address not found"), envoi.ESMTPRecipientRefused, false},
		{"550AtMail", reply("MAIL", 550, "5.7.60", "Client does not have permissions to send as this sender"), envoi.ESMTPPermanent, false},
		{"554AtData", reply("DATA", 554, "5.6.0", "Message rejected"), envoi.ESMTPPermanent, false},
		{"UnexpectedSuccessCode", reply("DATA", 250, "", "OK"), envoi.ESMTPPermanent, false},
		{"TextprotoError", &textproto.Error{Code: 535, Msg: "5.7.8 Username and Password not accepted. For more information, go to\n5.7.8  https://support.google.com/mail/?p=BadCredentials"}, envoi.ESMTPAuthFailed, false},
		{"WrappedReply", fmt.Errorf("queue: attempt 2: %w", reply("DATA", 451, "4.7.500", "Server busy")), envoi.ESMTPTemporary, true},
		{"ConnectionRefused", &smtp.CommandError{Command: "CONNECT", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, envoi.ESMTPUnavailable, true},
		{"ConnectionReset", &smtp.CommandError{Command: "DATA", Err: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}}, envoi.ESMTPUnavailable, true},
		{"BrokenPipe", &smtp.CommandError{Command: "DATA", Err: syscall.EPIPE}, envoi.ESMTPUnavailable, true},
		{"EOF", &smtp.CommandError{Command: "RSET", Err: io.EOF}, envoi.ESMTPUnavailable, true},
		{"GarbledReply", &smtp.CommandError{Command: "EHLO", Err: textproto.ProtocolError("short response: \"2\"")}, envoi.ESMTPUnavailable, true},
		{"Timeout", &smtp.CommandError{Command: "DATA", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}, envoi.ESMTPTimeout, true},
		{"ContextDeadline", context.DeadlineExceeded, envoi.ESMTPTimeout, true},
		{"ContextCanceled", context.Canceled, envoi.ESMTPUnavailable, true},
		{"UnknownAuthority", &smtp.CommandError{Command: "STARTTLS", Err: x509.UnknownAuthorityError{}}, envoi.ESMTPTLS, true},
		{"HostnameMismatch", &smtp.CommandError{Command: "TLS", Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "smtp.example.com"}}, envoi.ESMTPTLS, true},
		{"TLSAlert", &smtp.CommandError{Command: "TLS", Err: &net.OpError{Op: "remote error", Err: errors.New("tls: handshake failure")}}, envoi.ESMTPTLS, true},
		{"TLSStepOtherError", &smtp.CommandError{Command: "STARTTLS", Err: errors.New("first record does not look like a TLS handshake")}, envoi.ESMTPTLS, true},
		{"TLSStepDropped", &smtp.CommandError{Command: "STARTTLS", Err: io.EOF}, envoi.ESMTPUnavailable, true},
		{"Unknown", errors.New("something odd"), envoi.ESMTPPermanent, false},
		{"EnvoiErrorPassesThrough", consent, envoi.EConsentRequired, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := smtp.Classify(tt.err)
			if e == nil {
				t.Fatal("got nil")
			}
			if e.Code != tt.wantCode || e.Temporary != tt.wantTemp {
				t.Fatalf("got %s (temporary %v), want %s (temporary %v)", e.Code, e.Temporary, tt.wantCode, tt.wantTemp)
			}
			if e.Remedy == "" || e.Message == "" {
				t.Errorf("got message %q, remedy %q; want both", e.Message, e.Remedy)
			}
			if !errors.Is(e, tt.err) && e != tt.err {
				t.Errorf("the cause is lost: %v", e)
			}
			var ce *smtp.CommandError
			if errors.As(tt.err, &ce) && ce.Code > 0 {
				if got := e.Details["reply_code"]; got != ce.Code {
					t.Errorf("reply_code: got %v, want %d", got, ce.Code)
				}
				if got := e.Details["server_text"]; got != ce.Text {
					t.Errorf("server_text: got %v, want %q", got, ce.Text)
				}
				if ce.EnhancedCode != "" && e.Details["enhanced_code"] != ce.EnhancedCode {
					t.Errorf("enhanced_code: got %v, want %q", e.Details["enhanced_code"], ce.EnhancedCode)
				}
			}
		})
	}
	if smtp.Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
	if e := smtp.Classify(consent); e != consent {
		t.Error("an *envoi.Error is not passed through unchanged")
	}
}

func TestClassify_ParsesMultilineReply(t *testing.T) {
	e := smtp.Classify(&textproto.Error{Code: 535, Msg: "5.7.8 Username and Password not accepted. For more information, go to\n5.7.8  https://support.google.com/mail/?p=BadCredentials"})
	if got, want := e.Details["enhanced_code"], "5.7.8"; got != want {
		t.Errorf("enhanced_code: got %v, want %s", got, want)
	}
	want := "Username and Password not accepted. For more information, go to https://support.google.com/mail/?p=BadCredentials"
	if got := e.Details["server_text"]; got != want {
		t.Errorf("server_text: got %q, want %q", got, want)
	}
}

func TestClassify_ReplyWithoutEnhancedCode(t *testing.T) {
	e := smtp.Classify(&textproto.Error{Code: 550, Msg: "5.7.1.2 is not an enhanced code"})
	if _, ok := e.Details["enhanced_code"]; ok {
		t.Errorf("enhanced_code: got %v, want none", e.Details["enhanced_code"])
	}
	if got := e.Details["server_text"]; got != "5.7.1.2 is not an enhanced code" {
		t.Errorf("server_text: got %q", got)
	}
}

func TestClassify_NilValuesInInterfaces(t *testing.T) {
	var ce *smtp.CommandError
	var ee *envoi.Error
	var te *textproto.Error
	for _, err := range []error{ce, ee, te, &smtp.CommandError{}} {
		if e := smtp.Classify(err); e == nil || e.Code == "" {
			t.Errorf("Classify(%T): got %v, want an error with a code", err, e)
		}
	}
}

// Throttling replies are pacing about the mailbox: temporary, with an
// envoi.Throttle the queue reads; others carry none.
func TestClassifyThrottle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		reason   string // "" when not a throttle
		wantCode string
	}{
		{"Microsoft432", reply("MAIL", 432, "4.3.2", "STOREDRV.ClientSubmit; sender thread limit exceeded"), envoi.WaitRateLimited, envoi.ESMTPTemporary},
		{"Microsoft451_4.7.500", reply("DATA", 451, "4.7.500", "Server busy. Please try again later"), envoi.WaitRateLimited, envoi.ESMTPTemporary},
		{"Gmail421", reply("MAIL", 421, "4.7.0", "Try again later, closing connection"), envoi.WaitRateLimited, envoi.ESMTPUnavailable},
		{"GmailDailyQuota", reply("MAIL", 550, "5.4.5", "Daily user sending limit exceeded"), envoi.WaitQuota, envoi.ESMTPTemporary},
		{"Wrapped", fmt.Errorf("attempt: %w", reply("RCPT", 432, "4.3.2", "sender thread limit exceeded")), envoi.WaitRateLimited, envoi.ESMTPTemporary},
		{"Temporary451", reply("DATA", 451, "4.3.0", "Temporary server error"), "", envoi.ESMTPTemporary},
		{"TLSVersion", reply("MAIL", 421, "4.7.66", "TLS 1.0 and 1.1 are not supported"), "", envoi.ESMTPUnavailable},
		{"AuthTemporary", reply("AUTH", 454, "4.7.0", "Temporary authentication failure"), "", envoi.ESMTPTemporary},
		{"Permanent550", reply("MAIL", 550, "5.7.60", "no permission"), "", envoi.ESMTPPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := smtp.Classify(tc.err)
			if e.Code != tc.wantCode {
				t.Errorf("code %s, want %s", e.Code, tc.wantCode)
			}
			th := envoi.AsThrottle(e)
			if tc.reason == "" {
				if th != nil {
					t.Fatalf("a throttle (%v) for a reply that is not one", th)
				}
				return
			}
			if th == nil {
				t.Fatalf("no throttle in %v", e)
			}
			if th.Reason != tc.reason || !e.Temporary || th.Reply == "" {
				t.Errorf("throttle %+v temporary %v, want reason %s, temporary, the reply", th, e.Temporary, tc.reason)
			}
			if !errors.Is(e, tc.err) && envoi.AsError(tc.err) == nil {
				var ce *smtp.CommandError
				if !errors.As(e, &ce) {
					t.Errorf("the reply is no longer in the error's chain")
				}
			}
		})
	}
}
