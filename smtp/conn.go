package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail/smtp"

	"envoi"
)

// dataBufferSize is the size of the writes DATA makes to the connection.
const dataBufferSize = 64 << 10

// conn is one SMTP connection, authenticated once and reused for several
// messages of the same mailbox.
type conn struct {
	raw      net.Conn        // the TCP connection under TLS: deadlines and hard close
	text     *textproto.Conn // the plaintext, its replies bounded (see replyReader)
	timeout  time.Duration
	ext      map[string]string // the last EHLO's extensions, names in upper case
	tlsState *tls.ConnectionState

	// What the server offered after TLS.
	sizeExt  bool  // SIZE advertised
	maxSize  int64 // SIZE's limit, 0 when unlimited or not advertised
	eightBit bool
	utf8     bool
	auth     []string
	authExt  bool // AUTH advertised at all
	tls      bool
	mech     string
	// relay is set when a basic flow's stored password went unused: the
	// server offers no authentication and is not a provider's (see login).
	relay bool

	dirty    bool      // a transaction began and did not end: RSET before the next
	pipeline bool      // the server offers PIPELINING (RFC 2920)
	broken   bool      // the connection cannot be reused
	lastUsed time.Time // by Sender.Now, for the idle timeout
	// expires is when the connection stops being reused (Sender.Now's
	// time): MaxConnAge after it opened, or sooner the expiry of the
	// access token that authenticated it.
	expires time.Time

	buf *bufio.Writer // DATA's buffer, kept between messages
	dot dotWriter
	// batch is under TLS: it makes the records of one write of DATA one
	// write to the socket (nil in clear).
	batch *batchConn
	dw    deadlineWriter

	// cancelled is set when the context of the current operation ends; the
	// deadline is then in the past and must stay there.
	mu        sync.Mutex
	cancelled bool
}

// watch makes ctx's end interrupt any blocked read or write on cn. The
// returned stop must be called when the operation ends; the connection is
// marked broken if ctx ended meanwhile.
func (cn *conn) watch(ctx context.Context) (stop func()) {
	cancel := context.AfterFunc(ctx, func() {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		cn.cancelled = true
		cn.raw.SetDeadline(time.Unix(1, 0))
	})
	return func() {
		if !cancel() {
			cn.mu.Lock()
			if cn.cancelled {
				cn.broken = true
			}
			cn.mu.Unlock()
		}
	}
}

// arm gives the next command CommandTimeout, or less if ctx ends sooner.
func (cn *conn) arm(ctx context.Context) error { return cn.armFor(ctx, cn.timeout) }

// cmd sends one command line and reads its reply; expect 0 accepts any
// reply code. A reply other than expected is a *CommandError with Code.
func (cn *conn) cmd(ctx context.Context, command string, expect int, line string) (int, string, error) {
	if err := cn.arm(ctx); err != nil {
		return 0, "", &CommandError{Command: command, Err: err}
	}
	t := cn.text
	id, err := t.Cmd("%s", line)
	if err != nil {
		cn.broken = true
		return 0, "", &CommandError{Command: command, Err: err}
	}
	t.StartResponse(id)
	defer t.EndResponse(id)
	code, msg, err := t.ReadResponse(expect)
	if err != nil {
		return code, msg, cn.failed(command, err)
	}
	return code, msg, nil
}

// capabilities reads what the server offered in its last EHLO.
func (cn *conn) capabilities() {
	cn.maxSize = 0
	ok, v := cn.extension("SIZE")
	cn.sizeExt = ok
	if ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
			cn.maxSize = n
		}
	}
	cn.pipeline, _ = cn.extension("PIPELINING")
	cn.eightBit, _ = cn.extension("8BITMIME")
	cn.utf8, _ = cn.extension("SMTPUTF8")
	cn.auth = nil
	cn.authExt, _ = cn.extension("AUTH")
	if ok, v := cn.extension("AUTH"); ok {
		cn.auth = strings.Fields(strings.ToUpper(v))
	}
}

