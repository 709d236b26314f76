package envoi

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// MaxRecipients bounds To+Cc+Bcc of one message; providers refuse more
// (Exchange Online: 500 per message).
const MaxRecipients = 500

// ParseAddress parses one e-mail address ("Name <a@b.c>" or "a@b.c"),
// refusing control characters that could inject headers and non-ASCII
// addresses (the display name may be any text). Returns EInvalidInput when
// it is not an address.
func ParseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, Errorf(EInvalidInput, "the address contains a line break or NUL")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, Errorf(EInvalidInput, "%q is not a valid e-mail address", s)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 || strings.ContainsAny(a.Address, " \t<>") {
		return nil, Errorf(EInvalidInput, "%q is not a valid e-mail address", s)
	}
	// Mail goes out without SMTPUTF8, which not every server offers: an
	// internationalised domain is written in its ASCII form.
	if strings.IndexFunc(a.Address, func(r rune) bool { return r >= utf8.RuneSelf }) >= 0 {
		return nil, Errorf(EInvalidInput, "%q is not an ASCII address: write an internationalised domain in its ASCII form (xn--...); mailbox names must be ASCII", s)
	}
	// A quoted local part ("a,b"@example.org) is refused here rather than
	// failing at send time: net/mail returns it unquoted, which is no
	// longer an address, and servers differ on quoted forms (many refuse
	// them, some rewrite them). Only the dot-atom form is accepted.
	if !dotAtom(a.Address[:at]) {
		return nil, Errorf(EInvalidInput, "%q has a quoted or unusual mailbox name: only letters, digits, dots and !#$%%&'*+-/=?^_`{|}~ are accepted before the @", s)
	}
	return a, nil
}

// dotAtom reports whether local is a dot-atom (RFC 5322 3.2.3): atoms of
// atext joined by single dots.
func dotAtom(local string) bool {
	if local == "" || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' ||
			strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}
