// Package benchpeer holds the peers envoi bench sends to: an SMTP sink and
// an OAuth 2.0 token endpoint, both on loopback and both lean, so that they
// cost little of the CPU the bench measures. It is linked into the envoi
// binary: it imports no test code (no testing, no httptest, no SMTP server
// library), only the standard library.
package benchpeer

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SASL mechanisms the sink offers once the connection is encrypted.
const (
	MechXOAuth2     = "XOAUTH2"
	MechOAuthBearer = "OAUTHBEARER"
	MechPlain       = "PLAIN"
)

// SinkOptions say how the sink checks credentials. A nil check refuses
// that kind of credential.
type SinkOptions struct {
	// Token checks an access token presented with XOAUTH2 or OAUTHBEARER
	// for user (user may be empty when the client names none).
	Token func(user, token string) error
	// Password checks a PLAIN user name and password.
	Password func(user, password string) error
	// Limits, when set, gives a user's sending limits, as Exchange Online
	// enforces them: messages in any 60 seconds and connections
	// authenticated at once (0: none). Past either, MAIL is answered
	// "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"
	// (counted in Throttled).
	Limits func(user string) (perMinute, connections int)
	// Delay, when set, is how long the sink waits before acknowledging a
	// message of user: a slow server.
	Delay func(user string) time.Duration
}

// Sink is an SMTP server in the spirit of Postfix's smtp-sink: it answers
// the protocol and throws messages away, reading DATA in large slices. It
// speaks STARTTLS with a certificate of its own (RootCAs trusts it),
// PIPELINING, and AUTH XOAUTH2, OAUTHBEARER and PLAIN after STARTTLS, as
// Microsoft's and Google's servers do; MAIL needs a successful AUTH. It
// listens on 127.0.0.1 only.
type Sink struct {
	Addr    string
	RootCAs *x509.CertPool

	opts SinkOptions
	ln   net.Listener
	tls  *tls.Config
	wg   sync.WaitGroup

	messages, bytes, conns, auths, throttled, throttledConns atomic.Int64

	mu    sync.Mutex
	users map[string]*sinkUser // guarded by mu
}

// sinkUser is what the sink counts of one user for Limits.
type sinkUser struct {
	conns int
	mails []time.Time // MAIL commands accepted in the last minute
}

// StartSink listens on a free port of 127.0.0.1 and serves until Close.
func StartSink(opts SinkOptions) (*Sink, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "envoi bench sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{
		Addr: ln.Addr().String(), RootCAs: x509.NewCertPool(), opts: opts, ln: ln,
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
	}
	s.RootCAs.AddCert(cert)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Port is the port the sink listens on.
func (s *Sink) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Messages is the number of messages received (DATA ended with 250).
func (s *Sink) Messages() int64 { return s.messages.Load() }

// Bytes is the size of the messages received, dot-stuffing included.
func (s *Sink) Bytes() int64 { return s.bytes.Load() }

// Connections is the number of connections accepted.
func (s *Sink) Connections() int64 { return s.conns.Load() }

// Throttled is the number of MAIL commands answered 432 4.3.2 (Limits);
// ThrottledConnections those of them for too many connections.
func (s *Sink) Throttled() int64 { return s.throttled.Load() }

// ThrottledConnections: see Throttled.
func (s *Sink) ThrottledConnections() int64 { return s.throttledConns.Load() }

// AuthCommands is the number of AUTH commands received, failed ones included.
func (s *Sink) AuthCommands() int64 { return s.auths.Load() }

// Close stops listening and waits for the open connections to end.
func (s *Sink) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			s.session(c)
		}()
	}
}

