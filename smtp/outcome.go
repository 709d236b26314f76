package smtp

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxReplyText bounds the reply an Outcome keeps: the server's text is
// logged, and a server may send any amount of it.
const maxReplyText = 512

// replyText is the server's reply to a message, as an Outcome keeps it:
// the code and the text, the lines of a multiline reply joined by a
// space, control characters and invalid UTF-8 dropped, at most
// maxReplyText bytes.
func replyText(code int, msg string) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(code))
	if msg != "" {
		b.WriteByte(' ')
	}
	for _, r := range msg {
		if b.Len()+utf8.RuneLen(r) > maxReplyText {
			break
		}
		switch {
		case r == '\n':
			b.WriteByte(' ')
		case r == utf8.RuneError, r < ' ', r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// queueID returns the server's id of the message it accepted, read from
// its reply to DATA (replyText), "" when the reply names none. Two forms
// are known: "queued as ID" (Postfix and others, also "queued as <ID>")
// and Gmail's "OK <timestamp> ID - gsmtp".
func queueID(reply string) string {
	if _, rest, ok := strings.Cut(reply, "queued as "); ok {
		id, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		return cleanID(strings.Trim(id, "<>.,;"))
	}
	f := strings.Fields(reply)
	// 250 2.0.0 OK <timestamp> <id> - gsmtp
	if n := len(f); n >= 6 && f[n-1] == "gsmtp" && f[n-2] == "-" && strings.EqualFold(f[n-5], "OK") {
		if _, err := strconv.ParseInt(f[n-4], 10, 64); err == nil {
			return cleanID(f[n-3])
		}
	}
	return ""
}

// cleanID keeps id when it looks like a queue id (letters, digits and
// ".-_@" only, at most 128 bytes), else returns "".
func cleanID(id string) string {
	if id == "" || len(id) > 128 {
		return ""
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_@", r)) {
			return ""
		}
	}
	return id
}
