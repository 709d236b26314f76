package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"envoi"
	"envoi/archive"
	"envoi/compose"
	"envoi/filename"
	"envoi/gmailapi"
	"envoi/graph"
	envoihttp "envoi/http"
	"envoi/notice"
	"envoi/oauth"
	"envoi/queue"
	"envoi/report"
	"envoi/reportwatch"
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
	Graph    *graph.Sender
	GmailAPI *gmailapi.Sender
	Tester   *oauth.Tester
	Reports  *report.Renderer
	Composer *compose.Composer
	Archive  *archive.Store
	Recorder *archive.Recorder
	Service  *queue.Service
	Worker   *queue.Worker
	// Watcher reads the sending mailboxes for bounces and read receipts.
	Watcher  *reportwatch.Watcher
	Webhooks *webhook.Dispatcher
	HTTP     *envoihttp.Server
	Registry *prometheus.Registry
}

// Setup lets tests adjust the parts before use: CAs trusting a test SMTP
// server, an HTTP client for a test provider, a faster worker.
type Setup struct {
	SMTP func(*smtp.Sender)
	// APIs adjusts the mail API transports (a test's HTTP client).
	APIs    func(*graph.Sender, *gmailapi.Sender)
	OAuth   func(*oauth.Service)
	Worker  func(*queue.Worker)
	Watcher func(*reportwatch.Watcher)
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
	a.Registry.MustRegister(refreshes, depth, mailboxCollector{store})

	a.OAuth = &oauth.Service{Store: store, PublicURL: cfg.PublicURL, Logger: logger,
		OnTokenCall: func(outcome string) { refreshes.WithLabelValues(outcome).Inc() }}
	a.Sender = &smtp.Sender{Tokens: a.OAuth, Logger: logger, CAFile: cfg.SMTPCAFile}
	if p.Setup.SMTP != nil {
		p.Setup.SMTP(a.Sender)
	}
	a.Graph = &graph.Sender{Tokens: a.OAuth, Logger: logger}
	a.GmailAPI = &gmailapi.Sender{Tokens: a.OAuth}
	if p.Setup.APIs != nil {
		p.Setup.APIs(a.Graph, a.GmailAPI)
	}
	if p.Setup.OAuth != nil {
		p.Setup.OAuth(a.OAuth)
	}
	a.Reports = &report.Renderer{}
	reports := &report.Library{Renderer: a.Reports, Store: store}
	a.Composer = &compose.Composer{Store: store, Reports: reports, Logger: logger, MessageIDDomain: cfg.MessageIDDomain}
	a.Archive = archiveStore(cfg, store)
	recorder := &archive.Recorder{Files: a.Archive, Records: store, Logger: logger, Names: a.Composer}
	a.Recorder = recorder
	// What this instance accepts, its workers send without reading it back.
	handoff := &queue.Handoff{}
	a.Service = &queue.Service{MessageIDDomain: cfg.MessageIDDomain, Store: store, Composer: a.Composer, Metrics: metrics, Logger: logger, Handoff: handoff}
	a.Worker = &queue.Worker{
		Store: store, Metrics: metrics, Logger: logger, Handoff: handoff,
		Transports: map[string]envoi.Transport{
			envoi.TransportSMTP: a.Sender, envoi.TransportGraph: a.Graph, envoi.TransportGmailAPI: a.GmailAPI,
		},
		OnChange: a.Service.Changed,
		OnSent:   recorder.Sent,
		Lease:    cfg.QueueLease,
		// A message whose sends keep dying with the process fails.
		MaxUnfinished: cfg.QueueMaxUnfinished,
	}
	a.Service.OnAccepted = a.Worker.Wake
	if p.Setup.Worker != nil {
		p.Setup.Worker(a.Worker)
	}
	imapTLS, err := caPool(cfg.SMTPCAFile)
	if err != nil {
		store.Close()
		return nil, err
	}
	backoff, err := parseBackoff(cfg.WebhookBackoff)
	if err != nil {
		store.Close()
		return nil, err
	}
	a.Watcher = &reportwatch.Watcher{
		Store: store, Every: cfg.ReportsEvery, Logger: logger,
		Sources: map[string]reportwatch.Source{
			// The SMTP CA file serves the IMAP server too: one private CA
			// for a company's own mail server.
			envoi.TransportSMTP: &reportwatch.IMAP{Tokens: a.OAuth, Cursors: store, TLS: imapTLS},
		},
	}
	if p.Setup.Watcher != nil {
		p.Setup.Watcher(a.Watcher)
	}
	a.Webhooks = &webhook.Dispatcher{Store: store, Backoff: backoff, Poll: cfg.WebhookPoll, Logger: logger}
	// A consent given in the browser releases the messages parked on it.
	a.OAuth.Parked = a.Service
	// A token that dies is mailed to the administrators.
	alerts := &notice.ConsentAlerts{Store: store, Messages: a.Service, PublicURL: cfg.PublicURL, Logger: logger}
	a.OAuth.Notify = alerts.Notify
	a.Tester = &oauth.Tester{OAuth: a.OAuth, Mail: a.Sender, Timeout: cfg.Limits.TestTimeout, APIs: map[string]oauth.Prober{
		envoi.TransportGraph: a.Graph, envoi.TransportGmailAPI: a.GmailAPI,
	}}
	lim := cfg.Limits
	a.HTTP = &envoihttp.Server{
		Store: store, Pinger: store, Logger: logger,
		Messages: a.Service, Consent: a.OAuth, Tester: a.Tester,
		Archive: a.Archive, Archiver: recorder, FileNames: a.Composer, Reports: reports,
		Metrics:   promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}),
		PublicURL: cfg.PublicURL, ReadTimeout: lim.ReadTimeout, UploadTimeout: lim.UploadTimeout, WriteTimeout: lim.WriteTimeout,
		ComposeConcurrency: lim.ComposeConcurrency, ComposeQueue: lim.ComposeQueue,
		ComposeQueueBytes: int64(lim.ComposeQueueMB) << 20, ComposeWait: lim.ComposeWait,
	}
	a.Registry.MustRegister(admissionCollector{a.HTTP})
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

