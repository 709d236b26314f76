package main_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"envoi/internal/testmail"
	"envoi/smtp"
)

type operatorPasswordJSON struct {
	SMTPPasswordSet bool `json:"smtp_password_set"`
}

// TestFlowTestAgreesWithSending: a basic flow towards a relay that offers
// no AUTH. Without a password, the Test passes by probing as sending does
// (connect, STARTTLS, no AUTH) and a message is sent; with a password
// stored it still both tests and sends (the relay offers no AUTH); the
// password is removed with clear_smtp_password (API and apply), while ""
// and null keep it.
func TestFlowTestAgreesWithSending(t *testing.T) {
	relay := testmail.StartSMTP(t, testmail.SMTPOptions{}) // STARTTLS, offers and asks no AUTH
	e := MustStart(t, EnvOptions{Hooks: Hooks{SMTP: func(s *smtp.Sender) { s.RootCAs = relay.RootCAs }}})
	e.Configure()
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{"kind": "smtp_basic", "smtp": relay.Endpoint(), "operators": []string{"jdupont"}}, nil)
	op := map[string]any{"name": "Jeanne Dupont", "email": "user@example.com"}

	testAndSend := func(what string, n int) {
		t.Helper()
		var res testAnswer
		e.MustDo(200, "POST", "/v1/auth-flows/O365/test", map[string]any{"operator": "jdupont"}, &res)
		var names []string
		for _, s := range res.Steps {
			names = append(names, s.Name)
		}
		if !res.OK || !strings.Contains(strings.Join(names, " "), "connect tls auth mail_from rcpt_to rset") {
			t.Fatalf("%s: the Test failed where sending works: %+v", what, res)
		}
		var m messageJSON
		e.MustDo(202, "POST", "/v1/messages", blRequest("client@example.org"), &m)
		if got := e.waitStatus(m.ID, "sent", 20*time.Second); got.Status != "sent" {
			t.Fatalf("%s: message %s is %s, want sent", what, m.ID, got.Status)
		}
		if relay.MessageCount() != n || relay.AuthCommands() != 0 {
			t.Fatalf("%s: relay got %d messages and %d AUTH commands, want %d and 0", what, relay.MessageCount(), relay.AuthCommands(), n)
		}
	}
	testAndSend("no password", 1)

	op["smtp_password"] = "S3cret-pw"
	e.MustDo(200, "PUT", "/v1/operators/jdupont", op, nil)
	testAndSend("a password stored, a relay offering no AUTH", 2)

	var got operatorPasswordJSON
	for _, keep := range []any{"", nil} {
		op["smtp_password"] = keep
		e.MustDo(200, "PUT", "/v1/operators/jdupont", op, &got)
		if !got.SMTPPasswordSet {
			t.Fatalf("smtp_password %v removed the stored password", keep)
		}
	}
	op["smtp_password"], op["clear_smtp_password"] = "new", true
	var apiErr APIError
	e.MustDo(400, "PUT", "/v1/operators/jdupont", op, &apiErr)
	if apiErr.Error.Code != "invalid_input" || apiErr.Error.Details["field"] != "clear_smtp_password" {
		t.Errorf("a password and clear_smtp_password together: %+v", apiErr.Error)
	}
	delete(op, "smtp_password")
	e.MustDo(200, "PUT", "/v1/operators/jdupont", op, &got)
	if got.SMTPPasswordSet {
		t.Fatal("clear_smtp_password: true kept the password")
	}
	e.MustDo(200, "GET", "/v1/operators/jdupont", nil, &got)
	if got.SMTPPasswordSet {
		t.Fatal("the cleared password is back on GET")
	}

	// envoi apply: clear_smtp_password in the file.
	delete(op, "clear_smtp_password")
	op["smtp_password"] = "S3cret-pw"
	e.MustDo(200, "PUT", "/v1/operators/jdupont", op, &got)
	cfg := filepath.Join(t.TempDir(), "envoi.yaml")
	yaml := "operators:\n  jdupont: {name: Jeanne Dupont, email: user@example.com, clear_smtp_password: true}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run("apply", "-f", cfg)
	e.MustDo(200, "GET", "/v1/operators/jdupont", nil, &got)
	if got.SMTPPasswordSet {
		t.Fatal("apply with clear_smtp_password: true kept the password")
	}
	testAndSend("password cleared", 3)
}

// TestFlowTestTimeout: a server that accepts the connection and never
// answers ends the Test with smtp_timeout after --test-timeout, naming the
// step that hung, through the API and `envoi test --timeout`.
func TestFlowTestTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, c) // never a word
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	e := MustStart(t, EnvOptions{Args: []string{"--test-timeout", "1s"}})
	e.MustDo(200, "PUT", "/v1/operators/ops", map[string]any{"name": "Ops", "email": "ops@example.com"}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/MUTE", map[string]any{"kind": "smtp_basic",
		"smtp": map[string]any{"host": "127.0.0.1", "port": port, "security": "none"}, "operators": []string{"ops"}}, nil)
	var res testAnswer
	e.MustDo(200, "POST", "/v1/auth-flows/MUTE/test", map[string]any{"operator": "ops"}, &res)
	if res.OK || res.Error == nil || res.Error.Code != "smtp_timeout" {
		t.Fatalf("test of a mute server: %+v", res)
	}
	last := res.Steps[len(res.Steps)-1]
	if last.OK || last.Name != "connect" || !strings.Contains(last.Detail, "stopped after 1s") {
		t.Errorf("last step %+v, want connect stopped after 1s", last)
	}

	out, code := e.RunCode("test", "--flow", "MUTE", "--operator", "ops", "--timeout", "1s")
	if code == 0 || !strings.Contains(out, "stopped after 1s") {
		t.Errorf("envoi test --timeout 1s: exit %d\n%s", code, out)
	}
}
