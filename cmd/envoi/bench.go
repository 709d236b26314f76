package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"envoi"
	envoihttp "envoi/http"
	"envoi/internal/benchpeer"
	"envoi/secret"
	"envoi/smtp"
)

// benchOptions are the flags of envoi bench.
type benchOptions struct {
	count        int
	attachmentKB int
	clients      int
	workers      int
	operators    int
	smtpConns    int
	databaseURL  string
	smtpAddr     string
	smtpSecurity string
	smtpAuth     string
	sink         string
	cpuProfile   string
	memProfile   string
	traceFile    string
	timeout      time.Duration
	keepDatabase bool
	phased       bool
	// Month-end mode (--month-end): --operators mailboxes with these
	// limits, a sink enforcing them, the last mailbox's server slow.
	monthEnd   bool
	perMinute  int
	mbConns    int
	perMailbox int
	slowDelay  time.Duration
	// rate, when positive, posts open-loop at this many requests a second.
	rate      float64
	transport string
	// The gate in front of composing (serve's --compose-* flags; 0: the
	// defaults).
	composeConcurrency, composeQueue int
	benchExternal
}

// bench drives the whole sending path and measures it: real HTTP requests
// to an in-process envoi (API, acceptance with composition, the durable
// queue, the workers) and SMTP with XOAUTH2 to a sink, with tokens from a
// built-in OAuth provider on loopback. Everything listens on 127.0.0.1.
func (p *Program) bench(ctx context.Context, args []string) error {
	var o benchOptions
	fs := p.newFlagSet("bench", "bench [flags]")
	fs.IntVar(&o.count, "count", 10000, "messages to send")
	fs.IntVar(&o.attachmentKB, "attachment-kb", 100, "size of the PDF each message carries, in KB (as an ERP attaches a document it made)")
	fs.IntVar(&o.clients, "clients", 16, "API clients posting messages at once")
	fs.IntVar(&o.workers, "workers", 0, "messages sent at once by the queue's workers (0: the serve default)")
	fs.IntVar(&o.operators, "operators", 1, "operators (mailboxes) the messages are sent as, in turn")
	fs.IntVar(&o.smtpConns, "smtp-conns", 0, "connections per mailbox: the bench flow's limits.connections (0: one per worker, as a pool of 8 when there are 8 workers)")
	fs.StringVar(&o.databaseURL, "database-url", "", "empty: SQLite in a temporary directory; postgres://...: a new database is made on that server for the run and dropped after it")
	fs.StringVar(&o.smtpAddr, "smtp", "", "host:port of an external SMTP sink (e.g. Postfix's smtp-sink on 127.0.0.1); empty: a built-in sink on loopback (STARTTLS, credentials checked)")
	fs.StringVar(&o.sink, "sink", "builtin", "the loopback sink when --smtp is empty: builtin (a lean sink reading DATA in large slices, STARTTLS, XOAUTH2, OAUTHBEARER and PLAIN checked), the only one")
	fs.StringVar(&o.smtpSecurity, "smtp-security", "none", "security of the external sink: none, starttls or tls")
	fs.StringVar(&o.smtpAuth, "smtp-auth", "xoauth2", "xoauth2 or oauthbearer (an OAuth 2.0 flow, tokens from the built-in provider, that SASL mechanism), plain (a basic SMTP flow with a password per operator) or none (a basic SMTP flow without credentials: Postfix's smtp-sink answers AUTH with 250, which no client takes for a success)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile at the end of the run to this file")
	fs.StringVar(&o.traceFile, "trace", "", "write an execution trace of the acceptance (the posting of the messages) to this file (go tool trace)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up when the run has not ended after this long")
	fs.BoolVar(&o.phased, "phased", false, "accept every message first with the workers stopped, then start them: each side's rate alone")
	fs.BoolVar(&o.keepDatabase, "keep-database", false, "keep the PostgreSQL database of the run")
	fs.BoolVar(&o.monthEnd, "month-end", false, "month-end run: --operators mailboxes (default 8 in this mode) of --per-mailbox messages each, with --per-minute and --connections limits that the sink enforces (432 4.3.2 past them), the last mailbox's server answering after --slow-delay; reports the time against the ideal, throttle replies, the slow mailbox's effect on the others and duplicates")
	fs.IntVar(&o.perMinute, "per-minute", 60, "month-end: each mailbox's messages a minute (its flow's limits.messages_per_minute, enforced by the sink)")
	fs.IntVar(&o.mbConns, "connections", 3, "month-end: each mailbox's connections at once (limits.connections, enforced by the sink)")
	fs.IntVar(&o.perMailbox, "per-mailbox", 150, "month-end: messages per mailbox")
	fs.DurationVar(&o.slowDelay, "slow-delay", 3*time.Second, "month-end: how long the slow mailbox's server takes to acknowledge a message")
	fs.Float64Var(&o.rate, "rate", 0, "post open-loop at this many requests a second (each sent at its time whether or not the previous were answered; latency counted from that time), instead of --clients posting as fast as they can")
	fs.StringVar(&o.transport, "transport", envoi.TransportSMTP, "smtp, graph or gmail_api: with graph or gmail_api the messages go to an in-process fake of Microsoft Graph or of the Gmail API on loopback (OAuth 2.0, tokens from the built-in provider)")
	fs.IntVar(&o.composeConcurrency, "compose-concurrency", 0, "sends composed at once (serve's --compose-concurrency; 0: its default)")
	fs.IntVar(&o.composeQueue, "compose-queue", 0, "sends waiting for their turn to be composed (serve's --compose-queue; 0: its default); beyond, envoi answers 503 and the bench posts the message again after Retry-After, with the same Idempotency-Key")
	o.benchExternal.flags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := o.benchExternal.check(o.smtpAddr); err != nil {
		return err
	}
	if o.monthEnd {
		explicit := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		if !explicit["operators"] {
			o.operators = 8
		}
		if o.operators < 2 || o.perMinute <= 0 || o.mbConns <= 0 || o.perMailbox <= 0 {
			return fmt.Errorf("%w: --month-end needs --operators of 2 or more and positive --per-minute, --connections and --per-mailbox", errUsage)
		}
		if o.smtpAddr != "" {
			return fmt.Errorf("%w: --month-end uses the built-in sink (it enforces the limits): no --smtp", errUsage)
		}
		o.count = o.operators * o.perMailbox
	}
	switch o.transport {
	case envoi.TransportSMTP:
	case envoi.TransportGraph, envoi.TransportGmailAPI:
		if o.smtpAuth != "xoauth2" || o.smtpAddr != "" {
			return fmt.Errorf("%w: --transport %s sends with OAuth 2.0 to its fake API: --smtp and --smtp-auth do not apply", errUsage, o.transport)
		}
	default:
		return fmt.Errorf("%w: --transport must be smtp, graph or gmail_api", errUsage)
	}
	if o.sink != "builtin" {
		return fmt.Errorf("%w: --sink must be builtin (the testmail sink is gone: the envoi binary links no test code)", errUsage)
	}
	switch o.smtpAuth {
	case "xoauth2", "oauthbearer", "plain", "none":
	default:
		return fmt.Errorf("%w: --smtp-auth must be xoauth2, oauthbearer, plain or none", errUsage)
	}
	if o.count <= 0 || o.clients <= 0 || o.attachmentKB < 0 || o.operators <= 0 || o.rate < 0 || o.composeConcurrency < 0 || o.composeQueue < 0 {
		return fmt.Errorf("%w: --count, --clients and --operators must be positive, --attachment-kb not negative", errUsage)
	}
	for _, a := range []string{o.smtpAddr} {
		if a != "" && !loopback(a) {
			return fmt.Errorf("%w: --smtp %q: the bench sends only to a loopback address", errUsage, a)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return runBench(ctx, p, o)
}

func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// benchRun is one run's state and measures.
type benchRun struct {
	o        benchOptions
	out      io.Writer
	provider *benchpeer.Provider
	sink     *benchpeer.Sink
	// pg measures the PostgreSQL server's CPU (--database-url).
	pg *pgServerCPU
	// smtpWrites and smtpBytes count the writes to the SMTP sockets.
	smtpWrites, smtpBytes atomic.Int64
	// api is the fake mail API of --transport graph or gmail_api: its
	// base URL, and the count of messages and bytes it accepted.
	api      string
	apiCount func() (int, int64)
	apiClose func()

	start    time.Time
	cpuStart time.Duration
	// deliverStart is when sending began: the start, or with --phased
	// when the workers were started after acceptance.
	deliverStart time.Time
	accepted     atomic.Int64
	// refused counts the 503 answers (the gate in front of composing),
	// each posted again after its Retry-After.
	refused   atomic.Int64
	delivered atomic.Int64
	failed    atomic.Int64
	done      chan struct{}
	lastSent  atomic.Int64 // unix nanoseconds

	mu        sync.Mutex
	acceptLat []time.Duration
	// answerLat is the time of each answer, 202 or 503, from its request.
	answerLat []time.Duration
	// serverLat is the time each POST /v1/messages spent in envoi's
	// handler, from its headers read to its answer written: the client,
	// the network and the server's wait for a goroutine left out.
	serverLat   []time.Duration
	sendLat     []time.Duration
	deliveryLat []time.Duration
	firstErrors []string
	// Month-end: each mailbox's sent count and last send.
	mailboxes map[string]*mailboxRun
}

func runBench(ctx context.Context, p *Program, o benchOptions) error {
	r := &benchRun{o: o, out: p.Stdout, done: make(chan struct{})}
	dir, err := os.MkdirTemp("", "envoi-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	r.provider, err = benchpeer.StartProvider()
	if err != nil {
		return err
	}
	defer r.provider.Close()
	stopIntrospection, err := r.startIntrospection()
	if err != nil {
		return err
	}
	defer stopIntrospection()

	if err := r.startAPI(); err != nil {
		return err
	}
	if r.apiClose != nil {
		defer r.apiClose()
	}
	endpoint := envoi.SMTPServer{Security: o.smtpSecurity}
	var roots *x509.CertPool
	switch {
	case o.smtpAddr == "":
		so := benchpeer.SinkOptions{Token: r.provider.Validate, Password: checkBenchPassword}
		if o.monthEnd {
			r.monthEndSink(&so)
		}
		r.sink, err = benchpeer.StartSink(so)
		if err != nil {
			return err
		}
		defer r.sink.Close()
		endpoint = envoi.SMTPServer{Host: "127.0.0.1", Port: r.sink.Port(), Security: envoi.SecuritySTARTTLS}
		roots = r.sink.RootCAs
	default:
		host, port, _ := net.SplitHostPort(o.smtpAddr)
		endpoint.Host = host
		endpoint.Port, _ = strconv.Atoi(port)
	}

	dbURL, dropDB, err := benchDatabase(ctx, o)
	if err != nil {
		return err
	}
	defer dropDB()

	cfg := &Config{Listen: "127.0.0.1:0", DataDir: dir, DatabaseURL: dbURL, LogLevel: "warn", PublicURL: "http://127.0.0.1", Create: true, SMTPCAFile: o.smtpCAFile,
		Limits: Limits{ComposeConcurrency: o.composeConcurrency, ComposeQueue: o.composeQueue}}
	if dbURL != "" {
		cfg.MasterKey = base64.StdEncoding.EncodeToString(secret.NewKey())
	}
	var logs bytes.Buffer
	logger := newLogger(&lockedWriter{w: &logs}, "warn", "text")
	bp := &Program{Stdout: p.Stdout, Stderr: p.Stderr, Getenv: p.Getenv}
	bp.Setup.SMTP = func(s *smtp.Sender) {
		s.WrapConn = func(c net.Conn) net.Conn { return countingConn{c, r} }
		if roots != nil {
			s.RootCAs = roots
		}
		if o.smtpAuth == "oauthbearer" {
			s.OAuthMechanism = smtp.MechOAuthBearer
		}
	}
	app, err := bp.newApp(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer app.Close()
	if o.workers > 0 {
		app.Worker.Concurrency = o.workers
	}
	if app.Worker.Concurrency <= 0 {
		app.Worker.Concurrency = 8 // the worker's default, printed
	}
	app.Worker.PollInterval = 10 * time.Millisecond
	for name, t := range app.Worker.Transports {
		app.Worker.Transports[name] = timedTransport{t, r}
	}
	changed := app.Worker.OnChange
	app.Worker.OnChange = func(m *envoi.Message) {
		changed(m)
		r.changed(m)
	}

	conns := o.smtpConns
	if conns <= 0 {
		conns = app.Worker.Concurrency
	}
	key, operators, err := benchConfigure(ctx, app, r.provider, endpoint, o.operators, o.smtpAuth, o.transport, r.api, conns)
	if err != nil {
		return err
	}
	if o.monthEnd {
		if err := r.monthEndLimits(ctx, app); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: r.timeHandler(app.HTTP.Handler()), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	startWorkers := func() {
		workers.Add(1)
		go func() { defer workers.Done(); _ = app.Worker.Run(workCtx) }()
	}
	if !o.phased {
		startWorkers()
	}
	defer func() { stopWork(); workers.Wait() }()

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	clients := fmt.Sprintf("%d API clients", o.clients)
	if o.rate > 0 {
		clients = fmt.Sprintf("open-loop at %.0f requests/s", o.rate)
	}
	if r.api != "" {
		fmt.Fprintf(r.out, "envoi bench: %d messages with a %d KB PDF, %s, %d workers, %d mailbox(es), database %s, transport %s (fake API %s)\n",
			o.count, o.attachmentKB, clients, app.Worker.Concurrency, o.operators, app.Store.Dialect(), o.transport, r.api)
	} else {
		fmt.Fprintf(r.out, "envoi bench: %d messages with a %d KB PDF, %s, %d workers, %d mailbox(es), database %s, SMTP %s (%s, auth %s)\n",
			o.count, o.attachmentKB, clients, app.Worker.Concurrency, o.operators, app.Store.Dialect(), net.JoinHostPort(endpoint.Host, strconv.Itoa(endpoint.Port)), endpoint.Security, o.smtpAuth)
	}
	bodies := benchBodies(o.attachmentKB)
	if dbURL != "" {
		if r.pg, err = startPGServerCPU(ctx, dbURL); err != nil {
			return fmt.Errorf("bench: measure the PostgreSQL server's CPU: %w", err)
		}
	}
	r.cpuStart = cpuTime()
	r.start = time.Now()
	post := r.post
	if o.rate > 0 {
		post = r.postAtRate
	}
	stopTrace, err := startTrace(o.traceFile)
	if err != nil {
		return err
	}
	acceptEnd, err := post(ctx, base, key, operators, bodies)
	stopTrace()
	if err != nil {
		return err
	}
	r.deliverStart = r.start
	if o.phased {
		r.deliverStart = time.Now()
		startWorkers()
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("bench: %d of %d messages delivered, %d failed, when the run timed out (%w)\nlogs:\n%s", r.delivered.Load(), o.count, r.failed.Load(), ctx.Err(), tail(logs.String(), 2000))
	}
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return err
		}
	}
	if r.pg != nil {
		r.pg.Stop(ctx)
	}
	r.report(acceptEnd, key)
	if o.monthEnd {
		r.monthEndReport()
	}
	if n := r.failed.Load(); n > 0 {
		return fmt.Errorf("bench: %d messages failed: %s", n, strings.Join(r.firstErrors, "; "))
	}
	return nil
}

// startTrace starts an execution trace into path, when set, and returns
// what stops it.
func startTrace(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { trace.Stop(); f.Close() }, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC()
	return pprof.WriteHeapProfile(f)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// benchDatabase returns the database URL of the run: empty for SQLite, or
// a new database on the PostgreSQL server o names, with the function that
// drops it.
func benchDatabase(ctx context.Context, o benchOptions) (string, func(), error) {
	if o.databaseURL == "" {
		return "", func() {}, nil
	}
	u, err := url.Parse(o.databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("%w: --database-url must be empty or postgres://...", errUsage)
	}
	if !loopback(u.Host) && !loopback(u.Host+":5432") {
		return "", nil, fmt.Errorf("%w: --database-url: the bench uses only a PostgreSQL on a loopback address", errUsage)
	}
	db, err := sql.Open("pgx", o.databaseURL)
	if err != nil {
		return "", nil, err
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "envoi_bench_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("bench: create database %s: %w", name, err)
	}
	u.Path = "/" + name
	drop := func() {
		defer db.Close()
		if o.keepDatabase {
			return
		}
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	}
	return u.String(), drop, nil
}

// benchConfigure stores what a send needs: a company, operators in an
// OAuth 2.0 flow on the built-in provider and the sink, their tokens (as a
// consent would leave them, the access token already expired so the first
// send refreshes it), the BL mail setting and an API key. The flow has
// no rate limit and conns connections a mailbox.
func benchConfigure(ctx context.Context, app *App, provider *benchpeer.Provider, endpoint envoi.SMTPServer, n int, auth, transport, apiURL string, conns int) (string, []string, error) {
	st := app.Store
	if err := st.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "Forterro", FooterText: "Forterro SAS — 1 rue de la Paix, Paris"}); err != nil {
		return "", nil, err
	}
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf("bench%02d", i+1)
		op := &envoi.Operator{Code: ops[i], Name: "Bench " + ops[i], Email: ops[i] + "@example.com", OAuthEnabled: true}
		if auth == "plain" {
			op.OAuthEnabled, op.SMTPPassword = false, benchPassword(op.Email)
		}
		if err := st.PutOperator(ctx, op); err != nil {
			return "", nil, err
		}
	}
	flow := &envoi.AuthFlow{
		Code: "BENCH", Name: "bench", Kind: envoi.KindOAuth2, Preset: envoi.PresetGeneric,
		Scope: "smtp", AuthURL: provider.URL + "/authorize", TokenURL: provider.URL + "/token",
		ClientID: "bench-client", ClientSecret: "bench-secret", RedirectURL: "http://127.0.0.1/oauth/callback",
		SMTP: endpoint, MaxAttachmentsMB: 25, Operators: ops,
	}
	if transport != envoi.TransportSMTP {
		flow.Transport, flow.APIURL, flow.Scope = transport, apiURL, benchAPIScope(transport)
	}
	if auth == "none" || auth == "plain" {
		flow = &envoi.AuthFlow{Code: "BENCH", Name: "bench", Kind: envoi.KindSMTPBasic, SMTP: endpoint, MaxAttachmentsMB: 25, Operators: ops}
	}
	flow.Limits.Connections = conns
	if err := st.PutAuthFlow(ctx, flow); err != nil {
		return "", nil, err
	}
	now := time.Now()
	for _, op := range ops {
		if flow.Kind != envoi.KindOAuth2 {
			break
		}
		err := st.SaveToken(ctx, &envoi.Token{
			Flow: flow.Code, Operator: op, ClientID: flow.ClientID, Provider: flow.Preset, Email: op + "@example.com",
			Expiry: now.Add(-time.Minute), AccessToken: "expired", RefreshToken: provider.RefreshToken(op + "@example.com"),
			Status: envoi.TokenValid, ConsentedAt: now, RefreshedAt: now.Add(-time.Hour), StatusChanged: now,
		})
		if err != nil {
			return "", nil, err
		}
	}
	if err := st.PutMailSetting(ctx, &envoi.MailSetting{
		DocumentFlow: "BL", Subject: "[SOCIETE] : Envoi du BL : [ID_BL]",
		Body: "Bonjour,\nVeuillez trouver ci-joint le BL [ID_BL].\nCordialement", Priority: envoi.PriorityNormal,
	}); err != nil {
		return "", nil, err
	}
	key, rec := envoihttp.NewAPIKey("bench")
	if err := st.CreateAPIKey(ctx, rec); err != nil {
		return "", nil, err
	}
	return key, ops, nil
}

// benchBodies returns a send request's JSON cut around the delivery note's
// number, so each client makes a body by joining three slices.
func benchBodies(kb int) [2][]byte {
	pdf := make([]byte, kb<<10)
	_, _ = rand.Read(pdf)
	copy(pdf, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	req := map[string]any{
		"document_flow": "BL", "operator": "OPERATOR", "company": "FORTERRO",
		"to":      []string{"client@example.org"},
		"context": map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "NUMBER"},
		"entity":  map[string]string{"type": "BL", "id": "NUMBER"},
	}
	if kb > 0 {
		req["attachments"] = []map[string]string{{"filename": "BL_NUMBER.pdf", "content_type": "application/pdf", "content_base64": base64.StdEncoding.EncodeToString(pdf)}}
	}
	b, _ := json.Marshal(req)
	s := string(b)
	i := strings.Index(s, `"OPERATOR"`)
	return [2][]byte{[]byte(s[:i+1]), []byte(s[i+len(`OPERATOR"`):])}
}

// appendBody appends to dst the send request of bodies for operator and
// the delivery note number: the bench's own garbage counts in the
// process's memory it reports, so no copy is made on the way.
func appendBody(dst []byte, bodies [2][]byte, operator, number string) []byte {
	dst = append(dst, bodies[0]...)
	dst = append(dst, operator...)
	rest := bodies[1]
	for {
		i := bytes.Index(rest, []byte("NUMBER"))
		if i < 0 {
			return append(dst, rest...)
		}
		dst = append(dst, rest[:i]...)
		dst = append(dst, number...)
		rest = rest[i+len("NUMBER"):]
	}
}

// post sends o.count messages with o.clients concurrent clients and returns
// when the last was accepted.
func (r *benchRun) post(ctx context.Context, base, key string, operators []string, bodies [2][]byte) (time.Time, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: r.o.clients, MaxConnsPerHost: r.o.clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, r.o.clients)
	for range r.o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, r.o.count/r.o.clients+1)
			defer func() {
				r.mu.Lock()
				r.acceptLat = append(r.acceptLat, lat...)
				r.mu.Unlock()
			}()
			var buf bytes.Buffer
			for {
				i := int(next.Add(1))
				if i > r.o.count || ctx.Err() != nil {
					return
				}
				number := fmt.Sprintf("%06d", i)
				t0 := time.Now()
				for {
					// The operator and the number are the only parts that change.
					buf.Reset()
					buf.Write(appendBody(buf.AvailableBuffer(), bodies, operators[i%len(operators)], number))
					wait, err := r.postOne(ctx, client, base, key, number, buf.Bytes())
					if err != nil {
						errc <- err
						return
					}
					if wait == 0 {
						break
					}
					if !sleepCtx(ctx, wait) {
						return
					}
				}
				lat = append(lat, time.Since(t0))
				r.accepted.Add(1)
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	select {
	case err := <-errc:
		return end, err
	default:
	}
	return end, ctx.Err()
}

