package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	envoihttp "envoi/http"
	"envoi/secret"
	"envoi/signature"
	"envoi/sqlstore"
)

// openStore opens and migrates the store the configuration names.
func (p *Program) openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (*sqlstore.Store, error) {
	key, err := secret.LoadMasterKey(cfg.MasterKey, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, MasterKey: key, Logger: logger,
		SanitizeHTML: signature.Sanitize})
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

// withStore runs a command that works on the store: it parses the command's
// flags (the storage ones and those more registers), calls check (usage
// errors, before anything is opened), opens and migrates the store, runs fn
// and closes the store.
func (p *Program) withStore(ctx context.Context, name, synopsis string, args []string, more func(*flag.FlagSet), check func() error, fn func(cfg *Config, store *sqlstore.Store) error) error {
	cfg, logger, err := p.setup(name, synopsis, args, more)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	store, err := p.openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(cfg, store)
}

func (p *Program) serve(ctx context.Context, args []string) error {
	var sending, limits func(*Config) error
	cfg, logger, err := p.setup("serve", "serve [flags]", args, func(fs *flag.FlagSet) {
		sending = p.sendingFlags(fs)
		limits = p.limitFlags(fs)
	})
	if err != nil {
		return err
	}
	if err := sending(cfg); err != nil {
		return err
	}
	if err := limits(cfg); err != nil {
		return err
	}
	app, err := p.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	// Each route sets its own read and write deadlines (envoihttp's and
	// ui's middleware); the server's own are the outer bound for any
	// answer that has none, the longest a route may take.
	l := cfg.Limits.withDefaults()
	hs := &http.Server{
		Handler:           app.HTTP.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       l.UploadTimeout + l.WriteTimeout,
		WriteTimeout:      l.UploadTimeout + l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
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
	wg.Add(3)
	go func() { defer wg.Done(); _ = app.Worker.Run(workCtx) }()
	go func() { defer wg.Done(); _ = app.Webhooks.Run(workCtx) }()
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

// background runs the periodic work of a serving instance until ctx ends:
// refreshing idle tokens before the provider forgets them.
func (a *App) background(ctx context.Context) {
	t := time.NewTicker(6 * time.Hour)
	defer t.Stop()
	for {
		if n, err := a.OAuth.KeepAlive(ctx, 30*24*time.Hour); err != nil {
			a.Logger.Warn("keeping idle tokens alive", "err", err)
		} else if n > 0 {
			a.Logger.Info("idle tokens refreshed", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Program) migrate(ctx context.Context, args []string) error {
	return p.withStore(ctx, "migrate", "migrate [flags]", args, nil, nil, func(_ *Config, store *sqlstore.Store) error {
		fmt.Fprintf(p.Stdout, "database migrated (%s)\n", store.Dialect())
		return nil
	})
}

// Limits are serve's settings that protect it from a client that floods
// or stalls: the time a request's body may take to arrive, on most routes
// and on the routes that take documents, the time to write an answer
// after it, how long an idle connection stays open; and the sign-in
// limits (see ui.Server). Zero values mean the defaults.
type Limits struct {
	ReadTimeout         time.Duration
	UploadTimeout       time.Duration
	WriteTimeout        time.Duration
	IdleTimeout         time.Duration
	LoginConcurrency    int
	LoginFailures       int
	LoginClientFailures int
	LoginWait           time.Duration
	RecoveryInterval    time.Duration
	// TrustedProxies is the comma-separated list of --trusted-proxies.
	TrustedProxies string
}

// DefaultIdleTimeout is how long a kept-alive connection waits for its
// next request.
const DefaultIdleTimeout = 2 * time.Minute

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadTimeout, envoihttp.DefaultReadTimeout)
	def(&l.UploadTimeout, envoihttp.DefaultUploadTimeout)
	def(&l.WriteTimeout, envoihttp.DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	return l
}

// limitFlags registers serve's flags of Limits. The returned function
// copies their values (the flag, else its environment variable) into cfg
// once fs is parsed.
func (p *Program) limitFlags(fs *flag.FlagSet) func(cfg *Config) error {
	type durationFlag struct {
		name, env, def, usage string
		min                   time.Duration
		field                 func(*Limits) *time.Duration
	}
	type countFlag struct {
		name, env, def, usage string
		field                 func(*Limits) *int
	}
	durations := []durationFlag{
		{"http-read-timeout", "ENVOI_HTTP_READ_TIMEOUT", "30s", "time a request's body may take to arrive, on every route but those of --http-upload-timeout", time.Second, func(l *Limits) *time.Duration { return &l.ReadTimeout }},
		{"http-upload-timeout", "ENVOI_HTTP_UPLOAD_TIMEOUT", "10m", "time a body may take to arrive on the routes that take or give documents: sends and their previews, company logos, report templates, downloads", time.Second, func(l *Limits) *time.Duration { return &l.UploadTimeout }},
		{"http-write-timeout", "ENVOI_HTTP_WRITE_TIMEOUT", "2m", "time to write an answer, after the body's time", time.Second, func(l *Limits) *time.Duration { return &l.WriteTimeout }},
		{"http-idle-timeout", "ENVOI_HTTP_IDLE_TIMEOUT", "2m", "time a kept-alive connection waits for its next request", time.Second, func(l *Limits) *time.Duration { return &l.IdleTimeout }},
		{"login-wait", "ENVOI_LOGIN_WAIT", "15m", "how long a client address waits after too many failed sign-ins", time.Second, func(l *Limits) *time.Duration { return &l.LoginWait }},
		{"recovery-interval", "ENVOI_RECOVERY_INTERVAL", "15m", "least time between two password recovery mails to one address", time.Second, func(l *Limits) *time.Duration { return &l.RecoveryInterval }},
	}
	counts := []countFlag{
		{"login-concurrency", "ENVOI_LOGIN_CONCURRENCY", "4", "password checks computed at once (19 MiB each); beyond, sign-ins are answered 503 with Retry-After", func(l *Limits) *int { return &l.LoginConcurrency }},
		{"login-failures", "ENVOI_LOGIN_FAILURES", "5", "failed sign-ins to one account from one client address before that address waits --login-wait", func(l *Limits) *int { return &l.LoginFailures }},
		{"login-client-failures", "ENVOI_LOGIN_CLIENT_FAILURES", "30", "failed sign-ins, recovery requests and failed resets from one client address, all accounts together, before it waits --login-wait", func(l *Limits) *int { return &l.LoginClientFailures }},
	}
	values := map[string]*string{}
	for _, f := range durations {
		values[f.name] = fs.String(f.name, "", fmt.Sprintf("%s (env %s, default %q)", f.usage, f.env, f.def))
	}
	for _, f := range counts {
		values[f.name] = fs.String(f.name, "", fmt.Sprintf("%s (env %s, default %s)", f.usage, f.env, f.def))
	}
	proxies := fs.String("trusted-proxies", "", "comma-separated addresses or CIDR blocks of reverse proxies whose X-Forwarded-For names the client (env ENVOI_TRUSTED_PROXIES, default none)")
	return func(cfg *Config) error {
		pick := flagOrEnv(fs, p.Getenv)
		for _, f := range durations {
			if v := pick(f.name, f.env, values[f.name]); v != "" {
				d, err := time.ParseDuration(v)
				if err != nil || d < f.min {
					return fmt.Errorf("%w: --%s %q is not a duration of at least %s (e.g. %s)", errUsage, f.name, v, f.min, f.def)
				}
				*f.field(&cfg.Limits) = d
			}
		}
		for _, f := range counts {
			if v := pick(f.name, f.env, values[f.name]); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return fmt.Errorf("%w: --%s %q is not a whole number of at least 1 (e.g. %s)", errUsage, f.name, v, f.def)
				}
				*f.field(&cfg.Limits) = n
			}
		}
		cfg.Limits.TrustedProxies = pick("trusted-proxies", "ENVOI_TRUSTED_PROXIES", proxies)
		if _, err := parseProxies(cfg.Limits.TrustedProxies); err != nil {
			return fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
		}
		return nil
	}
}

// parseProxies reads a comma-separated list of addresses and CIDR blocks.
func parseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an address or a CIDR block", v)
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// uiKey derives the key the admin UI signs its cookies with from the
// master key: every instance on one database agrees on it, and it is
// never stored.
func uiKey(cfg *Config) ([]byte, error) {
	master, err := secret.LoadMasterKey(cfg.MasterKey, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, master)
	m.Write([]byte("envoi ui cookie signing key v1"))
	return m.Sum(nil), nil
}