// session serves one connection until QUIT or an error.
func (s *Sink) session(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 4<<10)
	secure, authed := false, false
	user := ""
	defer func() { s.leave(user) }()
	reply := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l)
			w.WriteString("\r\n")
		}
		// Flush once the client has nothing more pipelined.
		if r.Buffered() == 0 {
			w.Flush()
		}
	}
	reply("220 localhost ESMTP envoi bench sink")
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		verb := line
		if i := bytes.IndexByte(line, ' '); i >= 0 {
			verb = line[:i]
		}
		switch string(bytes.ToUpper(verb)) {
		case "EHLO", "HELO":
			if secure {
				reply("250-localhost", "250-PIPELINING", "250-8BITMIME", "250-AUTH "+MechXOAuth2+" "+MechOAuthBearer+" "+MechPlain, "250 SIZE")
			} else {
				reply("250-localhost", "250-PIPELINING", "250-8BITMIME", "250 STARTTLS")
			}
		case "STARTTLS":
			if secure {
				reply("503 5.5.1 TLS already active")
				continue
			}
			reply("220 2.0.0 ready to start TLS")
			w.Flush()
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure, authed = tc, true, false
			r.Reset(c)
			w.Reset(c)
		case "AUTH":
			s.auths.Add(1)
			if !secure {
				reply("538 5.7.11 Encryption required for requested authentication mechanism")
				continue
			}
			u, ok, err := s.auth(line, r, w)
			if err != nil {
				return
			}
			if !ok {
				reply("535 5.7.8 Authentication unsuccessful")
				continue
			}
			authed = true
			s.leave(user)
			user = u
			s.enter(user)
			reply("235 2.7.0 Authentication successful")
		case "MAIL":
			if !authed {
				reply("530 5.7.0 Authentication required")
				continue
			}
			if !s.mailAllowed(user) {
				s.throttled.Add(1)
				reply("432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded")
				continue
			}
			reply("250 2.1.0 OK")
		case "RCPT":
			reply("250 2.1.5 OK")
		case "RSET", "NOOP":
			reply("250 2.0.0 OK")
		case "DATA":
			reply("354 Start mail input; end with <CRLF>.<CRLF>")
			w.Flush()
			n, err := readData(r)
			if err != nil {
				return
			}
			if s.opts.Delay != nil {
				if d := s.opts.Delay(user); d > 0 {
					time.Sleep(d)
				}
			}
			s.messages.Add(1)
			s.bytes.Add(n)
			reply("250 2.0.0 OK queued")
		case "QUIT":
			reply("221 2.0.0 Bye")
			w.Flush()
			return
		default:
			reply("502 5.5.2 Command not recognized")
		}
	}
}

// readData reads a message up to the line holding a single dot and returns
// its size. It looks for the end, CRLF "." CRLF, in whatever the reader
// holds (up to its size at a time) rather than line by line; the last bytes
// of each slice are kept to find an end that straddles two.
func readData(r *bufio.Reader) (int64, error) {
	const end = "\r\n.\r\n"
	var n int64
	// tail: the last bytes read, up to 4; DATA starts at a line's start.
	tail := append(make([]byte, 0, 4+4), "\r\n"...)
	for {
		if _, err := r.Peek(1); err != nil {
			return n, err
		}
		buf, _ := r.Peek(r.Buffered())
		probe := append(tail, buf[:min(4, len(buf))]...)
		if i := bytes.Index(probe, []byte(end)); i >= 0 {
			k := i + len(end) - len(tail)
			r.Discard(k)
			return n + int64(k) - 3, nil
		}
		if i := bytes.Index(buf, []byte(end)); i >= 0 {
			r.Discard(i + len(end))
			return n + int64(i+2), nil
		}
		if len(buf) >= 4 {
			tail = append(tail[:0], buf[len(buf)-4:]...)
		} else {
			tail = append(tail, buf...)
			tail = tail[max(0, len(tail)-4):]
		}
		r.Discard(len(buf))
		n += int64(len(buf))
	}
}

var errRefused = errors.New("credentials refused")

