package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	envoihttp "envoi/http"
	"envoi/secret"
	"envoi/signature"
	"envoi/sqlstore"
)

// openStore opens and migrates the store the configuration names. Unless
// cfg.Create, it sets up nothing: no data directory, SQLite file or key
// file is made, and a missing one is an error that says where it looked.
// A key file it does make and that does not open the database is removed
// again.
func (p *Program) openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (*sqlstore.Store, error) {
	dbFile := filepath.Join(cfg.DataDir, sqlstore.DatabaseFile)
	_, statErr := os.Stat(dbFile)
	sqliteExists := cfg.DatabaseURL == "" && statErr == nil
	if cfg.DatabaseURL == "" && errors.Is(statErr, fs.ErrNotExist) && !cfg.Create {
		return nil, fmt.Errorf("no envoi installation found: %s does not exist; start envoi once with 'envoi serve' or 'envoi migrate', or point --data-dir (ENVOI_DATA_DIR) or --database-url (ENVOI_DATABASE_URL) at an existing one", absPath(dbFile))
	}
	var key []byte
	var created bool
	var err error
	switch {
	case !cfg.Create || sqliteExists:
		// An existing database: only the key it was set up with opens it.
		key, err = secret.ReadMasterKey(cfg.MasterKey, cfg.DataDir)
	default:
		key, created, err = secret.LoadOrCreateMasterKey(cfg.MasterKey, cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, MasterKey: key, Logger: logger,
		SanitizeHTML: signature.Sanitize})
	if err == nil {
		if err = store.Migrate(ctx); err != nil {
			store.Close()
		}
	}
	if err != nil {
		if created {
			// A PostgreSQL database set up with another key: leave no
			// wrong key file behind for the next start to trust.
			_ = os.Remove(filepath.Join(cfg.DataDir, secret.MasterKeyFile))
		}
		return nil, err
	}
	return store, nil
}

// absPath is path made absolute for a message, path itself when it cannot be.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// setsUp names the commands that may set up a new installation (see
// Config.Create).
var setsUp = map[string]bool{"serve": true, "migrate": true, "admin create": true}

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
	cfg.Create = setsUp[name]
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
	if err := importArchive(ctx, app.Archive, logger); err != nil {
		return err
	}

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
	wg.Add(4)
	go func() { defer wg.Done(); _ = app.Worker.Run(workCtx) }()
	go func() { defer wg.Done(); _ = app.Webhooks.Run(workCtx) }()
	go func() { defer wg.Done(); app.background(workCtx) }()
	go func() { defer wg.Done(); app.pruneBodies(workCtx, cfg.BodyRetention) }()
	if cfg.ReportsEvery >= 0 {
		wg.Add(1)
		go func() { defer wg.Done(); app.Watcher.Run(workCtx) }()
	}

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

// pruneBodies removes, until ctx ends, the bodies of the messages sent or
// failed longer ago than retention (nothing when it is 0): at start, then
// every tenth of retention, at least every second and at most every hour.
// Every instance may run it (sqlstore.PruneBodies is safe so).
func (a *App) pruneBodies(ctx context.Context, retention time.Duration) {
	if retention <= 0 {
		return
	}
	every := min(max(retention/10, time.Second), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		got, err := a.Store.PruneBodies(ctx, time.Now().Add(-retention))
		if err != nil && ctx.Err() == nil {
			a.Logger.Warn("removing the bodies of old messages", "err", err)
		}
		if got.Messages > 0 || got.Segments > 0 {
			a.Logger.Info("bodies of old messages removed", "messages", got.Messages, "bytes", got.Bytes,
				"spool_freed_bytes", got.Freed, "spool_segments_removed", got.Segments, "retention", retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Program) migrate(ctx context.Context, args []string) error {
	return p.withStore(ctx, "migrate", "migrate [flags]", args, nil, nil, func(cfg *Config, store *sqlstore.Store) error {
		fmt.Fprintf(p.Stdout, "database migrated (%s)\n", store.Dialect())
		files := archiveStore(cfg, store)
		got, err := files.ImportFiles(ctx)
		if got.Files > 0 || len(got.Damaged) > 0 {
			fmt.Fprintf(p.Stdout, "archive: %d files (%d bytes) moved from %s into the database; %d damaged left in place\n", got.Files, got.Bytes, files.Root, len(got.Damaged))
		}
		for _, path := range got.Damaged {
			fmt.Fprintf(p.Stdout, "archive: damaged, not imported: %s\n", path)
		}
		return err
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
	// TestTimeout bounds a flow's Test action (oauth.Tester.Timeout).
	TestTimeout time.Duration
	// The gate in front of composing sends (see envoihttp.Server):
	// sends at work at once, sends waiting, the MiB of their bodies, and
	// how long one waits.
	ComposeConcurrency int
	ComposeQueue       int
	ComposeQueueMB     int
	ComposeWait        time.Duration
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
		{"test-timeout", "ENVOI_TEST_TIMEOUT", "30s", "time a flow's Test action may take before it stops with smtp_timeout (a server that never answers)", time.Second, func(l *Limits) *time.Duration { return &l.TestTimeout }},
		{"recovery-interval", "ENVOI_RECOVERY_INTERVAL", "15m", "least time between two password recovery mails to one address", time.Second, func(l *Limits) *time.Duration { return &l.RecoveryInterval }},
		{"compose-wait", "ENVOI_COMPOSE_WAIT", "5s", "longest a send or preview waits for its turn to be composed (see --compose-queue); then 503 unavailable with Retry-After", 10 * time.Millisecond, func(l *Limits) *time.Duration { return &l.ComposeWait }},
	}
	counts := []countFlag{
		{"login-concurrency", "ENVOI_LOGIN_CONCURRENCY", "4", "password checks computed at once (19 MiB each); beyond, sign-ins are answered 503 with Retry-After", func(l *Limits) *int { return &l.LoginConcurrency }},
		{"login-failures", "ENVOI_LOGIN_FAILURES", "5", "failed sign-ins to one account from one client address before that address waits --login-wait", func(l *Limits) *int { return &l.LoginFailures }},
		{"login-client-failures", "ENVOI_LOGIN_CLIENT_FAILURES", "30", "failed sign-ins, recovery requests and failed resets from one client address, all accounts together, before it waits --login-wait", func(l *Limits) *int { return &l.LoginClientFailures }},
		{"compose-concurrency", "ENVOI_COMPOSE_CONCURRENCY", "16 a core, at least 32", "sends and previews decoded, composed and accepted at once, report previews rendered and documents archived counted with them, from the end of their body (a client still uploading holds no turn)", func(l *Limits) *int { return &l.ComposeConcurrency }},
		{"compose-queue", "ENVOI_COMPOSE_QUEUE", "4 times --compose-concurrency", "sends and previews waiting for their turn, bodies read; beyond, 503 unavailable with Retry-After (send again with the same Idempotency-Key)", func(l *Limits) *int { return &l.ComposeQueue }},
		{"compose-queue-mb", "ENVOI_COMPOSE_QUEUE_MB", "64", "MiB of bodies the waiting sends may hold together (one may always wait); beyond, 503 as --compose-queue", func(l *Limits) *int { return &l.ComposeQueueMB }},
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
