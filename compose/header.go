package compose

import (
	"encoding/base64"
	"fmt"
	"maps"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"
)

// Header fields are written so that no line is over 78 characters where
// the value allows a break, and none is ever over 998 (RFC 5322 2.1.1):
// text is folded at spaces, a word too long to fit a line is carried in
// RFC 2047 encoded words (which may be split anywhere), and a long MIME
// parameter in RFC 2231 continuations. Text that looks like an encoded
// word ("=?utf-8?B?...?=") is itself encoded, so a reader shows it as it
// was given instead of decoding text a sender chose.

const (
	// foldAt is the line length go-mail folds at, and so do we.
	foldAt = 76
	// maxWord is the longest run without a space left as it is: longer,
	// it could not be folded into a line of foldAt.
	maxWord = 60
	// maxEncodedWord is RFC 2047's limit on an encoded word.
	maxEncodedWord = 75
)

// headerText returns a subject as it goes to go-mail: text go-mail
// encodes itself (not ASCII) or leaves as it is and folds at spaces
// (plain ASCII words), else encoded here. go-mail, through the standard
// library's word encoder, passes any printable ASCII through unencoded,
// "=?" and words of a thousand characters included.
func headerText(s string) string {
	if mustEncode(s) {
		return encodeWords(s, false, maxEncodedWord)
	}
	return s
}

// formatAddress returns a as written in an address field: as the
// standard library writes it (a quoted name, or one it encodes when not
// ASCII), except that an ASCII name with "=?" or a word over maxWord is
// encoded here.
func formatAddress(a *mail.Address) string {
	if a.Name != "" && mustEncode(a.Name) {
		return encodeWords(a.Name, true, maxEncodedWord) + " <" + a.Address + ">"
	}
	return a.String()
}

// mustEncode reports whether s is printable ASCII the standard library
// would leave unencoded although it must not be: it contains "=?", or a
// word too long to fold.
func mustEncode(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < ' ' || s[i] > '~') && s[i] != '\t' {
			return false // encoded by the standard library
		}
	}
	if strings.Contains(s, "=?") {
		return true
	}
	for w := range strings.FieldsSeq(s) {
		if len(w) > maxWord {
			return true
		}
	}
	return false
}

// encodeWords returns s as RFC 2047 encoded words of at most limit (75 at
// most) characters separated by spaces: Q encoding for text, B for a
// display name (phrase) or a quoted parameter, where Q allows too few
// characters. Runes are not split.
func encodeWords(s string, phrase bool, limit int) string {
	prefix := "=?utf-8?q?"
	if phrase {
		prefix = "=?utf-8?b?"
	}
	room := limit - len(prefix) - len("?=")
	var words []string
	for len(s) > 0 {
		n, size := 0, 0
		for n < len(s) {
			_, w := utf8.DecodeRuneInString(s[n:])
			next := size + qLen(s[n:n+w])
			if phrase {
				next = base64.StdEncoding.EncodedLen(n + w)
			}
			if next > room && n > 0 {
				break
			}
			n, size = n+w, next
		}
		var enc string
		if phrase {
			enc = base64.StdEncoding.EncodeToString([]byte(s[:n]))
		} else {
			enc = qEncode(s[:n])
		}
		words = append(words, prefix+enc+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// qSafe reports whether c is written as it is in Q encoding.
func qSafe(c byte) bool { return c > ' ' && c <= '~' && c != '=' && c != '?' && c != '_' }

func qLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if qSafe(s[i]) || s[i] == ' ' {
			n++
		} else {
			n += 3
		}
	}
	return n
}

func qEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			b.WriteByte('_')
		case qSafe(c):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

// foldField returns the field key: values (joined by ", "), folded at
// spaces as go-mail folds the fields it writes, CRLF at the end.
func foldField(key string, values ...string) string {
	var b strings.Builder
	room := foldAt - 2 - len(key) - 2
	b.WriteString(key + ": ")
	words := strings.Split(strings.Join(values, ", "), " ")
	for i, w := range words {
		if room-len(w) <= 1 {
			b.WriteString("\r\n ")
			room = foldAt - 3
		}
		b.WriteString(w)
		if i < len(words)-1 {
			b.WriteByte(' ')
			room--
		}
		room -= len(w)
	}
	return strings.ReplaceAll(b.String(), " \r\n", "\r\n") + "\r\n"
}

// mediaType returns the value of field (Content-Type, Content-Disposition)
// for media type mt and params: on one line as mime.FormatMediaType writes
// it when the field fits in foldAt characters; else a parameter a line,
// a value that is not printable ASCII or is over maxWord characters in
// RFC 2231 continuations (filename*0*=utf-8”...;filename*1*=...).
// Parameters with names over maxWord characters are left out.
func mediaType(field, mt string, params map[string]string) string {
	if s := mime.FormatMediaType(mt, params); s != "" && len(field)+2+len(s) <= foldAt {
		return s
	}
	var b strings.Builder
	b.WriteString(mt)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		if len(k) > maxWord || mime.FormatMediaType("x/x", map[string]string{k: "v"}) == "" {
			continue
		}
		if isASCII(v) && len(v) <= maxWord {
			b.WriteString(";\r\n " + k + "=" + quoteParam(v))
			continue
		}
		// " name*12*=utf-8''" and the ';' that may follow
		parts := chunks(percentEncode(v), max(12, foldAt-len(k)-len(" *12*=utf-8'';")))
		if len(parts) == 1 {
			b.WriteString(";\r\n " + k + "*=utf-8''" + parts[0])
			continue
		}
		for i, chunk := range parts {
			fmt.Fprintf(&b, ";\r\n %s*%d*=", k, i)
			if i == 0 {
				b.WriteString("utf-8''")
			}
			b.WriteString(chunk)
		}
	}
	return b.String()
}

func quoteParam(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// percentEncode encodes v as an RFC 2231 extended value (without the
// charset prefix), a percent-escape per byte outside attribute-char.
func percentEncode(v string) []string {
	var out []string
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			out = append(out, string(c))
		} else {
			out = append(out, fmt.Sprintf("%%%02X", c))
		}
	}
	return out
}

// chunks joins pieces into strings of at most n bytes, a piece never
// split.
func chunks(pieces []string, n int) []string {
	var out []string
	var cur strings.Builder
	for _, p := range pieces {
		if cur.Len()+len(p) > n && cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(p)
	}
	if cur.Len() > 0 || len(out) == 0 {
		out = append(out, cur.String())
	}
	return out
}

// quotedName returns the legacy name parameter of a Content-Type for a
// file name that is not ASCII: RFC 2047 encoded words in a quoted string,
// folded between words, each line within foldAt.
func quotedName(name string) string {
	const room = foldAt - len(` name="`) - len(`";`)
	v := mime.QEncoding.Encode("utf-8", name)
	if len(v) > room {
		v = encodeWords(name, true, room)
	}
	return `name="` + strings.ReplaceAll(v, " ", "\r\n ") + `"`
}
