package ui

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
)

// mailView is a composed message as a person reads it: its subject, the
// HTML part (shown in a sandboxed frame, its inline images made data:
// URIs), the text part, and the attachments listed.
type mailView struct {
	Subject     string
	HTML        string
	Text        string
	Attachments []attachmentView
}

type attachmentView struct {
	Name, Type string
	Size       int64
}

// maxMailView bounds the message read for its preview; maxInlineImage the
// inline image put into the frame as a data: URI.
const (
	maxMailView    = 32 << 20
	maxInlineImage = 2 << 20
	maxPartDepth   = 8
)

// readMail parses eml for its preview; nil when it is not a message.
func readMail(eml []byte) *mailView {
	if len(eml) > maxMailView {
		return nil
	}
	msg, err := mail.ReadMessage(bytes.NewReader(eml))
	if err != nil {
		return nil
	}
	dec := new(mime.WordDecoder)
	v := &mailView{Subject: msg.Header.Get("Subject")}
	if s, err := dec.DecodeHeader(v.Subject); err == nil {
		v.Subject = s
	}
	inline := map[string]string{} // Content-ID -> data: URI
	walkPart(v, inline, mail.Header(msg.Header), msg.Body, 0)
	for cid, uri := range inline {
		v.HTML = strings.ReplaceAll(v.HTML, "cid:"+cid, uri)
	}
	return v
}

type partHeader interface{ Get(string) string }

func walkPart(v *mailView, inline map[string]string, h partHeader, body io.Reader, depth int) {
	if depth > maxPartDepth {
		return
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	media, params, err := mime.ParseMediaType(ct)
	if err != nil {
		media = "application/octet-stream"
	}
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return
			}
			walkPart(v, inline, p.Header, p, depth+1)
		}
	}
	data, err := io.ReadAll(io.LimitReader(decoded(h.Get("Content-Transfer-Encoding"), body), maxMailView))
	if err != nil {
		return
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	if s, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		name = s
	}
	cid := strings.Trim(h.Get("Content-Id"), "<> ")
	switch {
	case disp != "attachment" && media == "text/html" && v.HTML == "":
		v.HTML = string(data)
	case disp != "attachment" && media == "text/plain" && v.Text == "" && name == "":
		v.Text = string(data)
	case cid != "" && strings.HasPrefix(media, "image/") && len(data) <= maxInlineImage:
		inline[cid] = "data:" + media + ";base64," + base64.StdEncoding.EncodeToString(data)
	default:
		if name == "" {
			name = "(" + media + ")"
		}
		v.Attachments = append(v.Attachments, attachmentView{Name: name, Type: media, Size: int64(len(data))})
	}
}

func decoded(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// newlineStripper drops the line breaks of base64 bodies.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, b := range p[:k] {
			if b != '\r' && b != '\n' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
