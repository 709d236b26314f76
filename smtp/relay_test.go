package smtp_test

import (
	"bytes"
	"context"
	"testing"

	"envoi/internal/testmail"
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
