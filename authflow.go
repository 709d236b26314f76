package envoi

import (
	"net/url"
	"strings"
	"time"
)

// Kinds of authentication flow.
const (
	KindSMTPBasic = "smtp_basic"
	KindOAuth2    = "oauth2"
)

// Presets of OAuth 2.0 providers.
const (
	PresetMicrosoft365 = "microsoft365"
	PresetGmail        = "gmail"
	PresetGeneric      = "generic"
)

// SMTP connection security.
const (
	SecuritySTARTTLS = "starttls"
	SecurityTLS      = "tls"
	SecurityNone     = "none"
)

// OAuth grants a flow can use to obtain tokens.
const (
	// GrantAuthorizationCode is consent by a person (operator or administrator).
	GrantAuthorizationCode = "authorization_code"
	// GrantClientCredentials is Microsoft's app-only access (SMTP.SendAsApp).
	GrantClientCredentials = "client_credentials"
	// GrantJWTBearer is a Google service account with domain-wide delegation.
	GrantJWTBearer = "jwt_bearer"
)

// How a flow authenticates its client at the provider's token endpoint
// (RFC 6749 §2.3.1, OpenID Connect's token_endpoint_auth_method names).
const (
	// TokenAuthAuto tries HTTP Basic first and, when the provider refuses
	// the client (invalid_client), the request body once; what worked is
	// remembered for the flow (AuthFlow.TokenAuthLearned).
	TokenAuthAuto = "auto"
	// TokenAuthBasic sends the client ID and secret in an HTTP Basic
	// Authorization header, the method every server must support.
	TokenAuthBasic = "client_secret_basic"
	// TokenAuthPost sends them as client_id and client_secret in the body.
	TokenAuthPost = "client_secret_post"
	// TokenAuthNone is a public client: client_id in the body, no secret
	// sent (PKCE protects the code).
	TokenAuthNone = "none"
)

// SMTPServer is where a flow sends mail.
type SMTPServer struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"` // starttls, tls or none
}

// IMAPServer is where the mailboxes a flow sends from are read for the
// reports that come back (bounces, read receipts), and whether they are.
// The presets fill host, port and security; Enabled is the flow's switch.
type IMAPServer struct {
	Enabled  bool   `json:"enabled" yaml:"enabled"`
	Host     string `json:"host,omitempty" yaml:"host"`
	Port     int    `json:"port,omitempty" yaml:"port"`
	Security string `json:"security,omitempty" yaml:"security"` // tls, starttls or none
}

// GenericMailbox makes a flow send from one shared address, consented once by
// the administrator, instead of each operator's own [case générique].
type GenericMailbox struct {
	Enabled bool   `json:"enabled"`
	Email   string `json:"email"`
}

