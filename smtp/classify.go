package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"syscall"

	"envoi"
)

// CommandError is the failure of one step of an SMTP exchange: the server's
// reply when one ended it (Code > 0), or the network or TLS error that cut
// it short (Err).
type CommandError struct {
	// Command is the step: CONNECT (TCP and greeting), TLS (implicit TLS
	// handshake), EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, RSET or NOOP.
	Command string
	// Recipient is the address RCPT was refused for.
	Recipient string
	// Code is the reply code, 0 when no reply ended the command.
	Code int
	// EnhancedCode is the RFC 3463 code of the reply, e.g. "5.7.139".
	EnhancedCode string
	// Text is the reply's text without its codes, lines joined by spaces.
	Text string
	Err  error
}

func (e *CommandError) Error() string {
	if e == nil {
		return "smtp: <nil>"
	}
	if e.Code > 0 {
		s := fmt.Sprintf("smtp: %s: %d", e.Command, e.Code)
		if e.EnhancedCode != "" {
			s += " " + e.EnhancedCode
		}
		return s + " " + e.Text
	}
	return fmt.Sprintf("smtp: %s: %v", e.Command, e.Err)
}

func (e *CommandError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// replyError returns the CommandError of a reply code and its raw text
// (textproto's, lines separated by "\n").
func replyError(command string, code int, msg string) *CommandError {
	enh, text := parseReplyText(msg)
	return &CommandError{Command: command, Code: code, EnhancedCode: enh, Text: text}
}

// commandError wraps what a command returned: a reply becomes Code,
// EnhancedCode and Text; anything else is kept in Err.
func commandError(command string, err error) *CommandError {
	var ce *CommandError
	var te *textproto.Error
	if errors.As(err, &ce) && ce != nil {
		if ce.Code == 0 && errors.As(ce.Err, &te) && te != nil {
			// A step that kept the server's reply as its cause: the
			// reply decides, as it would unwrapped.
			r := replyError(ce.Command, te.Code, te.Msg)
			r.Recipient = ce.Recipient
			return r
		}
		return ce
	}
	if errors.As(err, &te) && te != nil {
		return replyError(command, te.Code, te.Msg)
	}
	return &CommandError{Command: command, Err: err}
}

// parseReplyText splits a reply's text into its enhanced status code (the
// first line's) and the text of all lines without their codes.
func parseReplyText(msg string) (enhanced, text string) {
	lines := strings.Split(msg, "\n")
	parts := make([]string, 0, len(lines))
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if code, rest, ok := cutEnhancedCode(line); ok {
			if i == 0 {
				enhanced = code
			}
			line = rest
		}
		if line != "" {
			parts = append(parts, line)
		}
	}
	return enhanced, strings.Join(parts, " ")
}

// cutEnhancedCode cuts a leading "class.subject.detail" code (RFC 3463:
// class 2, 4 or 5, subject 1-3 digits, detail 1-3 digits).
func cutEnhancedCode(line string) (code, rest string, ok bool) {
	field, rest, _ := strings.Cut(line, " ")
	parts := strings.Split(field, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return "", line, false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return "", line, false
		}
	}
	return field, strings.TrimSpace(rest), true
}

// sizeError is a message bigger than the server's SIZE, found by envoi
// before the server had to refuse it.
type sizeError struct {
	Size, Limit int64
}

func (e *sizeError) Error() string {
	return fmt.Sprintf("smtp: the message (%d bytes or more) exceeds the server's SIZE limit of %d bytes", e.Size, e.Limit)
}

// errNoSTARTTLS is a server that does not offer STARTTLS to a flow that
// requires it.
var errNoSTARTTLS = errors.New("smtp: the server does not offer STARTTLS; refusing to authenticate and send in clear")

