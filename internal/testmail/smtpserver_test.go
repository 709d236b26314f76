package testmail_test

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"envoi/internal/testmail"
)

const testBody = "From: a@example.com\r\nTo: b@example.com\r\nSubject: Hello\r\n\r\nBody line\r\n.leading dot\r\n"

// dial connects to s as its Security asks, trusting its certificate.
func dial(t *testing.T, s *testmail.SMTPServer) *gosmtp.Client {
	t.Helper()
	var c *gosmtp.Client
	var err error
	switch s.Security {
	case testmail.SMTPSecurityTLS:
		c, err = gosmtp.DialTLS(s.Addr, s.ClientTLSConfig())
	case testmail.SMTPSecuritySTARTTLS:
		c, err = gosmtp.DialStartTLS(s.Addr, s.ClientTLSConfig())
	default:
		c, err = gosmtp.Dial(s.Addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", s.Security, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(c *gosmtp.Client, from string, to []string, body string) error {
	return c.SendMail(from, to, strings.NewReader(body))
}

// replyCode returns the SMTP reply code of err, 0 when err is not a reply.
func replyCode(err error) (int, string) {
	var se *gosmtp.SMTPError
	if errors.As(err, &se) {
		e := se.EnhancedCode
		return se.Code, fmt.Sprintf("%d.%d.%d", e[0], e[1], e[2])
	}
	return 0, ""
}

// xoauth2 is XOAUTH2's client side, which go-sasl lacks.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

func validToken(user, token string) error {
	if user == "ops@example.com" && token == "good-token" {
		return nil
	}
	return errors.New("token refused")
}

func TestSMTPServer_Security(t *testing.T) {
	for _, sec := range []testmail.SMTPSecurity{testmail.SMTPSecuritySTARTTLS, testmail.SMTPSecurityTLS, testmail.SMTPSecurityNone} {
		t.Run(string(sec), func(t *testing.T) {
			s := testmail.StartSMTP(t, testmail.SMTPOptions{Security: sec, Users: map[string]string{"jdupont": "s3cret"}})
			c := dial(t, s)
			if err := c.Auth(sasl.NewPlainClient("", "jdupont", "s3cret")); err != nil {
				t.Fatalf("auth: %v", err)
			}
			if err := send(c, "a@example.com", []string{"b@example.com", "c@example.com"}, testBody); err != nil {
				t.Fatalf("send: %v", err)
			}
			msgs := s.Messages()
			if len(msgs) != 1 {
				t.Fatalf("got %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if got, want := m.TLS, sec != testmail.SMTPSecurityNone; got != want {
				t.Errorf("TLS: got %v, want %v", got, want)
			}
			if m.From != "a@example.com" || strings.Join(m.Recipients, ",") != "b@example.com,c@example.com" {
				t.Errorf("envelope: got %q -> %q", m.From, m.Recipients)
			}
			if m.AuthMechanism != "PLAIN" || m.AuthUser != "jdupont" {
				t.Errorf("auth: got %s as %q, want PLAIN as jdupont", m.AuthMechanism, m.AuthUser)
			}
			if string(m.Data) != testBody {
				t.Errorf("data: got %q, want %q", m.Data, testBody)
			}
			parsed, err := m.Parse()
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := parsed.Header.Get("Subject"); got != "Hello" {
				t.Errorf("subject: got %q", got)
			}
			if got, want := s.Connections(), 1; got != want {
				t.Errorf("connections: got %d, want %d", got, want)
			}
		})
	}
}

func TestSMTPServer_Auth(t *testing.T) {
	users := map[string]string{"jdupont": "s3cret"}
	tests := []struct {
		name     string
		client   sasl.Client
		wantCode int
		wantMech string
	}{
		{"PlainOK", sasl.NewPlainClient("", "jdupont", "s3cret"), 0, "PLAIN"},
		{"PlainWrongPassword", sasl.NewPlainClient("", "jdupont", "nope"), 535, ""},
		{"PlainOtherAuthzid", sasl.NewPlainClient("boss", "jdupont", "s3cret"), 535, ""},
		{"LoginOK", sasl.NewLoginClient("jdupont", "s3cret"), 0, "LOGIN"},
		{"LoginUnknownUser", sasl.NewLoginClient("nobody", "s3cret"), 535, ""},
		{"XOAuth2OK", xoauth2{"ops@example.com", "good-token"}, 0, "XOAUTH2"},
		{"XOAuth2BadToken", xoauth2{"ops@example.com", "stale"}, 535, ""},
		{"OAuthBearerOK", sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "ops@example.com", Token: "good-token", Host: "127.0.0.1", Port: 587}), 0, "OAUTHBEARER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testmail.StartSMTP(t, testmail.SMTPOptions{Users: users, ValidateToken: validToken})
			c := dial(t, s)
			err := c.Auth(tt.client)
			if code, _ := replyCode(err); code != tt.wantCode || (tt.wantCode == 0 && err != nil) {
				t.Fatalf("auth: got %v (code %d), want code %d", err, code, tt.wantCode)
			}
			if got := s.AuthCommands(); got != 1 {
				t.Errorf("AUTH commands: got %d, want 1", got)
			}
			if tt.wantCode != 0 {
				if err := send(c, "a@example.com", []string{"b@example.com"}, testBody); err == nil {
					t.Fatal("send without authentication: got nil error, want 530")
				}
				return
			}
			if err := send(c, "a@example.com", []string{"b@example.com"}, testBody); err != nil {
				t.Fatalf("send: %v", err)
			}
			if m := s.Messages()[0]; m.AuthMechanism != tt.wantMech {
				t.Errorf("mechanism: got %q, want %q", m.AuthMechanism, tt.wantMech)
			}
		})
	}
}

