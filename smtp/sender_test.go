package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/smtp"
)

// tokens is a token source for tests: it hands Token, or Fresh when asked
// to refresh, and counts the calls.
type tokens struct {
	Token, Fresh string
	Err          error

	mu     sync.Mutex
	calls  int
	forces int
	keys   []envoi.TokenKey
}

func (ts *tokens) AccessToken(_ context.Context, key envoi.TokenKey, force bool) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.calls++
	ts.keys = append(ts.keys, key)
	if ts.Err != nil {
		return "", ts.Err
	}
	if force {
		ts.forces++
		return ts.Fresh, nil
	}
	return ts.Token, nil
}

func (ts *tokens) counts() (calls, forces int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.calls, ts.forces
}

const (
	operatorEmail = "jdupont@forterro.test"
	password      = "s3cret pass"
	goodToken     = "ya29.good-token"
)

var users = map[string]string{operatorEmail: password}

// validToken accepts goodToken for the operator, and refuses anything else
// the way Gmail does.
func validToken(user, token string) error {
	if user == operatorEmail && token == goodToken {
		return nil
	}
	return errors.New("invalid token")
}

func startServer(t testing.TB, opts testmail.SMTPOptions) *testmail.SMTPServer {
	t.Helper()
	if opts.Users == nil {
		opts.Users = users
	}
	if opts.ValidateToken == nil {
		opts.ValidateToken = validToken
	}
	return testmail.StartSMTP(t, opts)
}

// newSender returns a sender that trusts srv's certificate; change its
// fields before the first send.
func newSender(t testing.TB, srv *testmail.SMTPServer, ts envoi.TokenSource) *smtp.Sender {
	t.Helper()
	s := &smtp.Sender{RootCAs: srv.RootCAs, Tokens: ts, CommandTimeout: 10 * time.Second, HelloName: "envoi.test"}
	t.Cleanup(func() { s.Close() })
	return s
}

func basicIdentity(srv *testmail.SMTPServer) envoi.Identity {
	return envoi.Identity{
		Flow:     &envoi.AuthFlow{Code: "basic", Kind: envoi.KindSMTPBasic, SMTP: srv.Endpoint()},
		Username: operatorEmail,
		Password: password,
	}
}

func oauthIdentity(srv *testmail.SMTPServer) envoi.Identity {
	return envoi.Identity{
		Flow:     &envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, SMTP: srv.Endpoint()},
		Key:      envoi.TokenKey{Flow: "m365", Operator: "jdupont"},
		Username: operatorEmail,
	}
}

func envelope(msg []byte) envoi.Envelope {
	return envoi.Envelope{From: operatorEmail, Recipients: []string{"client@customer.test", "Compta <compta@customer.test>"}, Size: int64(len(msg))}
}

