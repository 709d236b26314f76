package envoi_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"envoi"
)

// TestCanonicalBase64: the text of every byte string as the standard
// encoder writes it is canonical, Base64DecodedLen gives its decoded
// length and Attachment.Size the same; anything the encoder would not have
// written (line breaks, missing padding, unused bits set, other alphabets,
// padding inside) is not.
func TestCanonicalBase64(t *testing.T) {
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i*151 + 7)
	}
	for n := range len(src) {
		text := []byte(base64.StdEncoding.EncodeToString(src[:n]))
		if !envoi.CanonicalBase64(text) {
			t.Fatalf("%q (%d bytes) is not canonical", text, n)
		}
		if got := envoi.Base64DecodedLen(text); got != int64(n) {
			t.Fatalf("%q: decoded length %d, want %d", text, got, n)
		}
		a := envoi.Attachment{Encoded: text}
		if a.Size() != int64(n) {
			t.Fatalf("Size() = %d, want %d", a.Size(), n)
		}
	}
	for _, s := range []string{
		"aGVsbG8", "aGVsbG9=", "aGVsbG8h\r\n", "aGVs bG8=", "aGVsbG8=\n", "YQ==YQ==", "====", "a===",
		"YR==", "YWI=YWI=", "-_-_", "aGVsbG8=é", "\x00\x00\x00\x00",
	} {
		if envoi.CanonicalBase64([]byte(s)) {
			t.Errorf("%q is canonical, want not", s)
		}
	}
	// Canonical is exactly: decodes strictly and encodes back the same.
	for _, s := range []string{"YR==", "YQ==", "YWI=", "YWJ=", "YWJj", "", "AAAA", "////", "+/+/"} {
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		want := err == nil && bytes.Equal([]byte(base64.StdEncoding.EncodeToString(b)), []byte(s))
		if got := envoi.CanonicalBase64([]byte(s)); got != want {
			t.Errorf("%q: canonical %v, want %v", s, got, want)
		}
	}
	if a := (envoi.Attachment{Content: []byte("hello")}); a.Size() != 5 {
		t.Errorf("Size() of 5 bytes = %d", a.Size())
	}
}
