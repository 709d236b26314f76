// Package testmail holds real mail-side servers for envoi's tests: an SMTP
// server (go-smtp) with TLS, PLAIN/LOGIN/XOAUTH2/OAUTHBEARER and fault
// injection, and an OAuth 2.0 provider. They listen on loopback only.
package testmail

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"envoi"
)

// SMTPSecurity is how clients reach the test server; the values are the
// ones of envoi's flows (envoi.SecuritySTARTTLS, SecurityTLS, SecurityNone).
type SMTPSecurity string

// Connection security of the test server.
const (
	SMTPSecuritySTARTTLS SMTPSecurity = envoi.SecuritySTARTTLS
	SMTPSecurityTLS      SMTPSecurity = envoi.SecurityTLS
	SMTPSecurityNone     SMTPSecurity = envoi.SecurityNone
)

// SMTPOptions configures StartSMTP. The zero value is a STARTTLS server that
// asks no authentication and keeps every message.
type SMTPOptions struct {
	// Security defaults to STARTTLS.
	Security SMTPSecurity
	// Users are the PLAIN/LOGIN accounts: user -> password.
	Users map[string]string
	// ValidateToken checks an XOAUTH2/OAUTHBEARER bearer token for user
	// (user is "" when an OAUTHBEARER client sends no authzid). A plain
	// error makes the server answer as Gmail does (334 with an error JSON,
	// then 535 5.7.8); an *smtp.SMTPError of go-smtp is sent as the reply
	// itself, as Microsoft does (e.g. 535 5.7.3).
	ValidateToken func(user, token string) error
	// Mechanisms restricts and orders the SASL mechanisms offered. Empty
	// offers PLAIN and LOGIN when Users is set and XOAUTH2 and OAUTHBEARER
	// when ValidateToken is set.
	Mechanisms []string
	// MaxMessageBytes is advertised as SIZE and enforced (552 5.3.4); 0
	// advertises SIZE without a limit.
	MaxMessageBytes int64
	// Sink discards message bodies as they arrive and keeps only counts
	// (MessageCount, BytesReceived), for benchmarks: Messages stays empty.
	Sink bool
	// Domain is the name in the greeting; "localhost" when empty.
	Domain string
	// MaxCommandLine is the longest command line the server accepts, CRLF
	// included; past it the server answers 500 5.5.2 Line too long (the
	// AUTH line with an initial response included; addresses keep MAIL
	// and RCPT far below). 0 is RFC 5321's 512 (SMTPCommandLineLimit), a
	// negative value no limit. SASL responses after 334 may be longer
	// (RFC 4954 §4: 12288 octets at least).
	MaxCommandLine int
}

// SMTPMessage is a message the server accepted.
type SMTPMessage struct {
	From       string
	Recipients []string
	Data       []byte
	// AuthMechanism and AuthUser are the SASL mechanism and identity of the
	// session; both empty when the server asks no authentication.
	AuthMechanism string
	AuthUser      string
	// TLS says the message came over an encrypted connection.
	TLS bool
	// DeclaredSize is the SIZE the client declared with MAIL FROM, 0 if none.
	DeclaredSize int64
}

// Parse reads the message's header and body.
func (m SMTPMessage) Parse() (*mail.Message, error) {
	return mail.ReadMessage(bytes.NewReader(m.Data))
}

// SMTPServer is a real SMTP server on 127.0.0.1 for tests. Its methods are
// safe to call while clients are connected.
type SMTPServer struct {
	// Addr is "127.0.0.1:port".
	Addr     string
	Host     string
	Port     int
	Security SMTPSecurity
	// CAPEM is the PEM certificate of the authority that signed the
	// server's certificate; RootCAs holds it, ready for tls.Config.RootCAs.
	CAPEM   []byte
	RootCAs *x509.CertPool

	opts        SMTPOptions
	mechanisms  []string
	requireAuth bool
	tlsConfig   *tls.Config
	ln          net.Listener
	servers     []*gosmtp.Server
	main        *smtpChanListener
	noTLS       *smtpChanListener // STARTTLS server's twin without STARTTLS
	faults      smtpFaults
	closing     chan struct{}
	closeOnce   sync.Once
	wg          sync.WaitGroup

	connections  atomic.Int64
	authCommands atomic.Int64
	sinkMessages atomic.Int64
	bytes        atomic.Int64

	mu       sync.Mutex
	messages []SMTPMessage
	auths    []SMTPAuth
	live     map[*smtpTrackedConn]struct{}
}