// testMessage is a composed message with what DATA must carry intact: an
// encoded subject, lines starting with a dot, a line that is only a dot,
// and a base64 attachment.
func testMessage(subject string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Jean Dupont <%s>\r\n", operatorEmail)
	b.WriteString("To: client@customer.test\r\n")
	b.WriteString("Cc: Compta <compta@customer.test>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	b.WriteString("Message-ID: <1@envoi.test>\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString("Bonjour,\r\n.Une ligne qui commence par un point\r\n.\r\n..deux points\r\nCordialement\r\n")
	b.WriteString("--b1\r\nContent-Type: application/pdf; name=\"BL-12345.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for range 20 {
		b.WriteString(strings.Repeat("QUJDRA", 12) + "\r\n")
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}

// chunked writes its data in small pieces, so line ends and leading dots
// fall across writes.
type chunked struct {
	data []byte
	size int
}

func (c chunked) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for p := c.data; len(p) > 0; {
		k := min(c.size, len(p))
		m, err := w.Write(p[:k])
		n += int64(m)
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

func TestSend_Mechanisms(t *testing.T) {
	tests := []struct {
		name       string
		security   testmail.SMTPSecurity
		mechanisms []string // offered by the server
		force      string   // Sender.OAuthMechanism
		oauth      bool
		wantMech   string
	}{
		{"STARTTLS/PLAIN", testmail.SMTPSecuritySTARTTLS, nil, "", false, "PLAIN"},
		{"TLS/PLAIN", testmail.SMTPSecurityTLS, nil, "", false, "PLAIN"},
		{"STARTTLS/LOGIN", testmail.SMTPSecuritySTARTTLS, []string{"LOGIN", "XOAUTH2"}, "", false, "LOGIN"},
		{"TLS/LOGIN", testmail.SMTPSecurityTLS, []string{"LOGIN"}, "", false, "LOGIN"},
		{"STARTTLS/XOAUTH2", testmail.SMTPSecuritySTARTTLS, nil, "", true, "XOAUTH2"},
		{"TLS/XOAUTH2", testmail.SMTPSecurityTLS, nil, "", true, "XOAUTH2"},
		{"STARTTLS/OAUTHBEARER", testmail.SMTPSecuritySTARTTLS, []string{"PLAIN", "OAUTHBEARER"}, "", true, "OAUTHBEARER"},
		{"TLS/OAUTHBEARER", testmail.SMTPSecurityTLS, []string{"OAUTHBEARER"}, "", true, "OAUTHBEARER"},
		{"STARTTLS/OAUTHBEARER forced", testmail.SMTPSecuritySTARTTLS, nil, smtp.MechOAuthBearer, true, "OAUTHBEARER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, testmail.SMTPOptions{Security: tt.security, Mechanisms: tt.mechanisms})
			ts := &tokens{Token: goodToken}
			s := newSender(t, srv, ts)
			s.OAuthMechanism = tt.force
			id := basicIdentity(srv)
			if tt.oauth {
				id = oauthIdentity(srv)
			}
			msg := testMessage("=?utf-8?q?Envoi_du_BL_=C3=A9t=C3=A9?=")
			if err := s.Send(context.Background(), id, envelope(msg), chunked{msg, 7}); err != nil {
				t.Fatalf("send: %v", err)
			}

			got := srv.Messages()
			if len(got) != 1 {
				t.Fatalf("messages: got %d, want 1", len(got))
			}
			m := got[0]
			if m.AuthMechanism != tt.wantMech || m.AuthUser != operatorEmail {
				t.Errorf("auth: got %s as %q, want %s as %q", m.AuthMechanism, m.AuthUser, tt.wantMech, operatorEmail)
			}
			if !m.TLS {
				t.Error("the message came in clear")
			}
			if m.From != operatorEmail || strings.Join(m.Recipients, " ") != "client@customer.test compta@customer.test" {
				t.Errorf("envelope: got %q -> %q", m.From, m.Recipients)
			}
			if m.DeclaredSize != int64(len(msg)) {
				t.Errorf("SIZE declared with MAIL FROM: got %d, want %d", m.DeclaredSize, len(msg))
			}
			if !bytes.Equal(m.Data, msg) {
				t.Errorf("data differs from the message sent:\ngot  %q\nwant %q", m.Data, msg)
			}
			parsed, err := m.Parse()
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got, want := parsed.Header.Get("Subject"), "=?utf-8?q?Envoi_du_BL_=C3=A9t=C3=A9?="; got != want {
				t.Errorf("Subject: got %q, want %q", got, want)
			}
			if to, err := parsed.Header.AddressList("Cc"); err != nil || len(to) != 1 || to[0].Address != "compta@customer.test" {
				t.Errorf("Cc: got %v (%v)", to, err)
			}
			body, _ := io.ReadAll(parsed.Body)
			if !bytes.Contains(body, []byte("\r\n.Une ligne qui commence par un point\r\n.\r\n..deux points\r\n")) {
				t.Errorf("body lost its dotted lines: %q", body)
			}
			if tt.oauth {
				if calls, forces := ts.counts(); calls != 1 || forces != 0 {
					t.Errorf("token source: got %d calls, %d forced, want 1, 0", calls, forces)
				}
				if ts.keys[0] != id.Key {
					t.Errorf("token key: got %+v, want %+v", ts.keys[0], id.Key)
				}
			}
		})
	}
}

func TestSend_LineEndingsAndDots(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"CRLF", "Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n"},
		{"BareLF", "Subject: a\n\nline 1\nline 2\n", "Subject: a\r\n\r\nline 1\r\nline 2\r\n"},
		{"NoFinalNewline", "Subject: a\r\n\r\nlast", "Subject: a\r\n\r\nlast\r\n"},
		{"FinalCR", "Subject: a\r\n\r\nlast\r", "Subject: a\r\n\r\nlast\r\n"},
		{"Dots", "Subject: a\r\n\r\n.\r\n.x\n..\r\n", "Subject: a\r\n\r\n.\r\n.x\r\n..\r\n"},
	}
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	for _, tt := range tests {
		for _, size := range []int{1, 2, 3, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, size), func(t *testing.T) {
				srv.Reset()
				env := envoi.Envelope{From: operatorEmail, Recipients: []string{"client@customer.test"}}
				if err := s.Send(context.Background(), basicIdentity(srv), env, chunked{[]byte(tt.in), size}); err != nil {
					t.Fatal(err)
				}
				if got := string(srv.Messages()[0].Data); got != tt.want {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// sendErr sends testMessage as id through a fresh sender and returns the
// error as envoi's.
func sendErr(t *testing.T, s *smtp.Sender, id envoi.Identity, env *envoi.Envelope) *envoi.Error {
	t.Helper()
	msg := testMessage("Test")
	e := envelope(msg)
	if env != nil {
		e = *env
	}
	err := s.Send(context.Background(), id, e, bytes.NewReader(msg))
	if err == nil {
		return nil
	}
	var ee *envoi.Error
	if !errors.As(err, &ee) {
		t.Fatalf("got %T %v, want an *envoi.Error", err, err)
	}
	return ee
}

func TestSend_Faults(t *testing.T) {
	const disabled = "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."
	tests := []struct {
		name      string
		opts      testmail.SMTPOptions
		fault     testmail.SMTPFault
		oauth     bool
		setup     func(s *smtp.Sender)
		env       *envoi.Envelope
		wantCode  string
		wantTemp  bool
		wantReply int
		wantEnh   string
		wantText  string
	}{
		{name: "421AtConnect", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultConnect},
			wantCode: envoi.ESMTPUnavailable, wantTemp: true, wantReply: 421, wantEnh: "4.3.2"},
		{name: "451AfterData", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultData},
			wantCode: envoi.ESMTPTemporary, wantTemp: true, wantReply: 451, wantEnh: "4.3.0"},
		{name: "535_5.7.139", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, EnhancedCode: "5.7.139", Text: disabled},
			wantCode: envoi.ESMTPAuthDisabled, wantReply: 535, wantEnh: "5.7.139", wantText: disabled},
		{name: "535_5.7.139/OAuth", oauth: true, fault: testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, EnhancedCode: "5.7.139", Text: disabled},
			wantCode: envoi.ESMTPAuthDisabled, wantReply: 535, wantEnh: "5.7.139", wantText: disabled},
		{name: "535_5.7.3/OAuth", oauth: true, fault: testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, EnhancedCode: "5.7.3", Text: "Authentication unsuccessful"},
			wantCode: envoi.ESMTPAuthFailed, wantReply: 535, wantEnh: "5.7.3", wantText: "Authentication unsuccessful"},
		{name: "535_5.7.8/Password", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultAuth},
			wantCode: envoi.ESMTPAuthFailed, wantReply: 535, wantEnh: "5.7.8"},
		{name: "WrongPassword", setup: nil, opts: testmail.SMTPOptions{Users: map[string]string{operatorEmail: "other"}},
			wantCode: envoi.ESMTPAuthFailed, wantReply: 535, wantEnh: "5.7.8", wantText: "Username and Password not accepted"},
		{name: "550_5.7.30", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, Code: 550, EnhancedCode: "5.7.30", Text: "Basic authentication is not supported for Client Submission"},
			wantCode: envoi.ESMTPBasicAuthUnsupported, wantReply: 550, wantEnh: "5.7.30", wantText: "Basic authentication is not supported"},
		{name: "552AfterData", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultData, Code: 552, EnhancedCode: "5.3.4", Text: "Message size exceeds fixed maximum message size"},
			wantCode: envoi.ESMTPMessageTooBig, wantReply: 552, wantEnh: "5.3.4"},
		{name: "RcptRefused", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt, Recipient: "compta@customer.test"},
			wantCode: envoi.ESMTPRecipientRefused, wantReply: 550, wantEnh: "5.1.1", wantText: "User unknown"},
		{name: "MailRefused451", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultMail},
			wantCode: envoi.ESMTPTemporary, wantTemp: true, wantReply: 451},
		{name: "MailRefused554", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultMail, Code: 554, EnhancedCode: "5.2.0", Text: "SendAsDenied"},
			wantCode: envoi.ESMTPPermanent, wantReply: 554, wantEnh: "5.2.0", wantText: "SendAsDenied"},
		{name: "DroppedMidData", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultDropData},
			wantCode: envoi.ESMTPUnavailable, wantTemp: true},
		{name: "SlowServer", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: time.Minute},
			setup:    func(s *smtp.Sender) { s.CommandTimeout = 50 * time.Millisecond },
			wantCode: envoi.ESMTPTimeout, wantTemp: true},
		{name: "NoSTARTTLS", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultNoSTARTTLS},
			wantCode: envoi.ESMTPTLS, wantTemp: true},
		{name: "TLSHandshakeRefused/STARTTLS", fault: testmail.SMTPFault{Kind: testmail.SMTPFaultTLSHandshake},
			wantCode: envoi.ESMTPTLS, wantTemp: true},
		{name: "TLSHandshakeRefused/TLS", opts: testmail.SMTPOptions{Security: testmail.SMTPSecurityTLS}, fault: testmail.SMTPFault{Kind: testmail.SMTPFaultTLSHandshake},
			wantCode: envoi.ESMTPTLS, wantTemp: true},
		{name: "UntrustedCertificate", setup: func(s *smtp.Sender) { s.RootCAs = nil },
			wantCode: envoi.ESMTPTLS, wantTemp: true},
		{name: "UntrustedCertificate/TLS", opts: testmail.SMTPOptions{Security: testmail.SMTPSecurityTLS}, setup: func(s *smtp.Sender) { s.RootCAs = nil },
			wantCode: envoi.ESMTPTLS, wantTemp: true},
		{name: "SIZEFromEnvelope", opts: testmail.SMTPOptions{MaxMessageBytes: 1000},
			wantCode: envoi.ESMTPMessageTooBig},
		{name: "SIZEWhileStreaming", opts: testmail.SMTPOptions{MaxMessageBytes: 1000},
			env:      &envoi.Envelope{From: operatorEmail, Recipients: []string{"client@customer.test"}},
			wantCode: envoi.ESMTPMessageTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, tt.opts)
			srv.Fail(tt.fault)
			ts := &tokens{Token: goodToken, Fresh: goodToken}
			s := newSender(t, srv, ts)
			if tt.setup != nil {
				tt.setup(s)
			}
			id := basicIdentity(srv)
			if tt.oauth {
				id = oauthIdentity(srv)
			}
			e := sendErr(t, s, id, tt.env)
			if e == nil {
				t.Fatal("got nil error")
			}
			t.Logf("%v (details %v)", e, e.Details)
			if e.Code != tt.wantCode || e.Temporary != tt.wantTemp {
				t.Fatalf("got %s (temporary %v): %v; want %s (temporary %v)", e.Code, e.Temporary, e, tt.wantCode, tt.wantTemp)
			}
			if e.Remedy == "" {
				t.Error("no remedy")
			}
			if tt.wantReply != 0 {
				if got := e.Details["reply_code"]; got != tt.wantReply {
					t.Errorf("reply_code: got %v, want %d", got, tt.wantReply)
				}
			}
			if tt.wantEnh != "" {
				if got := e.Details["enhanced_code"]; got != tt.wantEnh {
					t.Errorf("enhanced_code: got %v, want %s", got, tt.wantEnh)
				}
			}
			if tt.wantText != "" {
				if got, _ := e.Details["server_text"].(string); !strings.Contains(got, tt.wantText) {
					t.Errorf("server_text: got %q, want it to contain %q", got, tt.wantText)
				}
			}
			if tt.wantCode == envoi.ESMTPRecipientRefused {
				if got := e.Details["recipient"]; got != "compta@customer.test" {
					t.Errorf("recipient: got %v", got)
				}
			}
			if got := srv.MessageCount(); got != 0 {
				t.Errorf("server accepted %d messages, want 0", got)
			}
			if strings.Contains(e.Error(), password) || strings.Contains(e.Error(), goodToken) {
				t.Errorf("the error shows a secret: %v", e)
			}
		})
	}
}