// AuthFlow says how mail is sent for the operators assigned to it
// [flux d'authentification]. Each operator belongs to at most one flow,
// directly or through one group; the store enforces it.
//
// ClientSecret and ServiceAccountKey are write-only like Operator.SMTPPassword.
type AuthFlow struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Preset string `json:"preset,omitempty"`

	// OAuth 2.0, common part.
	Scope        string `json:"scope,omitempty"`
	AuthURL      string `json:"auth_url,omitempty"`
	TokenURL     string `json:"token_url,omitempty"`
	DeviceURL    string `json:"device_url,omitempty"`
	UserinfoURL  string `json:"userinfo_url,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"-"`
	// ClientSecretSet says a client secret is stored; it is never shown again.
	ClientSecretSet bool   `json:"client_secret_set"`
	Tenant          string `json:"tenant,omitempty"`
	RedirectURL     string `json:"redirect_url,omitempty"`
	Grant           string `json:"grant,omitempty"`
	// ServiceAccountKey is a Google service account's JSON key (jwt_bearer).
	ServiceAccountKey    string `json:"-"`
	ServiceAccountKeySet bool   `json:"service_account_key_set"`
	// TokenAuthMethod is how the client authenticates at the token
	// endpoint: auto, client_secret_basic, client_secret_post or none
	// (the preset's when empty; auto for generic). "" reads as auto.
	TokenAuthMethod string `json:"token_auth_method,omitempty"`
	// TokenAuthLearned is the method auto found to work (read-only; reset
	// when the token URL, tenant, client ID or method changes).
	TokenAuthLearned string `json:"token_auth_method_learned,omitempty"`

	// Mail service part. Transport is how messages leave: smtp (the
	// default, ""), graph (Microsoft Graph's sendMail) or gmail_api (the
	// Gmail API's messages.send); APIURL is the Graph or Gmail API base
	// URL (the preset's global endpoint when empty: a national cloud or a
	// test points elsewhere).
	Transport      string         `json:"transport"`
	APIURL         string         `json:"api_url,omitempty"`
	SMTP           SMTPServer     `json:"smtp"`
	GenericMailbox GenericMailbox `json:"generic_mailbox"`
	// IMAP is where reports are read (see IMAPServer).
	IMAP IMAPServer `json:"imap"`

	MaxAttachmentsMB int `json:"max_attachments_mb"`
	// RatePerMinute caps messages a minute per mailbox (0: the preset's
	// default, 30 for Microsoft 365 as Exchange Online allows).
	RatePerMinute int `json:"rate_per_minute,omitempty"`
	// Limits are the provider's sending limits per mailbox (0: none,
	// or the preset's default); Limits.MessagesPerMinute and
	// RatePerMinute are one setting (see SyncRate).
	Limits Limits `json:"limits"`

	Operators []string  `json:"operators"`
	Groups    []string  `json:"groups"`
	UpdatedAt time.Time `json:"updated_at"`

	// Dropped is set by PutAuthFlow when the change re-pointed the flow and
	// stored secrets were dropped (see Repoint), its Code empty otherwise;
	// it is not stored.
	Dropped FlowWarning `json:"-"`
}

// AuthFlowSettings are the fields of an AuthFlow its administrator sets,
// named as the JSON API takes them (PUT /v1/auth-flows/{code}) and as
// `envoi apply` reads them (YAML). The secrets are not among them: the API
// takes them in the body, apply from the environment. TestAuthFlowSettings
// checks that every field an administrator sets on AuthFlow is here.
type AuthFlowSettings struct {
	Name             string         `json:"name" yaml:"name"`
	Kind             string         `json:"kind" yaml:"kind"`
	Preset           string         `json:"preset" yaml:"preset"`
	Scope            string         `json:"scope" yaml:"scope"`
	AuthURL          string         `json:"auth_url" yaml:"auth_url"`
	TokenURL         string         `json:"token_url" yaml:"token_url"`
	DeviceURL        string         `json:"device_url" yaml:"device_url"`
	UserinfoURL      string         `json:"userinfo_url" yaml:"userinfo_url"`
	ClientID         string         `json:"client_id" yaml:"client_id"`
	Tenant           string         `json:"tenant" yaml:"tenant"`
	RedirectURL      string         `json:"redirect_url" yaml:"redirect_url"`
	Grant            string         `json:"grant" yaml:"grant"`
	TokenAuthMethod  string         `json:"token_auth_method" yaml:"token_auth_method"`
	Transport        string         `json:"transport" yaml:"transport"`
	APIURL           string         `json:"api_url" yaml:"api_url"`
	SMTP             SMTPServer     `json:"smtp" yaml:"smtp"`
	GenericMailbox   GenericMailbox `json:"generic_mailbox" yaml:"generic_mailbox"`
	IMAP             IMAPServer     `json:"imap" yaml:"imap"`
	MaxAttachmentsMB int            `json:"max_attachments_mb" yaml:"max_attachments_mb"`
	RatePerMinute    int            `json:"rate_per_minute" yaml:"rate_per_minute"`
	Limits           Limits         `json:"limits" yaml:"limits"`
	Operators        []string       `json:"operators" yaml:"operators"`
	Groups           []string       `json:"groups" yaml:"groups"`
}

