package main_test

import (
	"context"
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
			for _, want := range []string{
				`(?m)^accepted +60 in .* msg/s +accept latency +p50 .* p99 `,
				`(?m)^delivered +60 in .* msg/s +send latency +p50 .* p99 `,
				`(?m)^failed 0, SMTP sends 60, token endpoint calls 1, peak memory \(VmHWM\) \d+ MB`,
				`(?m)^sink: 60 messages, `,
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
