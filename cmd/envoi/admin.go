package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"time"

	"envoi"
	"envoi/sqlstore"
	"envoi/ui"
)

// admin manages the admin UI's users from a terminal: the first
// administrator of a new installation, and a password reset when recovery
// by e-mail is not configured.
func (p *Program) admin(ctx context.Context, args []string) error {
	if done, err := p.group("admin", args, []subcommand{
		{"create --email E", "create a user of the admin UI (the first one is an administrator)"},
		{"password --email E", "set a new password for a user (when recovery by e-mail is not set up)"},
		{"list", "list the users, their role and whether they are locked out"},
	}); done {
		return err
	}
	switch args[0] {
	case "create":
		return p.adminCreate(ctx, args[1:])
	case "password":
		return p.adminPassword(ctx, args[1:])
	case "list":
		return p.withStore(ctx, "admin list", "admin list [flags]", args[1:], nil, nil, func(_ *Config, store *sqlstore.Store) error {
			users, err := store.Users(ctx)
			if err != nil {
				return err
			}
			if len(users) == 0 {
				fmt.Fprintln(p.Stdout, "no user yet: create the first administrator with 'envoi admin create --email E'")
				return nil
			}
			for _, u := range users {
				state := "active"
				if u.LockedUntil.After(time.Now()) {
					state = "locked until " + u.LockedUntil.Format(time.RFC3339)
				}
				fmt.Fprintf(p.Stdout, "%s\t%s\t%s\t%s\n", u.Email, u.Role, u.Operator, state)
			}
			return nil
		})
	}
	return fmt.Errorf("%w: unknown admin subcommand %q (create, password, list)", errUsage, args[0])
}

// password returns the password named by --password-env, or a random one
// to print once.
func (p *Program) password(env string) (pw string, generated bool, err error) {
	if env != "" {
		pw = p.Getenv(env)
		if pw == "" {
			return "", false, fmt.Errorf("%w: the environment variable %s named by --password-env is empty or unset", errUsage, env)
		}
		return pw, false, ui.CheckPasswordStrength(pw)
	}
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", false, err
	}
	return base64.RawURLEncoding.EncodeToString(b), true, nil
}

func (p *Program) adminCreate(ctx context.Context, args []string) error {
	var email, name, role, operator, language, env, pw, hash string
	var generated bool
	return p.withStore(ctx, "admin create", "admin create --email E [--password-env VAR] [--role admin|operator --operator CODE] [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's e-mail address, their sign-in name; required")
		fs.StringVar(&name, "name", "", "the user's name")
		fs.StringVar(&role, "role", envoi.RoleAdmin, "admin, or operator (sees only their operator's e-mail tab)")
		fs.StringVar(&operator, "operator", "", "for --role operator: the operator's code")
		fs.StringVar(&language, "language", "", "the UI's language for this user: en, fr or es (default: the browser's)")
		fs.StringVar(&env, "password-env", "", "name of the environment variable holding the password; without it a random password is printed once")
	}, func() (err error) {
		if email == "" {
			return fmt.Errorf("%w: admin create needs --email", errUsage)
		}
		pw, hash, generated, err = p.newPassword(env)
		return err
	}, func(cfg *Config, store *sqlstore.Store) error {
		u := &envoi.User{Email: email, Name: name, Role: role, Operator: operator, Language: language, PasswordHash: hash}
		if err := store.CreateUser(ctx, u); err != nil {
			return err
		}
		fmt.Fprintf(p.Stdout, "user %s created (%s); sign in at %s/login\n", u.Email, u.Role, cfg.PublicURL)
		if generated {
			fmt.Fprintf(p.Stdout, "Its password is shown once; change it in My account:\n%s\n", pw)
		}
		return nil
	})
}

// newPassword returns the password named by --password-env (or a random
// one to print once) and its hash.
func (p *Program) newPassword(env string) (pw, hash string, generated bool, err error) {
	if pw, generated, err = p.password(env); err != nil {
		return "", "", false, err
	}
	hash, err = ui.HashPassword(pw)
	return pw, hash, generated, err
}

func (p *Program) adminPassword(ctx context.Context, args []string) error {
	var email, env, pw, hash string
	var generated bool
	return p.withStore(ctx, "admin password", "admin password --email E [--password-env VAR] [flags]", args, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the user's e-mail address; required")
		fs.StringVar(&env, "password-env", "", "name of the environment variable holding the new password; without it a random password is printed once")
	}, func() (err error) {
		if email == "" {
			return fmt.Errorf("%w: admin password needs --email", errUsage)
		}
		pw, hash, generated, err = p.newPassword(env)
		return err
	}, func(_ *Config, store *sqlstore.Store) error {
		u, err := store.UserByEmail(ctx, email)
		if err != nil {
			return err
		}
		if err := store.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		fmt.Fprintf(p.Stdout, "password of %s changed; their sessions are signed out and any lock is lifted\n", u.Email)
		if generated {
			fmt.Fprintf(p.Stdout, "The new password is shown once:\n%s\n", pw)
		}
		return nil
	})
}
