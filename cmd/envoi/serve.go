package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	envoihttp "envoi/http"
	"envoi/secret"
	"envoi/sqlstore"
)

// openStore opens and migrates the store the configuration names.
func (p *Program) openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (*sqlstore.Store, error) {
	key, err := secret.LoadMasterKey(cfg.MasterKey, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, MasterKey: key, Logger: logger})
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// setup parses a storage command's flags and returns its configuration and
// logger.
func (p *Program) setup(name, synopsis string, args []string, more func(fs *flag.FlagSet)) (*Config, *slog.Logger, error) {
	fs := p.newFlagSet(name, synopsis)
	resolve := storageFlags(fs, p.Getenv)
	if more != nil {
		more(fs)
	}
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	cfg, err := resolve()
	if err != nil {
		return nil, nil, err
	}
	return cfg, newLogger(p.Stderr, cfg.LogLevel, cfg.LogFormat), nil
}

func (p *Program) serve(ctx context.Context, args []string) error {
	cfg, logger, err := p.setup("serve", "serve [flags]", args, nil)
	if err != nil {
		return err
	}
	store, err := p.openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()

	api := &envoihttp.Server{Store: store, Pinger: store, Logger: logger}
	hs := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if p.OnListen != nil {
		p.OnListen(ln.Addr())
	}
	logger.Info("envoi serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "database", store.Dialect(), "data_dir", cfg.DataDir)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("envoi shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	logger.Info("envoi stopped")
	return nil
}

func (p *Program) migrate(ctx context.Context, args []string) error {
	cfg, logger, err := p.setup("migrate", "migrate [flags]", args, nil)
	if err != nil {
		return err
	}
	store, err := p.openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintf(p.Stdout, "database migrated (%s)\n", store.Dialect())
	return nil
}