// StartSMTP starts a test SMTP server on 127.0.0.1:0 and stops it when the
// test ends. It fails the test if the server cannot start.
func StartSMTP(tb testing.TB, opts SMTPOptions) *SMTPServer {
	tb.Helper()
	s, err := NewSMTPServer(opts)
	if err != nil {
		tb.Fatalf("testmail: start SMTP server: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NewSMTPServer starts a test SMTP server on 127.0.0.1:0; the caller
// closes it. Tests should prefer StartSMTP.
func NewSMTPServer(opts SMTPOptions) (*SMTPServer, error) {
	if opts.Security == "" {
		opts.Security = SMTPSecuritySTARTTLS
	}
	switch opts.Security {
	case SMTPSecuritySTARTTLS, SMTPSecurityTLS, SMTPSecurityNone:
	default:
		return nil, fmt.Errorf("testmail: unknown security %q", opts.Security)
	}
	s := &SMTPServer{
		Security: opts.Security,
		opts:     opts,
		closing:  make(chan struct{}),
	}
	s.mechanisms = opts.Mechanisms
	if len(s.mechanisms) == 0 {
		if opts.Users != nil {
			s.mechanisms = append(s.mechanisms, SMTPMechPlain, SMTPMechLogin)
		}
		if opts.ValidateToken != nil {
			s.mechanisms = append(s.mechanisms, SMTPMechXOAuth2, SMTPMechOAuthBearer)
		}
	}
	s.requireAuth = opts.Users != nil || opts.ValidateToken != nil

	cert, err := newSMTPCertificate(time.Now())
	if err != nil {
		return nil, err
	}
	s.CAPEM, s.RootCAs = cert.caPEM, cert.pool
	s.tlsConfig = &tls.Config{
		Certificates: []tls.Certificate{cert.leaf},
		MinVersion:   tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			if _, ok := s.faults.take(SMTPFaultTLSHandshake, ""); ok {
				return nil, errors.New("testmail: TLS refused (injected fault)")
			}
			return nil, nil
		},
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testmail: listen: %w", err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)

	s.main = s.serve(opts.Security != SMTPSecurityNone, opts.Security == SMTPSecurityNone)
	if opts.Security == SMTPSecuritySTARTTLS {
		s.noTLS = s.serve(false, false)
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// serve starts one go-smtp server reading connections from a channel.
func (s *SMTPServer) serve(withTLS, insecureAuth bool) *smtpChanListener {
	srv := gosmtp.NewServer(gosmtp.BackendFunc(s.newSession))
	srv.Domain = s.opts.Domain
	if srv.Domain == "" {
		srv.Domain = "localhost"
	}
	if withTLS {
		srv.TLSConfig = s.tlsConfig
	}
	srv.AllowInsecureAuth = insecureAuth
	srv.MaxMessageBytes = s.opts.MaxMessageBytes
	srv.MaxLineLength = smtpResponseLineLimit
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l := &smtpChanListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: s.ln.Addr()}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(l)
	}()
	return l
}

// acceptLoop counts connections and applies the connection faults before
// handing each connection to go-smtp.
func (s *SMTPServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.connections.Add(1)
		tc := &smtpTrackedConn{Conn: c, srv: s}
		s.mu.Lock()
		if s.live == nil {
			s.live = map[*smtpTrackedConn]struct{}{}
		}
		s.live[tc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.admit(tc)
		}()
	}
}

func (s *SMTPServer) admit(raw net.Conn) {
	if !s.slow() {
		raw.Close()
		return
	}
	conn := raw
	if s.Security == SMTPSecurityTLS {
		conn = tls.Server(raw, s.tlsConfig)
	}
	if f, ok := s.faults.take(SMTPFaultConnect, ""); ok {
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if tc, isTLS := conn.(*tls.Conn); isTLS && tc.Handshake() != nil {
			return
		}
		r := f.reply()
		line := strconv.Itoa(r.Code)
		if r.EnhancedCode != gosmtp.EnhancedCodeNotSet {
			line += fmt.Sprintf(" %d.%d.%d", r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2])
		}
		fmt.Fprintf(conn, "%s %s\r\n", line, r.Message)
		return
	}
	target := s.main
	if s.noTLS != nil {
		if _, ok := s.faults.take(SMTPFaultNoSTARTTLS, ""); ok {
			target = s.noTLS
		}
	}
	select {
	case target.ch <- conn:
	case <-s.closing:
		conn.Close()
	}
}

// slow waits the delay of an armed SMTPFaultSlow; it returns false when the
// server closes meanwhile.
func (s *SMTPServer) slow() bool {
	f, ok := s.faults.take(SMTPFaultSlow, "")
	if !ok || f.Delay <= 0 {
		return true
	}
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closing:
		return false
	}
}

