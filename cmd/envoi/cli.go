package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

// describe makes a catalogue error read well on a terminal.
func describe(err error) error {
	e := envoi.AsError(err)
	if e.Code == envoi.EInternal {
		return err
	}
	msg := e.Message
	if len(e.Details) > 0 {
		b, _ := json.Marshal(e.Details)
		msg += " " + string(b)
	}
	return fmt.Errorf("%s: %s\n  what to do: %s", e.Code, msg, e.Remedy)
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

// messages lists, shows and retries messages.
func (p *Program) messages(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: messages needs a subcommand: list, show ID, retry ID", errUsage)
	}
	sub, rest := args[0], args[1:]
	var id string
	if sub == "show" || sub == "retry" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return fmt.Errorf("%w: messages %s ID", errUsage, sub)
		}
		id, rest = rest[0], rest[1:]
	}
	var f envoi.MessageFilter
	cfg, logger, err := p.setup("messages "+sub, "messages list|show ID|retry ID [flags]", rest, func(fs *flag.FlagSet) {
		if sub == "list" {
			fs.StringVar(&f.Status, "status", "", "only this status (queued, sending, sent, retrying, failed, consent_required)")
			fs.StringVar(&f.Operator, "operator", "", "only this operator")
			fs.StringVar(&f.DocumentFlow, "flow", "", "only this document flow")
			fs.IntVar(&f.Limit, "limit", 50, "at most this many, newest first")
		}
	})
	if err != nil {
		return err
	}
	app, err := p.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	switch sub {
	case "list":
		list, err := app.Store.Messages(ctx, f)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			fmt.Fprintln(p.Stdout, "no message yet: send one with 'envoi send' or POST /v1/messages")
			return nil
		}
		for _, m := range list {
			fmt.Fprintf(p.Stdout, "%s  %-16s %-14s %-10s %s %s\n", m.ID, m.Status, m.Request.DocumentFlow, m.Request.Operator, m.CreatedAt.Local().Format(time.DateTime), m.ErrorCode)
		}
		return nil
	case "show":
		m, err := app.Store.Message(ctx, id)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(p.Stdout, "id:          %s\nstatus:      %s\nattempts:    %d\nmessage-id:  %s\nflow:        %s (as %s)\ndocument:    %s\noperator:    %s\ncreated:     %s\n",
			m.ID, m.Status, m.Attempts, m.MessageID, m.Flow, m.Username, m.Request.DocumentFlow, m.Request.Operator, m.CreatedAt.Local().Format(time.DateTime))
		if !m.SentAt.IsZero() {
			fmt.Fprintf(p.Stdout, "sent:        %s\n", m.SentAt.Local().Format(time.DateTime))
		}
		if m.ErrorCode != "" {
			t := envoi.Describe(m.ErrorCode, "en")
			fmt.Fprintf(p.Stdout, "error:       %s — %s\n             %s\nwhat to do:  %s\n", m.ErrorCode, t.Message, m.Error, t.Remedy)
		}
		return nil
	case "retry":
		m, err := app.Service.Retry(ctx, id)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(p.Stdout, "message %s queued again (status %s); a running envoi serve sends it now\n", m.ID, m.Status)
		return nil
	}
	return fmt.Errorf("%w: unknown messages subcommand %q (list, show, retry)", errUsage, sub)
}

// auth runs an operator's (or a generic mailbox's) consent from a terminal.
func (p *Program) auth(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "login" {
		return fmt.Errorf("%w: auth needs a subcommand: login", errUsage)
	}
	var flow, operator string
	var device, paste, noBrowser bool
	cfg, logger, err := p.setup("auth login", "auth login --flow FLOW [--operator OP] [--device | --paste] [flags]", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&flow, "flow", "", "authentication flow code; required")
		fs.StringVar(&operator, "operator", "", "operator who consents; empty for the flow's generic mailbox")
		fs.BoolVar(&device, "device", false, "device code: show a code to enter on another device (servers without a browser)")
		fs.BoolVar(&paste, "paste", false, "Microsoft's native redirect: paste back the address the browser ends on")
		fs.BoolVar(&noBrowser, "no-browser", false, "print the address instead of opening a browser")
	})
	if err != nil {
		return err
	}
	if flow == "" {
		return fmt.Errorf("%w: auth login needs --flow", errUsage)
	}
	app, err := p.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	var tok *envoi.Token
	switch {
	case device:
		tok, err = app.OAuth.DeviceConsent(ctx, flow, operator, func(uri, code string) {
			fmt.Fprintf(p.Stdout, "On any device, open %s and enter the code %s\nWaiting for the approval...\n", uri, code)
		})
	case paste:
		tok, err = app.OAuth.PasteConsent(ctx, flow, operator, func(authURL string) (string, error) {
			fmt.Fprintf(p.Stdout, "Open this address in a browser and sign in:\n\n  %s\n\nThen paste here the address the browser ends on (it starts with https://login.live.com/oauth20_desktop.srf):\n> ", authURL)
			line, err := bufio.NewReader(p.stdin()).ReadString('\n')
			if err != nil && line == "" {
				return "", err
			}
			return strings.TrimSpace(line), nil
		})
	default:
		tok, err = app.OAuth.LoopbackConsent(ctx, flow, operator, func(u string) error {
			fmt.Fprintf(p.Stdout, "Sign in with the provider at:\n\n  %s\n\nWaiting for the browser to come back...\n", u)
			if !noBrowser {
				_ = openBrowser(u)
			}
			return nil
		})
	}
	if err != nil {
		return describe(err)
	}
	n, _ := app.Service.ReleaseParked(ctx, envoi.TokenKey{Flow: tok.Flow, Operator: tok.Operator}) // logged when it fails
	fmt.Fprintf(p.Stdout, "Authenticated as %s for flow %s; the token is stored encrypted and refreshed by envoi.\n", tok.Email, tok.Flow)
	if n > 0 {
		fmt.Fprintf(p.Stdout, "%d message(s) waiting for this consent are queued again.\n", n)
	}
	return nil
}

func (p *Program) stdin() io.Reader {
	if p.Stdin != nil {
		return p.Stdin
	}
	return os.Stdin
}

func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	return cmd.Start()
}

// test runs a flow's Test action from the terminal.
func (p *Program) test(ctx context.Context, args []string) error {
	var flow, operator string
	var smtpCA func(*Config)
	cfg, logger, err := p.setup("test", "test --flow FLOW --operator OP [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&flow, "flow", "", "authentication flow code; required")
		fs.StringVar(&operator, "operator", "", "operator to test the flow for")
		smtpCA = p.smtpCAFlag(fs)
	})
	if err != nil {
		return err
	}
	smtpCA(cfg)
	if flow == "" {
		return fmt.Errorf("%w: test needs --flow", errUsage)
	}
	app, err := p.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	res, err := app.Tester.Test(ctx, flow, operator)
	for _, s := range res.Steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(p.Stdout, "%s %-12s %s\n", mark, s.Name, s.Detail)
	}
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(p.Stdout, "flow %s works for %s: authentication and addressing succeeded (nothing was sent)\n", flow, operator)
	return nil
}
