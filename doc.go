// Package envoi is the domain of envoi, the outbound e-mail service of an ERP.
//
// It holds the concepts of the product — companies, operators and groups,
// authentication flows, OAuth tokens, document flows with their mail settings
// and file-name rules, messages and archived documents — the one error type
// with its catalogue of stable codes, and the small service interfaces that
// the adapters (sqlstore, smtp, oauth, compose, report, queue, http)
// implement or consume. It imports only the standard library.
package envoi
