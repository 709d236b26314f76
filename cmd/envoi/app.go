package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"envoi"
	"envoi/archive"
	"envoi/compose"
	"envoi/filename"
	envoihttp "envoi/http"
	"envoi/notice"
	"envoi/oauth"
	"envoi/queue"
	"envoi/report"
	"envoi/smtp"
	"envoi/sqlstore"
	"envoi/ui"
	"envoi/webhook"
)

// App is envoi wired together: every adapter, built once from the
// configuration. serve, send and the end-to-end tests use it.
type App struct {
	Config   *Config
	Logger   *slog.Logger
	Store    *sqlstore.Store
	OAuth    *oauth.Service
	Sender   *smtp.Sender
	Tester   *oauth.Tester
	Reports  *report.Renderer
	Composer *compose.Composer
	Archive  *archive.Store
	Service  *queue.Service
	Worker   *queue.Worker
	Webhooks *webhook.Dispatcher
	HTTP     *envoihttp.Server
	Registry *prometheus.Registry
}

// Setup lets tests adjust the parts before use: CAs trusting a test SMTP
// server, an HTTP client for a test provider, a faster worker.
type Setup struct {
	SMTP   func(*smtp.Sender)
	OAuth  func(*oauth.Service)
	Worker func(*queue.Worker)
}

// newApp opens the store and wires every part of envoi.
func (p *Program) newApp(ctx context.Context, cfg *Config, logger *slog.Logger) (*App, error) {
	store, err := p.openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Logger: logger, Store: store, Registry: prometheus.NewRegistry()}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := queue.NewMetrics(a.Registry)
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "envoi_token_refreshes_total", Help: "Calls to providers' token endpoints, by outcome."}, []string{"outcome"})
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "envoi_queue_depth", Help: "Messages waiting to be sent (queued, retrying, sending or parked)."}, func() float64 {
		n, err := store.QueueDepth(context.Background())
		if err != nil {
			return -1
		}
		return float64(n)
	})
	a.Registry.MustRegister(refreshes, depth)

	a.OAuth = &oauth.Service{Store: store, PublicURL: cfg.PublicURL, Logger: logger,
		OnTokenCall: func(outcome string) { refreshes.WithLabelValues(outcome).Inc() }}
	a.Sender = &smtp.Sender{Tokens: a.OAuth, Logger: logger, CAFile: cfg.SMTPCAFile}
	if p.Setup.SMTP != nil {
		p.Setup.SMTP(a.Sender)
	}
	if p.Setup.OAuth != nil {
		p.Setup.OAuth(a.OAuth)
	}
	a.Reports = &report.Renderer{}
	reports := &report.Library{Renderer: a.Reports, Store: store}
	a.Composer = &compose.Composer{Store: store, Reports: reports, Logger: logger, MessageIDDomain: cfg.MessageIDDomain}
	a.Archive = &archive.Store{Root: filepath.Join(cfg.DataDir, "archive")}
	recorder := &archive.Recorder{Files: a.Archive, Records: store, Logger: logger}
	// What this instance accepts, its workers send without reading it back.
	handoff := &queue.Handoff{}
	a.Service = &queue.Service{MessageIDDomain: cfg.MessageIDDomain, Store: store, Composer: a.Composer, Metrics: metrics, Logger: logger, Handoff: handoff}
	a.Worker = &queue.Worker{
		Store: store, Transports: map[string]envoi.Transport{envoi.TransportSMTP: a.Sender}, Metrics: metrics, Logger: logger, Handoff: handoff,
		OnChange: a.Service.Changed,
		OnSent:   recorder.Sent,
		Lease:    cfg.QueueLease,
		// A message whose sends keep dying with the process fails.
		MaxUnfinished: cfg.QueueMaxUnfinished,
	}
	if p.Setup.Worker != nil {
		p.Setup.Worker(a.Worker)
	}
	backoff, err := parseBackoff(cfg.WebhookBackoff)
	if err != nil {
		store.Close()
		return nil, err
	}
	a.Webhooks = &webhook.Dispatcher{Store: store, Backoff: backoff, Poll: cfg.WebhookPoll, Logger: logger}
	// A consent given in the browser releases the messages parked on it.
	a.OAuth.Parked = a.Service
	// A token that dies is mailed to the administrators.
	alerts := &notice.ConsentAlerts{Store: store, Messages: a.Service, PublicURL: cfg.PublicURL, Logger: logger}
	a.OAuth.Notify = alerts.Notify
	a.Tester = &oauth.Tester{OAuth: a.OAuth, Mail: a.Sender}
	lim := cfg.Limits
	a.HTTP = &envoihttp.Server{
		Store: store, Pinger: store, Logger: logger,
		Messages: a.Service, Consent: a.OAuth, Tester: a.Tester,
		Archive: a.Archive, Reports: reports,
		Metrics:   promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}),
		PublicURL: cfg.PublicURL, ReadTimeout: lim.ReadTimeout, UploadTimeout: lim.UploadTimeout, WriteTimeout: lim.WriteTimeout,
	}
	key, err := uiKey(cfg)
	if err != nil {
		store.Close()
		return nil, err
	}
	proxies, err := parseProxies(lim.TrustedProxies)
	if err != nil {
		store.Close()
		return nil, err
	}
	adminUI := &ui.Server{
		Store: store, Messages: a.Service, Consent: a.OAuth, Tester: a.Tester,
		Health: a.OAuth.Health, NewAPIKey: envoihttp.NewAPIKey, FileName: filename.Render,
		PublicURL: cfg.PublicURL, Logger: logger, Key: key,
		ReadTimeout: lim.ReadTimeout, UploadTimeout: lim.UploadTimeout, WriteTimeout: lim.WriteTimeout,
		HashConcurrency: lim.LoginConcurrency, MaxFailedLogins: lim.LoginFailures, MaxClientFailures: lim.LoginClientFailures,
		LockoutDuration: lim.LoginWait, RecoveryInterval: lim.RecoveryInterval, TrustedProxies: proxies,
	}
	if a.HTTP.UI, err = adminUI.Handler(); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

// Close releases what the app holds.
func (a *App) Close() error {
	a.Sender.Close()
	return a.Store.Close()
}