// TestSend_SIZEFailsBeforeData checks that a message over the advertised
// SIZE is refused before any of it is sent.
func TestSend_SIZEFailsBeforeData(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{MaxMessageBytes: 1000})
	s := newSender(t, srv, nil)
	e := sendErr(t, s, basicIdentity(srv), nil)
	if e == nil || e.Code != envoi.ESMTPMessageTooBig || e.Temporary {
		t.Fatalf("got %v, want permanent %s", e, envoi.ESMTPMessageTooBig)
	}
	if got := e.Details["limit_bytes"]; got != int64(1000) {
		t.Errorf("limit_bytes: got %v, want 1000", got)
	}
	if got := srv.BytesReceived(); got != 0 {
		t.Errorf("server received %d bytes of data", got)
	}
	// The connection stays good for a message that fits.
	small := []byte("Subject: small\r\n\r\nok\r\n")
	if err := s.Send(context.Background(), basicIdentity(srv), envelope(small), bytes.NewReader(small)); err != nil {
		t.Fatalf("small message after the big one: %v", err)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("connections: got %d, want 1", got)
	}
}

func TestSend_OAuthRefresh(t *testing.T) {
	t.Run("RefusedTokenRefreshedOnce", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{})
		ts := &tokens{Token: "stale", Fresh: goodToken}
		s := newSender(t, srv, ts)
		msg := testMessage("Refresh")
		if err := s.Send(context.Background(), oauthIdentity(srv), envelope(msg), bytes.NewReader(msg)); err != nil {
			t.Fatalf("send: %v", err)
		}
		if calls, forces := ts.counts(); calls != 2 || forces != 1 {
			t.Errorf("token source: got %d calls, %d forced; want 2, 1", calls, forces)
		}
		if got := srv.AuthCommands(); got != 2 {
			t.Errorf("AUTH commands: got %d, want 2", got)
		}
		if got := srv.Connections(); got != 1 {
			t.Errorf("connections: got %d, want 1 (retry on the same connection)", got)
		}
	})
	for _, mech := range []string{smtp.MechXOAuth2, smtp.MechOAuthBearer} {
		t.Run("RefusedTwiceGivesUp/"+mech, func(t *testing.T) {
			srv := startServer(t, testmail.SMTPOptions{})
			ts := &tokens{Token: "stale", Fresh: "still-stale"}
			s := newSender(t, srv, ts)
			s.OAuthMechanism = mech
			e := sendErr(t, s, oauthIdentity(srv), nil)
			if e == nil || e.Code != envoi.ESMTPAuthFailed || e.Temporary {
				t.Fatalf("got %v, want permanent %s", e, envoi.ESMTPAuthFailed)
			}
			if calls, forces := ts.counts(); calls != 2 || forces != 1 {
				t.Errorf("token source: got %d calls, %d forced; want 2, 1", calls, forces)
			}
			if got := srv.AuthCommands(); got != 2 {
				t.Errorf("AUTH commands: got %d, want 2", got)
			}
		})
	}
	t.Run("ConsentRequiredPassesThrough", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{})
		consent := envoi.Errorf(envoi.EConsentRequired, "refresh token revoked")
		ts := &tokens{Err: consent}
		s := newSender(t, srv, ts)
		msg := testMessage("Consent")
		err := s.Send(context.Background(), oauthIdentity(srv), envelope(msg), bytes.NewReader(msg))
		var e *envoi.Error
		if !errors.As(err, &e) || e != consent {
			t.Fatalf("got %v, want the token source's error unchanged", err)
		}
		if got := srv.AuthCommands(); got != 0 {
			t.Errorf("AUTH commands: got %d, want 0", got)
		}
	})
	t.Run("TemporaryTokenErrorPassesThrough", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{})
		down := &envoi.Error{Code: envoi.EOAuthProvider, Message: "token endpoint unreachable", Temporary: true}
		s := newSender(t, srv, &tokens{Err: down})
		err := sendErr(t, s, oauthIdentity(srv), nil)
		if err != down || !envoi.IsTemporary(err) {
			t.Fatalf("got %v, want the token source's temporary error unchanged", err)
		}
	})
	t.Run("NoTokenSource", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{})
		s := newSender(t, srv, nil)
		if e := sendErr(t, s, oauthIdentity(srv), nil); e == nil || e.Code != envoi.EInternal {
			t.Fatalf("got %v, want %s", e, envoi.EInternal)
		}
	})
}