// admissionCollector reports the gate in front of composing sends
// (envoihttp.Server.AdmissionStats).
type admissionCollector struct{ s *envoihttp.Server }

var (
	admissionComposingDesc = prometheus.NewDesc("envoi_http_composing", "Requests past the gate in front of composing now: sends and previews being decoded, composed and accepted, report previews being rendered, documents being archived.", nil, nil)
	admissionCapacityDesc  = prometheus.NewDesc("envoi_http_compose_capacity", "Sends and previews that may be composed at once (--compose-concurrency).", nil, nil)
	admissionWaitingDesc   = prometheus.NewDesc("envoi_http_compose_waiting", "Sends and previews waiting for their turn to be composed, bodies read.", nil, nil)
	admissionBytesDesc     = prometheus.NewDesc("envoi_http_compose_waiting_bytes", "Bytes of the bodies of the sends and previews waiting for their turn.", nil, nil)
	admissionRefusedDesc   = prometheus.NewDesc("envoi_http_compose_refused_total", "Sends and previews answered 503 unavailable at the gate, by reason: full (no room to wait) or timeout (no turn within --compose-wait).", []string{"reason"}, nil)
)

func (c admissionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{admissionComposingDesc, admissionCapacityDesc, admissionWaitingDesc, admissionBytesDesc, admissionRefusedDesc} {
		ch <- d
	}
}

func (c admissionCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.AdmissionStats()
	ch <- prometheus.MustNewConstMetric(admissionComposingDesc, prometheus.GaugeValue, float64(st.Composing))
	ch <- prometheus.MustNewConstMetric(admissionCapacityDesc, prometheus.GaugeValue, float64(st.Capacity))
	ch <- prometheus.MustNewConstMetric(admissionWaitingDesc, prometheus.GaugeValue, float64(st.Waiting))
	ch <- prometheus.MustNewConstMetric(admissionBytesDesc, prometheus.GaugeValue, float64(st.WaitingBytes))
	ch <- prometheus.MustNewConstMetric(admissionRefusedDesc, prometheus.CounterValue, float64(st.RefusedFull), "full")
	ch <- prometheus.MustNewConstMetric(admissionRefusedDesc, prometheus.CounterValue, float64(st.RefusedLate), "timeout")
}

