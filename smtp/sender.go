// Package smtp sends envoi's messages over SMTP: STARTTLS, implicit TLS or,
// when a flow asks for it, no TLS; PLAIN or LOGIN with an operator's
// password; XOAUTH2 or OAUTHBEARER with an access token from a token
// source. Authenticated connections are pooled per mailbox and reused, and
// every failure is an *envoi.Error with an smtp_* code (see Classify).
package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"envoi"
)

// Defaults of the Sender's zero values.
const (
	DefaultDialTimeout        = 30 * time.Second
	DefaultCommandTimeout     = 2 * time.Minute
	DefaultIdleTimeout        = time.Minute
	DefaultMaxConnsPerMailbox = 2
	// DefaultGreetingTimeout bounds the greeting and the TLS handshakes: a
	// server that accepts and says nothing (often an implicit TLS port
	// reached with STARTTLS) fails in seconds, not CommandTimeout.
	DefaultGreetingTimeout = 30 * time.Second
	// DefaultMaxConnAge is how long an authenticated connection is reused
	// at most. A password changed or a consent revoked takes effect on the
	// next connection; five minutes of reuse keep the cost of connecting
	// negligible at any sending rate.
	DefaultMaxConnAge = 5 * time.Minute
)

// Sender sends messages over SMTP as flows' identities. Its zero value is
// ready: system roots, the defaults above, no token source (OAuth flows
// then fail). It is safe for concurrent use; Close it to end the pooled
// connections.
type Sender struct {
	// RootCAs verifies servers' certificates; nil uses the system's roots.
	RootCAs *x509.CertPool
	// CAFile is a PEM file of more authorities to trust, added to RootCAs
	// (or to the system's roots).
	CAFile string
	// Tokens gives the access tokens of OAuth 2.0 flows, asked at AUTH time.
	Tokens envoi.TokenSource
	// OAuthMechanism forces MechXOAuth2 or MechOAuthBearer; empty uses
	// XOAUTH2 unless the server offers only OAUTHBEARER.
	OAuthMechanism string
	// DialTimeout bounds the TCP connection (DefaultDialTimeout).
	DialTimeout time.Duration
	// CommandTimeout bounds each command's reply, and each 64 KB of DATA
	// (DefaultCommandTimeout).
	CommandTimeout time.Duration
	// IdleTimeout is how long an unused connection stays in the pool
	// (DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxConnsPerMailbox bounds the connections open at once for one
	// mailbox; more sends wait (DefaultMaxConnsPerMailbox).
	MaxConnsPerMailbox int
	// GreetingTimeout bounds the server's greeting and each TLS handshake,
	// implicit or after STARTTLS (DefaultGreetingTimeout, and never more
	// than CommandTimeout).
	GreetingTimeout time.Duration
	// MaxConnAge bounds how long an authenticated connection is reused
	// (DefaultMaxConnAge). An OAuth 2.0 connection is also not reused past
	// the expiry of the access token that authenticated it, when the token
	// source tells it (TokenExpirySource): the refreshed token is then
	// presented, and a revoked consent takes effect.
	MaxConnAge time.Duration
	// Now is the clock of the idle timeout and of MaxConnAge (time.Now).
	Now func() time.Time
	// Logger receives connection events; never a password or a token.
	Logger *slog.Logger
	// HelloName is the name sent with EHLO ("localhost" when empty).
	HelloName string
	// WrapConn, when set, wraps each TCP connection as soon as it is
	// made, before TLS (envoi bench counts the writes to the socket with
	// it).
	WrapConn func(net.Conn) net.Conn

	rootsOnce sync.Once
	roots     *x509.CertPool
	rootsErr  error

	mu       sync.Mutex
	pools    map[poolKey]*pool
	sweeper  *time.Timer
	closed   bool
	inflight sync.WaitGroup
}

var (
	_ envoi.Sender    = (*Sender)(nil)
	_ envoi.Transport = (*Sender)(nil)
)

// poolKey names the connections that may carry each other's messages: the
// same flow, server and authenticated identity.
type poolKey struct {
	flow, kind, host, security, username string
	port                                 int
}

// target is where and how a flow sends.
type target struct {
	key      poolKey
	flow     string
	kind     string
	host     string
	port     int
	security string
}