func TestSend_ReusesConnection(t *testing.T) {
	for _, oauth := range []bool{false, true} {
		t.Run(fmt.Sprintf("oauth=%v", oauth), func(t *testing.T) {
			srv := startServer(t, testmail.SMTPOptions{})
			ts := &tokens{Token: goodToken}
			s := newSender(t, srv, ts)
			id := basicIdentity(srv)
			if oauth {
				id = oauthIdentity(srv)
			}
			const n = 5
			for i := range n {
				msg := testMessage(fmt.Sprintf("Message %d", i))
				if err := s.Send(context.Background(), id, envelope(msg), bytes.NewReader(msg)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if got := srv.MessageCount(); got != n {
				t.Errorf("messages: got %d, want %d", got, n)
			}
			if got := srv.Connections(); got != 1 {
				t.Errorf("connections: got %d, want 1", got)
			}
			if got := srv.AuthCommands(); got != 1 {
				t.Errorf("AUTH commands: got %d, want 1", got)
			}
			if oauth {
				if calls, _ := ts.counts(); calls != 1 {
					t.Errorf("token source calls: got %d, want 1", calls)
				}
			}
		})
	}
}

func TestSend_PoolIsPerMailbox(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{Users: map[string]string{operatorEmail: password, "other@forterro.test": "pw2"}})
	s := newSender(t, srv, nil)
	other := basicIdentity(srv)
	other.Username, other.Password = "other@forterro.test", "pw2"
	for _, id := range []envoi.Identity{basicIdentity(srv), other, basicIdentity(srv), other} {
		msg := testMessage("x")
		if err := s.Send(context.Background(), id, envelope(msg), bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections: got %d, want 2 (one per mailbox)", got)
	}
	var byUser = map[string]int{}
	for _, m := range srv.Messages() {
		byUser[m.AuthUser]++
	}
	if byUser[operatorEmail] != 2 || byUser["other@forterro.test"] != 2 {
		t.Errorf("messages by authenticated user: got %v", byUser)
	}
}

func TestSend_MaxConnsPerMailbox(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	s.MaxConnsPerMailbox = 1
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			msg := testMessage(fmt.Sprint("concurrent ", i))
			errs <- s.Send(context.Background(), basicIdentity(srv), envelope(msg), bytes.NewReader(msg))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.MessageCount(); got != 8 {
		t.Errorf("messages: got %d, want 8", got)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("connections: got %d, want 1", got)
	}
}

func TestSend_IdleTimeout(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s.IdleTimeout = time.Minute
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	send := func() {
		t.Helper()
		msg := testMessage("x")
		if err := s.Send(context.Background(), basicIdentity(srv), envelope(msg), bytes.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send()
	advance(59 * time.Second)
	send()
	if got := srv.Connections(); got != 1 {
		t.Fatalf("within the idle timeout: got %d connections, want 1", got)
	}
	advance(61 * time.Second)
	send()
	if got := srv.Connections(); got != 2 {
		t.Errorf("past the idle timeout: got %d connections, want 2", got)
	}
}

func TestSend_DroppedIdleConnectionRedials(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	msg := testMessage("x")
	for i := range 2 {
		if err := s.Send(context.Background(), basicIdentity(srv), envelope(msg), bytes.NewReader(msg)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		srv.DropConnections()
	}
	if got := srv.MessageCount(); got != 2 {
		t.Errorf("messages: got %d, want 2", got)
	}
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections: got %d, want 2", got)
	}
}

func TestSend_ConnectionUsableAfterRefusal(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	srv.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt, Times: 1})
	if e := sendErr(t, s, basicIdentity(srv), nil); e == nil || e.Code != envoi.ESMTPRecipientRefused {
		t.Fatalf("got %v, want %s", e, envoi.ESMTPRecipientRefused)
	}
	if e := sendErr(t, s, basicIdentity(srv), nil); e != nil {
		t.Fatalf("after the refusal: %v", e)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("connections: got %d, want 1", got)
	}
	if m := srv.Messages()[0]; len(m.Recipients) != 2 {
		t.Errorf("recipients: got %v, want the second send's two (RSET forgot the first)", m.Recipients)
	}
}

func TestSend_RecoversAfterTemporaryFaults(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	srv.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultConnect, Times: 2})
	for i := range 2 {
		if e := sendErr(t, s, basicIdentity(srv), nil); e == nil || !e.Temporary {
			t.Fatalf("attempt %d: got %v, want a temporary error", i+1, e)
		}
	}
	if e := sendErr(t, s, basicIdentity(srv), nil); e != nil {
		t.Fatalf("third attempt: %v", e)
	}
}

