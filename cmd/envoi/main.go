// Command envoi is envoi's server and command-line tool: it serves the API
// and the admin UI, applies migrations, manages API keys and encryption keys.
// It is the only package that sees every adapter and wires them together.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"envoi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &Program{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	os.Exit(p.Main(ctx, os.Args[1:]))
}

// Program is one run of the envoi command, with its outside world injected
// so tests can run it in-process.
type Program struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// OnListen, when set, is told the address serve listens on (tests listen
	// on port 0).
	OnListen func(addr net.Addr)
	// Setup adjusts the wired parts (tests).
	Setup Setup
}

// errUsage marks a command-line mistake: exit status 2, usage printed.
var errUsage = errors.New("usage")

type command struct {
	summary string
	run     func(p *Program, ctx context.Context, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":      {"run the HTTP API and admin UI (migrates the database first)", (*Program).serve},
		"bench":      {"measure the sending path: API, queue, compose, SMTP with XOAUTH2 to a loopback sink", (*Program).bench},
		"migrate":    {"apply the database migrations and exit", (*Program).migrate},
		"admin":      {"manage the admin UI's users: admin create --email E [--password-env VAR] | admin password --email E | admin list", (*Program).admin},
		"apikey":     {"manage API keys: apikey create --name NAME | apikey list | apikey revoke ID", (*Program).apikey},
		"keys":       {"manage encryption keys: keys rotate", (*Program).keys},
		"apply":      {"apply a configuration file: apply -f config.yaml (companies, operators, flows, settings)", (*Program).apply},
		"send":       {"send a document: send --flow BL --operator OP --to ADDR --set ID_BL=12345 (or -f request.json)", (*Program).send},
		"messages":   {"messages list | show ID | retry ID", (*Program).messages},
		"file-names": {"the name of a printed or exported document: file-names resolve FLOW KEY=VALUE...", (*Program).fileNames},
		"archive":    {"archive a printed or exported document: archive add --flow F --entity-type T --entity-id I FILE", (*Program).archiveCmd},
		"auth":       {"consent from a terminal: auth login --flow F --operator O [--device | --paste]", (*Program).auth},
		"test":       {"test a flow for an operator: token, connection, AUTH, MAIL FROM/RCPT TO, nothing sent", (*Program).test},
		"version": {"print the version", func(p *Program, _ context.Context, _ []string) error {
			fmt.Fprintln(p.Stdout, "envoi", version)
			return nil
		}},
	}
}

var version = "dev"

// Main runs the command in args and returns the process exit status.
func (p *Program) Main(ctx context.Context, args []string) int {
	if p.Getenv == nil {
		p.Getenv = os.Getenv
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		p.usage(p.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(p.Stderr, "envoi: unknown command %q\n\n", args[0])
		p.usage(p.Stderr)
		return 2
	}
	err := cmd.run(p, ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(p.Stderr, "envoi:", err)
		return 2
	}
	fmt.Fprintln(p.Stderr, "envoi:", err)
	return 1
}

func (p *Program) usage(w io.Writer) {
	fmt.Fprintln(w, "envoi — outbound e-mail for the ERP (SMTP, Microsoft 365, Gmail with OAuth 2.0)")
	fmt.Fprintln(w, "\nUsage: envoi <command> [flags]\n\nCommands:")
	names := make([]string, 0)
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands()[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'envoi <command> --help' for the flags of a command.")
}

// newFlagSet returns a flag set that prints its usage to p.Stderr and
// reports errors instead of exiting.
func (p *Program) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(p.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(p.Stderr, "Usage: envoi %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, strings.Join(fs.Args(), " "))
	}
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

// subcommand is one subcommand of a command group (admin, apikey, auth,
// keys, messages), as its help lists it.
type subcommand struct{ synopsis, summary string }

// group answers a command group called without a subcommand, or with
// help, -h or --help: it prints the group's subcommands (on stdout when
// asked for, with a usage error otherwise) and reports done. Each
// subcommand's own flags are shown by 'envoi GROUP SUB --help'.
func (p *Program) group(name string, args []string, subs []subcommand) (done bool, err error) {
	asked := len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help")
	if len(args) > 0 && !asked {
		return false, nil
	}
	w := p.Stdout
	if !asked {
		w = p.Stderr
	}
	fmt.Fprintf(w, "Usage: envoi %s <subcommand> [flags]\n\nSubcommands:\n", name)
	for _, s := range subs {
		fmt.Fprintf(w, "  %-32s %s\n", s.synopsis, s.summary)
	}
	fmt.Fprintf(w, "\nRun 'envoi %s <subcommand> --help' for its flags (storage flags included).\n", name)
	if asked {
		return true, nil
	}
	return true, fmt.Errorf("%w: %s needs a subcommand", errUsage, name)
}
