package envoi

import (
	"context"
	"io"
)

// TokenSource gives the access token an identity authenticates with over
// SMTP (XOAUTH2 / OAUTHBEARER). The oauth package implements it; the smtp
// package asks it at AUTH time.
type TokenSource interface {
	// AccessToken returns a valid access token for key, refreshing it when it
	// expires soon; force refreshes even a token that looks valid (after the
	// SMTP server refused it). Returns EConsentRequired when the provider
	// refused the refresh token, and a Temporary error when the provider
	// could not be reached.
	AccessToken(ctx context.Context, key TokenKey, force bool) (string, error)
}

// Identity is who a message is sent as: the flow, the token key (operator,
// or "" for the flow's generic mailbox), the SMTP username (the account that
// consented, for XOAUTH2; the operator's address for basic SMTP) and, for
// basic SMTP, the password.
type Identity struct {
	Flow     *AuthFlow
	Key      TokenKey
	Username string
	Password string
}

// Envelope is the SMTP envelope of one message.
type Envelope struct {
	From       string
	Recipients []string
	// Size is the message's size in bytes when known (SIZE extension).
	Size int64
}

// Sender sends one message's bytes over SMTP as an identity. Errors are
// *Error with an smtp_* code (or consent_required), Temporary set for the
// retryable ones, and the server's text in Details["server_text"].
type Sender interface {
	Send(ctx context.Context, id Identity, env Envelope, data io.WriterTo) error
}
