// Package fakeapi holds what the in-process fakes of the mail APIs
// (internal/fakegraph, internal/fakegmail) share: the grant a bearer token
// stands for, the test handle they stop with, and their loopback server.
// None of it is test code: `envoi bench` runs the fakes too.
package fakeapi

import (
	"net"
	"net/http"
	"time"
)

// Grant is what an access token stands for: the user who consented (none
// in particular for an app-only token), the scope granted, and whether it
// is app-only (client credentials).
type Grant struct {
	User  string
	Scope string
	App   bool
}

// Tokens checks a bearer token: what it stands for, or an error when it is
// unknown, expired or revoked.
type Tokens func(token string) (Grant, error)

// TB is the part of testing.TB a fake's Start uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Serve serves h on a free port of 127.0.0.1 until close is called; it
// returns the server's base URL ("http://127.0.0.1:port").
func Serve(h http.Handler) (base string, close func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
