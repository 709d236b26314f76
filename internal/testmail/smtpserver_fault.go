package testmail

import (
	"strconv"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// SMTPFaultKind names where a fault strikes.
type SMTPFaultKind int

// Faults the test SMTP server injects on demand.
const (
	// SMTPFaultConnect answers a new connection with a reply (421 4.3.2 by
	// default) instead of the greeting, then hangs up.
	SMTPFaultConnect SMTPFaultKind = iota + 1
	// SMTPFaultAuth answers AUTH with a reply (535 5.7.8 by default) once
	// the client has sent its credentials, whatever they are. Use it for
	// 535 5.7.139, 535 5.7.3 or 550 5.7.30.
	SMTPFaultAuth
	// SMTPFaultMail refuses MAIL FROM (451 4.3.0 by default).
	SMTPFaultMail
	// SMTPFaultRcpt refuses RCPT TO (550 5.1.1 by default), for every
	// recipient or only for SMTPFault.Recipient.
	SMTPFaultRcpt
	// SMTPFaultData answers the end of DATA with a reply (451 4.3.0 by
	// default; 552 5.3.4 for a message too big) after reading the message.
	SMTPFaultData
	// SMTPFaultDropData reads the start of the message and then resets the
	// connection, in the middle of DATA.
	SMTPFaultDropData
	// SMTPFaultSlow waits SMTPFault.Delay before the greeting and before
	// each reply to EHLO, AUTH, MAIL, RCPT, DATA and RSET; each delayed reply
	// counts as one time.
	SMTPFaultSlow
	// SMTPFaultNoSTARTTLS serves a connection of a STARTTLS server without
	// offering STARTTLS (nor AUTH, which needs TLS).
	SMTPFaultNoSTARTTLS
	// SMTPFaultTLSHandshake makes the TLS handshake fail (STARTTLS or
	// implicit TLS).
	SMTPFaultTLSHandshake
)

func (k SMTPFaultKind) String() string {
	switch k {
	case SMTPFaultConnect:
		return "connect"
	case SMTPFaultAuth:
		return "auth"
	case SMTPFaultMail:
		return "mail"
	case SMTPFaultRcpt:
		return "rcpt"
	case SMTPFaultData:
		return "data"
	case SMTPFaultDropData:
		return "drop-data"
	case SMTPFaultSlow:
		return "slow"
	case SMTPFaultNoSTARTTLS:
		return "no-starttls"
	case SMTPFaultTLSHandshake:
		return "tls-handshake"
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// SMTPFault is one fault to inject. Code, EnhancedCode and Text override the
// reply of the kinds that answer with a reply; zero values take the kind's
// default.
type SMTPFault struct {
	Kind SMTPFaultKind
	// Code is the reply code, e.g. 535.
	Code int
	// EnhancedCode is the RFC 3463 code, e.g. "5.7.139".
	EnhancedCode string
	// Text is the reply's text, e.g. "Authentication unsuccessful,
	// SmtpClientAuthentication is disabled for the Tenant".
	Text string
	// Recipient limits SMTPFaultRcpt to one address (case-insensitive).
	Recipient string
	// Delay is SMTPFaultSlow's wait before each reply.
	Delay time.Duration
	// Times is how many times the fault strikes before the server recovers
	// by itself; 0 means until Heal.
	Times int
}

// reply returns the fault's reply as go-smtp's error, with the kind's
// defaults filled in.
func (f SMTPFault) reply() *gosmtp.SMTPError {
	code, enh, text := f.Code, f.EnhancedCode, f.Text
	def := func(c int, e, t string) {
		if code == 0 {
			code = c
		}
		if enh == "" && code == c {
			enh = e
		}
		if text == "" {
			text = t
		}
	}
	switch f.Kind {
	case SMTPFaultConnect:
		def(421, "4.3.2", "Service not available, closing transmission channel")
	case SMTPFaultAuth:
		def(535, "5.7.8", "Authentication credentials invalid")
	case SMTPFaultMail:
		def(451, "4.3.0", "Mail server temporarily rejected message")
	case SMTPFaultRcpt:
		def(550, "5.1.1", "Recipient address rejected: User unknown")
	case SMTPFaultData:
		def(451, "4.3.0", "Temporary server error. Please try again later")
	default:
		def(451, "4.3.0", "Injected fault")
	}
	return &gosmtp.SMTPError{Code: code, EnhancedCode: parseSMTPEnhancedCode(code, enh), Message: text}
}

// parseSMTPEnhancedCode turns "5.7.139" into go-smtp's form; an empty or bad
// code leaves go-smtp to derive X.0.0 from the reply code.
func parseSMTPEnhancedCode(code int, s string) gosmtp.EnhancedCode {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return gosmtp.EnhancedCodeNotSet
	}
	var ec gosmtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return gosmtp.EnhancedCodeNotSet
		}
		ec[i] = n
	}
	if ec[0] != code/100 {
		return gosmtp.EnhancedCodeNotSet
	}
	return ec
}

// smtpFaults is the set of armed faults, one per kind, safe for use by
// connections' goroutines and the test at once.
type smtpFaults struct {
	mu     sync.Mutex
	armed  map[SMTPFaultKind]*SMTPFault
	struck map[SMTPFaultKind]int
}

func (fs *smtpFaults) set(f SMTPFault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.armed == nil {
		fs.armed = map[SMTPFaultKind]*SMTPFault{}
	}
	fs.armed[f.Kind] = &f
}

func (fs *smtpFaults) heal(kinds ...SMTPFaultKind) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(kinds) == 0 {
		clear(fs.armed)
		return
	}
	for _, k := range kinds {
		delete(fs.armed, k)
	}
}

// take reports whether the fault of kind strikes now, for the recipient
// rcpt when kind is SMTPFaultRcpt, and counts it down.
func (fs *smtpFaults) take(kind SMTPFaultKind, rcpt string) (SMTPFault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.armed[kind]
	if !ok {
		return SMTPFault{}, false
	}
	if kind == SMTPFaultRcpt && f.Recipient != "" && !strings.EqualFold(f.Recipient, rcpt) {
		return SMTPFault{}, false
	}
	out := *f
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(fs.armed, kind)
		}
	}
	if fs.struck == nil {
		fs.struck = map[SMTPFaultKind]int{}
	}
	fs.struck[kind]++
	return out, true
}

func (fs *smtpFaults) count(kind SMTPFaultKind) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.struck[kind]
}