// Close stops the server and closes every connection. It is safe to call
// more than once.
func (s *SMTPServer) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ln.Close()
		for _, srv := range s.servers {
			srv.Close()
		}
		// go-smtp's Close misses a listener its Serve has not registered
		// yet; closing ours ends that Serve too.
		for _, l := range []*smtpChanListener{s.main, s.noTLS} {
			if l != nil {
				l.Close()
			}
		}
		s.wg.Wait()
	})
}

// Endpoint returns the server as an authentication flow's SMTP settings.
func (s *SMTPServer) Endpoint() envoi.SMTPServer {
	return envoi.SMTPServer{Host: s.Host, Port: s.Port, Security: string(s.Security)}
}

// ClientTLSConfig returns a client configuration that trusts the server's
// certificate.
func (s *SMTPServer) ClientTLSConfig() *tls.Config {
	return &tls.Config{RootCAs: s.RootCAs, ServerName: s.Host, MinVersion: tls.VersionTLS12}
}

// Fail arms a fault, replacing the armed fault of the same kind. It may be
// called at any time, from any goroutine.
func (s *SMTPServer) Fail(f SMTPFault) { s.faults.set(f) }

// Heal disarms the faults of the kinds given, or all faults when none is.
func (s *SMTPServer) Heal(kinds ...SMTPFaultKind) { s.faults.heal(kinds...) }

// Struck returns how many times a fault of kind has struck.
func (s *SMTPServer) Struck(kind SMTPFaultKind) int { return s.faults.count(kind) }

// Messages returns a copy of the messages accepted so far, oldest first.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// MessageCount returns how many messages were accepted, Sink mode included.
func (s *SMTPServer) MessageCount() int {
	s.mu.Lock()
	n := len(s.messages)
	s.mu.Unlock()
	return n + int(s.sinkMessages.Load())
}

// BytesReceived returns the total size of the accepted messages.
func (s *SMTPServer) BytesReceived() int64 { return s.bytes.Load() }

// Connections returns how many TCP connections the server accepted.
func (s *SMTPServer) Connections() int { return int(s.connections.Load()) }

// AuthCommands returns how many AUTH commands the server received.
func (s *SMTPServer) AuthCommands() int { return int(s.authCommands.Load()) }

// Reset forgets messages, the AUTH log and counters (faults stay armed).
func (s *SMTPServer) Reset() {
	s.mu.Lock()
	s.messages = nil
	s.auths = nil
	s.mu.Unlock()
	s.connections.Store(0)
	s.authCommands.Store(0)
	s.sinkMessages.Store(0)
	s.bytes.Store(0)
}

func (s *SMTPServer) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	if !s.slow() {
		return nil, errors.New("server closing")
	}
	return &smtpSession{srv: s, conn: c}, nil
}

// smtpSession is one client's state between EHLO and the end of the
// connection (or STARTTLS, which starts a new session).
type smtpSession struct {
	srv     *SMTPServer
	conn    *gosmtp.Conn
	mech    string
	user    string
	initial bool // the AUTH under way came with an initial response
	from    string
	size    int64
	rcpts   []string
}

var _ gosmtp.AuthSession = (*smtpSession)(nil)

var errSMTPAuthRequired = &gosmtp.SMTPError{
	Code:         530,
	EnhancedCode: gosmtp.EnhancedCode{5, 7, 0},
	Message:      "Authentication required",
}

var errSMTPClosing = &gosmtp.SMTPError{
	Code:         421,
	EnhancedCode: gosmtp.EnhancedCode{4, 3, 2},
	Message:      "Server closing",
}

func (ss *smtpSession) AuthMechanisms() []string { return ss.srv.mechanisms }

func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	ss.srv.authCommands.Add(1)
	if !ss.srv.slow() {
		return nil, errSMTPClosing
	}
	if !slices.Contains(ss.srv.mechanisms, mech) {
		return nil, gosmtp.ErrAuthUnknownMechanism
	}
	password := func(user, pass string) error {
		return ss.finish(mech, user, "", func() error { return checkSMTPPassword(ss.srv.opts.Users, user, pass) })
	}
	token := func(user, tok string) error {
		return ss.finish(mech, user, tok, func() error { return ss.srv.opts.ValidateToken(user, tok) })
	}
	var srv sasl.Server
	switch mech {
	case SMTPMechPlain:
		srv = &smtpPlainServer{verify: password}
	case SMTPMechLogin:
		srv = &smtpLoginServer{verify: password}
	case SMTPMechXOAuth2, SMTPMechOAuthBearer:
		if ss.srv.opts.ValidateToken == nil {
			return nil, gosmtp.ErrAuthUnknownMechanism
		}
		srv = &smtpOAuthServer{mech: mech, verify: token}
	default:
		return nil, gosmtp.ErrAuthUnknownMechanism
	}
	return &smtpLineLimit{Server: srv, ss: ss, mech: mech}, nil
}