// AuthFlow returns the flow of code with these settings and the secrets
// given ("" keeps the stored one when the store saves it).
func (s AuthFlowSettings) AuthFlow(code, clientSecret, serviceAccountKey string) *AuthFlow {
	return &AuthFlow{
		Code: code, Name: s.Name, Kind: s.Kind, Preset: s.Preset, Scope: s.Scope,
		AuthURL: s.AuthURL, TokenURL: s.TokenURL, DeviceURL: s.DeviceURL, UserinfoURL: s.UserinfoURL,
		ClientID: s.ClientID, ClientSecret: clientSecret, Tenant: s.Tenant, RedirectURL: s.RedirectURL,
		Grant: s.Grant, ServiceAccountKey: serviceAccountKey, TokenAuthMethod: s.TokenAuthMethod,
		Transport: s.Transport, APIURL: s.APIURL, SMTP: s.SMTP, GenericMailbox: s.GenericMailbox, IMAP: s.IMAP, MaxAttachmentsMB: s.MaxAttachmentsMB,
		RatePerMinute: s.RatePerMinute, Limits: s.Limits, Operators: s.Operators, Groups: s.Groups,
	}
}

// Preset is the fixed part of a provider's configuration; the administrator
// enters the client ID, secret and tenant.
type Preset struct {
	Code          string
	Name          string
	Scope         string
	AuthURL       string
	TokenURL      string
	DeviceURL     string
	UserinfoURL   string
	RedirectURL   string
	AppOnlyScope  string
	SMTP          SMTPServer
	IMAP          IMAPServer
	RatePerMinute int
	// Limits are the provider's default sending limits per mailbox.
	Limits Limits
	// TokenAuthMethod is the client authentication the provider is known
	// to accept (auto when unknown).
	TokenAuthMethod string
	// APIs are what the preset fills for the transports other than SMTP
	// it offers, by transport: each needs its own scope.
	APIs map[string]APIPreset
}

// APIPreset is what a preset fills for a mail API transport (graph,
// gmail_api): the delegated scope, the app-only scope (client
// credentials) and the API's global endpoint.
type APIPreset struct {
	Scope        string
	AppOnlyScope string
	APIURL       string
}

// Scopes of the mail API transports.
const (
	// ScopeGraphSend is Graph's delegated Mail.Send; without offline_access
	// there is no refresh token. Graph and Outlook scopes cannot be mixed
	// in one token request, so a flow moving from SMTP to Graph changes its
	// scope and its mailboxes consent again.
	ScopeGraphSend    = "https://graph.microsoft.com/Mail.Send offline_access"
	ScopeGraphAppOnly = "https://graph.microsoft.com/.default"
	// ScopeGmailSend is narrower than https://mail.google.com/, which SMTP
	// needs.
	ScopeGmailSend = "https://www.googleapis.com/auth/gmail.send"
)

// Presets returns the providers envoi knows, by code. URLs of Microsoft 365
// hold "[tenant]", replaced by the flow's tenant (see AuthFlow.Resolved).
func Presets() map[string]Preset {
	return map[string]Preset{
		PresetMicrosoft365: {
			Code:          PresetMicrosoft365,
			Name:          "Microsoft 365 / Outlook",
			Scope:         "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All",
			AuthURL:       "https://login.microsoftonline.com/[tenant]/oauth2/v2.0/authorize",
			TokenURL:      "https://login.microsoftonline.com/[tenant]/oauth2/v2.0/token",
			DeviceURL:     "https://login.microsoftonline.com/[tenant]/oauth2/v2.0/devicecode",
			RedirectURL:   "https://login.live.com/oauth20_desktop.srf",
			AppOnlyScope:  "https://outlook.office365.com/.default",
			SMTP:          SMTPServer{Host: "smtp.office365.com", Port: 587, Security: SecuritySTARTTLS},
			IMAP:          IMAPServer{Host: "outlook.office365.com", Port: 993, Security: SecurityTLS},
			RatePerMinute: 30,
			Limits:        Limits{MessagesPerMinute: 30, Connections: 3, RecipientsPerDay: 10_000, RecipientsPerMessage: 500},
			// Microsoft accepts the body, as envoi always sent it; public
			// clients (no secret) need client_id there anyway.
			TokenAuthMethod: TokenAuthPost,
			APIs: map[string]APIPreset{
				TransportGraph: {Scope: ScopeGraphSend, AppOnlyScope: ScopeGraphAppOnly, APIURL: GraphURL},
			},
		},
		PresetGmail: {
			Code:        PresetGmail,
			Name:        "Gmail / Google Workspace",
			Scope:       "https://mail.google.com/",
			AuthURL:     "https://accounts.google.com/o/oauth2/v2/auth",
			TokenURL:    "https://www.googleapis.com/oauth2/v4/token",
			DeviceURL:   "https://oauth2.googleapis.com/device/code",
			UserinfoURL: "https://openidconnect.googleapis.com/v1/userinfo",
			RedirectURL: "http://localhost",
			SMTP:        SMTPServer{Host: "smtp.gmail.com", Port: 587, Security: SecuritySTARTTLS},
			IMAP:        IMAPServer{Host: "imap.gmail.com", Port: 993, Security: SecurityTLS},
			Limits:      Limits{MessagesPerDay: 2_000, RecipientsPerDay: 10_000, RecipientsPerMessage: 100},
			// Google accepts the body, as envoi always sent it.
			TokenAuthMethod: TokenAuthPost,
			APIs: map[string]APIPreset{
				TransportGmailAPI: {Scope: ScopeGmailSend, APIURL: GmailAPIURL},
			},
		},
		PresetGeneric: {Code: PresetGeneric, Name: "Generic OAuth 2.0 provider", TokenAuthMethod: TokenAuthAuto},
	}
}

