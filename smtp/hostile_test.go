package smtp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"envoi"
	"envoi/smtp"
)

// hostile is a raw SMTP "server" on loopback run by a script; it counts
// the bytes it manages to write, and stops at writeCap.
type hostile struct {
	addr    string
	port    int
	written atomic.Int64
	done    chan struct{}
}

// writeCap is where a hostile server gives up: a client that reads that
// much of an endless reply has no bound.
const writeCap = 64 << 20

// hostileCert is a certificate for 127.0.0.1 and the pool that trusts it
// (borrowed from httptest).
func hostileCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return ts.TLS.Certificates[0], pool
}

// startHostile serves one connection with script, which gets the
// connection, a line reader and the counting writer.
func startHostile(t *testing.T, script func(c net.Conn, r *bufio.Reader, h *hostile)) *hostile {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		script(c, bufio.NewReader(c), h)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-h.done
	})
	return h
}

// write writes s and counts it.
func (h *hostile) write(c net.Conn, s string) bool { return h.writeBytes(c, []byte(s)) }

func (h *hostile) writeBytes(c net.Conn, p []byte) bool {
	n, err := c.Write(p)
	h.written.Add(int64(n))
	return err == nil
}

// endless writes chunk until the client hangs up or writeCap is reached.
func (h *hostile) endless(c net.Conn, chunk string) {
	p := []byte(chunk)
	for h.written.Load() < writeCap && h.writeBytes(c, p) {
	}
}

// expect reads one command line and checks its start.
func expect(r *bufio.Reader, prefix string) bool {
	line, err := r.ReadString('\n')
	return err == nil && strings.HasPrefix(strings.ToUpper(line), prefix)
}

func hostileIdentity(port int, security string) envoi.Identity {
	return envoi.Identity{
		Flow:     &envoi.AuthFlow{Code: "hostile", Kind: envoi.KindSMTPBasic, SMTP: envoi.SMTPServer{Host: "127.0.0.1", Port: port, Security: security}},
		Username: operatorEmail,
		Password: password,
	}
}

// TestSend_HostileEndlessReplies: a greeting line that never ends,
// endless 250- EHLO lines, an endless line after TLS (implicit or after
// STARTTLS) and an endless reply to MAIL: envoi stops reading at its
// bounds and drops the connection, the server could write only what the
// sockets' buffers hold, and the error is a temporary smtp_unavailable
// naming the bound.
func TestSend_HostileEndlessReplies(t *testing.T) {
	cert, roots := hostileCert(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	ehloTLS := "250-hostile\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"
	tests := []struct {
		name      string
		security  string
		script    func(c net.Conn, r *bufio.Reader, h *hostile)
		wantLimit string
	}{
		{"GreetingLineNeverEnds", envoi.SecurityNone, func(c net.Conn, r *bufio.Reader, h *hostile) {
			h.write(c, "220 ")
			h.endless(c, strings.Repeat("a", 4096))
		}, "line"},
		{"EndlessEHLOLines", envoi.SecuritySTARTTLS, func(c net.Conn, r *bufio.Reader, h *hostile) {
			h.write(c, "220 hostile ESMTP\r\n")
			if expect(r, "EHLO") {
				h.endless(c, strings.Repeat("250-PIPELINING\r\n", 256))
			}
		}, "lines"},
		{"EndlessReplyBytes", envoi.SecuritySTARTTLS, func(c net.Conn, r *bufio.Reader, h *hostile) {
			h.write(c, "220 hostile ESMTP\r\n")
			if expect(r, "EHLO") {
				h.endless(c, "250-"+strings.Repeat("x", 3000)+"\r\n")
			}
		}, "bytes"},
		{"EndlessLineAfterSTARTTLS", envoi.SecuritySTARTTLS, func(c net.Conn, r *bufio.Reader, h *hostile) {
			h.write(c, "220 hostile ESMTP\r\n")
			if !expect(r, "EHLO") || !h.write(c, ehloTLS) || !expect(r, "STARTTLS") || !h.write(c, "220 go ahead\r\n") {
				return
			}
			tc := tls.Server(c, serverTLS)
			tr := bufio.NewReader(tc)
			if expect(tr, "EHLO") {
				h.write(tc, "250-")
				h.endless(tc, strings.Repeat("b", 4096))
			}
		}, "line"},
		{"EndlessReplyToMAILOverImplicitTLS", envoi.SecurityTLS, func(c net.Conn, r *bufio.Reader, h *hostile) {
			tc := tls.Server(c, serverTLS)
			tr := bufio.NewReader(tc)
			h.write(tc, "220 hostile ESMTP\r\n")
			if !expect(tr, "EHLO") || !h.write(tc, "250-hostile\r\n250 AUTH PLAIN\r\n") ||
				!expect(tr, "AUTH") || !h.write(tc, "235 ok\r\n") || !expect(tr, "MAIL") {
				return
			}
			h.endless(tc, "250-"+strings.Repeat("m", 1000)+"\r\n")
		}, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHostile(t, tt.script)
			s := &smtp.Sender{RootCAs: roots, CommandTimeout: 30 * time.Second}
			t.Cleanup(func() { s.Close() })
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			e := sendErr(t, s, hostileIdentity(h.port, tt.security), nil)
			<-h.done
			runtime.ReadMemStats(&after)
			if e == nil || e.Code != envoi.ESMTPUnavailable || !e.Temporary || e.Details["limit"] != tt.wantLimit {
				t.Fatalf("got %v (details %v), want temporary %s with limit %q", e, e.Details, envoi.ESMTPUnavailable, tt.wantLimit)
			}
			// What the server wrote is what the sockets held when envoi
			// hung up, far from the cap it reaches with a client that reads
			// on.
			if n := h.written.Load(); n >= writeCap {
				t.Errorf("the server wrote %d bytes: envoi read on", n)
			}
			// And the process allocated little meanwhile (the server's
			// side included): without bounds, the reply is kept whole.
			alloc := after.TotalAlloc - before.TotalAlloc
			if alloc >= writeCap/2 {
				t.Errorf("%d bytes allocated during the send", alloc)
			}
			t.Logf("server wrote %d bytes before envoi hung up; %d bytes allocated", h.written.Load(), alloc)
		})
	}
}