func TestSend_SecurityNone(t *testing.T) {
	plain := startServer(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone})
	t.Run("RefusedUnlessAsked", func(t *testing.T) {
		for _, sec := range []string{envoi.SecuritySTARTTLS, envoi.SecurityTLS} {
			s := newSender(t, plain, nil)
			id := basicIdentity(plain)
			id.Flow.SMTP.Security = sec
			if e := sendErr(t, s, id, nil); e == nil || e.Code != envoi.ESMTPTLS {
				t.Errorf("%s against a server without TLS: got %v, want %s", sec, e, envoi.ESMTPTLS)
			}
		}
		if got := plain.AuthCommands(); got != 0 {
			t.Errorf("AUTH commands in clear: got %d, want 0", got)
		}
	})
	t.Run("WorksWhenAsked", func(t *testing.T) {
		s := newSender(t, plain, nil)
		if e := sendErr(t, s, basicIdentity(plain), nil); e != nil {
			t.Fatal(e)
		}
		if m := plain.Messages()[0]; m.TLS || m.AuthMechanism != "PLAIN" {
			t.Errorf("got TLS %v, mechanism %q; want clear, PLAIN", m.TLS, m.AuthMechanism)
		}
	})
}

func TestSend_CAFile(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	dir := t.TempDir()
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, srv.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, wantCode string
	}{
		{"OK", good, ""},
		{"NotPEM", bad, envoi.ESMTPTLS},
		{"Missing", filepath.Join(dir, "missing.pem"), envoi.ESMTPTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &smtp.Sender{CAFile: tt.file}
			t.Cleanup(func() { s.Close() })
			e := sendErr(t, s, basicIdentity(srv), nil)
			if got := envoi.ErrorCode(errorOrNil(e)); got != tt.wantCode {
				t.Fatalf("got %v, want code %q", e, tt.wantCode)
			}
		})
	}
}

