package benchpeer

import (
	"bufio"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// chunks reads s in pieces of random sizes, as TCP delivers a stream.
type chunks struct {
	s string
	r *rand.Rand
}

func (c *chunks) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := min(len(p), len(c.s), 1+c.r.IntN(7))
	copy(p, c.s[:n])
	c.s = c.s[n:]
	return n, nil
}

// TestSinkData finds the end of each message wherever the reads cut
// it, and reads nothing past it.
func TestSinkData(t *testing.T) {
	msgs := []string{
		"",
		"a\r\n",
		"..\r\n",
		"Subject: x\r\n\r\n.x\r\n..\r\n\r\n. \r\nend\r\n",
		"line\r\n..\r\n\r\n",
		strings.Repeat("0123456789abcdef\r\n", 5000),
	}
	for seed := range uint64(50) {
		var stream strings.Builder
		for _, m := range msgs {
			stream.WriteString(m + ".\r\nNOOP\r\n")
		}
		r := bufio.NewReaderSize(&chunks{stream.String(), rand.New(rand.NewPCG(seed, 1))}, 64<<10)
		if seed%2 == 0 {
			r = bufio.NewReaderSize(strings.NewReader(stream.String()), 16)
		}
		for i := range msgs {
			n, err := readData(r)
			if err != nil {
				t.Fatalf("seed %d, message %d: %v", seed, i, err)
			}
			if n != int64(len(msgs[i])) {
				t.Errorf("seed %d, message %d: %d bytes, want %d", seed, i, n, len(msgs[i]))
			}
			line, err := r.ReadString('\n')
			if line != "NOOP\r\n" {
				t.Fatalf("seed %d, after message %d: next line %q (%v), want the next command", seed, i, line, err)
			}
		}
	}
}
