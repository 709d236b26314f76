package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"envoi"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// send accepts a message like the API does, then delivers it from this
// process (a running server's workers may take it too: only one sends it)
// and prints its outcome.
func (p *Program) send(ctx context.Context, args []string) error {
	var (
		file, flow, operator, company, entity, reportName, reportData string
		to, cc, bcc, sets, attach                                     listFlag
		wait                                                          time.Duration
		idem                                                          string
	)
	cfg, logger, err := p.setup("send", "send --flow BL --operator OP --to ADDR --set KEY=VALUE ... | send -f request.json", args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "f", "", "a JSON send request (the body of POST /v1/messages); flags below add to it")
		fs.StringVar(&flow, "flow", "", "document flow code (e.g. BL)")
		fs.StringVar(&operator, "operator", "", "operator code who sends")
		fs.StringVar(&company, "company", "", "company code")
		fs.Var(&to, "to", "recipient (repeatable)")
		fs.Var(&cc, "cc", "copy recipient (repeatable)")
		fs.Var(&bcc, "bcc", "blind copy recipient (repeatable)")
		fs.Var(&sets, "set", "keyword value KEY=VALUE (repeatable), e.g. --set ID_BL=12345")
		fs.Var(&attach, "attach", "file to attach (repeatable)")
		fs.StringVar(&reportName, "report", "", "render this report template to PDF and attach it")
		fs.StringVar(&reportData, "report-data", "", "JSON file with the report's data")
		fs.StringVar(&entity, "entity", "", "business entity TYPE:ID the document belongs to (for the archive)")
		fs.StringVar(&idem, "idempotency-key", "", "send once per key, even when the command is run again")
		fs.DurationVar(&wait, "wait", 60*time.Second, "how long to wait for the outcome (0: queue and return)")
	})
	if err != nil {
		return err
	}
	req, err := buildSendRequest(file, flow, operator, company, entity, reportName, reportData, to, cc, bcc, sets, attach)
	if err != nil {
		return err
	}
	app, err := p.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	m, created, err := app.Service.Accept(ctx, req, idem)
	if err != nil {
		return describe(err)
	}
	if created {
		fmt.Fprintf(p.Stdout, "message %s accepted (Message-ID %s)\n", m.ID, m.MessageID)
	} else {
		fmt.Fprintf(p.Stdout, "message %s was already accepted with this idempotency key\n", m.ID)
	}
	if wait <= 0 {
		return nil
	}
	workCtx, stop := context.WithTimeout(ctx, wait)
	defer stop()
	go func() { _ = app.Worker.Run(workCtx) }()
	m, err = app.Service.Wait(workCtx, m.ID, wait)
	stop()
	if err != nil {
		return err
	}
	return p.printOutcome(m)
}

func (p *Program) printOutcome(m *envoi.Message) error {
	switch m.Status {
	case envoi.StatusSent:
		fmt.Fprintf(p.Stdout, "sent at %s after %d attempt(s)\n", m.SentAt.Local().Format(time.DateTime), m.Attempts)
		return nil
	case envoi.StatusFailed, envoi.StatusConsentRequired:
		e := &envoi.Error{Code: m.ErrorCode, Message: m.Error}
		t := envoi.Describe(m.ErrorCode, "en")
		fmt.Fprintf(p.Stdout, "%s: %s\n  %s\n  what to do: %s\n", m.Status, t.Message, m.Error, t.Remedy)
		return fmt.Errorf("message %s %s: %w", m.ID, m.Status, e)
	}
	next := ""
	if !m.NextTry.IsZero() {
		next = ", next try at " + m.NextTry.Local().Format(time.DateTime)
	}
	fmt.Fprintf(p.Stdout, "still %s after %d attempt(s)%s; envoi serve will go on (see: envoi messages show %s)\n", m.Status, m.Attempts, next, m.ID)
	return nil
}

func buildSendRequest(file, flow, operator, company, entity, reportName, reportData string, to, cc, bcc, sets, attach []string) (*envoi.SendRequest, error) {
	req := &envoi.SendRequest{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(req); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&req.DocumentFlow, flow)
	set(&req.Operator, operator)
	set(&req.Company, company)
	req.To = append(req.To, to...)
	req.Cc = append(req.Cc, cc...)
	req.Bcc = append(req.Bcc, bcc...)
	for _, kv := range sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%w: --set %q: want KEY=VALUE", errUsage, kv)
		}
		if req.Context == nil {
			req.Context = map[string]string{}
		}
		req.Context[k] = v
	}
	for _, path := range attach {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		ct := mime.TypeByExtension(filepath.Ext(path))
		if ct == "" {
			ct = "application/octet-stream"
		}
		req.Attachments = append(req.Attachments, envoi.Attachment{Filename: filepath.Base(path), ContentType: ct, Content: b})
	}
	if reportName != "" {
		req.Report = &envoi.ReportRequest{Template: reportName}
		if reportData != "" {
			b, err := os.ReadFile(reportData)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(b, &req.Report.Data); err != nil {
				return nil, fmt.Errorf("%s: %w", reportData, err)
			}
		}
	}
	if entity != "" {
		t, id, ok := strings.Cut(entity, ":")
		if !ok {
			return nil, fmt.Errorf("%w: --entity %q: want TYPE:ID", errUsage, entity)
		}
		req.Entity = &envoi.Entity{Type: t, ID: id}
	}
	if req.DocumentFlow == "" || req.Operator == "" || len(req.To)+len(req.Cc)+len(req.Bcc) == 0 {
		return nil, fmt.Errorf("%w: send needs --flow, --operator and at least one --to (or -f request.json)", errUsage)
	}
	return req, nil
}