func targetOf(id envoi.Identity) (target, error) {
	f := id.Flow
	if f == nil {
		return target{}, envoi.FieldError(envoi.EInvalidInput, "flow", "no authentication flow given")
	}
	t := target{flow: f.Code, kind: f.Kind, host: strings.TrimSpace(f.SMTP.Host), port: f.SMTP.Port, security: f.SMTP.Security}
	if t.host == "" || strings.ContainsAny(t.host, " /\r\n") {
		return target{}, envoi.FieldError(envoi.EInvalidFlowData, "smtp.host", "the SMTP server name is required")
	}
	if t.security == "" {
		t.security = envoi.SecuritySTARTTLS
	}
	switch t.security {
	case envoi.SecuritySTARTTLS, envoi.SecurityTLS, envoi.SecurityNone:
	default:
		return target{}, envoi.FieldError(envoi.EInvalidFlowData, "smtp.security", "%q is not starttls, tls or none", t.security)
	}
	if t.port == 0 {
		t.port = map[string]int{envoi.SecuritySTARTTLS: 587, envoi.SecurityTLS: 465, envoi.SecurityNone: 25}[t.security]
	}
	if t.port < 1 || t.port > 65535 {
		return target{}, envoi.FieldError(envoi.EInvalidFlowData, "smtp.port", "%d is not a port", t.port)
	}
	switch t.kind {
	case envoi.KindSMTPBasic, envoi.KindOAuth2:
	default:
		return target{}, envoi.FieldError(envoi.EInvalidFlowData, "kind", "%q is not smtp_basic or oauth2", t.kind)
	}
	t.key = poolKey{flow: t.flow, kind: t.kind, host: strings.ToLower(t.host), security: t.security, username: id.Username, port: t.port}
	return t, nil
}

// envelopeOf checks the envelope's addresses: EInvalidInput for one that
// is not an address or could inject a command.
func envelopeOf(env envoi.Envelope) (string, []string, error) {
	from, err := envoi.ParseAddress(env.From)
	if err != nil {
		return "", nil, envoi.FieldError(envoi.EInvalidInput, "from", "%q is not a valid e-mail address", env.From)
	}
	if len(env.Recipients) == 0 {
		return "", nil, envoi.FieldError(envoi.EInvalidInput, "recipients", "a message needs at least one recipient")
	}
	rcpts := make([]string, len(env.Recipients))
	for i, r := range env.Recipients {
		a, err := envoi.ParseAddress(r)
		if err != nil {
			return "", nil, envoi.FieldError(envoi.EInvalidInput, "recipients", "%q is not a valid e-mail address", r)
		}
		rcpts[i] = a.Address
	}
	return from.Address, rcpts, nil
}

// Deliver sends a delivery record's message (d.Content) to its envelope
// as its identity: the transport of envoi.TransportSMTP. The outcome has
// the server's reply to the message and the queue id it names, if any.
// Errors are Send's, and invalid_input for a record of another transport.
func (s *Sender) Deliver(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
	if d.Transport != envoi.TransportSMTP {
		return envoi.Outcome{}, envoi.FieldError(envoi.EInvalidInput, "transport", "%q is not delivered over SMTP", d.Transport)
	}
	if d.Content == nil {
		return envoi.Outcome{}, envoi.FieldError(envoi.EInvalidInput, "data", "no message to send")
	}
	reply, err := s.send(ctx, d.Identity, d.Envelope, bytes.NewReader(d.Content))
	if err != nil {
		return envoi.Outcome{}, err
	}
	return envoi.Outcome{ProviderMessageID: queueID(reply), Reply: reply}, nil
}

// Send sends data, a composed message, to env's recipients as id, over a
// pooled connection of id's mailbox when one is free. Errors are
// *envoi.Error: smtp_* codes from Classify, consent_required and the
// token source's other errors unchanged, invalid_input for a bad address,
// invalid_flow_data for a flow without server.
func (s *Sender) Send(ctx context.Context, id envoi.Identity, env envoi.Envelope, data io.WriterTo) error {
	_, err := s.send(ctx, id, env, data)
	return err
}

// send is Send, returning the server's reply to the message (replyText).
func (s *Sender) send(ctx context.Context, id envoi.Identity, env envoi.Envelope, data io.WriterTo) (string, error) {
	t, err := targetOf(id)
	if err != nil {
		return "", err
	}
	from, rcpts, err := envelopeOf(env)
	if err != nil {
		return "", err
	}
	if data == nil {
		return "", envoi.FieldError(envoi.EInvalidInput, "data", "no message to send")
	}
	if err := credentialsInClear(t, id); err != nil {
		return "", err
	}
	p, err := s.enter(t.key, id.Flow.Limits.Connections)
	if err != nil {
		return "", err
	}
	defer s.inflight.Done()
	if err := p.acquire(ctx); err != nil {
		return "", Classify(err)
	}
	defer p.release()

	for {
		cn := s.takeIdle(p)
		reused := cn != nil
		if cn == nil {
			if cn, err = s.connect(ctx, t, id, nil); err != nil {
				return "", err
			}
		}
		stop := cn.watch(ctx)
		reply, err := cn.send(ctx, from, rcpts, env.Size, data)
		stop()
		if err == nil {
			if cn.broken { // ctx ended just as the server answered
				cn.quit()
			} else {
				s.putIdle(p, cn)
			}
			return reply, nil
		}
		if reused && cn.broken && stale(err) && ctx.Err() == nil {
			// The server dropped the idle connection and nothing was sent:
			// try the next idle one, or a new one (which gets no retry).
			s.log().Debug("smtp: pooled connection is gone; dialing again", "flow", t.flow, "error", err)
			cn.quit()
			continue
		}
		if cn.broken {
			cn.quit()
		} else {
			s.putIdle(p, cn)
		}
		if ctx.Err() != nil && isTimeout(err) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return "", Classify(err)
	}
}

