package ui

import (
	"net/http"
	"time"

	"envoi"
)

// step is one item of the dashboard's getting-started list.
type step struct {
	Key  string // catalogue key of its text
	Link string
	Done bool
}

type homeData struct {
	Flows, Operators, Companies, MailSettings, ActiveKeys int
	NeedConsent, Failed, Waiting                          int
	Steps                                                 []step
	AllDone                                               bool
}

// home is the administrator's dashboard: counts, what needs attention, and
// what to do first on a new installation. An operator lands on their own
// e-mail tab instead.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	u := current(r)
	if u.Role != envoi.RoleAdmin {
		http.Redirect(w, r, homeOf(u), http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	var d homeData
	flows, err := s.Store.AuthFlows(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	ops, err := s.Store.Operators(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	companies, err := s.Store.Companies(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	settings, err := s.Store.MailSettings(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	keys, err := s.Store.APIKeys(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d.Flows, d.Operators, d.Companies, d.MailSettings = len(flows), len(ops), len(companies), len(settings)
	// The mail settings of the mails envoi sends by itself (consent
	// alerts, password recovery) come with envoi: a fresh install has
	// written none of the ERP's.
	written := 0
	for _, m := range settings {
		if m.DocumentFlow != ownConsentAlertFlow && m.DocumentFlow != RecoveryFlow {
			written++
		}
	}
	for _, k := range keys {
		if k.RevokedAt.IsZero() {
			d.ActiveKeys++
		}
	}
	health, err := s.health(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	for _, h := range health {
		if h.NeedsConsent {
			d.NeedConsent++
		}
	}
	week := s.now().Add(-7 * 24 * time.Hour)
	failed, err := s.Store.Messages(ctx, envoi.MessageFilter{Status: envoi.StatusFailed, Since: week, Limit: 1000})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d.Failed = len(failed)
	for _, st := range []string{envoi.StatusQueued, envoi.StatusRetrying, envoi.StatusConsentRequired} {
		list, err := s.Store.Messages(ctx, envoi.MessageFilter{Status: st, Limit: 1000})
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		d.Waiting += len(list)
	}
	assigned := false
	for _, f := range flows {
		if len(f.Operators)+len(f.Groups) > 0 {
			assigned = true
		}
	}
	set, err := s.Store.Settings(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d.Steps = []step{
		{"home.step_flow", "/auth-flows/new", d.Flows > 0},
		{"home.step_operator", "/operators/new", d.Operators > 0 && assigned},
		{"home.step_consent", "/tokens", d.Operators > 0 && d.NeedConsent == 0},
		{"home.step_company", "/companies/new", d.Companies > 0},
		{"home.step_mail", "/mail-settings", written > 0},
		{"home.step_key", "/api-keys", d.ActiveKeys > 0},
		{"home.step_recovery", "/settings", set[SettingSystemSender] != ""},
	}
	d.AllDone = true
	for _, st := range d.Steps {
		d.AllDone = d.AllDone && st.Done
	}
	s.render(w, http.StatusOK, "home", s.newPage(w, r, "home", d))
}

// health returns the token states: the OAuth service's view when wired,
// else the stored tokens.
func (s *Server) health(r *http.Request) ([]TokenState, error) {
	if s.Health != nil {
		return s.Health(r.Context())
	}
	tokens, err := s.Store.Tokens(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]TokenState, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, TokenState{
			Flow: t.Flow, Operator: t.Operator, Email: t.Email, Status: t.Status,
			NeedsConsent: t.Status == envoi.TokenConsentRequired, Since: t.StatusChanged,
			LastError: t.LastError, Expiry: t.Expiry, RefreshedAt: t.RefreshedAt, ConsentedAt: t.ConsentedAt,
		})
	}
	return out, nil
}

// ownConsentAlertFlow is the document flow of the consent alert envoi
// mails by itself (notice.ConsentAlertFlow), whose mail setting is built in.
const ownConsentAlertFlow = "CONSENT_REQUIRED"
