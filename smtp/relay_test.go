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

// TestSend_RelayWithoutPassword: a basic flow whose operator has no
// password sends without AUTH (a relay that trusts the sender's address);
// a server that insists on AUTH refuses the message, permanently, and no
// empty password is ever sent.
func TestSend_RelayWithoutPassword(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		srv := testmail.StartSMTP(t, testmail.SMTPOptions{}) // offers and asks no AUTH
		id := basicIdentity(srv)
		id.Password = ""
		msg := testMessage("Relay")
		if err := newSender(t, srv, nil).Send(context.Background(), id, envelope(msg), bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
		if got := srv.AuthCommands(); got != 0 {
			t.Errorf("AUTH commands = %d, want 0", got)
		}
		if got := srv.MessageCount(); got != 1 {
			t.Errorf("messages = %d, want 1", got)
		}
	})
	t.Run("ErrServerWantsAuth", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{}) // offers AUTH and insists
		id := basicIdentity(srv)
		id.Password = ""
		e := sendErr(t, newSender(t, srv, nil), id, nil)
		if e == nil || e.Temporary {
			t.Fatalf("got %v, want a permanent refusal", e)
		}
		if got := srv.AuthCommands(); got != 0 {
			t.Errorf("AUTH commands = %d, want 0", got)
		}
	})
}

// TestSend_RelayOffersNoAuthWithStoredPassword: a basic flow with a
// password stored, towards a relay that offers no AUTH at all, sends
// without AUTH (the password is not used), and its probe says so; a
// server that offers AUTH still gets it.
func TestSend_RelayOffersNoAuthWithStoredPassword(t *testing.T) {
	srv := testmail.StartSMTP(t, testmail.SMTPOptions{}) // offers and asks no AUTH
	id := basicIdentity(srv)                             // a password is stored
	msg := testMessage("Relay")
	s := newSender(t, srv, nil)
	if err := s.Send(context.Background(), id, envelope(msg), bytes.NewReader(msg)); err != nil {
		t.Fatalf("send through a relay offering no AUTH, with a password stored: %v", err)
	}
	if got := srv.AuthCommands(); got != 0 {
		t.Errorf("AUTH commands = %d, want 0", got)
	}
	steps, err := s.Probe(context.Background(), id, operatorEmail, "")
	if err != nil {
		t.Fatalf("probe: %v (%+v)", err, steps)
	}
	var auth string
	for _, st := range steps {
		if st.Name == smtp.StepAuth {
			auth = st.Detail
		}
	}
	if !strings.Contains(auth, "relay") {
		t.Errorf("auth step = %q, want it to say the relay takes mail without AUTH", auth)
	}
}

// TestProbe_ReportsProgress: a probe tells the context's TestProgress each
// step as it begins and as it ends.
func TestProbe_ReportsProgress(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	var begun, ended []string
	ctx := envoi.WithTestProgress(context.Background(), func(st envoi.TestStep, running bool) {
		if running {
			begun = append(begun, st.Name+":"+st.Detail)
		} else {
			ended = append(ended, st.Name)
		}
	})
	if _, err := newSender(t, srv, nil).Probe(ctx, basicIdentity(srv), operatorEmail, ""); err != nil {
		t.Fatal(err)
	}
	b := strings.Join(begun, "|")
	for _, want := range []string{"connect:connecting to ", "tls:STARTTLS", "auth:AUTH as " + operatorEmail, "mail_from:MAIL FROM"} {
		if !strings.Contains(b, want) {
			t.Errorf("steps begun %q lack %q", b, want)
		}
	}
	if got := strings.Join(ended, " "); got != "connect tls auth mail_from rcpt_to rset" {
		t.Errorf("steps ended %q", got)
	}
}
