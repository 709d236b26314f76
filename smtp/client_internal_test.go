package smtp

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// TestReplyReader: replies within the bounds pass whole, many pipelined
// replies read at once are each bounded (not their sum), and each bound
// stops the reading exactly past it.
func TestReplyReader(t *testing.T) {
	line := func(code, sep string, n int) string {
		return code + sep + strings.Repeat("x", n-len(code)-len(sep)-2) + "\r\n"
	}
	maxLines := strings.Repeat(line("250", "-", 40), MaxReplyLines-1) + line("250", " ", 40)
	tests := []struct {
		name, in string
		want     string // the bound passed, "" for none
	}{
		{"LongestLine", line("220", " ", MaxReplyLineBytes), ""},
		{"LineTooLong", line("220", " ", MaxReplyLineBytes+1), "line"},
		{"LineNeverEnds", "220 " + strings.Repeat("a", 2*MaxReplyLineBytes), "line"},
		{"MostLines", maxLines, ""},
		{"TooManyLines", strings.Repeat(line("250", "-", 40), MaxReplyLines) + line("250", " ", 40), "lines"},
		{"TooManyBytes", strings.Repeat(line("250", "-", 4000), MaxReplyBytes/4000+1) + "250 ok\r\n", "bytes"},
		{"ManyRepliesPipelined", strings.Repeat(maxLines, 20), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &replyReader{r: strings.NewReader(tt.in)}
			b, err := io.ReadAll(r)
			var rb *replyBoundError
			switch {
			case tt.want == "" && (err != nil || string(b) != tt.in):
				t.Fatalf("got %d bytes, %v; want all %d", len(b), err, len(tt.in))
			case tt.want != "" && (!errors.As(err, &rb) || rb.what != tt.want):
				t.Fatalf("got %v, want the %s bound", err, tt.want)
			}
			if _, err2 := r.Read(make([]byte, 10)); tt.want != "" && err2 != err {
				t.Errorf("the bound does not stick: %v", err2)
			}
		})
	}
}

// TestLoopback: the names and addresses taken as this machine.
func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "relay.localhost": true, "127.0.0.1": true, "127.1.2.3": true,
		"::1": true, "[::1]": true, "::ffff:127.0.0.1": true,
		"192.0.2.1": false, "relay.example.net": false, "localhost.example.net": false, "0.0.0.0": false, "::": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
	for addr, want := range map[string]bool{"127.0.0.1:25": true, "[::1]:25": true, "192.0.2.1:25": false} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := loopbackAddr(a); got != want {
			t.Errorf("loopbackAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestProviderHost: the providers' servers are never taken for relays.
func TestProviderHost(t *testing.T) {
	for host, want := range map[string]bool{"smtp.office365.com": true, "SMTP.Gmail.com.": true, "relay.internal.example": false, "127.0.0.1": false} {
		if got := providerHost(host); got != want {
			t.Errorf("providerHost(%q) = %v, want %v", host, got, want)
		}
	}
}
