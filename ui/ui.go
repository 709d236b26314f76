// Package ui is envoi's admin web UI: server-rendered pages (html/template)
// for every configuration object, the Authenticate and Test actions, the
// sent-mail log, token health and API keys, in English, French and Spanish.
//
// Templates, the style sheet, the little JavaScript and the message
// catalogues are embedded and parsed once, by Handler: a missing view or an
// incomplete catalogue fails at start-up, not at request time.
//
// Administrators sign in with a password (argon2id); sessions live in
// secure cookies and are stored hashed. Every form is protected against
// cross-site requests twice: http.CrossOriginProtection on the whole UI, and
// a token in each form. The route table is in routes.go.
//
// Password recovery mails a single-use reset link through envoi's own
// sending (Messages.Accept with the PASSWORD_RECOVERY document flow). It
// sends as the operator chosen on the Settings screen (the "system_sender"
// setting, with an optional "system_company"); that operator's flow must
// be able to send. Without a system sender, the forgotten-password page
// refuses with a message saying so, and `envoi admin password --email E`
// sets a password from a terminal.
package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"envoi"
)

//go:embed templates/*.html static/* locales/*.json
var files embed.FS

// Store is what the UI reads and writes: every configuration object, the
// messages, the UI's users and settings. sqlstore implements it.
type Store interface {
	envoi.Store
	envoi.UserService
	envoi.SettingService
}

// Messages is the send service (queue.Service implements it): the log's
// Retry, the mail preview, and the password recovery mail.
type Messages interface {
	Accept(ctx context.Context, req *envoi.SendRequest, idempotencyKey string) (*envoi.Message, bool, error)
	Preview(ctx context.Context, req *envoi.SendRequest) ([]byte, error)
	Retry(ctx context.Context, id string) (*envoi.Message, error)
}

// Consent starts an OAuth consent and returns the provider's page to send
// the browser to (oauth.Service implements it). The provider comes back to
// envoi's /oauth/callback, whose page links back to returnTo.
type Consent interface {
	StartConsent(ctx context.Context, flow, operator, returnTo string) (string, error)
}

// Tester runs a flow's Test action for one operator.
type Tester interface {
	Test(ctx context.Context, flow, operator string) (envoi.TestResult, error)
}

// TokenState is one identity's token as the token health screen shows it.
type TokenState = envoi.TokenHealth

// Settings keys of the UI.
const (
	// SettingSystemSender is the code of the operator the UI sends its own
	// mail as (password recovery). Without it, recovery is refused.
	SettingSystemSender = envoi.SettingSystemSender
	// SettingSystemCompany is the company of those mails (optional).
	SettingSystemCompany = envoi.SettingSystemCompany
)

// RecoveryFlow is the document flow of password recovery mails.
const RecoveryFlow = "PASSWORD_RECOVERY"

