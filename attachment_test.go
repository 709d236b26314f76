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

// TestCanonicalBase64EveryByte puts every byte value at every place of a
// long canonical text (where the check goes eight characters at a time,
// and in the tail it checks one by one): the text stays canonical exactly
// when the byte is of the alphabet (or padding the encoder would write).
func TestCanonicalBase64EveryByte(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	src := make([]byte, 30)
	for i := range src {
		src[i] = byte(i*151 + 7)
	}
	good := []byte(base64.StdEncoding.EncodeToString(src)) // 40 characters, no padding
	for pos := range len(good) {
		for v := range 256 {
			text := bytes.Clone(good)
			text[pos] = byte(v)
			want := bytes.IndexByte([]byte(alphabet), byte(v)) >= 0
			if v == '=' && pos >= len(good)-2 {
				b, err := base64.StdEncoding.Strict().DecodeString(string(text))
				want = err == nil && base64.StdEncoding.EncodeToString(b) == string(text)
			}
			if got := envoi.CanonicalBase64(text); got != want {
				t.Fatalf("byte %#x at %d: canonical %v, want %v", v, pos, got, want)
			}
		}
	}
}

// FuzzCanonicalBase64: canonical exactly when the text decodes strictly
// and encodes back the same.
//
//	go test -run '^$' -fuzz FuzzCanonicalBase64 .
func FuzzCanonicalBase64(f *testing.F) {
	for _, s := range []string{"", "YQ==", "aGVsbG8h", "aGVsbG8haGVsbG8haGVsbG8h", "aGVsbG8haGVsbG8haGVsbG8@", "aGVs\nbG8h"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		b, err := base64.StdEncoding.Strict().DecodeString(string(text))
		want := err == nil && base64.StdEncoding.EncodeToString(b) == string(text)
		if got := envoi.CanonicalBase64(text); got != want {
			t.Fatalf("%q: canonical %v, want %v", text, got, want)
		}
	})
}

// BenchmarkCanonicalBase64 checks the base64 text of a 100 KB PDF.
//
//	go test -run '^$' -bench CanonicalBase64 .
func BenchmarkCanonicalBase64(b *testing.B) {
	src := make([]byte, 100<<10)
	for i := range src {
		src[i] = byte(i*151 + i>>9)
	}
	text := []byte(base64.StdEncoding.EncodeToString(src))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if !envoi.CanonicalBase64(text) {
			b.Fatal("not canonical")
		}
	}
}
