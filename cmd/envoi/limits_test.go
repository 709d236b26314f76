package main_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// trickle is a client that sends a request's headers and then its body
// one byte at a time, for as long as the server keeps the connection.
type trickle struct {
	conn   net.Conn
	closed chan struct{} // the server closed the connection
	mu     sync.Mutex
	got    strings.Builder // what the server answered
}

func startTrickle(t *testing.T, addr, head string) *trickle {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connection: %v", err)
	}
	tr := &trickle{conn: c, closed: make(chan struct{})}
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatalf("request head: %v", err)
	}
	go func() {
		defer close(tr.closed)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			tr.mu.Lock()
			tr.got.Write(buf[:n])
			tr.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-tr.closed:
				return
			case <-t.C:
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	return tr
}

func (tr *trickle) answer() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.got.String()
}

func openFiles() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}

// TestSlowBodies: 300 connections trickle bodies, to the sign-in form and
// to the API without a key. envoi answers the keyless ones at once
// without reading their bodies, gives the others ReadTimeout (1s here),
// and closes every one of them; meanwhile normal requests are served.
func TestSlowBodies(t *testing.T) {
	e := MustStart(t, EnvOptions{Args: []string{"--http-read-timeout", "1s", "--http-write-timeout", "5s"}})
	addr := strings.TrimPrefix(e.Base, "http://")
	before := openFiles()
	const forms, api = 200, 100
	var login, keyless []*trickle
	for range forms {
		login = append(login, startTrickle(t, addr, "POST /login HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nemail="))
	}
	for range api {
		keyless = append(keyless, startTrickle(t, addr, "POST /v1/messages HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"))
	}
	t.Logf("open files: %d before, %d with %d trickling connections", before, openFiles(), forms+api)
	t.Cleanup(func() {
		for _, tr := range append(login, keyless...) {
			tr.conn.Close()
		}
	})

	// Normal requests go through meanwhile.
	if resp, err := http.Get(e.Base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz while bodies trickle: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	e.MustDo(200, "GET", "/v1/companies", nil, nil)
	e.MustDo(200, "GET", "/v1/messages", nil, nil)

	// Every trickling connection is closed by envoi; the wait is generous
	// (the deadline is 1s), it is no measure of speed.
	deadline := time.After(2 * time.Minute)
	for i, tr := range append(login, keyless...) {
		select {
		case <-tr.closed:
		case <-deadline:
			t.Fatalf("connection %d of %d still open after 2 minutes; envoi answered %q", i, forms+api, firstLine(tr.answer()))
		}
	}
	for i, tr := range keyless {
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tr.answer())), nil)
		if err != nil || resp.StatusCode != 401 || !resp.Close {
			t.Fatalf("keyless upload %d: answer %q, want 401 with Connection: close", i, firstLine(tr.answer()))
		}
	}
	for i, tr := range login {
		if !strings.HasPrefix(tr.answer(), "HTTP/1.1 4") {
			t.Fatalf("sign-in %d: answer %q, want a 4xx", i, firstLine(tr.answer()))
		}
	}
	for _, tr := range append(login, keyless...) {
		tr.conn.Close()
	}
	// And the server's side of them is gone too: the process's open
	// files come back near where they were (a few kept-alive ones).
	var now int
	for range 200 {
		if now = openFiles(); now <= before+20 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("open files: %d once the connections are closed", now)
	if before >= 0 && now > before+20 {
		t.Errorf("%d files open after the trickling connections closed, %d before", now, before)
	}
	if resp, err := http.Get(e.Base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz afterwards: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// TestRefusedBodyUnread: a body announced over its route's limit is
// refused before it is sent, and the connection closes rather than read
// it: 1 MiB on most routes, MaxBodyBytes on sends.
func TestRefusedBodyUnread(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	addr := strings.TrimPrefix(e.Base, "http://")
	for _, c := range []struct {
		name, path string
		size       int
	}{
		{"SmallRoute", "/v1/auth-flows/O365", 2 << 20},
		{"Send", "/v1/messages", 65 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			method := "PUT"
			if c.path == "/v1/messages" {
				method = "POST"
			}
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", method, c.path, addr, e.Key, c.size)
			_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 413 || !resp.Close || !strings.Contains(string(b), "request_too_large") {
				t.Errorf("answer %d %v %s, want 413 request_too_large with Connection: close", resp.StatusCode, resp.Header, b)
			}
		})
	}
}

// TestSecurityHeaders: the OAuth callback page may load nothing and be
// framed by nobody, and leaks no code by Referer; API answers are not
// sniffed; with an https public URL, HSTS.
func TestSecurityHeaders(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	get := func(base, path string) http.Header {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header
	}
	h := get(e.Base, "/oauth/callback?state=forged&code=x")
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'self' 'sha256-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("callback CSP %q lacks %q", csp, want)
		}
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := h.Get(k); got != want {
			t.Errorf("callback %s = %q, want %q", k, got, want)
		}
	}
	for _, path := range []string{"/v1/companies", "/v1/nothing-here", "/healthz"} {
		h := get(e.Base, path)
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", path, got)
		}
		if got := h.Get("Strict-Transport-Security"); got != "" {
			t.Errorf("%s: HSTS %q on an http public URL", path, got)
		}
	}
	https := MustStart(t, EnvOptions{Args: []string{"--public-url", "https://envoi.forterro.example"}})
	for _, path := range []string{"/healthz", "/login", "/v1/companies"} {
		if got := get(https.Base, path).Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
			t.Errorf("%s with an https public URL: Strict-Transport-Security = %q", path, got)
		}
	}
}
