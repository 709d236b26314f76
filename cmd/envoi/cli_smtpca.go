package main

import "flag"

// smtpCAFlag registers --smtp-ca-file (else ENVOI_SMTP_CA_FILE) on a
// command other than serve that connects to SMTP servers: `envoi test`
// must trust the private CA of an internal relay as serve does, or its
// Test action fails on TLS where serve sends. The returned function copies
// the value into cfg once fs is parsed.
func (p *Program) smtpCAFlag(fs *flag.FlagSet) func(cfg *Config) {
	caFile := fs.String("smtp-ca-file", "", "PEM file of certificate authorities to trust for SMTP servers, besides the system's (env ENVOI_SMTP_CA_FILE)")
	return func(cfg *Config) {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "smtp-ca-file" })
		if set {
			cfg.SMTPCAFile = *caFile
		} else {
			cfg.SMTPCAFile = p.Getenv("ENVOI_SMTP_CA_FILE")
		}
	}
}
