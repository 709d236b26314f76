package main

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
	"sync"
	"sync/atomic"
	"time"
)

// benchSink is envoi bench's built-in SMTP sink: in the spirit of
// Postfix's smtp-sink, it answers the protocol and throws messages away,
// reading DATA in large slices so that the sink costs little of the CPU the
// bench measures. Unlike smtp-sink it speaks STARTTLS (with its own
// certificate) and checks XOAUTH2 tokens, as Microsoft's and Google's
// servers do. It listens on 127.0.0.1 only.
type benchSink struct {
	Addr    string
	RootCAs *x509.CertPool

	ln       net.Listener
	tls      *tls.Config
	validate func(user, token string) error
	wg       sync.WaitGroup

	messages, bytes, conns, auths atomic.Int64
}

func startBenchSink(validate func(user, token string) error) (*benchSink, error) {
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
	s := &benchSink{
		Addr: ln.Addr().String(), RootCAs: x509.NewCertPool(), ln: ln, validate: validate,
		tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
	}
	s.RootCAs.AddCert(cert)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *benchSink) port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// Close stops listening and waits for the connections to end.
func (s *benchSink) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func (s *benchSink) accept() {
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
func (s *benchSink) session(c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 4<<10)
	secure, authed := false, false
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
				reply("250-localhost", "250-PIPELINING", "250-8BITMIME", "250-AUTH XOAUTH2", "250 SIZE")
			} else {
				reply("250-localhost", "250-PIPELINING", "250-8BITMIME", "250 STARTTLS")
			}
		case "STARTTLS":
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
			if err := s.auth(line); err != nil || !secure {
				reply("535 5.7.8 Authentication unsuccessful")
				continue
			}
			authed = true
			reply("235 2.7.0 Authentication successful")
		case "MAIL":
			if !authed {
				reply("530 5.7.0 Authentication required")
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
			n, err := s.data(r)
			if err != nil {
				return
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

// data reads a message up to the line holding a single dot and returns its
// size. It looks for the end, CRLF "." CRLF, in whatever the reader holds
// (up to 64 KB at a time) rather than line by line; the last bytes of each
// slice are kept to find an end that straddles two.
func (s *benchSink) data(r *bufio.Reader) (int64, error) {
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

// auth checks "AUTH XOAUTH2 <base64 of user=U\x01auth=Bearer T\x01\x01>".
func (s *benchSink) auth(line []byte) error {
	f := bytes.Fields(line)
	if len(f) != 3 || !bytes.EqualFold(f[1], []byte("XOAUTH2")) {
		return errors.New("only XOAUTH2 with an initial response")
	}
	raw, err := base64.StdEncoding.DecodeString(string(f[2]))
	if err != nil {
		return err
	}
	var user, token string
	for _, part := range bytes.Split(raw, []byte{1}) {
		if v, ok := bytes.CutPrefix(part, []byte("user=")); ok {
			user = string(v)
		}
		if v, ok := bytes.CutPrefix(part, []byte("auth=Bearer ")); ok {
			token = string(v)
		}
	}
	return s.validate(user, token)
}