// TestSMTPServer_XOAuth2FailureExchange checks the exchange on the wire: a
// 334 with a base64 error JSON, the client's empty line, then 535.
func TestSMTPServer_XOAuth2FailureExchange(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityTLS, ValidateToken: validToken})
	conn, err := tls.Dial("tcp", s.Addr, s.ClientTLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := textproto.NewConn(conn)
	expect := func(code int) string {
		t.Helper()
		_, msg, err := tc.ReadResponse(code)
		if err != nil {
			t.Fatalf("want %d: %v", code, err)
		}
		return msg
	}
	expect(220)
	tc.PrintfLine("EHLO client.test")
	if caps := expect(250); !strings.Contains(caps, "AUTH XOAUTH2 OAUTHBEARER") {
		t.Errorf("capabilities %q do not offer XOAUTH2 and OAUTHBEARER", caps)
	}
	ir := base64.StdEncoding.EncodeToString([]byte("user=ops@example.com\x01auth=Bearer expired\x01\x01"))
	tc.PrintfLine("AUTH XOAUTH2 %s", ir)
	challenge, err := base64.StdEncoding.DecodeString(expect(334))
	if err != nil {
		t.Fatalf("challenge is not base64: %v", err)
	}
	var status struct{ Status, Schemes, Scope string }
	if err := json.Unmarshal(challenge, &status); err != nil || status.Status != "400" {
		t.Fatalf("challenge: got %q (%v), want a JSON error with status 400", challenge, err)
	}
	tc.PrintfLine("")
	if msg := expect(535); !strings.HasPrefix(msg, "5.7.8 ") {
		t.Errorf("final reply: got %q, want 535 5.7.8", msg)
	}
}

