package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"
)

// benchExternal are envoi bench's flags for an external submission server
// that checks the bench's access tokens itself, as Dovecot's oauth2 passdb
// does by RFC 7662 introspection (bench/dovecot.sh).
type benchExternal struct {
	// smtpCAFile is a PEM file of authorities that verify the --smtp
	// server's certificate (a self-signed one on loopback).
	smtpCAFile string
	// introspect is the loopback address where the built-in provider's
	// tokens can be introspected, at /introspect.
	introspect string
}

func (e *benchExternal) flags(fs *flag.FlagSet) {
	fs.StringVar(&e.smtpCAFile, "smtp-ca-file", "", "PEM file of certificate authorities that verify the --smtp server's certificate (with --smtp-security starttls or tls)")
	fs.StringVar(&e.introspect, "introspect-listen", "", "serve RFC 7662 token introspection of the built-in provider's access tokens at http://ADDR/introspect (a loopback host:port), for an --smtp server that checks XOAUTH2 tokens itself, such as Dovecot's oauth2 passdb")
}

// check refuses the flags without --smtp, and an introspection address
// that is not on loopback.
func (e *benchExternal) check(smtpAddr string) error {
	if (e.smtpCAFile != "" || e.introspect != "") && smtpAddr == "" {
		return fmt.Errorf("%w: --smtp-ca-file and --introspect-listen apply to an external server: give --smtp", errUsage)
	}
	if e.introspect != "" && !loopback(e.introspect) {
		return fmt.Errorf("%w: --introspect-listen %q: the bench listens only on a loopback address", errUsage, e.introspect)
	}
	return nil
}

// startIntrospection serves, with --introspect-listen, RFC 7662
// introspection of the provider's access tokens: a POST of token=... is
// answered active, with the user's address as email, for a token the
// provider issued, and inactive otherwise. The returned function stops it.
func (r *benchRun) startIntrospection() (func(), error) {
	if r.o.introspect == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", r.o.introspect)
	if err != nil {
		return nil, fmt.Errorf("bench: --introspect-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		user, err := r.provider.User(req.PostFormValue("token"))
		if err != nil {
			_, _ = w.Write([]byte(`{"active":false}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "email": user, "scope": "smtp", "token_type": "Bearer", "exp": time.Now().Add(time.Hour).Unix()})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}
