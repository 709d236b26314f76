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
	"crypto/sha256"
	"embed"
	"log/slog"
	"net/http"
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
type TokenState struct {
	Flow     string
	Operator string // "" for the flow's generic mailbox
	Email    string
	// Status is valid, consent_required or never_consented.
	Status       string
	NeedsConsent bool
	Since        time.Time
	LastError    string
	Expiry       time.Time
	RefreshedAt  time.Time
	ConsentedAt  time.Time
}

// Settings keys of the UI.
const (
	// SettingSystemSender is the code of the operator the UI sends its own
	// mail as (password recovery). Without it, recovery is refused.
	SettingSystemSender = "system_sender"
	// SettingSystemCompany is the company of those mails (optional).
	SettingSystemCompany = "system_company"
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
	// (oauth.Service.Health, converted); without it the token screen
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
	// MaxFailedLogins in a row lock a user for LockoutDuration (defaults
	// 5 and 15 minutes).
	MaxFailedLogins int
	LockoutDuration time.Duration
	// ResetTTL is how long a password recovery link works (default 1 hour).
	ResetTTL time.Duration

	views  map[string]map[string]*viewTemplate // language, view
	cat    catalogue
	secure bool
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
func (s *Server) lockout() time.Duration     { return orDefault(s.LockoutDuration, 15*time.Minute) }
func (s *Server) resetTTL() time.Duration    { return orDefault(s.ResetTTL, time.Hour) }

func (s *Server) maxFailed() int {
	if s.MaxFailedLogins <= 0 {
		return 5
	}
	return s.MaxFailedLogins
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