// postAtRate sends o.count messages open-loop, the i-th at start + i/rate,
// each on its own goroutine whether or not the earlier ones were answered
// (at most 1,024 in flight), and counts each one's latency from the time
// it was due, so a stall shows in the latencies of every request it held
// up (no coordinated omission). It returns when the last was accepted.
func (r *benchRun) postAtRate(ctx context.Context, base, key string, operators []string, bodies [2][]byte) (time.Time, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	interval := time.Duration(float64(time.Second) / r.o.rate)
	sem := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	start := time.Now()
	for i := 1; i <= r.o.count && ctx.Err() == nil && firstErr.Load() == nil; i++ {
		due := start.Add(time.Duration(i-1) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			number := fmt.Sprintf("%06d", i)
			for {
				// Made again for each try: a message waiting to be posted
				// again holds no body.
				body := appendBody(make([]byte, 0, len(bodies[0])+len(bodies[1])+32), bodies, operators[i%len(operators)], number)
				wait, err := r.postOne(ctx, client, base, key, number, body)
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				if wait == 0 {
					break
				}
				if !sleepCtx(ctx, wait) {
					return
				}
			}
			lat := time.Since(due)
			r.mu.Lock()
			r.acceptLat = append(r.acceptLat, lat)
			r.mu.Unlock()
			r.accepted.Add(1)
		}()
	}
	wg.Wait()
	end := time.Now()
	if p := firstErr.Load(); p != nil {
		return end, *p
	}
	return end, ctx.Err()
}

