package main_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	main "envoi/cmd/envoi"
	"envoi/internal/interop"
)

// TestBenchDovecot runs envoi bench small through the interop suite's
// Dovecot (STARTTLS required, an oauth2 passdb introspecting each token),
// which introspects the bench's tokens at --introspect-listen and trusts
// nothing else: every message relayed, each connection logged in with
// XOAUTH2 over TLS. Skips without Dovecot's submission server or
// smtp-sink (fails under ENVOI_INTEROP=require); it needs neither
// oidc-provider nor IMAP, which interop.Need asks for.
func TestBenchDovecot(t *testing.T) {
	var missing []string
	for _, f := range []string{"/usr/sbin/dovecot", "/usr/lib/dovecot/submission", "/usr/sbin/smtp-sink"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		msg := "bench through Dovecot: missing " + strings.Join(missing, ", ") + " (Debian: dovecot-core dovecot-submissiond postfix)"
		if os.Getenv(interop.RequireEnv) == "require" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	introspect := net.JoinHostPort("127.0.0.1", strconv.Itoa(interop.FreePort(t, "127.0.0.1")))
	sink := interop.StartSink(t)
	d := interop.StartDovecot(t, interop.DovecotOptions{
		IntrospectionURL: "http://" + introspect + "/introspect",
		Mechanisms:       []string{"xoauth2"},
		Relay:            sink,
	})
	var out syncBuffer
	p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	args := []string{"bench", "--count", "20", "--attachment-kb", "5", "--clients", "2", "--workers", "2",
		"--smtp", net.JoinHostPort(d.Host, strconv.Itoa(d.Port)), "--smtp-security", "starttls", "--smtp-auth", "xoauth2",
		"--smtp-ca-file", d.CAFile, "--introspect-listen", introspect}
	if code := p.Main(context.Background(), args); code != 0 {
		t.Fatalf("envoi bench: exit %d\n%s\nDovecot's log:\n%s", code, out.String(), d.Log())
	}
	if !regexp.MustCompile(`(?m)^delivered +20 in `).MatchString(out.String()) {
		t.Errorf("output lacks 20 delivered:\n%s", out.String())
	}
	logins := d.Logins()
	if len(logins) == 0 {
		t.Fatalf("Dovecot logged no login:\n%s", d.Log())
	}
	for _, l := range logins {
		if l.User != "bench01@example.com" || l.Method != "XOAUTH2" || !l.TLS {
			t.Errorf("login %+v, want bench01@example.com with XOAUTH2 over TLS", l)
		}
	}
	if n := strings.Count(d.Log(), "Successfully relayed message"); n != 20 {
		t.Errorf("Dovecot relayed %d messages, want 20:\n%s", n, d.Log())
	}
}

// TestBenchExternalFlags refuses --smtp-ca-file and --introspect-listen
// without an external server, and an introspection address off loopback.
func TestBenchExternalFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--smtp-ca-file", "ca.pem"},
		{"--introspect-listen", "127.0.0.1:0"},
		{"--smtp", "127.0.0.1:25", "--introspect-listen", "0.0.0.0:8080"},
	} {
		var out syncBuffer
		p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		if code := p.Main(context.Background(), append([]string{"bench", "--count", "1"}, args...)); code == 0 {
			t.Errorf("envoi bench %s: exit 0, want a usage error\n%s", fmt.Sprint(args), out.String())
		}
	}
}