func TestSMTPServer_Faults(t *testing.T) {
	users := map[string]string{"u": "p"}
	tests := []struct {
		name     string
		fault    testmail.SMTPFault
		wantCode int
		wantEnh  string
	}{
		{"Connect421", testmail.SMTPFault{Kind: testmail.SMTPFaultConnect}, 421, "4.3.2"},
		{"Auth5_7_139", testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, EnhancedCode: "5.7.139", Text: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant"}, 535, "5.7.139"},
		{"Auth5_7_30", testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, Code: 550, EnhancedCode: "5.7.30", Text: "Basic authentication is not supported for Client Submission"}, 550, "5.7.30"},
		{"Mail451", testmail.SMTPFault{Kind: testmail.SMTPFaultMail}, 451, "4.3.0"},
		{"Rcpt550", testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt}, 550, "5.1.1"},
		{"Data451", testmail.SMTPFault{Kind: testmail.SMTPFaultData}, 451, "4.3.0"},
		{"Data552", testmail.SMTPFault{Kind: testmail.SMTPFaultData, Code: 552, EnhancedCode: "5.3.4", Text: "Message size exceeds fixed maximum message size"}, 552, "5.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testmail.StartSMTP(t, testmail.SMTPOptions{Users: users})
			s.Fail(tt.fault)
			err := func() error {
				c, err := gosmtp.DialStartTLS(s.Addr, s.ClientTLSConfig())
				if err != nil {
					return err
				}
				defer c.Close()
				if err := c.Auth(sasl.NewPlainClient("", "u", "p")); err != nil {
					return err
				}
				return send(c, "a@example.com", []string{"b@example.com"}, testBody)
			}()
			code, enh := replyCode(err)
			if code != tt.wantCode || enh != tt.wantEnh {
				t.Fatalf("got %v (%d %s), want %d %s", err, code, enh, tt.wantCode, tt.wantEnh)
			}
			if tt.fault.Text != "" && !strings.Contains(err.Error(), tt.fault.Text) {
				t.Errorf("reply %q lacks the fault's text %q", err, tt.fault.Text)
			}
			if got := s.MessageCount(); got != 0 {
				t.Errorf("messages: got %d, want 0", got)
			}
			if got := s.Struck(tt.fault.Kind); got != 1 {
				t.Errorf("struck: got %d, want 1", got)
			}
		})
	}
}

func TestSMTPServer_FaultTimesThenRecovers(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{})
	s.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultData, Times: 2})
	c := dial(t, s)
	for i, want := range []int{451, 451, 0} {
		code, _ := replyCode(send(c, "a@example.com", []string{"b@example.com"}, testBody))
		if code != want {
			t.Fatalf("send %d: got code %d, want %d", i+1, code, want)
		}
	}
	if got := s.MessageCount(); got != 1 {
		t.Errorf("messages: got %d, want 1", got)
	}
}

func TestSMTPServer_RcptFaultForOneRecipient(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{})
	s.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt, Recipient: "Ghost@example.com"})
	c := dial(t, s)
	if err := c.Mail("a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.com", nil); err != nil {
		t.Errorf("other recipient: got %v, want accepted", err)
	}
	if code, _ := replyCode(c.Rcpt("ghost@example.com", nil)); code != 550 {
		t.Errorf("faulty recipient: got code %d, want 550", code)
	}
}

func TestSMTPServer_Heal(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{})
	s.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultMail})
	c := dial(t, s)
	if code, _ := replyCode(send(c, "a@example.com", []string{"b@example.com"}, testBody)); code != 451 {
		t.Fatalf("armed: got code %d, want 451", code)
	}
	s.Heal()
	if err := send(c, "a@example.com", []string{"b@example.com"}, testBody); err != nil {
		t.Fatalf("healed: %v", err)
	}
}

func TestSMTPServer_MaxMessageBytes(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{MaxMessageBytes: 64})
	c := dial(t, s)
	if ok, size := c.Extension("SIZE"); !ok || size != "64" {
		t.Errorf("SIZE: got %v %q, want advertised 64", ok, size)
	}
	if code, _ := replyCode(send(c, "a@example.com", []string{"b@example.com"}, testBody+strings.Repeat("x", 100))); code != 552 {
		t.Errorf("too big: got code %d, want 552", code)
	}
}

