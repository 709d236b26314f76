package compose

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// TestAppendBase64 matches the standard encoder for every length around
// its six-byte steps, appended after what dst holds.
func TestAppendBase64(t *testing.T) {
	src := make([]byte, 200)
	for i := range src {
		src[i] = byte(i*37 + i>>3)
	}
	for n := range len(src) {
		for _, prefix := range []string{"", "x\r\n"} {
			want := base64.StdEncoding.AppendEncode([]byte(prefix), src[:n])
			if got := appendBase64([]byte(prefix), src[:n]); !bytes.Equal(got, want) {
				t.Fatalf("%d bytes after %q: %q, want %q", n, prefix, got, want)
			}
		}
	}
}

// TestWriteLines: cutting base64 text into lines writes exactly what
// encoding its bytes writes, for every length around a line (57 bytes) and
// a write (linesPerWrite lines), and linesSize counts it; no line is
// longer than 76 characters.
func TestWriteLines(t *testing.T) {
	src := make([]byte, 3*linesPerWrite*base64LineInput+200)
	for i := range src {
		src[i] = byte(i*131 + i>>5)
	}
	var lengths []int
	for n := range 3 * base64LineInput {
		lengths = append(lengths, n)
	}
	for _, edge := range []int{linesPerWrite * base64LineInput, 2 * linesPerWrite * base64LineInput, len(src)} {
		for d := -4; d <= 4; d++ {
			if n := edge + d; n >= 0 && n <= len(src) {
				lengths = append(lengths, n)
			}
		}
	}
	buf := make([]byte, 0, linesPerWrite*(base64LineBytes+2))
	for _, n := range lengths {
		var want, got bytes.Buffer
		if _, err := writeBase64(&want, src[:n], buf); err != nil {
			t.Fatal(err)
		}
		text := base64.StdEncoding.EncodeToString(src[:n])
		k, err := writeLines(&got, []byte(text), buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("%d bytes: the lines differ from the encoding", n)
		}
		if k != int64(got.Len()) || linesSize(len(text)) != int64(got.Len()) || base64Size(n) != int64(got.Len()) {
			t.Fatalf("%d bytes: wrote %d, returned %d, linesSize %d, base64Size %d", n, got.Len(), k, linesSize(len(text)), base64Size(n))
		}
		for _, line := range bytes.Split(got.Bytes(), []byte("\r\n")) {
			if len(line) > base64LineBytes {
				t.Fatalf("%d bytes: a line of %d characters", n, len(line))
			}
		}
		dec, err := base64.StdEncoding.DecodeString(string(got.Bytes()))
		if err != nil || !bytes.Equal(dec, src[:n]) {
			t.Fatalf("%d bytes: the lines do not decode to the bytes (%v)", n, err)
		}
	}
}