// Classify maps an error of an SMTP exchange to envoi's error: a stable
// code, Temporary for 4xx replies and network or TLS trouble, false for
// 5xx and for what envoi itself refuses (a message over SIZE), and
// the server's reply in Details (reply_code, enhanced_code, server_text,
// command, recipient). An *envoi.Error passes through unchanged (a token
// source's consent_required, for one). It returns nil for nil and never
// panics.
func Classify(err error) *envoi.Error {
	if err == nil {
		return nil
	}
	var ee *envoi.Error
	if errors.As(err, &ee) {
		if ee != nil {
			return ee
		}
		// A nil *envoi.Error in an interface: a caller's bug, not a panic.
		return envoi.AsError(fmt.Errorf("smtp: a nil error value of type %T", err))
	}
	var se *sizeError
	if errors.As(err, &se) && se != nil {
		e := envoi.Errorf(envoi.ESMTPMessageTooBig, "the message is bigger than the server accepts")
		e.Err = err
		return e.WithDetail("limit_bytes", se.Limit).WithDetail("size_bytes", se.Size)
	}
	ce := commandError("", err)
	if ce.Code > 0 {
		return classifyReply(ce, err)
	}
	return classifyFailure(ce, err)
}

func classifyReply(ce *CommandError, err error) *envoi.Error {
	code, enh, class := ce.Code, ce.EnhancedCode, ce.Code/100
	var c string
	switch {
	case code == 421:
		c = envoi.ESMTPUnavailable
	case enh == "5.7.30":
		c = envoi.ESMTPBasicAuthUnsupported
	case enh == "5.7.139":
		c = envoi.ESMTPAuthDisabled
	case code == 535 || code == 534 || (ce.Command == "AUTH" && class == 5):
		c = envoi.ESMTPAuthFailed
	case enh == "5.3.4" || (code == 552 && ce.Command != "RCPT"):
		c = envoi.ESMTPMessageTooBig
	case ce.Command == "RCPT" && (code == 550 || code == 551 || code == 553 || (class == 5 && strings.HasPrefix(enh, "5.1."))):
		c = envoi.ESMTPRecipientRefused
	case class == 4:
		c = envoi.ESMTPTemporary
	default:
		c = envoi.ESMTPPermanent
	}
	// The reply's text is in Err and Details, not repeated here.
	what := "the mail server answered"
	if ce.Command != "" {
		what += " " + ce.Command + " with"
	}
	e := envoi.Errorf(c, "%s %s", what, strings.TrimSpace(fmt.Sprintf("%d %s", code, enh)))
	e.Temporary = class == 4
	e.Err = err
	if th := throttleOf(ce); th != nil {
		// Pacing, not failure: the queue holds the mailbox, the message
		// waits without an attempt spent.
		e.Temporary = true
		if class == 5 {
			e.Code = envoi.ESMTPTemporary
		}
		e.Err = &throttled{th, err}
	}
	e.WithDetail("reply_code", code).WithDetail("server_text", ce.Text)
	if enh != "" {
		e.WithDetail("enhanced_code", enh)
	}
	if ce.Command != "" {
		e.WithDetail("command", ce.Command)
	}
	if ce.Recipient != "" {
		e.WithDetail("recipient", ce.Recipient)
	}
	return e
}

// throttleOf returns the envoi.Throttle of a provider's reply that says
// "not now" about the mailbox rather than about the message: Microsoft's
// 432 4.3.2 (too many connections, sender thread limit), a temporary
// 4.7.x (Gmail's 421 4.7.0, Microsoft's throttles), Gmail's 550 5.4.5
// (daily sending quota used up). nil for any other reply. SMTP replies
// name no time to wait: RetryAfter is zero.
func throttleOf(ce *CommandError) *envoi.Throttle {
	code, enh := ce.Code, ce.EnhancedCode
	reply := strings.TrimSpace(fmt.Sprintf("%d %s %s", code, enh, ce.Text))
	switch {
	case enh == "5.4.5" && code/100 == 5:
		return &envoi.Throttle{Reason: envoi.WaitQuota, Reply: reply}
	case code == 432 && enh == "4.3.2",
		// 4.7.x on AUTH is about the credentials; 4.7.66 is TLS 1.0/1.1
		// refused: neither is pacing.
		code/100 == 4 && strings.HasPrefix(enh, "4.7.") && ce.Command != "AUTH" && enh != "4.7.66":
		return &envoi.Throttle{Reason: envoi.WaitRateLimited, Reply: reply}
	}
	return nil
}