// archiveStore is where archived documents' bytes live: on PostgreSQL in
// the database every instance shares, on SQLite in files under the data
// directory's archive/ (on PostgreSQL, where importArchive finds the files
// an earlier version kept there).
func archiveStore(cfg *Config, store *sqlstore.Store) *archive.Store {
	a := &archive.Store{Root: filepath.Join(cfg.DataDir, "archive")}
	if store.Dialect() == sqlstore.DialectPostgres {
		a.Blobs = store
	}
	return a
}

// importArchive moves into the database the archived files an earlier
// version kept under the data directory on PostgreSQL (nothing on SQLite,
// nor once done).
func importArchive(ctx context.Context, files *archive.Store, logger *slog.Logger) error {
	got, err := files.ImportFiles(ctx)
	if got.Files > 0 {
		logger.Info("archived files imported into the database", "files", got.Files, "bytes", got.Bytes, "from", files.Root)
	}
	for _, path := range got.Damaged {
		logger.Error("an archived file is damaged: its bytes no longer match its name; left in place, not imported", "path", path)
	}
	if err != nil {
		return fmt.Errorf("importing the archive of %s into the database: %w", files.Root, err)
	}
	return nil
}

// caPool returns a TLS configuration trusting the system's authorities
// and those of the PEM file (none when file is "").
func caPool(file string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if file == "" {
		return cfg, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("the CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate", file)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// Close releases what the app holds.
func (a *App) Close() error {
	a.Sender.Close()
	return a.Store.Close()
}

// mailboxCollector reports, per mailbox with messages waiting, being sent
// or paused, what the scheduler sees: envoi_mailbox_queued,
// envoi_mailbox_in_flight, envoi_mailbox_throttled (1 while its rate or a
// throttling reply holds it) and envoi_mailbox_waiting_quota (1 while its
// daily quota holds it), labelled by flow and mailbox (the operator, ""
// for a generic mailbox).
type mailboxCollector struct{ store *sqlstore.Store }

var (
	mailboxLabels      = []string{"flow", "mailbox"}
	mailboxQueuedDesc  = prometheus.NewDesc("envoi_mailbox_queued", "Messages of the mailbox waiting to be sent (queued, scheduled, retrying, parked).", mailboxLabels, nil)
	mailboxFlightDesc  = prometheus.NewDesc("envoi_mailbox_in_flight", "Messages of the mailbox being sent now, all instances.", mailboxLabels, nil)
	mailboxThrotDesc   = prometheus.NewDesc("envoi_mailbox_throttled", "1 while the mailbox waits for its rate or after a provider's throttling reply.", mailboxLabels, nil)
	mailboxQuotaDesc   = prometheus.NewDesc("envoi_mailbox_waiting_quota", "1 while the mailbox's daily quota is used up.", mailboxLabels, nil)
	mailboxCollectDesc = []*prometheus.Desc{mailboxQueuedDesc, mailboxFlightDesc, mailboxThrotDesc, mailboxQuotaDesc}
)

func (c mailboxCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range mailboxCollectDesc {
		ch <- d
	}
}

func (c mailboxCollector) Collect(ch chan<- prometheus.Metric) {
	stats, err := c.store.MailboxStats(context.Background())
	if err != nil {
		return
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, st := range stats {
		if st.Queued == 0 && st.InFlight == 0 && !st.Throttled && !st.WaitingQuota {
			continue
		}
		ch <- prometheus.MustNewConstMetric(mailboxQueuedDesc, prometheus.GaugeValue, float64(st.Queued), st.Flow, st.Mailbox)
		ch <- prometheus.MustNewConstMetric(mailboxFlightDesc, prometheus.GaugeValue, float64(st.InFlight), st.Flow, st.Mailbox)
		ch <- prometheus.MustNewConstMetric(mailboxThrotDesc, prometheus.GaugeValue, b(st.Throttled), st.Flow, st.Mailbox)
		ch <- prometheus.MustNewConstMetric(mailboxQuotaDesc, prometheus.GaugeValue, b(st.WaitingQuota), st.Flow, st.Mailbox)
	}
}