// TestSend_GreetingTimeout: a server that accepts and never speaks, or
// stops during a TLS handshake, is given GreetingTimeout, not
// CommandTimeout; the Test action says which step hung and the likely
// mistake.
func TestSend_GreetingTimeout(t *testing.T) {
	tests := []struct {
		name, security string
		script         func(c net.Conn, r *bufio.Reader, h *hostile)
		wantSteps      string
		wantDetail     []string
	}{
		{"SilentServer", envoi.SecuritySTARTTLS, func(c net.Conn, r *bufio.Reader, h *hostile) {
			io.Copy(io.Discard, r) // until envoi hangs up
		}, "connect!", []string{"no greeting within 100ms", "implicit TLS (port 465)"}},
		{"SilentImplicitTLS", envoi.SecurityTLS, func(c net.Conn, r *bufio.Reader, h *hostile) {
			io.Copy(io.Discard, r)
		}, "tls!", []string{"no TLS handshake within 100ms"}},
		{"SilentAfterSTARTTLS", envoi.SecuritySTARTTLS, func(c net.Conn, r *bufio.Reader, h *hostile) {
			h.write(c, "220 hostile ESMTP\r\n")
			if expect(r, "EHLO") && h.write(c, "250-hostile\r\n250 STARTTLS\r\n") && expect(r, "STARTTLS") {
				h.write(c, "220 go ahead\r\n")
				io.Copy(io.Discard, r)
			}
		}, "connect tls!", []string{"no TLS handshake within 100ms", "STARTTLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startHostile(t, tt.script)
			// CommandTimeout is far longer than the test may last: only
			// the greeting timeout can end the wait.
			s := &smtp.Sender{CommandTimeout: time.Hour, GreetingTimeout: 100 * time.Millisecond}
			t.Cleanup(func() { s.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			steps, err := s.Probe(ctx, hostileIdentity(h.port, tt.security), operatorEmail, "")
			if got := stepNames(steps); got != tt.wantSteps {
				t.Errorf("steps: got %q, want %q", got, tt.wantSteps)
			}
			if got := envoi.ErrorCode(err); got != envoi.ESMTPTimeout || !envoi.IsTemporary(err) {
				t.Fatalf("got %v, want temporary %s", err, envoi.ESMTPTimeout)
			}
			detail := steps[len(steps)-1].Detail
			for _, want := range tt.wantDetail {
				if !strings.Contains(detail, want) {
					t.Errorf("detail: got %q, want it to contain %q", detail, want)
				}
			}
		})
	}
}
