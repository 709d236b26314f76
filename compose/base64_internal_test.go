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
