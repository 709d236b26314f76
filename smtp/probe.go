package smtp

import (
	"context"

	"envoi"
)

// Names of the steps of Probe, in order.
const (
	StepConnect = "connect"
	StepTLS     = "tls"
	StepAuth    = "auth"
	StepMail    = "mail_from"
	StepRcpt    = "rcpt_to"
	StepRset    = "rset"
)

// Probe checks that id can send through its flow without sending: it
// connects, secures the connection, authenticates, and has the server
// accept MAIL FROM from and RCPT TO rcpt (from when rcpt is empty) before
// RSET. It returns the steps run, the failed one last, and that step's
// error (an *envoi.Error as Send's). The connection is not pooled.
func (s *Sender) Probe(ctx context.Context, id envoi.Identity, from, rcpt string) ([]envoi.TestStep, error) {
	var steps []envoi.TestStep
	step := func(name string, err error, detail string) {
		if err != nil {
			detail = failureDetail(err)
		}
		st := envoi.TestStep{Name: name, OK: err == nil, Detail: detail}
		steps = append(steps, st)
		envoi.ReportTestStep(ctx, st, false)
	}
	t, err := targetOf(id)
	if err != nil {
		return nil, err
	}
	if rcpt == "" {
		rcpt = from
	}
	sender, rcpts, err := envelopeOf(envoi.Envelope{From: from, Recipients: []string{rcpt}})
	if err != nil {
		return nil, err
	}
	cn, err := s.connect(ctx, t, id, step)
	if err != nil {
		return steps, err
	}
	stop := cn.watch(ctx)
	defer func() {
		stop()
		cn.quit()
	}()

	line := "MAIL FROM:<" + sender + ">"
	if cn.utf8 && !isASCII(sender, rcpts) {
		line += " SMTPUTF8"
	}
	run := func(name, command string, expect int, line string) error {
		envoi.ReportTestStep(ctx, envoi.TestStep{Name: name, Detail: line}, true)
		_, msg, err := cn.cmd(ctx, command, expect, line)
		if ce, ok := err.(*CommandError); ok && command == "RCPT" {
			ce.Recipient = rcpts[0]
		}
		if err != nil {
			e := Classify(err)
			step(name, e, "")
			return e
		}
		_, text := parseReplyText(msg)
		step(name, nil, text)
		return nil
	}
	if err := run(StepMail, "MAIL", 250, line); err != nil {
		return steps, err
	}
	if err := run(StepRcpt, "RCPT", 25, "RCPT TO:<"+rcpts[0]+">"); err != nil {
		return steps, err
	}
	if err := run(StepRset, "RSET", 250, "RSET"); err != nil {
		return steps, err
	}
	return steps, nil
}

// failureDetail says why a step failed: envoi's message and the server's
// reply, or the network or TLS error.
// A hint (which step hung, the likely mistake) follows.
func failureDetail(err error) string {
	e := envoi.AsError(err)
	detail := e.Message
	if text, ok := e.Details["server_text"].(string); ok && text != "" {
		detail += ": " + text
	} else if e.Err != nil && e.Code != envoi.EInternal {
		detail += ": " + e.Err.Error()
	}
	if hint, ok := e.Details["hint"].(string); ok && hint != "" {
		detail += " (" + hint + ")"
	}
	return detail
}
