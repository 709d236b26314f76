package main

import (
	"envoi"
	"envoi/internal/fakeapi"
	"envoi/internal/fakegmail"
	"envoi/internal/fakegraph"
)

// benchAPIScope is the scope the bench's flow asks for the transport.
func benchAPIScope(transport string) string {
	if transport == envoi.TransportGraph {
		return envoi.ScopeGraphSend
	}
	return envoi.ScopeGmailSend
}

// startAPI starts the fake mail API of --transport graph or gmail_api on
// loopback, which takes the built-in provider's tokens as granted with the
// transport's scope and keeps only the count of what it accepts.
func (r *benchRun) startAPI() error {
	if r.o.transport == envoi.TransportSMTP {
		return nil
	}
	scope := benchAPIScope(r.o.transport)
	tokens := func(token string) (fakeapi.Grant, error) {
		user, err := r.provider.User(token)
		return fakeapi.Grant{User: user, Scope: scope}, err
	}
	switch r.o.transport {
	case envoi.TransportGraph:
		s, err := fakegraph.New(fakegraph.Options{Tokens: tokens, Discard: true})
		if err != nil {
			return err
		}
		r.api, r.apiCount, r.apiClose = s.URL, s.Count, s.Close
	case envoi.TransportGmailAPI:
		s, err := fakegmail.New(fakegmail.Options{Tokens: tokens, Discard: true})
		if err != nil {
			return err
		}
		r.api, r.apiCount, r.apiClose = s.URL, s.Count, s.Close
	}
	return nil
}

// sendsLabel names the sends in the bench's report: "SMTP" or the mail
// API's transport.
func sendsLabel(transport string) string {
	if transport == envoi.TransportSMTP || transport == "" {
		return "SMTP"
	}
	return transport
}
