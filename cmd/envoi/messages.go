package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"envoi"
)

// messages lists, shows and retries messages.
func (p *Program) messages(ctx context.Context, args []string) error {
	if done, err := p.group("messages", args, []subcommand{
		{"list [--status S] [--flow F]", "the latest messages, newest first (--operator, --limit too)"},
		{"show ID", "one message: its state, recipients, subject, next attempt and error with what to do"},
		{"retry ID", "queue a failed message again"},
	}); done {
		return err
	}
	sub, rest := args[0], args[1:]
	var id string
	if sub == "show" || sub == "retry" {
		switch {
		case len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help"):
			// The flags' help, from the flag set below.
		case len(rest) == 0 || strings.HasPrefix(rest[0], "-"):
			return fmt.Errorf("%w: messages %s ID", errUsage, sub)
		default:
			id, rest = rest[0], rest[1:]
		}
	}
	var f envoi.MessageFilter
	cfg, logger, err := p.setup("messages "+sub, "messages list|show ID|retry ID [flags]", rest, func(fs *flag.FlagSet) {
		if sub == "list" {
			fs.StringVar(&f.Status, "status", "", "only this status (queued, scheduled, sending, sent, retrying, failed, consent_required)")
			fs.StringVar(&f.Operator, "operator", "", "only this operator")
			fs.StringVar(&f.DocumentFlow, "flow", "", "only this document flow")
			fs.IntVar(&f.Limit, "limit", 50, "at most this many, newest first")
		}
	})
	if err != nil {
		return err
	}
	if err := envoi.CheckStatus(f.Status, "status"); err != nil {
		return fmt.Errorf("%w: --status: %s", errUsage, envoi.AsError(err).Message)
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
			m.ID, m.Status, m.Attempts, m.MessageID, m.Flow, username(m), m.Request.DocumentFlow, m.Request.Operator, m.CreatedAt.Local().Format(time.DateTime))
		if m.Subject != "" {
			fmt.Fprintf(p.Stdout, "subject:     %s\n", m.Subject)
		}
		fmt.Fprintf(p.Stdout, "recipients:  %s\n", strings.Join(m.Recipients(), ", "))
		if !m.SentAt.IsZero() {
			fmt.Fprintf(p.Stdout, "sent:        %s\n", m.SentAt.Local().Format(time.DateTime))
		}
		for _, r := range []struct {
			label string
			b     *envoi.Bounce
		}{{"bounced:", m.Bounce}, {"delayed:", m.Delay}} {
			if r.b != nil {
				fmt.Fprintf(p.Stdout, "%-12s %s %s %s\n             %s\n", r.label, r.b.At.Local().Format(time.DateTime), r.b.Recipient, r.b.Status, r.b.Diagnostic)
			}
		}
		if !m.ReadAt.IsZero() {
			fmt.Fprintf(p.Stdout, "read:        %s\n", m.ReadAt.Local().Format(time.DateTime))
		}
		if !m.NextAttemptAt.IsZero() {
			fmt.Fprintf(p.Stdout, "next:        %s\n", m.NextAttemptAt.Local().Format(time.DateTime))
		}
		if m.WaitReason != "" {
			fmt.Fprintf(p.Stdout, "waiting:     %s\n", m.WaitReason)
		}
		if m.ProviderMessageID != "" {
			fmt.Fprintf(p.Stdout, "provider-id: %s\n", m.ProviderMessageID)
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

// username is the account a message is sent as, "" when it has no
// delivery record.
func username(m *envoi.Message) string {
	if m.Delivery == nil {
		return ""
	}
	return m.Delivery.Identity.Username
}
