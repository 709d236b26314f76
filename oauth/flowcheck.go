package oauth

import (
	"context"
	"fmt"
	"strings"

	"envoi"
)

// Probe is the mail part of a flow test: connect and authenticate to the
// flow's SMTP server as id, run MAIL FROM / RCPT TO / RSET without sending,
// and report each step (the smtp package's Probe).
type Probe func(ctx context.Context, id envoi.Identity) ([]envoi.TestStep, error)

// Test checks, for one operator, that flowCode works end to end: the
// operator belongs to the flow (EOperatorNotInFlow; operator may be "" for
// a generic mailbox or app-only flow), the flow's data is valid
// (EInvalidFlowData naming the field), a token can be had (refreshing it
// if needed), then probe, when given, runs the SMTP part. The flow's
// internal addresses are logged at WARN and shown in one "internal_address"
// step, security none towards another host in a "cleartext" step; both
// pass (see envoi.AuthFlow.Warnings). The result lists every step run; err
// is the first failure, also in envoi.TestResult.Error, and nil when all
// passed.
func (s *Service) Test(ctx context.Context, flowCode, operator string, probe Probe) (envoi.TestResult, error) {
	var res envoi.TestResult
	fail := func(name string, err error) (envoi.TestResult, error) {
		e := envoi.AsError(err)
		st := envoi.TestStep{Name: name, Detail: e.Message}
		res.Steps = append(res.Steps, st)
		envoi.ReportTestStep(ctx, st, false)
		res.Error = e
		return res, e
	}
	pass := func(name, detail string) {
		st := envoi.TestStep{Name: name, OK: true, Detail: detail}
		res.Steps = append(res.Steps, st)
		envoi.ReportTestStep(ctx, st, false)
	}

	flow, err := s.Store.AuthFlow(ctx, flowCode)
	if err != nil {
		return fail("flow", err)
	}
	var op *envoi.Operator
	switch {
	case operator != "":
		if op, err = s.operatorInFlow(ctx, flow, operator); err != nil {
			return fail("operator", err)
		}
		pass("operator", fmt.Sprintf("operator %s is in flow %s", operator, flow.Code))
	case flow.GenericMailbox.Enabled || appOnly(flow):
		pass("operator", fmt.Sprintf("flow %s sends as its generic mailbox %s", flow.Code, flow.GenericMailbox.Email))
	default:
		return fail("operator", envoi.FieldError(envoi.EInvalidInput, "operator", "say which operator of flow %q to test", flow.Code))
	}
	if err := flow.Validate(); err != nil {
		return fail("flow", err)
	}
	pass("flow", fmt.Sprintf("flow %s is valid (%s)", flow.Code, flowSummary(flow)))
	var internal []string
	for _, w := range flow.Warnings() {
		switch w.Code {
		case envoi.WarnInternalAddress:
			// Allowed (internal relays and providers exist), but seen.
			s.log().Warn("flow test connects to an internal address", "flow", flow.Code, "field", w.Field, "address", w.Address)
			internal = append(internal, w.Message)
		case envoi.WarnCleartextCredentials:
			pass("cleartext", w.Message)
		}
	}
	if len(internal) > 0 {
		pass("internal_address", strings.Join(internal, "; "))
	}

	if flow.Kind == envoi.KindOAuth2 {
		envoi.ReportTestStep(ctx, envoi.TestStep{Name: tokenStep(flow), Detail: "obtaining an access token"}, true)
	}
	id, detail, err := s.identity(ctx, flow, op)
	if err != nil {
		return fail(tokenStep(flow), err)
	}
	pass(tokenStep(flow), detail)

	if probe != nil {
		steps, err := probe(ctx, id)
		res.Steps = append(res.Steps, steps...)
		if err != nil {
			res.Error = envoi.AsError(err)
			return res, res.Error
		}
	}
	res.OK = true
	return res, nil
}

func tokenStep(flow *envoi.AuthFlow) string {
	if flow.Kind == envoi.KindOAuth2 {
		return "token"
	}
	return "credentials"
}

func flowSummary(f *envoi.AuthFlow) string {
	if f.Kind == envoi.KindOAuth2 {
		if t := f.EffectiveTransport(); t != envoi.TransportSMTP {
			return fmt.Sprintf("OAuth 2.0 %s, %s grant, %s %s", f.Preset, f.EffectiveGrant(), t, f.EffectiveAPIURL())
		}
		return fmt.Sprintf("OAuth 2.0 %s, %s grant, SMTP %s:%d", f.Preset, f.EffectiveGrant(), f.SMTP.Host, f.SMTP.Port)
	}
	return fmt.Sprintf("basic SMTP %s:%d", f.SMTP.Host, f.SMTP.Port)
}

// Identity returns who operator sends as with flow, a token obtained
// (refreshed if needed) for OAuth flows: the token key and the SMTP
// username (the account that consented; the generic mailbox for generic
// and app-only flows; the operator's address and password for basic SMTP).
// The operator's membership of the flow is not checked here.
func (s *Service) Identity(ctx context.Context, flowCode, operator string) (envoi.Identity, error) {
	flow, err := s.Store.AuthFlow(ctx, flowCode)
	if err != nil {
		return envoi.Identity{}, err
	}
	var op *envoi.Operator
	if operator != "" {
		if op, err = s.Store.Operator(ctx, operator); err != nil {
			return envoi.Identity{}, err
		}
	}
	id, _, err := s.identity(ctx, flow, op)
	return id, err
}

// identity returns the identity a send of op on flow authenticates as
// (envoi.SendingIdentity, the rule sends use), with its credentials
// checked: the password stored for basic SMTP, a valid token (refreshed
// if needed) for OAuth 2.0. A basic flow's operator without a password
// sends without AUTH, as sending does.
func (s *Service) identity(ctx context.Context, flow *envoi.AuthFlow, op *envoi.Operator) (envoi.Identity, string, error) {
	if flow.Kind != envoi.KindOAuth2 {
		if op == nil {
			return envoi.Identity{Flow: flow, Key: KeyFor(flow, "")}, "", envoi.FieldError(envoi.EInvalidInput, "operator", "basic SMTP sends as an operator: say which one")
		}
	}
	id, err := envoi.SendingIdentity(flow, op)
	if err != nil {
		return id, "", err
	}
	if flow.Kind != envoi.KindOAuth2 {
		if id.Password == "" {
			// As sending does: no password, no AUTH (a relay that
			// accepts by address); the probe shows whether it does.
			return id, fmt.Sprintf("no SMTP password stored for %s: sends without authentication", id.Username), nil
		}
		return id, fmt.Sprintf("password stored for %s", id.Username), nil
	}
	if _, err := s.AccessToken(ctx, id.Key, false); err != nil {
		return id, "", err
	}
	t, err := s.Store.Token(ctx, id.Key)
	if err != nil {
		return id, "", err
	}
	detail := fmt.Sprintf("token of %s valid until %s", id.Username, t.Expiry.UTC().Format("2006-01-02 15:04 UTC"))
	if t.Email != "" && !strings.EqualFold(t.Email, id.Username) {
		detail += fmt.Sprintf(" (consented as %s)", t.Email)
	}
	return id, detail, nil
}
