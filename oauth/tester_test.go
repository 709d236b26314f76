package oauth_test

import (
	"context"
	"testing"

	"envoi"
	"envoi/oauth"
)

// prober records what a flow test probes and answers steps.
type prober struct {
	id         envoi.Identity
	from, rcpt string
	err        error
}

func (p *prober) Probe(_ context.Context, id envoi.Identity, from, rcpt string) ([]envoi.TestStep, error) {
	p.id, p.from, p.rcpt = id, from, rcpt
	return []envoi.TestStep{{Name: "connect", OK: p.err == nil, Detail: "127.0.0.1:587"}}, p.err
}

// TestTester: the Test action the API, the UI and "envoi test" run is
// OAuth's part, then the mail probe as the identity found, from and to its
// own address; a probe failure is the result's error.
func TestTester(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.mustConsent(t, jdupont)
		p := &prober{}
		res, err := (&oauth.Tester{OAuth: e.svc, Mail: p}).Test(ctx, flowCode, jdupont)
		must(t, err)
		if got, want := stepNames(res.Steps), "operator:ok flow:ok internal_address:ok token:ok connect:ok"; got != want || !res.OK {
			t.Errorf("steps: got %s (ok %v), want %s", got, res.OK, want)
		}
		if p.id.Key != jdupontKey || p.from != jdupontAt || p.rcpt != jdupontAt {
			t.Errorf("probed as %+v from %q to %q, want %v from and to %s", p.id.Key, p.from, p.rcpt, jdupontKey, jdupontAt)
		}
	})
	t.Run("ErrProbe", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.mustConsent(t, jdupont)
		p := &prober{err: envoi.Errorf(envoi.ESMTPAuthFailed, "535 5.7.3 Authentication unsuccessful")}
		res, err := (&oauth.Tester{OAuth: e.svc, Mail: p}).Test(ctx, flowCode, jdupont)
		if envoi.ErrorCode(err) != envoi.ESMTPAuthFailed || res.OK || res.Error == nil || res.Error.Code != envoi.ESMTPAuthFailed {
			t.Fatalf("Test = %+v, %v; want %s", res, err, envoi.ESMTPAuthFailed)
		}
	})
	t.Run("NoMail", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		e.mustConsent(t, jdupont)
		res, err := (&oauth.Tester{OAuth: e.svc}).Test(ctx, flowCode, jdupont)
		must(t, err)
		if got, want := stepNames(res.Steps), "operator:ok flow:ok internal_address:ok token:ok"; got != want {
			t.Errorf("steps: got %s, want %s", got, want)
		}
	})
}