// auth runs "AUTH mechanism [initial-response]": it asks for the response
// with an empty 334 when the client sent none, then checks it. ok false is
// a refusal (the caller answers 535); err is a broken connection. A refused
// OAUTHBEARER gets its RFC 7628 error challenge first, and the client's
// dummy answer is read.
func (s *Sink) auth(line []byte, r *bufio.Reader, w *bufio.Writer) (user string, ok bool, err error) {
	f := bytes.Fields(line)
	if len(f) < 2 || len(f) > 3 {
		return "", false, nil
	}
	mech := strings.ToUpper(string(f[1]))
	var resp []byte
	if len(f) == 3 {
		resp = f[2]
	} else {
		w.WriteString("334 \r\n")
		if err := w.Flush(); err != nil {
			return "", false, err
		}
		l, err := r.ReadSlice('\n')
		if err != nil {
			return "", false, err
		}
		resp = bytes.TrimRight(l, "\r\n")
		if string(resp) == "*" {
			return "", false, nil
		}
	}
	raw, err := base64.StdEncoding.DecodeString(string(resp))
	if err != nil {
		return "", false, nil
	}
	switch mech {
	case MechXOAuth2:
		user, token, parsed := parseXOAuth2(raw)
		return user, parsed && s.opts.Token != nil && s.opts.Token(user, token) == nil, nil
	case MechOAuthBearer:
		user, token, parsed := parseOAuthBearer(raw)
		if parsed && s.opts.Token != nil && s.opts.Token(user, token) == nil {
			return user, true, nil
		}
		w.WriteString("334 " + base64.StdEncoding.EncodeToString([]byte(`{"status":"invalid_token","scope":"smtp"}`)) + "\r\n")
		if err := w.Flush(); err != nil {
			return "", false, err
		}
		if _, err := r.ReadSlice('\n'); err != nil {
			return "", false, err
		}
		return "", false, nil
	case MechPlain:
		// authzid NUL authcid NUL password
		p := bytes.Split(raw, []byte{0})
		if len(p) != 3 {
			return "", false, nil
		}
		return string(p[1]), s.opts.Password != nil && s.opts.Password(string(p[1]), string(p[2])) == nil, nil
	}
	return "", false, nil
}

// enter counts an authenticated connection of user; leave uncounts it.
func (s *Sink) enter(user string) {
	if s.opts.Limits == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users == nil {
		s.users = map[string]*sinkUser{}
	}
	u := s.users[user]
	if u == nil {
		u = &sinkUser{}
		s.users[user] = u
	}
	u.conns++
}

func (s *Sink) leave(user string) {
	if s.opts.Limits == nil || user == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[user]; u != nil {
		u.conns--
	}
}

// mailAllowed reports whether user may start a message now under
// Limits, and counts it when so.
func (s *Sink) mailAllowed(user string) bool {
	if s.opts.Limits == nil {
		return true
	}
	perMinute, conns := s.opts.Limits(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[user]
	if u == nil {
		return true
	}
	if conns > 0 && u.conns > conns {
		s.throttledConns.Add(1)
		return false
	}
	now := time.Now()
	i := 0
	for i < len(u.mails) && now.Sub(u.mails[i]) >= time.Minute {
		i++
	}
	u.mails = u.mails[i:]
	if perMinute > 0 && len(u.mails) >= perMinute {
		return false
	}
	u.mails = append(u.mails, now)
	return true
}

// parseXOAuth2 reads "user=U\x01auth=Bearer T\x01\x01".
func parseXOAuth2(raw []byte) (user, token string, ok bool) {
	for part := range bytes.SplitSeq(raw, []byte{1}) {
		if v, found := bytes.CutPrefix(part, []byte("user=")); found {
			user = string(v)
		}
		if v, found := bytes.CutPrefix(part, []byte("auth=Bearer ")); found {
			token, ok = string(v), true
		}
	}
	return user, token, ok
}

// parseOAuthBearer reads "n,a=U,\x01host=H\x01port=P\x01auth=Bearer T\x01\x01"
// (RFC 7628; the authzid's "=2C" and "=3D" are ',' and '=').
func parseOAuthBearer(raw []byte) (user, token string, ok bool) {
	gs2, rest, found := bytes.Cut(raw, []byte{1})
	if !found {
		return "", "", false
	}
	for field := range bytes.SplitSeq(gs2, []byte(",")) {
		if v, found := bytes.CutPrefix(field, []byte("a=")); found {
			user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(string(v))
		}
	}
	for part := range bytes.SplitSeq(rest, []byte{1}) {
		if v, found := bytes.CutPrefix(part, []byte("auth=Bearer ")); found {
			token, ok = string(v), true
		}
	}
	return user, token, ok
}
