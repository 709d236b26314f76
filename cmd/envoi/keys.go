package main

import (
	"context"
	"fmt"

	"envoi/sqlstore"
)

// keys runs "keys rotate": every stored secret re-encrypted under a new data key.
func (p *Program) keys(ctx context.Context, args []string) error {
	if done, err := p.group("keys", args, []subcommand{
		{"rotate", "re-encrypt every stored secret under a new data key"},
	}); done {
		return err
	}
	if args[0] != "rotate" {
		return fmt.Errorf("%w: unknown keys subcommand %q (rotate)", errUsage, args[0])
	}
	return p.withStore(ctx, "keys rotate", "keys rotate [flags]", args[1:], nil, nil, func(_ *Config, store *sqlstore.Store) error {
		fmt.Fprintln(p.Stdout, "rotating the data key: re-encrypting every stored secret (envoi keeps serving meanwhile)")
		n, err := store.RotateKeys(ctx, func(done, total int) {
			if total > 0 && (done == total || done%100 == 0) {
				fmt.Fprintf(p.Stdout, "  %d/%d secrets re-encrypted\n", done, total)
			}
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(p.Stdout, "done: %d secrets now under the new key; older keys are kept for reading only\n", n)
		return nil
	})
}