// postOne posts one send request with its Idempotency-Key. It returns 0
// once the message is accepted, and the Retry-After of a 503 (the gate in
// front of composing had no room), after which the same request is to be
// posted again; any other answer is an error.
func (r *benchRun) postOne(ctx context.Context, client *http.Client, base, key, number string, body []byte) (time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "bench-"+number)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.mu.Lock()
	r.answerLat = append(r.answerLat, time.Since(t0))
	r.mu.Unlock()
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 && resp.StatusCode == http.StatusServiceUnavailable {
		r.refused.Add(1)
		return time.Duration(secs) * time.Second, nil
	}
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("bench: POST /v1/messages: %d %s", resp.StatusCode, b)
	}
	return 0, nil
}

// sleepCtx sleeps d, false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *benchRun) changed(m *envoi.Message) {
	switch m.Status {
	case envoi.StatusSent:
		now := time.Now()
		if r.o.monthEnd {
			r.sentBy(m.Mailbox, now)
		}
		r.lastSent.Store(now.UnixNano())
		r.mu.Lock()
		r.deliveryLat = append(r.deliveryLat, now.Sub(m.CreatedAt))
		r.mu.Unlock()
		if int(r.delivered.Add(1)+r.failed.Load()) == r.o.count {
			close(r.done)
		}
	case envoi.StatusFailed, envoi.StatusConsentRequired:
		r.mu.Lock()
		if len(r.firstErrors) < 3 {
			r.firstErrors = append(r.firstErrors, m.ID+": "+m.Error)
		}
		r.mu.Unlock()
		if int(r.failed.Add(1)+r.delivered.Load()) == r.o.count {
			close(r.done)
		}
	}
}