// stale reports a reused connection that failed before MAIL FROM was
// accepted: RSET or MAIL answered by a dropped connection or a 421.
func stale(err error) bool {
	ce := commandError("", err)
	return (ce.Command == "RSET" || ce.Command == "MAIL") && (ce.Code == 0 || ce.Code == 421)
}

// connect opens a connection for t, secures it as the flow says and
// authenticates it as id. step, when not nil, hears each step's outcome
// (the Test action). Errors are final (*envoi.Error).
func (s *Sender) connect(ctx context.Context, t target, id envoi.Identity, step func(name string, err error, detail string)) (*conn, error) {
	if step == nil {
		step = func(string, error, string) {}
	}
	fail := func(name string, err error) (*conn, error) {
		e := Classify(err)
		step(name, e, "")
		return nil, e
	}
	if err := credentialsInClear(t, id); err != nil {
		return fail("tls", err)
	}
	roots, err := s.rootCAs()
	if err != nil {
		return fail("tls", err)
	}
	addr := net.JoinHostPort(t.host, strconv.Itoa(t.port))
	envoi.ReportTestStep(ctx, envoi.TestStep{Name: "connect", Detail: "connecting to " + addr}, true)
	d := net.Dialer{Timeout: s.dialTimeout()}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return fail("connect", &CommandError{Command: "CONNECT", Err: err})
	}
	if s.WrapConn != nil {
		raw = s.WrapConn(raw)
	}
	cn := &conn{raw: raw, timeout: s.commandTimeout()}
	stop := cn.watch(ctx)
	defer stop()
	done := false
	defer func() {
		if !done {
			cn.broken = true
			raw.Close()
		}
	}()

	tlsConfig := &tls.Config{ServerName: t.host, RootCAs: roots, MinVersion: tls.VersionTLS12}
	greet := s.greetingTimeout()
	if t.security == envoi.SecurityTLS {
		envoi.ReportTestStep(ctx, envoi.TestStep{Name: "tls", Detail: "TLS handshake with " + t.host}, true)
		if err := cn.handshake(ctx, "TLS", tlsConfig, greet); err != nil {
			e := Classify(err)
			if hung(err) {
				e.WithDetail("hint", fmt.Sprintf("is port %d a STARTTLS port (587, 25) while the flow's security is tls?", t.port))
			}
			step("tls", e, "")
			return nil, e
		}
	} else {
		cn.speak(raw)
	}
	envoi.ReportTestStep(ctx, envoi.TestStep{Name: "connect", Detail: "waiting for the server's greeting"}, true)
	if err := cn.greeting(ctx, greet); err != nil {
		e := Classify(err)
		if t.security != envoi.SecurityTLS && hung(err) {
			e.WithDetail("hint", "a server that waits for the client to speak first is usually implicit TLS (port 465): set the flow's security to tls")
		}
		step("connect", e, "")
		return nil, e
	}
	step("connect", nil, "connected to "+addr)
	if err := cn.hello(ctx, s.helloName()); err != nil {
		return fail("connect", err)
	}

	switch t.security {
	case envoi.SecuritySTARTTLS:
		if ok, _ := cn.extension("STARTTLS"); !ok {
			return fail("tls", &CommandError{Command: "STARTTLS", Err: errNoSTARTTLS})
		}
		envoi.ReportTestStep(ctx, envoi.TestStep{Name: "tls", Detail: "STARTTLS"}, true)
		if err := cn.startTLS(ctx, tlsConfig, greet, s.helloName()); err != nil {
			e := Classify(err)
			if hung(err) {
				e.WithDetail("hint", "the server accepted STARTTLS but did not complete the TLS handshake")
			}
			step("tls", e, "")
			return nil, e
		}
		step("tls", nil, tlsDetail(cn.tlsState, t.host))
	case envoi.SecurityTLS:
		step("tls", nil, tlsDetail(cn.tlsState, t.host))
	default:
		step("tls", nil, "not encrypted: the flow's security is none")
	}
	cn.capabilities()

	envoi.ReportTestStep(ctx, envoi.TestStep{Name: "auth", Detail: "AUTH as " + id.Username}, true)
	expiry, err := s.login(ctx, cn, t, id)
	if err != nil {
		step("auth", err, "")
		return nil, err
	}
	now := s.now()
	cn.expires = now.Add(s.maxConnAge())
	if !expiry.IsZero() && expiry.Before(cn.expires) {
		cn.expires = expiry
	}
	switch {
	case cn.mech != "":
		step("auth", nil, "authenticated as "+id.Username+" with "+cn.mech)
	case cn.relay:
		step("auth", nil, "no authentication: the server offers none and is a relay; the stored SMTP password is not used")
	case t.kind == envoi.KindSMTPBasic:
		step("auth", nil, "no authentication: no SMTP password is stored, the server accepts by address")
	default:
		step("auth", nil, "no authentication: the flow has no credentials")
	}
	s.log().Debug("smtp: connection open", "flow", t.flow, "server", addr, "security", t.security,
		"username", id.Username, "mechanism", cn.mech)
	done = true
	return cn, nil
}