func errorOrNil(e *envoi.Error) error {
	if e == nil {
		return nil
	}
	return e
}

func TestSend_ConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &smtp.Sender{}
	t.Cleanup(func() { s.Close() })
	id := envoi.Identity{Flow: &envoi.AuthFlow{Code: "f", Kind: envoi.KindSMTPBasic, SMTP: envoi.SMTPServer{Host: "127.0.0.1", Port: port, Security: envoi.SecuritySTARTTLS}}}
	e := sendErr(t, s, id, nil)
	if e == nil || e.Code != envoi.ESMTPUnavailable || !e.Temporary {
		t.Fatalf("got %v, want temporary %s", e, envoi.ESMTPUnavailable)
	}
}

func TestSend_ContextDeadline(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	srv.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: time.Minute})
	s := newSender(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	msg := testMessage("x")
	err := s.Send(ctx, basicIdentity(srv), envelope(msg), bytes.NewReader(msg))
	if got := envoi.ErrorCode(err); got != envoi.ESMTPTimeout || !envoi.IsTemporary(err) {
		t.Fatalf("got %v, want temporary %s", err, envoi.ESMTPTimeout)
	}
}

func TestSend_ContextCancelled(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msg := testMessage("x")
	err := s.Send(ctx, basicIdentity(srv), envelope(msg), bytes.NewReader(msg))
	if got := envoi.ErrorCode(err); got != envoi.ESMTPUnavailable || !envoi.IsTemporary(err) {
		t.Fatalf("got %v, want temporary %s", err, envoi.ESMTPUnavailable)
	}
	if got := srv.MessageCount(); got != 0 {
		t.Errorf("messages: got %d, want 0", got)
	}
}