// countingConn counts the writes to an SMTP socket.
type countingConn struct {
	net.Conn
	r *benchRun
}

func (c countingConn) Write(p []byte) (int, error) {
	c.r.smtpWrites.Add(1)
	c.r.smtpBytes.Add(int64(len(p)))
	return c.Conn.Write(p)
}

// timedTransport measures each delivery, token included.
type timedTransport struct {
	envoi.Transport
	r *benchRun
}

func (t timedTransport) Deliver(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
	t0 := time.Now()
	out, err := t.Transport.Deliver(ctx, d)
	dur := time.Since(t0)
	t.r.mu.Lock()
	t.r.sendLat = append(t.r.sendLat, dur)
	t.r.mu.Unlock()
	return out, err
}

func (r *benchRun) report(acceptEnd time.Time, _ string) {
	w := r.out
	last := time.Unix(0, r.lastSent.Load())
	if r.lastSent.Load() == 0 {
		last = time.Now()
	}
	acceptSecs := acceptEnd.Sub(r.start).Seconds()
	deliverSecs := last.Sub(r.deliverStart).Seconds()
	n := float64(r.o.count)
	fmt.Fprintf(w, "accepted   %6d in %7.2fs  %8.0f msg/s   accept latency   p50 %8s  p99 %8s  p99.9 %8s\n", r.accepted.Load(), acceptSecs, n/acceptSecs, pct(r.acceptLat, 50), pct(r.acceptLat, 99), pct(r.acceptLat, 99.9))
	fmt.Fprintf(w, "refused    %6d (503, posted again after Retry-After)      answer latency   p50 %8s  p99 %8s  p99.9 %8s (202 and 503)\n", r.refused.Load(), pct(r.answerLat, 50), pct(r.answerLat, 99), pct(r.answerLat, 99.9))
	fmt.Fprintf(w, "                                                 in the handler   p50 %8s  p99 %8s  p99.9 %8s (POST /v1/messages)\n", pct(r.serverLat, 50), pct(r.serverLat, 99), pct(r.serverLat, 99.9))
	fmt.Fprintf(w, "delivered  %6d in %7.2fs  %8.0f msg/s   send latency     p50 %8s  p99 %8s\n", r.delivered.Load(), deliverSecs, float64(r.delivered.Load())/deliverSecs, pct(r.sendLat, 50), pct(r.sendLat, 99))
	fmt.Fprintf(w, "                                                 accept-to-sent   p50 %8s  p99 %8s\n", pct(r.deliveryLat, 50), pct(r.deliveryLat, 99))
	cpu := cpuTime() - r.cpuStart
	fmt.Fprintf(w, "failed %d, %s sends %d, token endpoint calls %d, peak memory (VmHWM) %s, CPU %.1fs (%.2f ms a message, %d cores)\n",
		r.failed.Load(), sendsLabel(r.o.transport), len(r.sendLat), r.provider.Calls(), peakRSS(), cpu.Seconds(), float64(cpu.Microseconds())/1000/n, runtime.NumCPU())
	if writes := r.smtpWrites.Load(); writes > 0 {
		fmt.Fprintf(w, "SMTP socket: %d writes, %.1f a message, %.0f KB each on average (TLS included)\n", writes, float64(writes)/n, float64(r.smtpBytes.Load())/float64(writes)/1024)
	}
	r.pg.report(w, r.o.count)
	if r.apiCount != nil {
		n, b := r.apiCount()
		fmt.Fprintf(w, "fake %s: %d messages, %.1f MB\n", r.o.transport, n, float64(b)/1e6)
	} else if r.sink != nil {
		fmt.Fprintf(w, "sink: %d messages, %.1f MB, %d connections, %d AUTH commands\n", r.sink.Messages(), float64(r.sink.Bytes())/1e6, r.sink.Connections(), r.sink.AuthCommands())
	}
}

// timeHandler records in serverLat the time h takes to answer each POST
// /v1/messages.
func (r *benchRun) timeHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/messages" {
			h.ServeHTTP(w, req)
			return
		}
		t0 := time.Now()
		h.ServeHTTP(w, req)
		d := time.Since(t0)
		r.mu.Lock()
		r.serverLat = append(r.serverLat, d)
		r.mu.Unlock()
	})
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(float64(len(s)) * p / 100))
	i = min(max(i-1, 0), len(s)-1)
	return s[i].Round(10 * time.Microsecond)
}

// peakRSS returns the process's resident set high-water mark.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 {
				kb, _ := strconv.Atoi(f[0])
				return fmt.Sprintf("%.0f MB", float64(kb)/1024)
			}
		}
	}
	return "unknown"
}

// benchPassword is the SMTP password of the operator whose address is user
// with --smtp-auth plain.
func benchPassword(user string) string { return "pw." + user }

func checkBenchPassword(user, password string) error {
	if password != benchPassword(user) {
		return errors.New("bench: wrong password")
	}
	return nil
}

// cpuTime returns the CPU time the process used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
