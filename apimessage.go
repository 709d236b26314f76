package envoi

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"
)

// APIMessage returns the bytes a mail API (Microsoft Graph, the Gmail API)
// is given for d: the composed message, preceded by a Bcc header field
// when the envelope has recipients the To and Cc fields do not name (the
// request's Bcc, the sender's copy). Over SMTP the envelope carries them;
// a mail API takes its recipients from the header fields and removes Bcc
// before delivery. Otherwise the bytes are d.Content itself.
func APIMessage(d *Delivery) []byte {
	end := bytes.Index(d.Content, []byte("\r\n\r\n"))
	if end < 0 {
		return d.Content
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(d.Content[:end+4]))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return d.Content
	}
	named := strings.ToLower(strings.Join(append(h.Values("To"), h.Values("Cc")...), ","))
	var blind []string
	for _, r := range d.Envelope.Recipients {
		if !containsAddress(named, strings.ToLower(r)) {
			blind = append(blind, r)
		}
	}
	if len(blind) == 0 {
		return d.Content
	}
	var b bytes.Buffer
	b.Grow(len(d.Content) + 8 + 64*len(blind))
	b.WriteString("Bcc: ")
	for i, r := range blind {
		if i > 0 {
			b.WriteString(",\r\n ")
		}
		b.WriteString(r)
	}
	b.WriteString("\r\n")
	b.Write(d.Content)
	return b.Bytes()
}

// containsAddress reports whether list, header field values in lower
// case, names addr as a whole address (not "ann@x" inside "joann@x").
func containsAddress(list, addr string) bool {
	for i := 0; ; {
		j := strings.Index(list[i:], addr)
		if j < 0 {
			return false
		}
		at := i + j
		before := at == 0 || strings.ContainsRune(" ,<:\t\r\n\"", rune(list[at-1]))
		after := at+len(addr) == len(list) || strings.ContainsRune(" ,>;\t\r\n\"", rune(list[at+len(addr)]))
		if before && after {
			return true
		}
		i = at + 1
	}
}
