package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"envoi"
)

// auth runs an operator's (or a generic mailbox's) consent from a terminal.
func (p *Program) auth(ctx context.Context, args []string) error {
	if done, err := p.group("auth", args, []subcommand{
		{"login --flow F [--operator O]", "consent from a terminal: a browser on this machine (loopback redirect), --device for a code entered elsewhere, --paste for Microsoft's native redirect"},
	}); done {
		return err
	}
	if args[0] != "login" {
		return fmt.Errorf("%w: unknown auth subcommand %q (login)", errUsage, args[0])
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