// authenticate runs one AUTH exchange with a. Nothing of the exchange is
// logged or kept in errors: it carries the password or the token.
//
// The initial response goes on the AUTH line unless the line would exceed
// MaxCommandLine (RFC 4954 §4: a 1.5 KB JWT access token does); it is then
// sent after the server's first 334. A server that answers an AUTH with an
// initial response with 500, 501 or 504 (one that counts the line
// shorter, or knows no initial response) is asked once more without.
func (cn *conn) authenticate(ctx context.Context, a gomail.Auth, info *gomail.ServerInfo) error {
	mech, ir, err := a.Start(info)
	if err != nil {
		return &CommandError{Command: "AUTH", Err: err}
	}
	line := "AUTH " + mech
	inline := false
	if ir != nil {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		if len(line)+1+len(enc)+2 <= MaxCommandLine {
			line += " " + enc
			inline = true
		}
	}
	code, msg, err := cn.cmd(ctx, "AUTH", 0, line)
	if err == nil && inline && (code == 500 || code == 501 || code == 504) {
		inline = false
		code, msg, err = cn.cmd(ctx, "AUTH", 0, "AUTH "+mech)
	}
	pending := ir // the initial response, until the server asked for it
	if inline {
		pending = nil
	}
	for {
		if err != nil {
			return err
		}
		switch code {
		case 235:
			cn.mech = mech
			return nil
		case 334:
			var resp []byte
			var derr error
			if pending != nil {
				resp, pending = pending, nil
			} else {
				var challenge []byte
				challenge, derr = base64.StdEncoding.DecodeString(strings.TrimSpace(msg))
				if derr == nil {
					resp, derr = a.Next(challenge, true)
				}
			}
			if derr != nil {
				// Cancel the exchange (RFC 4954 §4); the reply does not matter.
				cn.cmd(ctx, "AUTH", 0, "*")
				return &CommandError{Command: "AUTH", Err: derr}
			}
			code, msg, err = cn.cmd(ctx, "AUTH", 0, base64.StdEncoding.EncodeToString(resp))
		default:
			if code == 421 {
				cn.broken = true
			}
			return replyError("AUTH", code, msg)
		}
	}
}

// send runs one mail transaction: RSET when the last one did not end,
// MAIL FROM (with SIZE when the server limits it), RCPT TO for each
// recipient, DATA streamed from data. A completed transaction leaves the
// server ready for the next (RFC 5321 §4.1.1.1): no RSET then. When the
// server offers PIPELINING, RSET, MAIL and the RCPTs go in one write and
// their replies are read together, with DATA too for one recipient: one
// round trip instead of three or more. It returns the server's reply to
// the message (see data).
func (cn *conn) send(ctx context.Context, from string, rcpts []string, size int64, body io.WriterTo) (string, error) {
	if size > 0 && cn.maxSize > 0 && size > cn.maxSize {
		return "", &sizeError{Size: size, Limit: cn.maxSize}
	}
	line := "MAIL FROM:<" + from + ">"
	if cn.eightBit {
		line += " BODY=8BITMIME"
	}
	if size > 0 && cn.sizeExt {
		line += " SIZE=" + strconv.FormatInt(size, 10)
	}
	if cn.utf8 && !isASCII(from, rcpts) {
		line += " SMTPUTF8"
	}
	cmds := make([]command, 0, len(rcpts)+3)
	if cn.dirty {
		cmds = append(cmds, command{name: "RSET", expect: 250, line: "RSET"})
	}
	cmds = append(cmds, command{name: "MAIL", expect: 250, line: line})
	for _, r := range rcpts {
		cmds = append(cmds, command{name: "RCPT", expect: 25, line: "RCPT TO:<" + r + ">", rcpt: r})
	}
	data := command{name: "DATA", expect: 354, line: "DATA"}
	cn.dirty = true
	var err error
	switch {
	case !cn.pipeline:
		err = cn.oneByOne(ctx, append(cmds, data))
	case len(rcpts) == 1:
		// Should the one RCPT be refused, the server refuses DATA too
		// (RFC 2920 §3.1).
		err = cn.pipelined(ctx, append(cmds, data))
	default:
		// DATA waits for the replies, so that a refused recipient never
		// leaves the others a transaction to end.
		if err = cn.pipelined(ctx, cmds); err == nil {
			err = cn.oneByOne(ctx, []command{data})
		}
	}
	if err != nil {
		return "", err
	}
	reply, err := cn.data(ctx, body)
	if err != nil {
		return "", err
	}
	cn.dirty = false
	return reply, nil
}

// command is one line of a mail transaction and the reply it wants.
type command struct {
	name   string
	expect int
	line   string
	rcpt   string // RCPT's address
}

// failed is the error of a command whose reply was not the one wanted:
// without a reply, or with 421, the connection cannot be used again.
func (cn *conn) failed(command string, err error) *CommandError {
	ce := commandError(command, err)
	if ce.Code == 0 || ce.Code == 421 {
		cn.broken = true
	}
	return ce
}

// refused adds what c knows to the error of its reply: the recipient
// refused; and a refused RSET leaves the connection unusable.
func (c command) refused(cn *conn, ce *CommandError) *CommandError {
	if c.rcpt != "" {
		ce.Recipient = c.rcpt
	}
	if c.name == "RSET" {
		cn.broken = true
	}
	return ce
}

// oneByOne sends cmds each after the reply to the one before; it stops at
// the first refused.
func (cn *conn) oneByOne(ctx context.Context, cmds []command) error {
	for _, c := range cmds {
		if _, _, err := cn.cmd(ctx, c.name, c.expect, c.line); err != nil {
			var ce *CommandError
			if errors.As(err, &ce) {
				c.refused(cn, ce)
			}
			return err
		}
	}
	return nil
}

