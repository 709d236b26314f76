// Package freeport finds loopback ports for tests that must name a port
// before the process that listens on it starts (envoi serve, Dovecot).
//
// A port the kernel hands out for ":0" is in its ephemeral range, the same
// range outgoing connections take their source ports from: between the
// moment a test closes its probe listener and the moment the real server
// binds, any connection on the machine may take it ("address already in
// use", seen under load). Ports are therefore drawn at random below that
// range, where neither listeners on ":0" nor outgoing connections go.
package freeport

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// The range drawn from: under Linux's default ephemeral range
// (32768–60999), above the ports well-known services use.
const (
	low  = 20000
	high = 32767
)

// Port returns a port that host accepted a listener on just now, drawn
// outside the ephemeral range. It fails tb after many ports were taken.
func Port(tb testing.TB, host string) int {
	tb.Helper()
	for range 200 {
		p := low + rand.IntN(high-low+1)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	tb.Fatalf("freeport: no free port on %s between %d and %d", host, low, high)
	return 0
}

// Addr is Port as host:port.
func Addr(tb testing.TB, host string) string {
	tb.Helper()
	return net.JoinHostPort(host, strconv.Itoa(Port(tb, host)))
}
