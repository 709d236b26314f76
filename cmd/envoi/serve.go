package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"envoi/secret"
	"envoi/sqlstore"
)

// openStore opens and migrates the store the configuration names.
func (p *Program) openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (*sqlstore.Store, error) {
	key, err := secret.LoadMasterKey(cfg.MasterKey, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, MasterKey: key, Logger: logger, QueueTimeout: cfg.QueueLease})
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
	var sending func(*Config) error
	cfg, logger, err := p.setup("serve", "serve [flags]", args, func(fs *flag.FlagSet) { sending = p.sendingFlags(fs) })
	if err != nil {
		return err
	}
	if err := sending(cfg); err != nil {
		return err
	}
	app, err := p.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	hs := &http.Server{
		Handler:           app.HTTP.Handler(),
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
	logger.Info("envoi serving", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "database", app.Store.Dialect(), "data_dir", cfg.DataDir)

	// The workers and the background jobs stop with ctx; requests in
	// flight get a grace period after it.
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = app.Worker.Run(workCtx) }()
	go func() { defer wg.Done(); app.background(workCtx) }()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("envoi shutting down: finishing requests and sends in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) && serveErr == nil {
		serveErr = fmt.Errorf("serve: shutdown: %w", err)
	}
	stopWork()
	wg.Wait()
	logger.Info("envoi stopped")
	return serveErr
}

func (p *Program) migrate(ctx context.Context, args []string) error {
	return p.withStore(ctx, "migrate", "migrate [flags]", args, nil, nil, func(_ *Config, store *sqlstore.Store) error {
		fmt.Fprintf(p.Stdout, "database migrated (%s)\n", store.Dialect())
		return nil
	})
}