// pipelined writes cmds at once and reads every reply, in order. The
// first refusal is the error. Should DATA be accepted after a refusal (a
// server that took DATA though a recipient was refused), the message
// must not go to the others alone: the connection is dropped, which ends
// the transaction without a message.
func (cn *conn) pipelined(ctx context.Context, cmds []command) error {
	if err := cn.arm(ctx); err != nil {
		return &CommandError{Command: cmds[0].name, Err: err}
	}
	t := cn.text
	for _, c := range cmds {
		t.W.WriteString(c.line)
		t.W.WriteString("\r\n")
	}
	if err := t.W.Flush(); err != nil {
		cn.broken = true
		return &CommandError{Command: cmds[0].name, Err: err}
	}
	var first error
	for _, c := range cmds {
		if err := cn.arm(ctx); err != nil {
			cn.broken = true
			return &CommandError{Command: c.name, Err: err}
		}
		_, _, err := t.ReadResponse(c.expect)
		if err == nil {
			if c.name == "DATA" && first != nil {
				// DATA was accepted after a refusal: see above.
				cn.broken = true
			}
			continue
		}
		ce := c.refused(cn, cn.failed(c.name, err))
		if ce.Code == 0 {
			// No reply at all: the replies after it cannot be read.
			return ce
		}
		if first == nil {
			first = ce
		}
	}
	return first
}

// data streams the message through a 64 KB buffer straight onto the
// connection and reads the server's verdict: its reply when it accepts
// the message (code and text, see replyText).
func (cn *conn) data(ctx context.Context, data io.WriterTo) (string, error) {
	t := cn.text
	cn.dw = deadlineWriter{cn: cn, ctx: ctx, w: t.W}
	if cn.buf == nil {
		cn.buf = bufio.NewWriterSize(&cn.dw, dataBufferSize)
	} else {
		cn.buf.Reset(&cn.dw)
	}
	cn.dot.reset(cn.buf, cn.maxSize)
	_, err := data.WriteTo(&cn.dot)
	if err == nil {
		err = cn.dot.finish()
	}
	if err == nil {
		// The 64 KB writes bypassed textproto's buffer; what is left of the
		// message in it goes now.
		err = t.W.Flush()
	}
	if err != nil {
		// Half a message is on the wire: the connection cannot be trusted.
		cn.broken = true
		var se *sizeError
		switch {
		case errors.As(err, &se):
			return "", se
		case cn.dw.err == nil && cn.dot.err == nil:
			// The message's own source failed (an attachment unreadable...).
			return "", envoi.AsError(fmt.Errorf("smtp: reading the message to send: %w", err))
		}
		return "", &CommandError{Command: "DATA", Err: err}
	}
	if err := cn.arm(ctx); err != nil {
		cn.broken = true
		return "", &CommandError{Command: "DATA", Err: err}
	}
	code, msg, err := t.ReadResponse(250)
	if err != nil {
		return "", cn.failed("DATA", err)
	}
	return replyText(code, msg), nil
}

// deadlineWriter renews the command timeout before each write, so a big
// message has CommandTimeout per 64 KB rather than for the whole of it.
type deadlineWriter struct {
	cn  *conn
	ctx context.Context
	w   io.Writer
	err error
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if err := d.cn.arm(d.ctx); err != nil {
		d.err = err
		return 0, err
	}
	if b := d.cn.batch; b != nil {
		b.hold = true
	}
	n, err := d.w.Write(p)
	if b := d.cn.batch; b != nil {
		if ferr := b.flush(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		d.err = err
	}
	return n, err
}

// batchConn lies between TLS and the socket. While hold is set it keeps
// what TLS writes, and flush writes it at once: TLS cuts each 64 KB of
// DATA into four records of 16 KB and writes them one by one, four system
// calls, and four reads for the server, where one will do (measured with
// a test server: 12 writes a message of 141 KB, 5 with it).
type batchConn struct {
	net.Conn
	hold bool
	buf  []byte
}

func (b *batchConn) Write(p []byte) (int, error) {
	if !b.hold {
		return b.Conn.Write(p)
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// flush writes what was kept and stops keeping.
func (b *batchConn) flush() error {
	b.hold = false
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// quit ends the connection politely when it is healthy, and closes it.
func (cn *conn) quit() {
	if !cn.broken {
		cn.raw.SetDeadline(time.Now().Add(min(cn.timeout, 5*time.Second)))
		if id, err := cn.text.Cmd("QUIT"); err == nil {
			cn.text.StartResponse(id)
			cn.text.ReadResponse(221)
			cn.text.EndResponse(id)
		}
	}
	cn.raw.Close()
}

func isASCII(from string, rcpts []string) bool {
	ascii := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return false
			}
		}
		return true
	}
	if !ascii(from) {
		return false
	}
	for _, r := range rcpts {
		if !ascii(r) {
			return false
		}
	}
	return true
}
