package main_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	main "envoi/cmd/envoi"
)

// TestBench runs envoi bench small, on SQLite and PostgreSQL: every
// message delivered through the built-in sink with XOAUTH2, one token
// call, and the report's lines.
func TestBench(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			args := []string{"bench", "--count", "60", "--attachment-kb", "20", "--clients", "4", "--workers", "3"}
			if db == "postgres" {
				url := postgresURL(t)
				args = append(args, "--database-url", url)
			}
			var out syncBuffer
			p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
			if code := p.Main(context.Background(), args); code != 0 {
				t.Fatalf("envoi bench: exit %d\n%s", code, out.String())
			}
			if db == "postgres" {
				if !regexp.MustCompile(`(?m)^PostgreSQL server: CPU [\d.]+s \([\d.]+ ms a message\) in the backends`).MatchString(out.String()) {
					t.Errorf("output lacks the PostgreSQL server's CPU:\n%s", out.String())
				}
				if !regexp.MustCompile(`(?m)^PostgreSQL server, all its processes: CPU ([\d.]+s \([\d.]+ ms a message;|not measured: )`).MatchString(out.String()) {
					t.Errorf("output lacks the CPU of all the PostgreSQL server's processes:\n%s", out.String())
				}
			}
			for _, want := range []string{
				`(?m)^accepted +60 in .* msg/s +accept latency +p50 .* p99 `,
				// The time in envoi's handler, measured for each request.
				`(?m)^ +in the handler +p50 +[1-9][\d.]*(µs|ms|s) +p99 .* \(POST /v1/messages\)`,
				`(?m)^delivered +60 in .* msg/s +send latency +p50 .* p99 `,
				`(?m)^failed 0, SMTP sends 60, token endpoint calls 1, peak memory \(VmHWM\) \d+ MB`,
				`(?m)^sink: 60 messages, `,
				// The writes to the SMTP socket, a few a message.
				`(?m)^SMTP socket: \d+ writes, [1-9]\.\d a message, `,
			} {
				if !regexp.MustCompile(want).MatchString(out.String()) {
					t.Errorf("output lacks %s:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestBenchMechanisms runs envoi bench small with each credential the
// built-in sink checks besides XOAUTH2: OAUTHBEARER with a token from the
// built-in provider, PLAIN with an operator's password.
func TestBenchMechanisms(t *testing.T) {
	for _, tc := range []struct{ auth, calls string }{{"oauthbearer", "1"}, {"plain", "0"}} {
		t.Run(tc.auth, func(t *testing.T) {
			var out syncBuffer
			p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
			args := []string{"bench", "--count", "20", "--attachment-kb", "5", "--clients", "2", "--workers", "2", "--smtp-auth", tc.auth}
			if code := p.Main(context.Background(), args); code != 0 {
				t.Fatalf("envoi bench: exit %d\n%s", code, out.String())
			}
			for _, want := range []string{
				`(?m)^failed 0, SMTP sends 20, token endpoint calls ` + tc.calls + `,`,
				`(?m)^sink: 20 messages, .*, [1-9]\d* AUTH commands`,
			} {
				if !regexp.MustCompile(want).MatchString(out.String()) {
					t.Errorf("output lacks %s:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestBenchMonthEnd runs the month-end mode small (a minute's worth, so
// that it is quick): every mailbox's messages go out within its limits,
// which the sink enforces (no 432 reply), none twice, and the report
// says so.
func TestBenchMonthEnd(t *testing.T) {
	var out syncBuffer
	p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	args := []string{"bench", "--month-end", "--operators", "3", "--per-mailbox", "5", "--per-minute", "5", "--connections", "2",
		"--slow-delay", "300ms", "--attachment-kb", "1", "--clients", "2"}
	if code := p.Main(context.Background(), args); code != 0 {
		t.Fatalf("envoi bench --month-end: exit %d\n%s", code, out.String())
	}
	for _, want := range []string{
		`(?m)^delivered +15 in `,
		`(?m)^month-end: 3 mailboxes × 5 messages, limits 5 a minute and 2 connections each`,
		`(?m)^healthy mailboxes done after [\d.]+s; ideal 0.0s`,
		`(?m)^throttle replies received \(432 4\.3\.2\): 0 \(goal 0\), 0 of them for connections; duplicates at the sink: 0 \(goal 0\)`,
		`(?m)^per mailbox: bench01 5 sent, .*bench03 5 sent`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}

// TestBenchRate: with --rate the requests go open-loop at that rate and the
// acceptance latencies, p50 to p99.9, are reported.
func TestBenchRate(t *testing.T) {
	var out syncBuffer
	p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	trace := filepath.Join(t.TempDir(), "accept.trace")
	args := []string{"bench", "--count", "40", "--attachment-kb", "5", "--workers", "2", "--rate", "200", "--trace", trace}
	if code := p.Main(context.Background(), args); code != 0 {
		t.Fatalf("envoi bench: exit %d\n%s", code, out.String())
	}
	// --trace wrote an execution trace (its header names Go's version).
	if b, err := os.ReadFile(trace); err != nil || !bytes.HasPrefix(b, []byte("go 1.")) {
		t.Errorf("--trace: %d bytes, %v; want an execution trace", len(b), err)
	}
	for _, want := range []string{
		`open-loop at 200 requests/s`,
		`(?m)^accepted +40 in .* accept latency +p50 .* p99 .* p99\.9 `,
		`(?m)^failed 0, SMTP sends 40,`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("output lacks %s:\n%s", want, out.String())
		}
	}
}

// TestBenchAPITransports: envoi bench sends through the fakes of
// Microsoft Graph and of the Gmail API, each message accepted by the fake.
func TestBenchAPITransports(t *testing.T) {
	for _, transport := range []string{"graph", "gmail_api"} {
		t.Run(transport, func(t *testing.T) {
			var out syncBuffer
			p := &main.Program{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
			args := []string{"bench", "--count", "30", "--attachment-kb", "20", "--clients", "3", "--workers", "3", "--transport", transport}
			if code := p.Main(context.Background(), args); code != 0 {
				t.Fatalf("envoi bench: exit %d\n%s", code, out.String())
			}
			for _, want := range []string{
				`(?m)^delivered +30 in .* msg/s`,
				`(?m)^failed 0, ` + transport + ` sends 30, token endpoint calls 1,`,
				`(?m)^fake ` + transport + `: 30 messages, `,
			} {
				if !regexp.MustCompile(want).MatchString(out.String()) {
					t.Errorf("output lacks %s:\n%s", want, out.String())
				}
			}
		})
	}
}