// ClearOAuth empties the OAuth 2.0 part of a smtp_basic flow (preset,
// scope, URLs, client ID and secret, tenant, grant, service account key,
// token endpoint authentication): a basic flow sends with its operators'
// SMTP passwords and has none, whichever front-end saves it. The store
// calls it before saving; an oauth2 flow is left as it is.
func (f *AuthFlow) ClearOAuth() {
	if f.Kind != KindSMTPBasic {
		return
	}
	f.Preset, f.Scope, f.AuthURL, f.TokenURL, f.DeviceURL, f.UserinfoURL = "", "", "", "", "", ""
	f.ClientID, f.ClientSecret, f.Tenant, f.RedirectURL, f.Grant, f.ServiceAccountKey = "", "", "", "", "", ""
	f.TokenAuthMethod, f.TokenAuthLearned = "", ""
}

// EffectiveTransport returns the flow's transport, smtp when unset.
func (f *AuthFlow) EffectiveTransport() string {
	if f.Transport == "" {
		return TransportSMTP
	}
	return f.Transport
}

// AppOnlyScope returns the scope of the flow's client credentials grant:
// the resource's "/.default" its preset names for its transport (Graph's
// for graph, Exchange Online's for SMTP), "" when the preset names none
// (the flow's scope is then used as it is).
func (f *AuthFlow) AppOnlyScope() string {
	p := Presets()[f.Preset]
	if a, ok := p.APIs[f.EffectiveTransport()]; ok {
		return a.AppOnlyScope
	}
	return p.AppOnlyScope
}

// EffectiveAPIURL returns the base URL of the flow's mail API: its
// api_url, else the global endpoint of its transport ("" for smtp).
func (f *AuthFlow) EffectiveAPIURL() string {
	if f.APIURL != "" {
		return strings.TrimRight(f.APIURL, "/")
	}
	switch f.EffectiveTransport() {
	case TransportGraph:
		return GraphURL
	case TransportGmailAPI:
		return strings.TrimRight(GmailAPIURL, "/")
	}
	return ""
}

