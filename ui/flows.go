package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"envoi"
)

// presetOrder is the order of the preset picker.
var presetOrder = []string{envoi.PresetMicrosoft365, envoi.PresetGmail, envoi.PresetGeneric}

type flowsData struct {
	Flows   []*envoi.AuthFlow
	Presets []envoi.Preset
}

func orderedPresets() []envoi.Preset {
	all := envoi.Presets()
	out := make([]envoi.Preset, 0, len(presetOrder))
	for _, c := range presetOrder {
		out = append(out, all[c])
	}
	return out
}

func (s *Server) listFlows(w http.ResponseWriter, r *http.Request) {
	flows, err := s.Store.AuthFlows(r.Context())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "flows", s.newPage(w, r, "flows", flowsData{Flows: flows, Presets: orderedPresets()}))
}

// testView is the outcome of a flow's Test action, or its progress when
// it runs in the background (ID set): Running is the step under way.
type testView struct {
	Flow     string
	ID       string
	Operator string
	Done     bool
	OK       bool
	Steps    []envoi.TestStep
	Running  *envoi.TestStep
	Err      *errView
}

type flowData struct {
	Flow        *envoi.AuthFlow
	New         bool
	Presets     []envoi.Preset
	PresetsJSON string
	Operators   []*envoi.Operator
	Groups      []*envoi.Group
	// Members are the operators of the flow, directly or by group: the
	// Test action's choices.
	Members     []string
	RedirectURI string
	Test        *testView
	Token       *envoi.Token // the generic mailbox's token
	// TokenAuthMethods are the choices of token_auth_method.
	TokenAuthMethods []string
	// Warnings are what the administrator should know about the stored
	// flow (internal addresses, security none towards another host).
	Warnings []envoi.FlowWarning
	// Errs are every wrong field of a refused save (flowErrors).
	Errs []error
	// Transports are the choices of transport.
	Transports []string
	// SMTPAuthDisabled: the flow sends over SMTP and the server said SMTP
	// AUTH is disabled (535 5.7.139), at its Test or for a recent message:
	// the page proposes the graph transport.
	SMTPAuthDisabled bool
}

// presetJSON is what the page's script fills the form with when the
// preset changes.
type presetJSON struct {
	Scope       string `json:"scope"`
	AuthURL     string `json:"auth_url"`
	TokenURL    string `json:"token_url"`
	RedirectURL string `json:"redirect_url"`
	SMTPHost    string `json:"smtp_host"`
	SMTPPort    int    `json:"smtp_port"`
	Security    string `json:"smtp_security"`
	Rate        int    `json:"rate_per_minute"`
	TokenAuth   string `json:"token_auth_method"`
	// Scopes are the scope each transport the preset offers needs.
	Scopes map[string]string `json:"scopes"`
}

