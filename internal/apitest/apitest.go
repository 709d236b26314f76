// Package apitest makes the messages the mail API transports' tests send:
// MIME as envoi composes it (CRLF lines, a multipart/mixed body with a
// text part and base64 attachments), with attachments of chosen sizes.
package apitest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
)

// File is one attachment of a test message.
type File struct {
	Name, ContentType string
	Content           []byte
}

// RandomFile returns a file of n pseudo-random bytes (seeded by name, so
// a test sees the same bytes each run).
func RandomFile(name string, n int) File {
	var seed [32]byte
	copy(seed[:], name)
	r := rand.NewChaCha8(seed)
	b := make([]byte, n)
	_, _ = r.Read(b)
	return File{Name: name, ContentType: "application/pdf", Content: b}
}

// Message returns a message from `from` to `to` with the given Message-ID
// and attachments.
func Message(from, to, messageID string, files ...File) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: BL 12345\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n", from, to, messageID)
	if len(files) == 0 {
		b.WriteString("Content-Type: text/plain; charset=UTF-8\r\n\r\nBonjour,\r\nvoici le BL.\r\n")
		return b.Bytes()
	}
	const boundary = "envoi=_mixed_test"
	fmt.Fprintf(&b, "Content-Type: multipart/mixed;\r\n boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nBonjour,\r\nvoici le BL.\r\n", boundary)
	for _, f := range files {
		fmt.Fprintf(&b, "\r\n--%s\r\nContent-Type: %s; name=%s\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=%s\r\n\r\n",
			boundary, f.ContentType, f.Name, f.Name)
		enc := base64.StdEncoding.EncodeToString(f.Content)
		for len(enc) > 76 {
			b.WriteString(enc[:76])
			b.WriteString("\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc)
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "\r\n--%s--\r\n", boundary)
	return b.Bytes()
}