// finish decides an AUTH once the credentials are read: an armed
// SMTPFaultAuth answers first, then check. The AUTH goes to the log.
func (ss *smtpSession) finish(mech, user, token string, check func() error) error {
	entry := SMTPAuth{Mechanism: mech, User: user, Token: token, InitialResponse: ss.initial}
	defer func() { ss.srv.logAuth(entry) }()
	if f, ok := ss.srv.faults.take(SMTPFaultAuth, ""); ok {
		return f.reply()
	}
	if err := check(); err != nil {
		return err
	}
	ss.mech, ss.user = mech, user
	entry.Accepted = true
	return nil
}

func (ss *smtpSession) Mail(from string, opts *gosmtp.MailOptions) error {
	if !ss.srv.slow() {
		return errSMTPClosing
	}
	if ss.srv.requireAuth && ss.mech == "" {
		return errSMTPAuthRequired
	}
	if f, ok := ss.srv.faults.take(SMTPFaultMail, ""); ok {
		return f.reply()
	}
	ss.from, ss.rcpts, ss.size = from, nil, 0
	if opts != nil {
		ss.size = opts.Size
	}
	return nil
}

func (ss *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if !ss.srv.slow() {
		return errSMTPClosing
	}
	if f, ok := ss.srv.faults.take(SMTPFaultRcpt, to); ok {
		return f.reply()
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	if !ss.srv.slow() {
		return errSMTPClosing
	}
	if _, ok := ss.srv.faults.take(SMTPFaultDropData, ""); ok {
		io.ReadFull(r, make([]byte, 512))
		ss.drop()
		return errSMTPClosing
	}
	var data []byte
	var n int64
	var err error
	if ss.srv.opts.Sink {
		n, err = io.Copy(io.Discard, r)
	} else {
		data, err = io.ReadAll(r)
		n = int64(len(data))
	}
	if err != nil {
		return err
	}
	if f, ok := ss.srv.faults.take(SMTPFaultData, ""); ok {
		return f.reply()
	}
	ss.srv.bytes.Add(n)
	if ss.srv.opts.Sink {
		ss.srv.sinkMessages.Add(1)
		return nil
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.srv.mu.Lock()
	ss.srv.messages = append(ss.srv.messages, SMTPMessage{
		From:          ss.from,
		Recipients:    slices.Clone(ss.rcpts),
		Data:          data,
		AuthMechanism: ss.mech,
		AuthUser:      ss.user,
		TLS:           isTLS,
		DeclaredSize:  ss.size,
	})
	ss.srv.mu.Unlock()
	return nil
}

// drop resets the TCP connection under the session, TLS or not.
func (ss *smtpSession) drop() {
	raw := ss.conn.Conn()
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tc, ok := raw.(*smtpTrackedConn); ok {
		tc.reset()
		return
	}
	raw.Close()
}

// DropConnections closes every open client connection, as a server does
// to connections idle too long; the server keeps accepting new ones.
func (s *SMTPServer) DropConnections() {
	s.mu.Lock()
	conns := make([]*smtpTrackedConn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// smtpTrackedConn is an accepted TCP connection, known to the server
// until it closes.
type smtpTrackedConn struct {
	net.Conn
	srv  *SMTPServer
	once sync.Once
}

func (c *smtpTrackedConn) Close() error {
	c.once.Do(func() {
		c.srv.mu.Lock()
		delete(c.srv.live, c)
		c.srv.mu.Unlock()
	})
	return c.Conn.Close()
}

// reset closes the connection with a TCP reset rather than a FIN.
func (c *smtpTrackedConn) reset() {
	if tcp, ok := c.Conn.(*net.TCPConn); ok {
		tcp.SetLinger(0)
	}
	c.Close()
}

func (ss *smtpSession) Reset() {
	ss.srv.slow()
	ss.from, ss.rcpts, ss.size = "", nil, 0
}

func (ss *smtpSession) Logout() error { return nil }

// smtpChanListener hands go-smtp the connections acceptLoop admitted.
type smtpChanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *smtpChanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *smtpChanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *smtpChanListener) Addr() net.Addr { return l.addr }
