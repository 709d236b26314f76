package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// dotReference is the rule of RFC 5321 §4.5.2 byte by byte: each line ends
// in CRLF, a line starting with '.' gets another.
func dotReference(msg []byte) []byte {
	var out bytes.Buffer
	bol, cr := true, false
	for _, c := range msg {
		if bol && c == '.' {
			out.WriteByte('.')
		}
		if c == '\n' && !cr {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
		bol, cr = c == '\n', c == '\r'
	}
	switch {
	case cr:
		out.WriteString("\n.\r\n")
	case !bol:
		out.WriteString("\r\n.\r\n")
	default:
		out.WriteString(".\r\n")
	}
	return out.Bytes()
}

// TestDotWriterMatchesReference writes random messages of CR, LF, dots and
// letters in random pieces and compares with the byte-by-byte rule.
func TestDotWriterMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\r\n.ab")
	for range 5000 {
		msg := make([]byte, r.IntN(40))
		for i := range msg {
			msg[i] = alphabet[r.IntN(len(alphabet))]
		}
		var out bytes.Buffer
		var d dotWriter
		d.reset(bufio.NewWriterSize(&out, 16), 0)
		for p := msg; len(p) > 0; {
			n := min(len(p), 1+r.IntN(8))
			if _, err := d.Write(p[:n]); err != nil {
				t.Fatal(err)
			}
			p = p[n:]
		}
		if err := d.finish(); err != nil {
			t.Fatal(err)
		}
		if want := dotReference(msg); !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("%q: wrote %q, want %q", msg, out.Bytes(), want)
		}
	}
}

// TestDotWriterLimit stops a message over the limit before its bytes are
// written.
func TestDotWriterLimit(t *testing.T) {
	var out bytes.Buffer
	var d dotWriter
	w := bufio.NewWriterSize(&out, 16)
	d.reset(w, 10)
	if _, err := d.Write([]byte("12345\r\n")); err != nil {
		t.Fatal(err)
	}
	_, err := d.Write([]byte("67890\r\n"))
	var se *sizeError
	if !errors.As(err, &se) || se.Limit != 10 {
		t.Fatalf("err = %v, want a sizeError with limit 10", err)
	}
	w.Flush()
	if out.String() != "12345\r\n" {
		t.Errorf("wrote %q, want only the part within the limit", out.String())
	}
}
