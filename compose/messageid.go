package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"envoi"
)

// messageID returns the Message-ID header's value for id, kept verbatim
// and put in angle brackets when it has none, or a new one when id is
// empty. It returns EInvalidInput for an id that could break the header.
func (c *Composer) messageID(id string) (string, error) {
	if id == "" {
		return envoi.MessageIDFor(envoi.NewID("msg_"), c.MessageIDDomain), nil
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	at := strings.LastIndexByte(inner, '@')
	if at <= 0 || at == len(inner)-1 || strings.ContainsFunc(inner, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || r == '<' || r == '>' || r == '"' || r == '\\'
	}) {
		return "", envoi.FieldError(envoi.EInvalidInput, "message_id", "%q is not a Message-ID (left@right, printable ASCII)", id)
	}
	return "<" + inner + ">", nil
}

// contentDomain is the domain of Content-IDs made for a message.
func (c *Composer) contentDomain(msgID string) string {
	if c.MessageIDDomain != "" {
		return c.MessageIDDomain
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(msgID, "<"), ">")
	return inner[strings.LastIndexByte(inner, '@')+1:]
}

// seed returns a stable hex string derived from the Message-ID, so that the
// boundaries and Content-IDs of a message are the same each time it is
// composed (a preview, then the send) and golden files are byte-exact.
func seed(msgID, salt string) string {
	h := sha256.Sum256([]byte("envoi/compose\x00" + salt + "\x00" + msgID))
	return hex.EncodeToString(h[:12])
}
