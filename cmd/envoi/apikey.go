package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	envoihttp "envoi/http"
	"envoi/sqlstore"
)

func (p *Program) apikey(ctx context.Context, args []string) error {
	if done, err := p.group("apikey", args, []subcommand{
		{"create --name NAME", "make an API key for the ERP; it is printed once, on the last line"},
		{"list", "list the keys (their prefix, never the key)"},
		{"revoke ID", "revoke a key: requests that carry it are refused at once"},
	}); done {
		return err
	}
	switch args[0] {
	case "create":
		var name string
		return p.withStore(ctx, "apikey create", "apikey create --name NAME [flags]", args[1:], func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "what the key is for (e.g. erp-production); required")
		}, func() error {
			if name == "" {
				return fmt.Errorf("%w: apikey create needs --name", errUsage)
			}
			return nil
		}, func(_ *Config, store *sqlstore.Store) error {
			key, rec := envoihttp.NewAPIKey(name)
			if err := store.CreateAPIKey(ctx, rec); err != nil {
				return err
			}
			fmt.Fprintf(p.Stdout, "API key %q created (id %s). It is shown once; store it now:\n%s\n", name, rec.ID, key)
			return nil
		})
	case "list":
		return p.withStore(ctx, "apikey list", "apikey list [flags]", args[1:], nil, nil, func(_ *Config, store *sqlstore.Store) error {
			keys, err := store.APIKeys(ctx)
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				fmt.Fprintln(p.Stdout, "no API key yet: create one with 'envoi apikey create --name NAME'")
				return nil
			}
			for _, k := range keys {
				state := "active"
				if !k.RevokedAt.IsZero() {
					state = "revoked " + k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(p.Stdout, "%s\t%s\t%s…\tcreated %s\t%s\n", k.ID, k.Name, k.Prefix, k.CreatedAt.Format(time.RFC3339), state)
			}
			return nil
		})
	case "revoke":
		if len(args) < 2 || args[1] == "" || args[1][0] == '-' {
			return fmt.Errorf("%w: apikey revoke ID [flags]", errUsage)
		}
		return p.withStore(ctx, "apikey revoke", "apikey revoke ID [flags]", args[2:], nil, nil, func(_ *Config, store *sqlstore.Store) error {
			if err := store.RevokeAPIKey(ctx, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(p.Stdout, "API key %s revoked\n", args[1])
			return nil
		})
	}
	return fmt.Errorf("%w: unknown apikey subcommand %q (create, list, revoke)", errUsage, args[0])
}
