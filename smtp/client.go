package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// Bounds of what envoi reads from a mail server and of what it writes.
// RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets; servers exceed it
// a little in practice, so a few KB are accepted. Past any bound the
// connection is dropped: a server that sends an endless greeting or an
// endless EHLO answer cannot make envoi grow (before STARTTLS, anyone on
// the network path can be that server).
const (
	// MaxReplyLineBytes bounds one line of a reply, CRLF included.
	MaxReplyLineBytes = 4 << 10
	// MaxReplyLines bounds the lines of one reply (a multi-line EHLO
	// answer has about 15).
	MaxReplyLines = 100
	// MaxReplyBytes bounds one whole reply.
	MaxReplyBytes = 64 << 10
	// MaxCommandLine is RFC 5321's limit of a command line, CRLF
	// included (§4.5.3.1.4). An AUTH whose initial response would exceed
	// it is sent without one (RFC 4954 §4).
	MaxCommandLine = 512
)

// replyBoundError is a reply that went past one of the bounds above.
type replyBoundError struct {
	what  string // "line", "lines" or "bytes"
	limit int
}

func (e *replyBoundError) Error() string {
	switch e.what {
	case "line":
		return fmt.Sprintf("smtp: a reply line of the server exceeds %d bytes; connection dropped", e.limit)
	case "lines":
		return fmt.Sprintf("smtp: a reply of the server exceeds %d lines; connection dropped", e.limit)
	}
	return fmt.Sprintf("smtp: a reply of the server exceeds %d bytes; connection dropped", e.limit)
}

// replyReader sits between the connection's plaintext (the TCP connection,
// or the TLS connection after the handshake, never the TLS records) and
// textproto's reader, and fails the read that goes past a bound. It
// follows the replies' structure: a line whose fourth byte is '-' goes on
// with the next one (RFC 5321 §4.2.1), any other ends the reply; so that
// pipelined replies read together are each bounded, not their sum.
type replyReader struct {
	r     io.Reader
	line  int  // bytes of the current line
	lines int  // continued lines of the current reply
	bytes int  // bytes of the current reply
	cont  bool // the current line is continued
	err   error
}

func (l *replyReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for _, c := range p[:n] {
		if l.line == 3 {
			l.cont = c == '-'
		}
		l.line++
		l.bytes++
		switch {
		case l.line > MaxReplyLineBytes:
			l.err = &replyBoundError{what: "line", limit: MaxReplyLineBytes}
		case l.bytes > MaxReplyBytes:
			l.err = &replyBoundError{what: "bytes", limit: MaxReplyBytes}
		}
		if c == '\n' {
			if l.cont {
				l.lines++
			} else {
				l.lines, l.bytes = 0, 0
			}
			l.line, l.cont = 0, false
			if l.lines >= MaxReplyLines {
				l.err = &replyBoundError{what: "lines", limit: MaxReplyLines}
			}
		}
		if l.err != nil {
			return 0, l.err
		}
	}
	return n, err
}

// plainConn is what textproto reads and writes: nc's plaintext, read
// through a replyReader.
type plainConn struct {
	io.Reader
	net.Conn
}

func (c plainConn) Read(p []byte) (int, error) { return c.Reader.Read(p) }

// speak makes nc (the TCP connection, or TLS over it) the connection's
// plaintext; what the previous reader had buffered is dropped (after
// STARTTLS, nothing sent in clear may count as sent under TLS).
func (cn *conn) speak(nc net.Conn) {
	cn.text = textproto.NewConn(plainConn{Reader: &replyReader{r: nc}, Conn: nc})
}

// armFor gives the next step d, or less if ctx ends sooner.
func (cn *conn) armFor(ctx context.Context, d time.Duration) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.cancelled {
		if err := ctx.Err(); err != nil {
			return err
		}
		return context.Canceled
	}
	dl := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	return cn.raw.SetDeadline(dl)
}

// stepTimeout says which step a silent server left unfinished within the
// greeting timeout; it classifies as a timeout.
type stepTimeout struct {
	step string
	d    time.Duration
	err  error
}

func (e *stepTimeout) Error() string {
	return fmt.Sprintf("%s within %s: %v", e.step, e.d, e.err)
}
func (e *stepTimeout) Unwrap() error { return e.err }

// greeting reads the server's 220 under the greeting timeout.
func (cn *conn) greeting(ctx context.Context, d time.Duration) error {
	if err := cn.armFor(ctx, d); err != nil {
		return &CommandError{Command: "CONNECT", Err: err}
	}
	if _, _, err := cn.text.ReadResponse(220); err != nil {
		if isTimeout(err) && ctx.Err() == nil {
			err = &stepTimeout{step: "no greeting", d: d, err: err}
		}
		return cn.failed("CONNECT", err)
	}
	return nil
}

// handshake runs the TLS handshake over raw under the greeting timeout and
// makes it the connection's plaintext.
func (cn *conn) handshake(ctx context.Context, command string, cfg *tls.Config, d time.Duration) error {
	if err := cn.armFor(ctx, d); err != nil {
		return &CommandError{Command: command, Err: err}
	}
	cn.batch = &batchConn{Conn: cn.raw}
	tc := tls.Client(cn.batch, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		cn.broken = true
		if isTimeout(err) && ctx.Err() == nil {
			err = &stepTimeout{step: "no TLS handshake", d: d, err: err}
		}
		return &CommandError{Command: command, Err: err}
	}
	st := tc.ConnectionState()
	cn.tls, cn.tlsState = true, &st
	cn.speak(tc)
	return nil
}

// hello sends EHLO and reads the extensions offered; a server that refuses
// EHLO gets HELO and is taken to offer none.
func (cn *conn) hello(ctx context.Context, name string) error {
	if strings.ContainsAny(name, "\r\n ") || name == "" {
		return &CommandError{Command: "EHLO", Err: errors.New("smtp: the hello name is not a domain")}
	}
	cn.ext = map[string]string{}
	_, msg, err := cn.cmd(ctx, "EHLO", 250, "EHLO "+name)
	if err != nil {
		var ce *CommandError
		if !errors.As(err, &ce) || ce.Code == 0 || ce.Code == 421 {
			return err
		}
		_, _, err = cn.cmd(ctx, "HELO", 250, "HELO "+name)
		return err
	}
	lines := strings.Split(msg, "\n")
	for _, line := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		if k != "" {
			cn.ext[strings.ToUpper(k)] = v
		}
	}
	return nil
}

// extension reports whether the last EHLO offered ext, and its parameter.
func (cn *conn) extension(ext string) (bool, string) {
	v, ok := cn.ext[strings.ToUpper(ext)]
	return ok, v
}

// startTLS runs STARTTLS, the handshake under the greeting timeout, and
// EHLO again over TLS.
func (cn *conn) startTLS(ctx context.Context, cfg *tls.Config, d time.Duration, name string) error {
	if _, _, err := cn.cmd(ctx, "STARTTLS", 220, "STARTTLS"); err != nil {
		return err
	}
	if err := cn.handshake(ctx, "STARTTLS", cfg, d); err != nil {
		return err
	}
	return cn.hello(ctx, name)
}
