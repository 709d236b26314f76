package oauth

import (
	"context"

	"envoi"
)

// Prober is the mail part of a flow test (smtp.Sender implements it):
// connect and authenticate as id, have the server accept MAIL FROM from
// and RCPT TO rcpt, send nothing, and report each step.
type Prober interface {
	Probe(ctx context.Context, id envoi.Identity, from, rcpt string) ([]envoi.TestStep, error)
}

// Tester runs a flow's Test action for one operator: OAuth's part (Test),
// then Mail's probe as the identity found, from and to its own address.
// It is what the API, the admin UI and "envoi test" call. OAuth is
// required; without Mail the test stops after the token.
type Tester struct {
	OAuth *Service
	Mail  Prober
}

// Test returns the steps run and the first failure, as Service.Test.
func (t *Tester) Test(ctx context.Context, flow, operator string) (envoi.TestResult, error) {
	var probe Probe
	if t.Mail != nil {
		probe = func(ctx context.Context, id envoi.Identity) ([]envoi.TestStep, error) {
			return t.Mail.Probe(ctx, id, id.Username, id.Username)
		}
	}
	return t.OAuth.Test(ctx, flow, operator, probe)
}
