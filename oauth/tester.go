package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"envoi"
)

// Prober is the mail part of a flow test (smtp.Sender implements it):
// connect and authenticate as id, have the server accept MAIL FROM from
// and RCPT TO rcpt, send nothing, and report each step.
type Prober interface {
	Probe(ctx context.Context, id envoi.Identity, from, rcpt string) ([]envoi.TestStep, error)
}

// DefaultTestTimeout bounds a flow test when Tester.Timeout is zero.
const DefaultTestTimeout = 30 * time.Second

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
	// Timeout bounds the whole test (DefaultTestTimeout): a server that
	// never answers ends the test with smtp_timeout in that time.
	Timeout time.Duration
}

var errTestTimeout = errors.New("the flow test took too long")

// Test returns the steps run and the first failure, as Service.Test. The
// test stops after Timeout (smtp_timeout naming the step that was
// running) or when ctx is cancelled (the step's error says so). Progress
// is reported to ctx's envoi.TestProgress.
func (t *Tester) Test(ctx context.Context, flow, operator string) (envoi.TestResult, error) {
	d := t.Timeout
	if d <= 0 {
		d = DefaultTestTimeout
	}
	running := ""
	outer := ctx
	ctx = envoi.WithTestProgress(ctx, func(st envoi.TestStep, isRunning bool) {
		if isRunning {
			running = st.Name
		}
		envoi.ReportTestStep(outer, st, isRunning)
	})
	ctx, cancel := context.WithTimeoutCause(ctx, d, errTestTimeout)
	defer cancel()
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
	res, err := t.OAuth.Test(ctx, flow, operator, probe)
	if err == nil {
		return res, nil
	}
	var e *envoi.Error
	deadline, _ := ctx.Deadline()
	switch {
	// A connection's deadline is the context's: its read may time out
	// just before the context's timer fires.
	case errors.Is(context.Cause(ctx), errTestTimeout) || (outer.Err() == nil && !time.Now().Before(deadline)):
		e = envoi.Errorf(envoi.ESMTPTimeout, "the test was stopped after %s: no answer during step %q", d, stepOrLast(running, res.Steps)).
			WithDetail("timeout", d.String())
	case outer.Err() != nil:
		e = envoi.Errorf(envoi.ESMTPTimeout, "the test was cancelled during step %q", stepOrLast(running, res.Steps))
	default:
		return res, err
	}
	e.Err = err
	res.Error = e
	if n := len(res.Steps); n > 0 && !res.Steps[n-1].OK {
		res.Steps[n-1].Detail = e.Message + fmt.Sprintf(" (%s)", res.Steps[n-1].Detail)
	} else {
		res.Steps = append(res.Steps, envoi.TestStep{Name: stepOrLast(running, res.Steps), Detail: e.Message})
	}
	return res, e
}

func stepOrLast(running string, steps []envoi.TestStep) string {
	if running != "" {
		return running
	}
	if n := len(steps); n > 0 {
		return steps[n-1].Name
	}
	return "flow"
}