func presetsJSON() string {
	m := map[string]presetJSON{}
	for c, p := range envoi.Presets() {
		scopes := map[string]string{envoi.TransportSMTP: p.Scope}
		for t, a := range p.APIs {
			scopes[t] = a.Scope
		}
		m[c] = presetJSON{Scope: p.Scope, AuthURL: p.AuthURL, TokenURL: p.TokenURL, SMTPHost: p.SMTP.Host, SMTPPort: p.SMTP.Port, Security: p.SMTP.Security, Rate: p.RatePerMinute, TokenAuth: p.TokenAuthMethod, Scopes: scopes}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func (s *Server) flowPage(w http.ResponseWriter, r *http.Request, status int, d flowData, err error) {
	ctx := r.Context()
	ops, lerr := s.Store.Operators(ctx)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	groups, lerr := s.Store.Groups(ctx)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	d.Operators, d.Groups, d.Presets, d.PresetsJSON = ops, groups, orderedPresets(), presetsJSON()
	d.RedirectURI = strings.TrimRight(s.PublicURL, "/") + "/oauth/callback"
	d.TokenAuthMethods = []string{envoi.TokenAuthAuto, envoi.TokenAuthBasic, envoi.TokenAuthPost, envoi.TokenAuthNone}
	members := map[string]bool{}
	for _, o := range d.Flow.Operators {
		members[o] = true
	}
	for _, o := range ops {
		for _, g := range d.Flow.Groups {
			if o.Group == g {
				members[o.Code] = true
			}
		}
	}
	for m := range members {
		d.Members = append(d.Members, m)
	}
	sort.Strings(d.Members)
	if !d.New && d.Flow.GenericMailbox.Enabled && d.Flow.Kind == envoi.KindOAuth2 {
		if t, err := s.Store.Token(ctx, envoi.TokenKey{Flow: d.Flow.Code}); err == nil {
			d.Token = t
		}
	}
	if !d.New && err == nil {
		d.Warnings = d.Flow.Warnings()
	}
	d.Transports = []string{envoi.TransportSMTP, envoi.TransportGraph, envoi.TransportGmailAPI}
	if !d.New && d.Flow.EffectiveTransport() == envoi.TransportSMTP {
		d.SMTPAuthDisabled = d.Test != nil && d.Test.Err != nil && d.Test.Err.Code == envoi.ESMTPAuthDisabled
		if !d.SMTPAuthDisabled {
			d.SMTPAuthDisabled = s.recentAuthDisabled(ctx, d.Flow.Code)
		}
	}
	d.Flow.ClientSecret, d.Flow.ServiceAccountKey = "", ""
	p := s.newPage(w, r, "flows", d)
	p.Err = s.errView(err, p.Lang)
	if err != nil {
		p.Fields = s.fieldErrs(p.Lang, d.Errs)
		if p.Fields == nil {
			p.Fields = s.fieldErrs(p.Lang, []error{err})
		}
	}
	if p.Err != nil {
		p.Err.Fields = p.Fields
	}
	s.render(w, status, "flow", p)
}

// recentAuthDisabled reports whether a message of flow failed, or waits
// to be retried, because its SMTP server has SMTP AUTH disabled.
func (s *Server) recentAuthDisabled(ctx context.Context, flow string) bool {
	for _, st := range []string{envoi.StatusFailed, envoi.StatusRetrying} {
		list, err := s.Store.Messages(ctx, envoi.MessageFilter{Status: st, Limit: 200})
		if err != nil {
			return false
		}
		for _, m := range list {
			if m.Flow == flow && m.ErrorCode == envoi.ESMTPAuthDisabled {
				return true
			}
		}
	}
	return false
}

// newFlow shows the preset picker and the form filled from the chosen
// preset (Microsoft 365 unless told), or a basic SMTP flow.
func (s *Server) newFlow(w http.ResponseWriter, r *http.Request) {
	f := &envoi.AuthFlow{Kind: envoi.KindOAuth2, Preset: r.URL.Query().Get("preset"), MaxAttachmentsMB: 25}
	switch f.Preset {
	case "smtp":
		f.Kind, f.Preset = envoi.KindSMTPBasic, ""
		f.SMTP = envoi.SMTPServer{Port: 587, Security: envoi.SecuritySTARTTLS}
	case envoi.PresetMicrosoft365, envoi.PresetGmail, envoi.PresetGeneric:
	default:
		f.Preset = envoi.PresetMicrosoft365
	}
	if f.Kind == envoi.KindOAuth2 {
		_ = f.ApplyPreset()
		if f.SMTP.Port == 0 {
			f.SMTP = envoi.SMTPServer{Port: 587, Security: envoi.SecuritySTARTTLS}
		}
	}
	s.flowPage(w, r, http.StatusOK, flowData{Flow: f, New: true}, nil)
}

func (s *Server) editFlow(w http.ResponseWriter, r *http.Request) {
	f, err := s.Store.AuthFlow(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.flowPage(w, r, http.StatusOK, flowData{Flow: f}, nil)
}

// flowForm reads the flow's form. Secrets left empty keep the stored ones.
func flowForm(r *http.Request) (*envoi.AuthFlow, error) {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := &envoi.AuthFlow{
		Code: v("code"), Name: v("name"), Kind: v("kind"), Preset: v("preset"),
		Scope: v("scope"), AuthURL: v("auth_url"), TokenURL: v("token_url"),
		ClientID: v("client_id"), ClientSecret: r.PostFormValue("client_secret"), Tenant: v("tenant"),
		RedirectURL: v("redirect_url"), Grant: v("grant"), ServiceAccountKey: r.PostFormValue("service_account_key"),
		TokenAuthMethod: v("token_auth_method"),
		Transport:       v("transport"), APIURL: v("api_url"),
		SMTP:           envoi.SMTPServer{Host: v("smtp_host"), Security: v("smtp_security")},
		GenericMailbox: envoi.GenericMailbox{Enabled: r.PostFormValue("generic_enabled") == "on", Email: v("generic_email")},
		IMAP:           envoi.IMAPServer{Enabled: r.PostFormValue("imap_enabled") == "on", Host: v("imap_host"), Security: v("imap_security")},
		Operators:      r.PostForm["operators"],
		Groups:         r.PostForm["groups"],
	}
	if code := r.PathValue("code"); code != "" {
		f.Code = code
	}
	if f.Operators == nil {
		f.Operators = []string{}
	}
	if f.Groups == nil {
		f.Groups = []string{}
	}
	var bad error
	ints := []struct {
		field string
		dst   *int
	}{{"smtp_port", &f.SMTP.Port}, {"imap_port", &f.IMAP.Port}, {"max_attachments_mb", &f.MaxAttachmentsMB}, {"rate_per_minute", &f.RatePerMinute},
		{"limits.connections", &f.Limits.Connections}, {"limits.messages_per_day", &f.Limits.MessagesPerDay},
		{"limits.recipients_per_day", &f.Limits.RecipientsPerDay}, {"limits.recipients_per_message", &f.Limits.RecipientsPerMessage}}
	for _, i := range ints {
		raw := v(i.field)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			// The other numbers are read all the same: the page shows
			// what was typed (flowErrors names every wrong one).
			if bad == nil {
				bad = envoi.FieldError(envoi.EInvalidFlowData, strings.NewReplacer("smtp_", "smtp.", "imap_", "imap.").Replace(i.field), "%q is not a whole number", raw)
			}
			continue
		}
		*i.dst = n
	}
	return f, bad
}

// saveFlow creates (POST /auth-flows) or updates (POST /auth-flows/{code})
// a flow. Creating refuses a code already used, rather than overwrite it.
func (s *Server) saveFlow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	isNew := r.PathValue("code") == ""
	f, err := flowForm(r)
	if err == nil && isNew {
		if !envoi.ValidCode(f.Code) {
			err = envoi.FieldError(envoi.EInvalidFlowData, "code", "%q is not a valid code (1 to 64 letters, digits, '_', '-' or '.')", f.Code)
		} else if _, gerr := s.Store.AuthFlow(ctx, f.Code); gerr == nil {
			err = envoi.FieldError(envoi.EConflict, "code", "a flow with the code %s already exists", f.Code)
		} else if envoi.ErrorCode(gerr) != envoi.ENotFound {
			err = gerr
		}
	}
	if err == nil && !isNew {
		if old, gerr := s.Store.AuthFlow(ctx, f.Code); gerr != nil {
			err = gerr
		} else {
			f.ClientSecretSet, f.ServiceAccountKeySet = old.ClientSecretSet, old.ServiceAccountKeySet
			f.UpdatedAt = old.UpdatedAt
		}
	}
	if err == nil {
		err = s.Store.PutAuthFlow(ctx, f)
	}
	if err != nil {
		s.flowPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), flowData{Flow: f, New: isNew, Errs: flowErrors(r, f, err)}, err)
		return
	}
	if f.Dropped.Code != "" {
		s.done(w, r, "/auth-flows/"+f.Code, "flash.flow_saved_dropped", f.Code)
		return
	}
	s.done(w, r, "/auth-flows/"+f.Code, "flash.flow_saved", f.Code)
}

