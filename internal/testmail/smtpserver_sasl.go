package testmail

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// SASL mechanisms the test server knows.
const (
	SMTPMechPlain       = "PLAIN"
	SMTPMechLogin       = "LOGIN"
	SMTPMechXOAuth2     = "XOAUTH2"
	SMTPMechOAuthBearer = "OAUTHBEARER"
)

// errSMTPBadCredentials is the reply to credentials that do not match.
var errSMTPBadCredentials = &gosmtp.SMTPError{
	Code:         535,
	EnhancedCode: gosmtp.EnhancedCode{5, 7, 8},
	Message:      "Username and Password not accepted",
}

var errSMTPBadSASL = &gosmtp.SMTPError{
	Code:         501,
	EnhancedCode: gosmtp.EnhancedCode{5, 5, 2},
	Message:      "Malformed authentication response",
}

// smtpPlainServer is PLAIN (RFC 4616): authzid NUL authcid NUL password.
type smtpPlainServer struct {
	verify func(user, password string) error
	done   bool
}

func (p *smtpPlainServer) Next(resp []byte) ([]byte, bool, error) {
	if p.done {
		return nil, true, sasl.ErrUnexpectedClientResponse
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	p.done = true
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return nil, true, errSMTPBadSASL
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return nil, true, errSMTPBadCredentials
	}
	return nil, true, p.verify(user, pass)
}

// smtpLoginServer is the LOGIN mechanism: "Username:" then "Password:".
type smtpLoginServer struct {
	verify func(user, password string) error
	user   *string
	step   int
}

func (l *smtpLoginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		u := string(resp)
		l.user = &u
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.verify(*l.user, string(resp))
	}
	return nil, true, sasl.ErrUnexpectedClientResponse
}

// smtpOAuthServer is XOAUTH2 (Google's and Microsoft's format) or OAUTHBEARER
// (RFC 7628). A token refused by ValidateToken with a plain error takes
// Google's path: a 334 challenge carrying an error JSON, the client's
// dummy answer, then 535 5.7.8. A refusal that is an *smtp.SMTPError is
// sent as the final reply at once, as Microsoft does.
type smtpOAuthServer struct {
	mech   string
	verify func(user, token string) error
	failed error
	done   bool
}

func (o *smtpOAuthServer) Next(resp []byte) ([]byte, bool, error) {
	if o.failed != nil {
		// Any answer ends the exchange; RFC 7628 asks for %x01, XOAUTH2
		// clients send an empty line.
		return nil, true, o.failed
	}
	if o.done {
		return nil, true, sasl.ErrUnexpectedClientResponse
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	o.done = true
	var user, token string
	var ok bool
	if o.mech == SMTPMechXOAuth2 {
		user, token, ok = parseSMTPXOAuth2(resp)
	} else {
		user, token, ok = parseSMTPOAuthBearer(resp)
	}
	if !ok {
		return nil, true, errSMTPBadSASL
	}
	err := o.verify(user, token)
	if err == nil {
		return nil, true, nil
	}
	var reply *gosmtp.SMTPError
	if errors.As(err, &reply) {
		return nil, true, reply
	}
	o.failed = errSMTPBadCredentials
	challenge, _ := json.Marshal(map[string]string{
		"status":  "invalid_token",
		"schemes": "Bearer",
		"scope":   "https://mail.google.com/",
	})
	if o.mech == SMTPMechXOAuth2 {
		challenge, _ = json.Marshal(map[string]string{
			"status":  "400",
			"schemes": "Bearer",
			"scope":   "https://mail.google.com/",
		})
	}
	return challenge, false, nil
}

// parseSMTPXOAuth2 reads "user=U\x01auth=Bearer T\x01\x01".
func parseSMTPXOAuth2(resp []byte) (user, token string, ok bool) {
	if !bytes.HasSuffix(resp, []byte("\x01\x01")) {
		return "", "", false
	}
	for _, field := range strings.Split(string(resp[:len(resp)-2]), "\x01") {
		k, v, found := strings.Cut(field, "=")
		if !found {
			return "", "", false
		}
		switch k {
		case "user":
			user = v
		case "auth":
			scheme, t, found := strings.Cut(v, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") {
				return "", "", false
			}
			token = t
		}
	}
	return user, token, user != "" && token != ""
}

// parseSMTPOAuthBearer reads "n,a=U,\x01host=H\x01port=P\x01auth=Bearer T\x01\x01".
func parseSMTPOAuthBearer(resp []byte) (user, token string, ok bool) {
	gs2, rest, found := strings.Cut(string(resp), "\x01")
	if !found || !strings.HasSuffix(rest, "\x01\x01") {
		return "", "", false
	}
	head := strings.Split(gs2, ",")
	if len(head) != 3 || head[0] != "n" || head[2] != "" {
		return "", "", false
	}
	if a, found := strings.CutPrefix(head[1], "a="); found {
		user = a
	} else if head[1] != "" {
		return "", "", false
	}
	for _, field := range strings.Split(strings.TrimSuffix(rest, "\x01\x01"), "\x01") {
		k, v, found := strings.Cut(field, "=")
		if !found {
			return "", "", false
		}
		if k == "auth" {
			scheme, t, found := strings.Cut(v, " ")
			if !found || !strings.EqualFold(scheme, "Bearer") {
				return "", "", false
			}
			token = t
		}
	}
	return user, token, token != ""
}

// checkSMTPPassword compares in constant time; it is a test server, but the
// habit costs nothing.
func checkSMTPPassword(users map[string]string, user, password string) error {
	want, ok := users[user]
	if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		return errSMTPBadCredentials
	}
	return nil
}
