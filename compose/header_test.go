package compose_test

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"

	"envoi"
)

// TestComposeLongHeaders: a subject filled with a keyword of 3,000
// characters without a space, display names of 2,400 characters, an
// attachment content type and file names at their longest: every header
// line stays within 78 characters (998 is the hard limit), and each value
// reads back as it was given.
func TestComposeLongHeaders(t *testing.T) {
	s, m := newStore(t), newMessage()
	longName := strings.Repeat("Client", 400)
	s.operators["jdupont"].Name = strings.Repeat("Jérôme", 300)
	m.Request.Context["ID_BL"] = strings.Repeat("X", 3000)
	m.Request.To = []string{longName + " <achats@client.test>", strings.Repeat("Cl ", 700) + "<b@client.test>"}
	m.Request.Cc = []string{strings.Repeat("Zoé", 500) + " <zoe@client.test>"}
	asciiFile := strings.Repeat("f", 140) + ".txt"
	accentFile := strings.Repeat("é", 70) + ".txt"
	m.Request.Attachments = []envoi.Attachment{
		{Filename: asciiFile, ContentType: "text/plain; charset=utf-8; format=" + strings.Repeat("a", 1500), Content: []byte("hi")},
		{Filename: accentFile, ContentType: "application/" + strings.Repeat("x", 1100), Content: []byte("hi")},
	}
	s.settings["BL"].ReadReceipt = true
	mail, raw := compose1(t, s, m)
	header, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for i, l := range strings.Split(string(raw), "\r\n") {
		if len(l) > 998 || (len(l) > 78 && (i < bytes.Count(header, []byte("\r\n")) || !isBase64Line(l))) {
			t.Errorf("line %d: %d octets: %.100s", i+1, len(l), l)
		}
	}
	p := parse(t, raw)
	if got := decodeHeader(t, p.header.Get("Subject")); got != mail.Subject || !strings.HasSuffix(got, strings.Repeat("X", 3000)) {
		t.Errorf("subject reads %.80q, want %.80q", got, mail.Subject)
	}
	wantNames := map[string][]string{
		"To":                          {longName, strings.TrimSpace(strings.Repeat("Cl ", 700))},
		"Cc":                          {strings.Repeat("Zoé", 500)},
		"From":                        {strings.Repeat("Jérôme", 300)},
		"Disposition-Notification-To": {strings.Repeat("Jérôme", 300)},
	}
	for field, want := range wantNames {
		list, err := p.header.AddressList(field)
		if err != nil || len(list) != len(want) {
			t.Fatalf("%s: %v %v", field, list, err)
		}
		for i, a := range list {
			if a.Name != want[i] {
				t.Errorf("%s name %d reads %.60q (%d bytes), want %.60q (%d bytes)", field, i, a.Name, len(a.Name), want[i], len(want[i]))
			}
		}
	}
	files := p.attachments()
	if len(files) != 2 || files[0].filename != asciiFile || files[1].filename != accentFile {
		t.Fatalf("attachments %+v", files)
	}
	if files[0].params["format"] != strings.Repeat("a", 1500) || files[0].params["charset"] != "utf-8" {
		t.Errorf("text attachment's parameters read %v", files[0].params)
	}
	if files[1].mediaType != "text/plain" {
		t.Errorf("a 1,100-character media type is sent as %s, want the type of its extension", files[1].mediaType)
	}
}

func isBase64Line(l string) bool {
	return strings.Trim(l, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == ""
}

// TestComposeEncodedWordsLiteral: a value that looks like an RFC 2047
// encoded word is encoded, so a reader shows it as given rather than
// decoding text the sender chose.
func TestComposeEncodedWordsLiteral(t *testing.T) {
	const word = "=?utf-8?B?SGFja2Vk?="
	for _, id := range []string{word, "BL " + word + " x", "é" + word} {
		s, m := newStore(t), newMessage()
		m.Request.Context["ID_BL"] = id
		m.Request.To = []string{word + " <achats@client.test>"} // net/mail reads it as "Hacked"
		m.Request.Cc = []string{`"` + word + `" <c@client.test>`}
		s.operators["jdupont"].Name = "Jérôme " + word
		mail, raw := compose1(t, s, m)
		p := parse(t, raw)
		if got := decodeHeader(t, p.header.Get("Subject")); got != mail.Subject || !strings.Contains(got, id) {
			t.Errorf("subject with %q reads %q, want %q", id, got, mail.Subject)
		}
		for field, want := range map[string]string{"To": "Hacked", "Cc": word, "From": "Jérôme " + word} {
			list, err := p.header.AddressList(field)
			if err != nil || len(list) != 1 || list[0].Name != want {
				t.Errorf("%s reads %v (%v), want the name %q: %q", field, list, err, want, p.header.Get(field))
			}
		}
	}
}

var _ = mail.ParseAddress
