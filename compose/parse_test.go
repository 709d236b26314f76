package compose_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
)

// leaf is a non-multipart part of a parsed message, its body decoded.
type leaf struct {
	mediaType   string
	params      map[string]string
	disposition string
	filename    string
	contentID   string
	body        []byte
}

// parsed is a message as net/mail and mime/multipart read it.
type parsed struct {
	header mail.Header
	// structure is the MIME tree: "multipart/mixed[multipart/alternative[text/plain,text/html],application/pdf]".
	structure string
	leaves    []leaf
}

// parse reads raw with the standard library and fails the test on any
// malformation: a bare LF, a line over 998 bytes, a part it cannot read.
func parse(t *testing.T, raw []byte) *parsed {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long", i+1, len(line))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("mail.ReadMessage: %v", err)
	}
	p := &parsed{header: msg.Header}
	p.structure = p.walk(t, textproto.MIMEHeader(msg.Header), msg.Body)
	return p
}

func (p *parsed) walk(t *testing.T, h textproto.MIMEHeader, body io.Reader) string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		r := multipart.NewReader(body, params["boundary"])
		var kids []string
		for {
			part, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: next part: %v", mt, err)
			}
			kids = append(kids, p.walk(t, part.Header, part))
		}
		return mt + "[" + strings.Join(kids, ",") + "]"
	}
	data, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("%s: read: %v", mt, err)
	}
	if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
		if data, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(data))); err != nil {
			t.Fatalf("%s: base64: %v", mt, err)
		}
	}
	l := leaf{mediaType: mt, params: params, body: data, contentID: h.Get("Content-ID")}
	if d := h.Get("Content-Disposition"); d != "" {
		disp, dp, err := mime.ParseMediaType(d)
		if err != nil {
			t.Fatalf("Content-Disposition %q: %v", d, err)
		}
		l.disposition, l.filename = disp, dp["filename"]
	}
	p.leaves = append(p.leaves, l)
	return mt
}

// only returns the one leaf of media type mt.
func (p *parsed) only(t *testing.T, mt string) leaf {
	t.Helper()
	var found []leaf
	for _, l := range p.leaves {
		if l.mediaType == mt {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d parts of type %s, want 1 (structure %s)", len(found), mt, p.structure)
	}
	return found[0]
}

// attachments returns the leaves with disposition attachment.
func (p *parsed) attachments() []leaf {
	var out []leaf
	for _, l := range p.leaves {
		if l.disposition == "attachment" {
			out = append(out, l)
		}
	}
	return out
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatalf("decode %q: %v", v, err)
	}
	return s
}