func TestSend_InvalidInput(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	noHost := basicIdentity(srv)
	noHost.Flow = &envoi.AuthFlow{Code: "f", Kind: envoi.KindSMTPBasic}
	badKind := basicIdentity(srv)
	badKind.Flow = &envoi.AuthFlow{Code: "f", Kind: "pigeon", SMTP: srv.Endpoint()}
	tests := []struct {
		name     string
		id       envoi.Identity
		env      envoi.Envelope
		wantCode string
	}{
		{"NoFlow", envoi.Identity{}, envoi.Envelope{From: operatorEmail, Recipients: []string{"a@b.test"}}, envoi.EInvalidInput},
		{"NoHost", noHost, envoi.Envelope{From: operatorEmail, Recipients: []string{"a@b.test"}}, envoi.EInvalidFlowData},
		{"BadKind", badKind, envoi.Envelope{From: operatorEmail, Recipients: []string{"a@b.test"}}, envoi.EInvalidFlowData},
		{"FromInjection", basicIdentity(srv), envoi.Envelope{From: "a@b.test>\r\nRCPT TO:<x@y.test", Recipients: []string{"a@b.test"}}, envoi.EInvalidInput},
		{"RcptInjection", basicIdentity(srv), envoi.Envelope{From: operatorEmail, Recipients: []string{"a@b.test\r\nDATA"}}, envoi.EInvalidInput},
		{"NoRecipient", basicIdentity(srv), envoi.Envelope{From: operatorEmail}, envoi.EInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Send(context.Background(), tt.id, tt.env, bytes.NewReader([]byte("Subject: x\r\n\r\nx\r\n")))
			if got := envoi.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("got %v, want %s", err, tt.wantCode)
			}
		})
	}
	if got := srv.Connections(); got != 0 {
		t.Errorf("connections: got %d, want 0", got)
	}
}

// failingMessage is a message whose source fails halfway.
type failingMessage struct{}

func (failingMessage) WriteTo(w io.Writer) (int64, error) {
	n, _ := w.Write([]byte("Subject: x\r\n\r\npart"))
	return int64(n), errors.New("attachment unreadable")
}

func TestSend_MessageSourceFails(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	env := envoi.Envelope{From: operatorEmail, Recipients: []string{"a@b.test"}}
	err := s.Send(context.Background(), basicIdentity(srv), env, failingMessage{})
	if got := envoi.ErrorCode(err); got != envoi.EInternal || !strings.Contains(err.Error(), "attachment unreadable") {
		t.Fatalf("got %v, want %s with the source's error", err, envoi.EInternal)
	}
	if got := srv.MessageCount(); got != 0 {
		t.Fatalf("the server accepted a truncated message")
	}
	// The broken connection is not reused.
	if e := sendErr(t, s, basicIdentity(srv), nil); e != nil {
		t.Fatal(e)
	}
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections: got %d, want 2", got)
	}
}

