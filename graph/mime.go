package graph

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"net/textproto"
	"strings"

	"envoi"
)

// attachment is one file taken out of a message to be uploaded apart.
type attachment struct {
	name, contentType string
	content           []byte
}

// splitAttachments returns msg without the attachments of its top-level
// multipart/mixed body, and those attachments decoded. The parts kept are
// copied byte for byte (the body, the inline logo); the header is kept
// as it is. A message that is not multipart/mixed has nothing to take
// out: it is returned whole. Returns invalid_input for a body that does
// not end as its boundary says.
func splitAttachments(msg []byte) ([]byte, []attachment, error) {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		return msg, nil, nil
	}
	head, body := msg[:end+4], msg[end+4:]
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(head))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return msg, nil, nil
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return msg, nil, nil
	}
	delim := []byte("\r\n--" + params["boundary"])
	// The body starts with the first delimiter (no preamble) or a preamble
	// and then a delimiter after a line break.
	rest := append([]byte("\r\n"), body...)
	first := bytes.Index(rest, delim)
	if first < 0 {
		return nil, nil, envoi.Errorf(envoi.EInvalidInput, "the message's multipart body has no boundary line")
	}
	// Kept as they were: the preamble, each part but the attachments
	// (from its delimiter line to the line break before the next), the
	// closing delimiter and the epilogue.
	var out bytes.Buffer
	out.Grow(len(msg))
	out.Write(head)
	if first > 0 {
		out.Write(rest[2:first])
		out.WriteString("\r\n")
	}
	var atts []attachment
	pos := first
	for {
		after := pos + len(delim)
		if bytes.HasPrefix(rest[after:], []byte("--")) {
			out.Write(rest[pos+2:])
			break
		}
		next := bytes.Index(rest[after:], delim)
		if next < 0 {
			return nil, nil, envoi.Errorf(envoi.EInvalidInput, "the message's multipart body does not end with its closing boundary")
		}
		part := rest[pos+2 : after+next]
		if a, ok := asAttachment(part[len(delim)-2:]); ok {
			atts = append(atts, a)
		} else {
			out.Write(part)
			out.WriteString("\r\n")
		}
		pos = after + next
	}
	return out.Bytes(), atts, nil
}

// asAttachment decodes one part (its text after the delimiter line's
// boundary) when it is an attachment in base64.
func asAttachment(part []byte) (attachment, bool) {
	// Skip the rest of the delimiter line (transport padding).
	nl := bytes.Index(part, []byte("\r\n"))
	if nl < 0 {
		return attachment{}, false
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(part[nl+2:])))
	h, err := r.ReadMIMEHeader()
	if err != nil {
		return attachment{}, false
	}
	disp, dp, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || !strings.EqualFold(strings.TrimSpace(h.Get("Content-Transfer-Encoding")), "base64") {
		return attachment{}, false
	}
	enc, err := io.ReadAll(r.R)
	if err != nil {
		return attachment{}, false
	}
	content, err := base64.StdEncoding.AppendDecode(nil, bytes.TrimSpace(enc))
	if err != nil {
		return attachment{}, false
	}
	ct, cp, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		ct = "application/octet-stream"
	}
	name := dp["filename"]
	if name == "" {
		name = cp["name"]
	}
	if name == "" {
		name = "attachment"
	}
	return attachment{name: name, contentType: ct, content: content}, true
}
