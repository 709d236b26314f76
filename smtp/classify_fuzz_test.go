package smtp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"syscall"
	"testing"

	"envoi"
	"envoi/smtp"
)

// FuzzClassify checks the SMTP error classifier for any reply and any shape
// of error a send can end with: it never panics, always answers an
// *envoi.Error with a code of the catalogue, a message and a remedy; a 4xx
// reply is Temporary and a 5xx one is not, with the reply code and the
// server's text (on one line) in the details; envoi's own errors pass
// through unchanged. The seed corpus is under testdata/fuzz/FuzzClassify;
// run with go test -run '^$' -fuzz FuzzClassify ./smtp/
func FuzzClassify(f *testing.F) {
	for _, s := range []struct {
		shape   uint8
		command string
		code    int
		enh     string
		text    string
	}{
		{0, "", 421, "", "4.3.2 Service not available, closing transmission channel"},
		{1, "AUTH", 535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."},
		{1, "RCPT", 550, "5.1.1", "User unknown"},
		{2, "DATA", 451, "", "4.3.0 Temporary server error.\nPlease try again later"},
		{1, "MAIL", 552, "5.3.4", "Message size exceeds fixed maximum message size"},
		{0, "", 550, "", "5.7.30 Basic authentication is not supported for Client Submission."},
		{3, "STARTTLS", 0, "", "tls: handshake failure"},
		{4, "dial", 0, "", "connection refused"},
		{5, "", 0, "", ""},
		{6, "DATA", 0, "", ""},
		{7, "", 0, "", ""},
		{0, "", 999, "", "9.9.9 \x00\r\nX: y"},
		{1, "EHLO", -1, "4.", "\xff\xfe"},
	} {
		f.Add(s.shape, s.command, s.code, s.enh, s.text)
	}
	f.Fuzz(func(t *testing.T, shape uint8, command string, code int, enh, text string) {
		var err error
		reply := false
		switch shape % 10 {
		case 0:
			err, reply = &textproto.Error{Code: code, Msg: text}, true
		case 1:
			err, reply = &smtp.CommandError{Command: command, Code: code, EnhancedCode: enh, Text: text}, true
		case 2:
			err, reply = fmt.Errorf("send: %w", &smtp.CommandError{Command: command, Err: &textproto.Error{Code: code, Msg: text}}), true
		case 3:
			err = &smtp.CommandError{Command: command, Err: errors.New(text)}
		case 4:
			err = &smtp.CommandError{Command: command, Err: &net.OpError{Op: command, Net: "tcp", Err: errors.New(text)}}
		case 5:
			err = envoi.Errorf(envoi.EConsentRequired, "%s", text)
		case 6:
			err = &smtp.CommandError{Command: command, Err: fmt.Errorf("%s: %w", text, context.DeadlineExceeded)}
		case 7:
			err = fmt.Errorf("%s: %w", text, []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET, syscall.EPIPE, context.Canceled}[code&0x7fffffff%5])
		case 8:
			err = errors.New(text)
		case 9:
			err = errors.Join(&textproto.Error{Code: code, Msg: text}, errors.New(command))
		}

		e := smtp.Classify(err)
		if e == nil {
			t.Fatalf("Classify(%v) = nil", err)
		}
		if shape%10 == 5 {
			if e != err {
				t.Errorf("Classify changed envoi's own error %v into %v", err, e)
			}
			return
		}
		if !slices.Contains(envoi.Codes(), e.Code) {
			t.Errorf("Classify(%v): code %q is not in the catalogue", err, e.Code)
		}
		if e.Message == "" || e.Remedy == "" {
			t.Errorf("Classify(%v) = %#v: no message or remedy", err, e)
		}
		_ = e.Error()
		_ = e.Localize("fr")
		if !errors.Is(e, err) && e.Err != err {
			t.Errorf("Classify(%v) lost the cause", err)
		}
		if !reply || code < 400 || code > 599 {
			return
		}
		if e.Temporary != (code < 500) {
			t.Errorf("Classify(reply %d %q): Temporary = %v, want %v (%s)", code, text, e.Temporary, code < 500, e.Code)
		}
		if got, ok := e.Details["reply_code"].(int); !ok || got != code {
			t.Errorf("Classify(reply %d): reply_code = %v", code, e.Details["reply_code"])
		}
		st, ok := e.Details["server_text"].(string)
		if !ok {
			t.Errorf("Classify(reply %d %q): no server_text", code, text)
		} else if shape%10 != 1 && strings.Contains(st, "\n") {
			// A reply read from the wire (a CommandError built by hand
			// keeps the text it is given).
			t.Errorf("Classify(reply %d %q): server_text %q spans lines", code, text, st)
		}
		if code == 421 && e.Code != envoi.ESMTPUnavailable {
			t.Errorf("Classify(reply 421) = %s, want %s", e.Code, envoi.ESMTPUnavailable)
		}
	})
}