// ApplyPreset fills the fields of f that are empty from its preset: for
// a mail API transport, the scope that transport needs and its endpoint.
// It returns EInvalidFlowData for an unknown preset.
func (f *AuthFlow) ApplyPreset() error {
	f.SyncRate()
	if f.Transport == "" {
		f.Transport = TransportSMTP
	}
	if f.Kind != KindOAuth2 {
		return nil
	}
	if f.Preset == "" {
		f.Preset = PresetGeneric
	}
	p, ok := Presets()[f.Preset]
	if !ok {
		return FieldError(EInvalidFlowData, "preset", "unknown preset %q (microsoft365, gmail or generic)", f.Preset)
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	// A scope the preset filled for another transport is the one this
	// transport needs replaced (Graph and Outlook scopes cannot be
	// mixed); a scope typed by the administrator is kept.
	presetScope := func(s string) bool {
		if s == p.Scope {
			return true
		}
		for _, a := range p.APIs {
			if s == a.Scope || s == a.AppOnlyScope {
				return true
			}
		}
		return false
	}
	if api, ok := p.APIs[f.Transport]; ok {
		scope := api.Scope
		if f.grant() == GrantClientCredentials && api.AppOnlyScope != "" {
			scope = api.AppOnlyScope
		}
		if f.Scope == "" || presetScope(f.Scope) {
			f.Scope = scope
		}
		fill(&f.APIURL, api.APIURL)
	} else if f.Transport == TransportSMTP && f.Scope != "" && f.Scope != p.Scope && presetScope(f.Scope) {
		f.Scope = p.Scope
	}
	fill(&f.Scope, p.Scope)
	fill(&f.AuthURL, p.AuthURL)
	fill(&f.TokenURL, p.TokenURL)
	fill(&f.DeviceURL, p.DeviceURL)
	fill(&f.UserinfoURL, p.UserinfoURL)
	fill(&f.TokenAuthMethod, p.TokenAuthMethod)
	if f.SMTP.Host == "" {
		f.SMTP.Host = p.SMTP.Host
	}
	if f.SMTP.Port == 0 {
		f.SMTP.Port = p.SMTP.Port
	}
	if f.SMTP.Security == "" {
		f.SMTP.Security = p.SMTP.Security
	}
	if f.IMAP.Host == "" {
		f.IMAP.Host = p.IMAP.Host
	}
	if f.IMAP.Port == 0 {
		f.IMAP.Port = p.IMAP.Port
	}
	if f.IMAP.Security == "" {
		f.IMAP.Security = p.IMAP.Security
	}
	f.Limits.fill(p.Limits)
	if f.RatePerMinute == 0 {
		f.RatePerMinute = p.RatePerMinute
	}
	f.SyncRate()
	return nil
}

// Resolved returns a copy of f with "[tenant]" (and "{tenant}") replaced by
// the flow's tenant in its URLs, ready for the OAuth calls.
func (f AuthFlow) Resolved() AuthFlow {
	r := strings.NewReplacer("[tenant]", f.Tenant, "{tenant}", f.Tenant)
	f.AuthURL = r.Replace(f.AuthURL)
	f.TokenURL = r.Replace(f.TokenURL)
	f.DeviceURL = r.Replace(f.DeviceURL)
	return f
}

// Validate checks f as the store saves it and as the Test action checks it.
// It returns EInvalidFlowData naming the first wrong field and why.
func (f *AuthFlow) Validate() error {
	bad := func(field, format string, args ...any) error {
		return FieldError(EInvalidFlowData, field, format, args...)
	}
	if !ValidCode(f.Code) {
		return bad("code", "%q is not a valid code (1 to 64 letters, digits, '_', '-' or '.')", f.Code)
	}
	switch f.Kind {
	case KindSMTPBasic, KindOAuth2:
	default:
		return bad("kind", "%q is not smtp_basic or oauth2", f.Kind)
	}
	switch f.TokenAuthMethod {
	case "", TokenAuthAuto, TokenAuthBasic, TokenAuthPost, TokenAuthNone:
	default:
		return bad("token_auth_method", "%q is not auto, client_secret_basic, client_secret_post or none", f.TokenAuthMethod)
	}
	if err := f.validateTransport(); err != nil {
		return err
	}
	if f.Kind == KindOAuth2 {
		if _, ok := Presets()[f.Preset]; !ok {
			return bad("preset", "unknown preset %q (microsoft365, gmail or generic)", f.Preset)
		}
		switch f.Grant {
		case "", GrantAuthorizationCode, GrantClientCredentials, GrantJWTBearer:
		default:
			return bad("grant", "%q is not authorization_code, client_credentials or jwt_bearer", f.Grant)
		}
		if f.Grant != GrantJWTBearer && strings.TrimSpace(f.ClientID) == "" {
			return bad("client_id", "the client ID is required; copy it from the provider's app registration")
		}
		if f.TokenAuthMethod == TokenAuthBasic && f.Grant != GrantJWTBearer && !f.ClientSecretSet && f.ClientSecret == "" {
			return bad("client_secret", "client_secret_basic sends the client secret: enter it, or choose token_auth_method none for a public client")
		}
		if f.TokenAuthMethod == TokenAuthNone && f.Grant == GrantClientCredentials {
			return bad("token_auth_method", "the client_credentials grant authenticates the client: none sends no secret (choose auto, client_secret_basic or client_secret_post)")
		}
		if f.Grant == GrantJWTBearer && !f.ServiceAccountKeySet && f.ServiceAccountKey == "" {
			return bad("service_account_key", "a Google service account key (JSON) is required for the jwt_bearer grant")
		}
		if f.Preset == PresetMicrosoft365 && strings.TrimSpace(f.Tenant) == "" {
			return bad("tenant", "the tenant is required for Microsoft 365 (the directory's id or domain, or common/organizations)")
		}
		if strings.TrimSpace(f.Scope) == "" {
			return bad("scope", "the scope is required")
		}
		if f.Preset == PresetMicrosoft365 && f.grant() == GrantAuthorizationCode && !strings.Contains(f.Scope, "offline_access") {
			return bad("scope", "Microsoft 365 gives no refresh token without offline_access in the scope")
		}
		if f.Preset == PresetMicrosoft365 && strings.Contains(f.Scope, "graph.microsoft.com") && strings.Contains(f.Scope, "outlook.office") {
			return bad("scope", "Graph and Outlook scopes cannot be mixed in one request (AADSTS70011)")
		}
		if f.grant() == GrantAuthorizationCode {
			if err := checkURL(f.AuthURL); err != nil {
				return bad("auth_url", "%v", err)
			}
		}
		if err := checkURL(f.TokenURL); err != nil {
			return bad("token_url", "%v", err)
		}
		if f.RedirectURL != "" {
			if err := checkURL(f.RedirectURL); err != nil {
				return bad("redirect_url", "%v", err)
			}
		}
	}
	if err := f.validateSMTP(); err != nil {
		return err
	}
	if f.IMAP.Enabled && (strings.TrimSpace(f.IMAP.Host) == "") {
		return bad("imap.host", "the IMAP server name is required to read reports (outlook.office365.com, imap.gmail.com)")
	}
	if strings.ContainsAny(f.IMAP.Host, " /\r\n") {
		return bad("imap.host", "%q is not a server name", f.IMAP.Host)
	}
	if f.IMAP.Port < 0 || f.IMAP.Port > 65535 || f.IMAP.Enabled && f.IMAP.Port == 0 {
		return bad("imap.port", "%d is not a port (993 for TLS, 143 for STARTTLS)", f.IMAP.Port)
	}
	switch f.IMAP.Security {
	case SecuritySTARTTLS, SecurityTLS, SecurityNone:
	case "":
		if f.IMAP.Enabled {
			return bad("imap.security", "tls, starttls or none is required to read reports")
		}
	default:
		return bad("imap.security", "%q is not tls, starttls or none", f.IMAP.Security)
	}
	if f.GenericMailbox.Enabled {
		if _, err := ParseAddress(f.GenericMailbox.Email); err != nil {
			return bad("generic_mailbox.email", "%q is not a valid e-mail address", f.GenericMailbox.Email)
		}
	}
	if (f.Grant == GrantClientCredentials || f.Grant == GrantJWTBearer) && !f.GenericMailbox.Enabled {
		return bad("generic_mailbox", "app-only grants send from a shared mailbox: enable the generic mailbox and give its address")
	}
	if f.MaxAttachmentsMB < 0 || f.MaxAttachmentsMB > 1024 {
		return bad("max_attachments_mb", "%d is not between 0 (no limit) and 1024", f.MaxAttachmentsMB)
	}
	if f.RatePerMinute < 0 {
		return bad("rate_per_minute", "must not be negative")
	}
	if err := f.Limits.validate(); err != nil {
		return err
	}
	for _, o := range f.Operators {
		if !ValidCode(o) {
			return bad("operators", "%q is not a valid operator code", o)
		}
	}
	for _, g := range f.Groups {
		if !ValidCode(g) {
			return bad("groups", "%q is not a valid group code", g)
		}
	}
	return nil
}

// validateSMTP checks the SMTP server of a flow that sends over SMTP; a
// flow on a mail API may keep one (to switch back) or none.
func (f *AuthFlow) validateSMTP() error {
	bad := func(field, format string, args ...any) error {
		return FieldError(EInvalidFlowData, field, format, args...)
	}
	if f.EffectiveTransport() != TransportSMTP && f.SMTP == (SMTPServer{}) {
		return nil
	}
	if strings.TrimSpace(f.SMTP.Host) == "" || strings.ContainsAny(f.SMTP.Host, " /\r\n") {
		return bad("smtp.host", "the SMTP server name is required")
	}
	if f.SMTP.Port < 1 || f.SMTP.Port > 65535 {
		return bad("smtp.port", "%d is not a port (587 for STARTTLS, 465 for TLS)", f.SMTP.Port)
	}
	switch f.SMTP.Security {
	case SecuritySTARTTLS, SecurityTLS, SecurityNone:
	default:
		return bad("smtp.security", "%q is not starttls, tls or none", f.SMTP.Security)
	}
	return nil
}

// validateTransport checks the transport and, for a mail API, that the
// flow is OAuth 2.0 with a provider and a scope that API takes.
func (f *AuthFlow) validateTransport() error {
	bad := func(field, format string, args ...any) error {
		return FieldError(EInvalidFlowData, field, format, args...)
	}
	t := f.EffectiveTransport()
	switch t {
	case TransportSMTP:
		return nil
	case TransportGraph, TransportGmailAPI:
	default:
		return bad("transport", "%q is not smtp, graph or gmail_api", f.Transport)
	}
	if f.Kind != KindOAuth2 {
		return bad("transport", "the %s transport authenticates with OAuth 2.0 tokens: choose the oauth2 kind", t)
	}
	if f.APIURL != "" {
		if err := checkURL(f.APIURL); err != nil {
			return bad("api_url", "%v", err)
		}
	}
	switch {
	case t == TransportGraph && f.Preset == PresetGmail:
		return bad("transport", "Microsoft Graph sends for Microsoft 365 mailboxes: choose the microsoft365 preset, or gmail_api for Gmail")
	case t == TransportGmailAPI && f.Preset == PresetMicrosoft365:
		return bad("transport", "the Gmail API sends for Google mailboxes: choose the gmail preset, or graph for Microsoft 365")
	case t == TransportGraph && f.Preset == PresetMicrosoft365 && !strings.Contains(f.Scope, "graph.microsoft.com"):
		want := ScopeGraphSend
		if f.grant() == GrantClientCredentials {
			want = ScopeGraphAppOnly
		}
		return bad("scope", "the graph transport needs a Microsoft Graph scope (%s), not the Outlook SMTP one: change the scope, then consent again", want)
	case t == TransportGmailAPI && f.Preset == PresetGmail && !strings.Contains(f.Scope, "auth/gmail.send") &&
		!strings.Contains(f.Scope, "mail.google.com") && !strings.Contains(f.Scope, "auth/gmail.compose") && !strings.Contains(f.Scope, "auth/gmail.modify"):
		return bad("scope", "the gmail_api transport needs the scope %s: change the scope, then consent again", ScopeGmailSend)
	}
	return nil
}

func (f *AuthFlow) grant() string {
	if f.Grant == "" {
		return GrantAuthorizationCode
	}
	return f.Grant
}

// EffectiveGrant returns the flow's grant, authorization_code when unset.
func (f *AuthFlow) EffectiveGrant() string { return f.grant() }

// EffectiveTokenAuthMethod returns the flow's token_auth_method, auto when
// unset.
func (f *AuthFlow) EffectiveTokenAuthMethod() string {
	if f.TokenAuthMethod == "" {
		return TokenAuthAuto
	}
	return f.TokenAuthMethod
}

// MaxAttachmentsBytes returns the flow's attachment limit in bytes, 0 for none.
func (f *AuthFlow) MaxAttachmentsBytes() int64 { return int64(f.MaxAttachmentsMB) << 20 }

func checkURL(s string) error {
	if s == "" {
		return Errorf(EInvalidFlowData, "the URL is required")
	}
	u, err := url.Parse(strings.NewReplacer("[tenant]", "t", "{tenant}", "t").Replace(s))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Errorf(EInvalidFlowData, "%q is not an http(s) URL", s)
	}
	return nil
}