func (s *Server) deleteFlow(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if err := s.Store.DeleteAuthFlow(r.Context(), code); err != nil {
		s.failTo(w, r, "/auth-flows/"+code, err)
		return
	}
	s.done(w, r, "/auth-flows", "flash.deleted", "")
}

// testFlow runs the flow's Test action for the operator chosen and shows
// each step's outcome on the flow's page.
func (s *Server) testFlow(w http.ResponseWriter, r *http.Request) {
	f, err := s.Store.AuthFlow(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if s.Tester == nil {
		s.failTo(w, r, "/auth-flows/"+f.Code, envoi.Errorf(envoi.EUnavailable, "the Test action is not running in this process"))
		return
	}
	operator := r.PostFormValue("operator")
	res, terr := s.Tester.Test(r.Context(), f.Code, operator)
	if terr != nil && res.Error == nil {
		res.Error = envoi.AsError(terr)
	}
	tv := &testView{Flow: f.Code, Operator: operator, Done: true, OK: res.OK && res.Error == nil, Steps: res.Steps}
	lang := s.language(w, r)
	if res.Error != nil {
		tv.Err = s.errView(res.Error, lang)
	}
	s.flowPage(w, r, http.StatusOK, flowData{Flow: f, Test: tv}, nil)
}

// authenticateFlow starts the administrator's consent for a flow's generic
// mailbox; the provider comes back to envoi's callback, whose page leads
// back to the flow.
func (s *Server) authenticateFlow(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	s.startConsent(w, r, code, "", "/auth-flows/"+code)
}

func (s *Server) startConsent(w http.ResponseWriter, r *http.Request, flow, operator, back string) {
	if s.Consent == nil {
		s.failTo(w, r, back, envoi.Errorf(envoi.EUnavailable, "OAuth consent is not running in this process"))
		return
	}
	u, err := s.Consent.StartConsent(r.Context(), flow, operator, back)
	if err != nil {
		s.failTo(w, r, back, err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}