// throttled is a classified reply's cause when it throttles: the
// Throttle for the queue (envoi.AsThrottle), and the reply's error.
type throttled struct {
	th    *envoi.Throttle
	cause error
}

func (t *throttled) Error() string   { return t.cause.Error() }
func (t *throttled) Unwrap() []error { return []error{t.th, t.cause} }

func classifyFailure(ce *CommandError, err error) *envoi.Error {
	var e *envoi.Error
	var rb *replyBoundError
	switch {
	// A reply past envoi's bounds: the server or something on the path
	// misbehaves, not the message. Temporary, so that the messages wait
	// (the queue's attempts stay bounded) instead of failing for good
	// because of a middlebox; the connection is dropped at the bound, so
	// retrying costs little.
	case errors.As(err, &rb) && rb != nil:
		e = envoi.Errorf(envoi.ESMTPUnavailable, "the mail server sent a reply longer than envoi accepts; the connection was dropped")
		e.Temporary = true
		e.WithDetail("limit", rb.what).WithDetail("limit_value", rb.limit)
	case errors.Is(err, context.Canceled):
		e = envoi.Errorf(envoi.ESMTPUnavailable, "the send was cancelled before the server answered")
		e.Temporary = true
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		e = envoi.Errorf(envoi.ESMTPTimeout, "the mail server did not answer in time")
		e.Temporary = true
	// TLS failures are retried: a certificate renewed, a CA file added, a
	// flow's security corrected or a STARTTLS-stripping middlebox gone, and
	// the waiting messages leave without anyone sending them again.
	case errors.Is(err, errNoSTARTTLS):
		e = envoi.Errorf(envoi.ESMTPTLS, "the server does not offer STARTTLS; envoi does not send in clear unless the flow's security is none")
		e.Temporary = true
	case isTLSError(err) || ((ce.Command == "TLS" || ce.Command == "STARTTLS") && !isNetwork(err)):
		e = envoi.Errorf(envoi.ESMTPTLS, "the secure connection to the mail server failed")
		e.Temporary = true
	case isNetwork(err):
		e = envoi.Errorf(envoi.ESMTPUnavailable, "the connection to the mail server failed")
		e.Temporary = true
	default:
		e = envoi.Errorf(envoi.ESMTPPermanent, "the SMTP exchange failed")
	}
	e.Err = err
	if ce.Command != "" {
		e.WithDetail("command", ce.Command)
	}
	return e
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func isNetwork(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var pe textproto.ProtocolError
	if errors.As(err, &pe) {
		return true
	}
	var oe *net.OpError
	var de *net.DNSError
	return (errors.As(err, &oe) && !isTLSError(err)) || errors.As(err, &de)
}

func isTLSError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
		ae  tls.AlertError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
		ece *tls.ECHRejectionError
	)
	if errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &ae) || errors.As(err, &uae) ||
		errors.As(err, &he) || errors.As(err, &cie) || errors.As(err, &ece) {
		return true
	}
	// A TLS alert from the peer is a *net.OpError{Op: "remote error"} around
	// an unexported type whose text starts with "tls: ".
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return true
	}
	return strings.Contains(errorText(err), "tls: ")
}

// errorText is err.Error(), or "" when that panics (a nil pointer of an
// error type whose method does not expect it): Classify must not panic.
func errorText(err error) (text string) {
	defer func() {
		if recover() != nil {
			text = ""
		}
	}()
	return err.Error()
}
