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
	return a, nil
}