// Server serves the admin UI. Store is required; the other parts, when
// nil, make their screens say that the part is not running. Options are
// exported fields with useful zero values. Call Handler once.
type Server struct {
	Store    Store
	Messages Messages
	Consent  Consent
	Tester   Tester
	// Health lists the tokens and the identities waiting for consent
	// (oauth.Service.Health); without it the token screen
	// lists the stored tokens only.
	Health func(ctx context.Context) ([]TokenState, error)
	// NewAPIKey makes a key and its record holding only the key's hash
	// (http.NewAPIKey).
	NewAPIKey func(name string) (key string, rec *envoi.APIKey)
	// FileName renders a file-name pattern as sends do (filename.Render);
	// without it the example name is the pattern's keywords filled in.
	FileName func(pattern string, values map[string]string, ext string) (string, error)
	// PublicURL is where browsers reach envoi: links in recovery mails,
	// the redirect URI to register, and Secure cookies when https.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time

	// SessionTTL bounds a session from sign-in (default 12 hours);
	// IdleTimeout ends one unused that long (default 1 hour).
	SessionTTL  time.Duration
	IdleTimeout time.Duration
	// MaxFailedLogins failed sign-ins to one account from one client
	// address make that address wait LockoutDuration before it may try
	// that account again; MaxClientFailures failed sign-ins, recovery
	// requests and failed resets from one address make it wait as long
	// for every account (defaults 5, 30 and 15 minutes). Accounts are
	// never locked: the right password from another address still works,
	// and an unknown account is answered as a known one.
	MaxFailedLogins   int
	MaxClientFailures int
	LockoutDuration   time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client address; without them the connection's peer is the client.
	TrustedProxies []netip.Prefix
	// HashConcurrency bounds the password checks computed at once, 19 MiB
	// each (default 4); beyond it, and a short wait, a sign-in is answered
	// 503 with Retry-After.
	HashConcurrency int
	// RecoveryInterval is the least time between two recovery mails to
	// one address (default 15 minutes); the page says the same either way.
	RecoveryInterval time.Duration
	// ResetTTL is how long a password recovery link works (default 1 hour).
	ResetTTL time.Duration
	// ReadTimeout bounds the time a form's body may take to arrive
	// (default 30s), UploadTimeout a logo upload's (default 10m); the
	// answer must be written within WriteTimeout after it (default 2m).
	ReadTimeout   time.Duration
	UploadTimeout time.Duration
	WriteTimeout  time.Duration
	// Key signs the form tokens of the pages shown before sign-in and the
	// flash messages' cookie, so a cookie set by someone else is refused.
	// cmd/envoi derives it from the master key (every instance agrees);
	// without it, a random key of this process.
	Key []byte

	views  *viewSet
	cat    catalogue
	secure bool
	key    []byte

	slots     *hashSlots
	accounts  *throttle // client address and account
	clients   *throttle // client address
	recovered *throttle // recovery mails by address

	tests *testRuns // flow tests run in the background for the page's script
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) sessionTTL() time.Duration  { return orDefault(s.SessionTTL, 12*time.Hour) }
func (s *Server) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, time.Hour) }
func (s *Server) lockout() time.Duration     { return orDefault(s.LockoutDuration, DefaultLockoutDuration) }
func (s *Server) resetTTL() time.Duration    { return orDefault(s.ResetTTL, time.Hour) }

func (s *Server) maxFailed() int { return orDefaultInt(s.MaxFailedLogins, DefaultMaxFailedLogins) }

func orDefaultInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Handler parses the templates and catalogues and returns the UI's
// handler. It fails when a view or a message is missing.
func (s *Server) Handler() (http.Handler, error) {
	if s.Store == nil {
		return nil, envoi.Errorf(envoi.EInvalidInput, "ui: a store is required")
	}
	cat, err := loadCatalogue(files)
	if err != nil {
		return nil, err
	}
	s.cat = cat
	if s.views, err = parseViews(files, cat); err != nil {
		return nil, err
	}
	if u, err := url.Parse(s.PublicURL); err == nil && u.Scheme == "https" {
		s.secure = true
	}
	s.key = s.Key
	if len(s.key) == 0 {
		s.key = make([]byte, 32)
		_, _ = rand.Read(s.key)
	}
	s.tests = &testRuns{}
	s.slots = newHashSlots(orDefaultInt(s.HashConcurrency, DefaultHashConcurrency))
	s.accounts = newThrottle(s.maxFailed(), s.lockout())
	s.clients = newThrottle(orDefaultInt(s.MaxClientFailures, DefaultMaxClientFailures), s.lockout())
	s.recovered = newThrottle(1, orDefault(s.RecoveryInterval, DefaultRecoveryInterval))
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.guard(rt))
	}
	cop := http.NewCrossOriginProtection()
	if o := origin(s.PublicURL); o != "" {
		_ = cop.AddTrustedOrigin(o)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, envoi.Errorf(envoi.EForbidden, "cross-origin request refused"))
	}))
	return s.headers(cop.Handler(mux)), nil
}

// origin returns scheme://host of a URL, "" when it has none.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// headers sets the security headers of every UI answer. Pages may load
// only envoi's own style sheet, script and images; frames only from envoi
// (the signature preview is a sandboxed srcdoc frame).
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// hashToken is how session and reset tokens are stored.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// localPath returns p when it is a path of this site, else "/".
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/"
	}
	return p
}