func TestClose(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := &smtp.Sender{RootCAs: srv.RootCAs}
	if e := sendErr(t, s, basicIdentity(srv), nil); e != nil {
		t.Fatal(e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	e := sendErr(t, s, basicIdentity(srv), nil)
	if e == nil || e.Code != envoi.EUnavailable {
		t.Fatalf("send after Close: got %v, want %s", e, envoi.EUnavailable)
	}
}

func TestSend_CancelledWhileWaitingForServer(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	msg := testMessage("x")
	// Warm the pool, then make every reply hang.
	if err := s.Send(context.Background(), basicIdentity(srv), envelope(msg), bytes.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	srv.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	err := s.Send(ctx, basicIdentity(srv), envelope(msg), bytes.NewReader(msg))
	if got := envoi.ErrorCode(err); got != envoi.ESMTPUnavailable || !envoi.IsTemporary(err) {
		t.Fatalf("got %v, want temporary %s (cancelled)", err, envoi.ESMTPUnavailable)
	}
	if got := srv.MessageCount(); got != 1 {
		t.Errorf("messages: got %d, want 1", got)
	}
}

// TestSend_LargeMessageIntact sends a message many times DATA's buffer,
// with dotted lines across the buffer's edges, and checks every byte.
func TestSend_LargeMessageIntact(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityTLS})
	s := newSender(t, srv, nil)
	var b bytes.Buffer
	b.WriteString("Subject: large\r\n\r\n")
	for i := 0; b.Len() < 3<<20; i++ {
		if i%7 == 0 {
			b.WriteString(".")
		}
		fmt.Fprintf(&b, "line %d %s\r\n", i, strings.Repeat("x", i%97))
	}
	msg := b.Bytes()
	if err := s.Send(context.Background(), basicIdentity(srv), envelope(msg), chunked{msg, 1000}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages()[0].Data; !bytes.Equal(got, msg) {
		t.Fatalf("the message arrived changed: %d bytes, want %d", len(got), len(msg))
	}
}

// TestSend_PipelinedRefusalOfTheOneRecipient: with PIPELINING, DATA goes
// with the one RCPT; the server refuses both, the error names the
// recipient, and the connection carries the next message.
func TestSend_PipelinedRefusalOfTheOneRecipient(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	msg := testMessage("x")
	env := envoi.Envelope{From: operatorEmail, Recipients: []string{"client@customer.test"}}
	srv.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt, Times: 1})
	err := s.Send(context.Background(), basicIdentity(srv), env, bytes.NewReader(msg))
	var ee *envoi.Error
	if !errors.As(err, &ee) || ee.Code != envoi.ESMTPRecipientRefused || ee.Details["recipient"] != "client@customer.test" {
		t.Fatalf("got %v, want %s naming the recipient", err, envoi.ESMTPRecipientRefused)
	}
	for i := range 3 {
		if err := s.Send(context.Background(), basicIdentity(srv), env, bytes.NewReader(msg)); err != nil {
			t.Fatalf("send %d after the refusal: %v", i, err)
		}
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("connections: got %d, want 1", got)
	}
	if got := srv.MessageCount(); got != 3 {
		t.Errorf("messages: got %d, want 3", got)
	}
}

// TestDeliver_Outcome: Deliver returns the server's reply to the message
// and the queue id it names; a reply without one gives the reply alone.
func TestDeliver_Outcome(t *testing.T) {
	srv := startServer(t, testmail.SMTPOptions{})
	s := newSender(t, srv, nil)
	msg := testMessage("Outcome")
	d := &envoi.Delivery{Transport: envoi.TransportSMTP, Identity: basicIdentity(srv), Envelope: envelope(msg), Content: msg}

	out, err := s.Deliver(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.Reply, "250 ") || out.ProviderMessageID != "" {
		t.Errorf("plain server: outcome %+v, want a 250 reply and no id", out)
	}

	srv.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultData, Code: 250, EnhancedCode: "2.0.0", Text: "Ok: queued as 4Zk1xY0abcz9", Times: 1})
	out, err = s.Deliver(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if out.ProviderMessageID != "4Zk1xY0abcz9" || out.Reply != "250 2.0.0 Ok: queued as 4Zk1xY0abcz9" {
		t.Errorf("outcome %+v, want the queue id 4Zk1xY0abcz9 and the reply", out)
	}
}
