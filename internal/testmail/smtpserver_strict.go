package testmail

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// SMTPCommandLineLimit is RFC 5321's limit of a command line, CRLF
// included (§4.5.3.1.4): the default of SMTPOptions.MaxCommandLine.
const SMTPCommandLineLimit = 512

// smtpResponseLineLimit bounds every line the server reads, SASL
// responses included: RFC 4954 §4 asks servers to accept responses of at
// least 12288 octets, which a 3 KB access token needs.
const smtpResponseLineLimit = 16 << 10

// errSMTPLineTooLong is the reply of a strict server to a command line
// over its limit.
var errSMTPLineTooLong = &gosmtp.SMTPError{
	Code:         500,
	EnhancedCode: gosmtp.EnhancedCode{5, 5, 2},
	Message:      "Line too long",
}

// SMTPAuth is one AUTH the server received, in its log (Auths).
type SMTPAuth struct {
	Mechanism string
	// User is the identity the credentials named ("" when they could not
	// be read).
	User string
	// Token is the bearer token of XOAUTH2 and OAUTHBEARER; passwords are
	// not kept.
	Token string
	// InitialResponse says the credentials came on the AUTH line.
	InitialResponse bool
	// LineTooLong says the AUTH line was refused with 500 5.5.2 as over
	// MaxCommandLine, before any credentials were read.
	LineTooLong bool
	// Accepted says the server answered 235.
	Accepted bool
}

// Auths returns the log of AUTH commands whose credentials the server read
// (or whose line it refused), oldest first.
func (s *SMTPServer) Auths() []SMTPAuth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auths)
}

func (s *SMTPServer) logAuth(a SMTPAuth) {
	s.mu.Lock()
	s.auths = append(s.auths, a)
	s.mu.Unlock()
}

// maxCommandLine is the command line limit in force, 0 for none.
func (s *SMTPServer) maxCommandLine() int {
	switch n := s.opts.MaxCommandLine; {
	case n < 0:
		return 0
	case n == 0:
		return SMTPCommandLineLimit
	default:
		return n
	}
}

// smtpLineLimit applies the command line limit to an AUTH whose line
// carried an initial response (go-smtp reads the line whole first, so the
// length is known from the response): the line is refused as a strict
// server does, and the client may AUTH again.
type smtpLineLimit struct {
	sasl.Server
	ss      *smtpSession
	mech    string
	started bool
}

func (l *smtpLineLimit) Next(resp []byte) ([]byte, bool, error) {
	if !l.started {
		l.started = true
		l.ss.initial = resp != nil
		if limit := l.ss.srv.maxCommandLine(); resp != nil && limit > 0 {
			enc := len("=")
			if len(resp) > 0 {
				enc = base64.StdEncoding.EncodedLen(len(resp))
			}
			if len("AUTH ")+len(l.mech)+1+enc+len("\r\n") > limit {
				l.ss.srv.logAuth(SMTPAuth{Mechanism: l.mech, InitialResponse: true, LineTooLong: true})
				return nil, true, errSMTPLineTooLong
			}
		}
	}
	return l.Server.Next(resp)
}

// SMTPLongToken returns a JWT-shaped bearer token (header.claims.signature,
// base64url) of size bytes at least, unique per call: Microsoft's access
// tokens are 1.5 to 3 KB, over RFC 5321's command line once in an AUTH
// initial response.
func SMTPLongToken(size int) string {
	h, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": "testmail"})
	nonce := make([]byte, 16)
	rand.Read(nonce)
	claims := map[string]any{
		"aud": "https://outlook.office.com", "iss": "https://sts.windows.net/testmail/",
		"iat": time.Now().Unix(), "nonce": base64.RawURLEncoding.EncodeToString(nonce),
		"scp": "SMTP.Send", "pad": "",
	}
	enc := base64.RawURLEncoding
	sig := make([]byte, 256)
	rand.Read(sig)
	base := len(enc.EncodeToString(h)) + 2 + len(enc.EncodeToString(sig))
	c, _ := json.Marshal(claims)
	if pad := (size - base - enc.EncodedLen(len(c)) + 3) * 3 / 4; pad > 0 {
		claims["pad"] = strings.Repeat("x", pad)
		c, _ = json.Marshal(claims)
	}
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}
