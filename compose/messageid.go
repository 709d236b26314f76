package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"envoi"
)

// messageIDs returns the Message-ID header's value of m and envoi's id
// of it (the private header's, see envoi.HeaderMessageID): m's Message-ID
// kept verbatim and put in angle brackets when it has none, or, when it
// has none (a preview), new ones made together. It returns EInvalidInput
// for a Message-ID that could break the header. An id that is not a
// header-safe token (never one envoi made) is left out of the header.
func (c *Composer) messageIDs(m *envoi.Message) (msgID, envoiID string, err error) {
	envoiID = m.ID
	if len(envoiID) > 100 || strings.ContainsFunc(envoiID, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		envoiID = ""
	}
	if m.MessageID == "" {
		if envoiID == "" {
			envoiID = envoi.NewID("msg_")
		}
		return envoi.MessageIDFor(envoiID, c.MessageIDDomain), envoiID, nil
	}
	msgID, err = c.messageID(m.MessageID)
	return msgID, envoiID, err
}

// messageID returns the Message-ID header's value for id, kept verbatim
// and put in angle brackets when it has none. It returns EInvalidInput
// for an id that could break the header.
func (c *Composer) messageID(id string) (string, error) {
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
