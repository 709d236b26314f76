package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"envoi/oauth"
)

// test runs a flow's Test action from the terminal.
func (p *Program) test(ctx context.Context, args []string) error {
	var flow, operator string
	var smtpCA func(*Config)
	var timeout time.Duration
	cfg, logger, err := p.setup("test", "test --flow FLOW --operator OP [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&flow, "flow", "", "authentication flow code; required")
		fs.StringVar(&operator, "operator", "", "operator to test the flow for")
		smtpCA = p.smtpCAFlag(fs)
		fs.DurationVar(&timeout, "timeout", oauth.DefaultTestTimeout, "time the test may take before it stops with smtp_timeout")
	})
	if err != nil {
		return err
	}
	smtpCA(cfg)
	cfg.Limits.TestTimeout = timeout
	if flow == "" {
		return fmt.Errorf("%w: test needs --flow", errUsage)
	}
	app, err := p.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	res, err := app.Tester.Test(ctx, flow, operator)
	for _, s := range res.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(p.Stdout, "%s %-12s %s\n", mark, s.Name, s.Detail)
	}
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(p.Stdout, "flow %s works for %s: authentication and addressing succeeded (nothing was sent)\n", flow, operator)
	return nil
}

// smtpCAFlag registers --smtp-ca-file (else ENVOI_SMTP_CA_FILE) on a
// command other than serve that connects to SMTP servers: `envoi test`
// must trust the private CA of an internal relay as serve does, or its
// Test action fails on TLS where serve sends. The returned function copies
// the value into cfg once fs is parsed.
func (p *Program) smtpCAFlag(fs *flag.FlagSet) func(cfg *Config) {
	caFile := fs.String("smtp-ca-file", "", "PEM file of certificate authorities to trust for SMTP servers, besides the system's (env ENVOI_SMTP_CA_FILE)")
	return func(cfg *Config) {
		cfg.SMTPCAFile = flagOrEnv(fs, p.Getenv)("smtp-ca-file", "ENVOI_SMTP_CA_FILE", caFile)
	}
}
