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
// then the probe of the flow's transport as the identity found, from and
// to its own address. It is what the API, the admin UI and "envoi test"
// call. OAuth is required; without a prober for the flow's transport the
// test stops after the token.
type Tester struct {
	OAuth *Service
	// Mail probes flows that send over SMTP.
	Mail Prober
	// APIs probe flows on a mail API, by transport (envoi.TransportGraph,
	// envoi.TransportGmailAPI): a call that proves the permission without
	// sending.
	APIs map[string]Prober
}

// Test returns the steps run and the first failure, as Service.Test.
func (t *Tester) Test(ctx context.Context, flow, operator string) (envoi.TestResult, error) {
	probe := func(ctx context.Context, id envoi.Identity) ([]envoi.TestStep, error) {
		p := t.Mail
		if tr := id.Flow.EffectiveTransport(); tr != envoi.TransportSMTP {
			p = t.APIs[tr]
		}
		if p == nil {
			return nil, nil
		}
		return p.Probe(ctx, id, id.Username, id.Username)
	}
	return t.OAuth.Test(ctx, flow, operator, probe)
}