func TestSMTPServer_DropData(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{})
	s.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultDropData})
	c := dial(t, s)
	err := send(c, "a@example.com", []string{"b@example.com"}, testBody+strings.Repeat("line of text\r\n", 10000))
	if err == nil {
		t.Fatal("got nil error, want a dropped connection")
	}
	if code, _ := replyCode(err); code != 0 {
		t.Errorf("got reply %d, want a network error", code)
	}
	if got := s.MessageCount(); got != 0 {
		t.Errorf("messages: got %d, want 0", got)
	}
}

func TestSMTPServer_TLSRefused(t *testing.T) {
	t.Run("NoSTARTTLS", func(t *testing.T) {
		s := testmail.StartSMTP(t, testmail.SMTPOptions{Users: map[string]string{"u": "p"}})
		s.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultNoSTARTTLS, Times: 1})
		c, err := gosmtp.Dial(s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, _ := c.Extension("STARTTLS"); ok {
			t.Error("STARTTLS offered, want not")
		}
		if ok, _ := c.Extension("AUTH"); ok {
			t.Error("AUTH offered in clear, want not")
		}
		// Times: 1 — the next connection offers STARTTLS again.
		dial(t, s)
	})
	t.Run("Handshake", func(t *testing.T) {
		for _, sec := range []testmail.SMTPSecurity{testmail.SMTPSecuritySTARTTLS, testmail.SMTPSecurityTLS} {
			s := testmail.StartSMTP(t, testmail.SMTPOptions{Security: sec})
			s.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultTLSHandshake})
			var err error
			if sec == testmail.SMTPSecurityTLS {
				var c *gosmtp.Client
				if c, err = gosmtp.DialTLS(s.Addr, s.ClientTLSConfig()); err == nil {
					err = c.Hello("client.test")
					c.Close()
				}
			} else {
				var c *gosmtp.Client
				if c, err = gosmtp.DialStartTLS(s.Addr, s.ClientTLSConfig()); err == nil {
					err = c.Noop()
					c.Close()
				}
			}
			if err == nil {
				t.Errorf("%s: got nil error, want a failed handshake", sec)
			}
		}
	})
}

func TestSMTPServer_SlowDelaysReplies(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{})
	s.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: time.Hour})
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = conn.Read(make([]byte, 64))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read greeting: got %v, want a timeout (no greeting while slow)", err)
	}
}

func TestSMTPServer_Sink(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{Sink: true})
	c := dial(t, s)
	for range 3 {
		if err := send(c, "a@example.com", []string{"b@example.com"}, testBody); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.MessageCount(); got != 3 {
		t.Errorf("count: got %d, want 3", got)
	}
	if got := len(s.Messages()); got != 0 {
		t.Errorf("kept messages: got %d, want 0 in Sink mode", got)
	}
	if got, want := s.BytesReceived(), int64(3*len(testBody)); got != want {
		t.Errorf("bytes: got %d, want %d", got, want)
	}
}

func TestSMTPServer_CloseEndsClients(t *testing.T) {
	s, err := testmail.NewSMTPServer(testmail.SMTPOptions{Security: testmail.SMTPSecurityNone})
	if err != nil {
		t.Fatal(err)
	}
	c, err := gosmtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if err := c.Noop(); err == nil {
		t.Errorf("NOOP after Close: got %v, want a network error", err)
	}
}

func TestSMTPServer_DropConnections(t *testing.T) {
	s := testmail.StartSMTP(t, testmail.SMTPOptions{})
	c := dial(t, s)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	s.DropConnections()
	if err := c.Noop(); err == nil {
		t.Fatal("NOOP on a dropped connection: got nil error")
	}
	// The server still serves new connections.
	c2 := dial(t, s)
	if err := send(c2, "a@example.com", []string{"b@example.com"}, testBody); err != nil {
		t.Fatalf("new connection: %v", err)
	}
	if got := s.Connections(); got != 2 {
		t.Errorf("connections: got %d, want 2", got)
	}
}
