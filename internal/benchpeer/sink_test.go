package benchpeer_test

import (
	"crypto/tls"
	"errors"
	"net/smtp"
	"strings"
	"testing"

	"envoi/internal/benchpeer"
)

// saslAuth is a SASL mechanism with one initial response, and the answer
// it gives to a challenge (RFC 7628's %x01 for OAUTHBEARER).
type saslAuth struct {
	mech, ir string
	next     []byte
}

func (a saslAuth) Start(*smtp.ServerInfo) (string, []byte, error) { return a.mech, []byte(a.ir), nil }
func (a saslAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return a.next, nil
	}
	return nil, nil
}

func startSink(t *testing.T) (*benchpeer.Sink, *benchpeer.Provider) {
	t.Helper()
	p, err := benchpeer.StartProvider()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	s, err := benchpeer.StartSink(benchpeer.SinkOptions{
		Token: p.Validate,
		Password: func(user, password string) error {
			if user != "op@example.com" || password != "secret" {
				return errors.New("wrong password")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, p
}

// dial connects to the sink and, when secure, runs STARTTLS trusting the
// sink's certificate.
func dial(t *testing.T, s *benchpeer.Sink, secure bool) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if secure {
		if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: s.RootCAs}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func send(c *smtp.Client, body string) error {
	if err := c.Mail("op@example.com"); err != nil {
		return err
	}
	if err := c.Rcpt("client@example.org"); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

// TestSinkAuth: each mechanism the sink offers takes a good credential and
// refuses a bad one with 535; only then is MAIL accepted and the message
// counted.
func TestSinkAuth(t *testing.T) {
	s, p := startSink(t)
	token := fetchToken(t, p, "op@example.com")
	xoauth2 := func(user, tok string) saslAuth {
		return saslAuth{mech: "XOAUTH2", ir: "user=" + user + "\x01auth=Bearer " + tok + "\x01\x01"}
	}
	bearer := func(user, tok string) saslAuth {
		return saslAuth{mech: "OAUTHBEARER", ir: "n,a=" + user + ",\x01host=127.0.0.1\x01port=25\x01auth=Bearer " + tok + "\x01\x01", next: []byte{1}}
	}
	plain := func(user, pw string) saslAuth {
		return saslAuth{mech: "PLAIN", ir: "\x00" + user + "\x00" + pw}
	}
	for _, tc := range []struct {
		name string
		auth saslAuth
		ok   bool
	}{
		{"XOAUTH2", xoauth2("op@example.com", token), true},
		{"XOAUTH2WrongToken", xoauth2("op@example.com", "at.forged"), false},
		{"XOAUTH2OtherUser", xoauth2("other@example.com", token), false},
		{"OAUTHBEARER", bearer("op@example.com", token), true},
		{"OAUTHBEARERWrongToken", bearer("op@example.com", "at.forged"), false},
		{"PLAIN", plain("op@example.com", "secret"), true},
		{"PLAINWrongPassword", plain("op@example.com", "guess"), false},
		{"Unknown", saslAuth{mech: "CRAM-MD5", ir: "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Messages()
			c := dial(t, s, true)
			err := c.Auth(tc.auth)
			if tc.ok != (err == nil) {
				t.Fatalf("AUTH %s: %v, want ok %v", tc.auth.mech, err, tc.ok)
			}
			if !tc.ok {
				// net/smtp quits after a refused AUTH.
				if !strings.HasPrefix(err.Error(), "535 ") {
					t.Errorf("refusal %q, want 535", err)
				}
				return
			}
			if err := send(c, "Subject: x\r\n\r\nbody\r\n"); err != nil {
				t.Fatal(err)
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
			if got := s.Messages(); got != before+1 {
				t.Errorf("sink counted %d messages, want %d", got, before+1)
			}
		})
	}
}

// TestSinkNeedsTLSAndAuth: no AUTH offered or taken before STARTTLS, no
// MAIL before AUTH.
func TestSinkNeedsTLSAndAuth(t *testing.T) {
	s, _ := startSink(t)
	c := dial(t, s, false)
	if err := c.Hello("client"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
	if err := c.Mail("op@example.com"); err == nil || !strings.HasPrefix(err.Error(), "530 ") {
		t.Errorf("MAIL without AUTH: %v, want 530", err)
	}
	c = dial(t, s, true)
	ok, mechs := c.Extension("AUTH")
	if !ok || mechs != "XOAUTH2 OAUTHBEARER PLAIN" {
		t.Errorf("AUTH after STARTTLS: %v %q, want XOAUTH2 OAUTHBEARER PLAIN", ok, mechs)
	}
	if ok, _ := c.Extension("PIPELINING"); !ok {
		t.Error("PIPELINING not offered")
	}
}

// TestSinkCounts: messages and their bytes are counted, dot-stuffed lines
// included, over one connection.
func TestSinkCounts(t *testing.T) {
	s, _ := startSink(t)
	c := dial(t, s, true)
	if err := c.Auth(saslAuth{mech: "PLAIN", ir: "\x00op@example.com\x00secret"}); err != nil {
		t.Fatal(err)
	}
	body := "Subject: x\r\n\r\n.starts with a dot\r\n" + strings.Repeat("0123456789\r\n", 20000)
	for i := range 3 {
		if err := send(c, body); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	// net/smtp stuffs the dot: one byte more a message.
	if got, want := s.Bytes(), int64(3*(len(body)+1)); got != want {
		t.Errorf("bytes %d, want %d", got, want)
	}
	if s.Messages() != 3 || s.Connections() != 1 || s.AuthCommands() != 1 {
		t.Errorf("messages %d, connections %d, AUTH %d; want 3, 1, 1", s.Messages(), s.Connections(), s.AuthCommands())
	}
}

func fetchToken(t *testing.T, p *benchpeer.Provider, user string) string {
	t.Helper()
	tok, status := postToken(t, p, "grant_type=refresh_token&refresh_token="+p.RefreshToken(user))
	if status != 200 || tok == "" {
		t.Fatalf("token endpoint: %d %q", status, tok)
	}
	return tok
}

// TestProviderRefresh: the endpoint answers its refresh tokens only, and
// the sink's check knows what it issued and to whom.
func TestProviderRefresh(t *testing.T) {
	_, p := startSink(t)
	tok := fetchToken(t, p, "op@example.com")
	if err := p.Validate("op@example.com", tok); err != nil {
		t.Errorf("Validate of an issued token: %v", err)
	}
	if err := p.Validate("", tok); err != nil {
		t.Errorf("Validate without a user: %v", err)
	}
	if err := p.Validate("other@example.com", tok); err == nil {
		t.Error("Validate accepted the token for another user")
	}
	for _, form := range []string{
		"grant_type=refresh_token&refresh_token=forged",
		"grant_type=client_credentials&refresh_token=" + p.RefreshToken("op@example.com"),
	} {
		if tok, status := postToken(t, p, form); status != 400 || tok != "" {
			t.Errorf("%s: %d %q, want 400 and no token", form, status, tok)
		}
	}
	if p.Calls() != 3 {
		t.Errorf("calls %d, want 3", p.Calls())
	}
}