// hung reports a step that GreetingTimeout ended (not the context).
func hung(err error) bool {
	var st *stepTimeout
	return errors.As(err, &st)
}

// hasCredentials reports whether connecting as id sends a password or a
// token: an OAuth 2.0 flow, or a basic flow with a password.
func hasCredentials(t target, id envoi.Identity) bool {
	return t.kind == envoi.KindOAuth2 || id.Password != ""
}

// loopbackHost reports whether host names this machine: localhost (RFC
// 6761) or a loopback address. Any other name may resolve elsewhere.
func loopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// loopbackAddr reports whether a connection's peer is on this machine.
func loopbackAddr(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// credentialsInClear refuses, before any connection, a flow that would send
// credentials without TLS to a host that is not this machine. (login
// checks the connected address again.)
func credentialsInClear(t target, id envoi.Identity) error {
	if t.security == envoi.SecurityNone && hasCredentials(t, id) && !loopbackHost(t.host) {
		return inClear(t.host)
	}
	return nil
}

// inClear is the refusal to send credentials over an unencrypted
// connection to another machine.
func inClear(host string) *envoi.Error {
	e := envoi.FieldError(envoi.EInvalidFlowData, "smtp.security",
		"the flow's security is none and %s is not this machine: envoi does not send a password or an access token over an unencrypted connection", host)
	e.Remedy = "Set the flow's security to starttls (port 587) or tls (port 465). Security none is only for a relay on this machine (localhost), or a relay that asks no password."
	return e.WithDetail("host", host)
}

func tlsDetail(st *tls.ConnectionState, host string) string {
	if st == nil {
		return "TLS"
	}
	return fmt.Sprintf("%s, %s, certificate of %s verified", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), host)
}

// rootCAs returns the authorities that verify servers: RootCAs (or the
// system's) plus CAFile's. Returns ESMTPTLS when CAFile cannot be used.
func (s *Sender) rootCAs() (*x509.CertPool, error) {
	s.rootsOnce.Do(func() {
		s.roots = s.RootCAs
		if s.CAFile == "" {
			return
		}
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			s.rootsErr = envoi.Errorf(envoi.ESMTPTLS, "cannot read the CA file %s: %v", s.CAFile, err)
			return
		}
		pool := s.RootCAs
		if pool == nil {
			if pool, err = x509.SystemCertPool(); err != nil {
				pool = x509.NewCertPool()
			}
		} else {
			pool = pool.Clone()
		}
		if !pool.AppendCertsFromPEM(pem) {
			s.rootsErr = envoi.Errorf(envoi.ESMTPTLS, "the CA file %s holds no PEM certificate", s.CAFile)
			return
		}
		s.roots = pool
	})
	return s.roots, s.rootsErr
}

// Close closes the pooled connections after the sends under way end. Sends
// after Close fail with EUnavailable.
func (s *Sender) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.sweeper != nil {
		s.sweeper.Stop()
		s.sweeper = nil
	}
	s.mu.Unlock()
	s.inflight.Wait()

	s.mu.Lock()
	pools := s.pools
	s.pools = nil
	s.mu.Unlock()
	for _, p := range pools {
		p.mu.Lock()
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, cn := range idle {
			cn.quit()
		}
	}
	return nil
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Sender) helloName() string {
	if s.HelloName != "" {
		return s.HelloName
	}
	return "localhost"
}

func (s *Sender) dialTimeout() time.Duration { return orDefault(s.DialTimeout, DefaultDialTimeout) }
func (s *Sender) commandTimeout() time.Duration {
	return orDefault(s.CommandTimeout, DefaultCommandTimeout)
}
func (s *Sender) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }
func (s *Sender) greetingTimeout() time.Duration {
	return min(orDefault(s.GreetingTimeout, DefaultGreetingTimeout), s.commandTimeout())
}
func (s *Sender) maxConnAge() time.Duration { return orDefault(s.MaxConnAge, DefaultMaxConnAge) }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
