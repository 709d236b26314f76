package dsn_test

import (
	"bytes"
	"strings"
	"testing"

	"envoi/dsn"
)

// BenchmarkParseHostile parses bounces of MaxSize whose text is made to
// slow the parser down: tags that never close, header-like lines, long
// runs of what looks like an address. Each must stay linear (an earlier
// tag-stripping regexp took seconds on "html").
func BenchmarkParseHostile(b *testing.B) {
	for name, body := range map[string]string{
		"html":  strings.Repeat("<aaaaaaaaaaaaaaaaaaaaaaaaaaaaa ", 16000),
		"ids":   strings.Repeat("Message-ID: <", 40000),
		"dots":  strings.Repeat("a.", 250000),
		"addrs": strings.Repeat("a@b", 160000),
	} {
		for _, ct := range []string{"text/plain", "text/html"} {
			raw := []byte("From: MAILER-DAEMON@x.test\r\nSubject: Undeliverable\r\nContent-Type: " + ct + "\r\n\r\n" + body)
			b.Run(name+"/"+strings.TrimPrefix(ct, "text/"), func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					_, _ = dsn.Parse(bytes.NewReader(raw))
				}
			})
		}
	}
}

// BenchmarkParse parses the golden RFC 3464 bounce.
func BenchmarkParse(b *testing.B) {
	raw := mustRead(b, "testdata/rfc3464_failed.eml")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := dsn.Parse(bytes.NewReader(raw)); err != nil {
			b.Fatal(err)
		}
	}
}
