package ui

import (
	"net/http"
	"strings"
	"time"

	"envoi"
)

type operatorRow struct {
	Op    *envoi.Operator
	Flow  string
	Token string // valid, consent_required, never_consented or "" when none is needed
}

type operatorsData struct {
	Rows  []operatorRow
	Flows int
}

// flowsByOperator maps each operator to the code of their flow, directly
// or through their group.
func flowsByOperator(flows []*envoi.AuthFlow, ops []*envoi.Operator) map[string]*envoi.AuthFlow {
	out := map[string]*envoi.AuthFlow{}
	byGroup := map[string]*envoi.AuthFlow{}
	for _, f := range flows {
		for _, o := range f.Operators {
			out[o] = f
		}
		for _, g := range f.Groups {
			byGroup[g] = f
		}
	}
	for _, o := range ops {
		if _, ok := out[o.Code]; !ok && o.Group != "" && byGroup[o.Group] != nil {
			out[o.Code] = byGroup[o.Group]
		}
	}
	return out
}

// needsConsent reports whether sending as op through f takes a token the
// operator consents for.
func needsConsent(f *envoi.AuthFlow) bool {
	return f != nil && f.Kind == envoi.KindOAuth2 && f.EffectiveGrant() == envoi.GrantAuthorizationCode
}

// tokenKey is the key of the token op sends with through f: the flow's own
// for a generic mailbox.
func tokenKey(f *envoi.AuthFlow, operator string) envoi.TokenKey {
	if f.GenericMailbox.Enabled || f.EffectiveGrant() != envoi.GrantAuthorizationCode {
		return envoi.TokenKey{Flow: f.Code}
	}
	return envoi.TokenKey{Flow: f.Code, Operator: operator}
}

func (s *Server) listOperators(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ops, err := s.Store.Operators(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	flows, err := s.Store.AuthFlows(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	tokens, err := s.Store.Tokens(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	status := map[envoi.TokenKey]string{}
	for _, t := range tokens {
		status[envoi.TokenKey{Flow: t.Flow, Operator: t.Operator}] = t.Status
	}
	byOp := flowsByOperator(flows, ops)
	d := operatorsData{Flows: len(flows)}
	for _, o := range ops {
		row := operatorRow{Op: o}
		if f := byOp[o.Code]; f != nil {
			row.Flow = f.Code
			if needsConsent(f) && (o.OAuthEnabled || f.GenericMailbox.Enabled) {
				row.Token = "never_consented"
				if st, ok := status[tokenKey(f, o.Code)]; ok {
					row.Token = st
				}
			}
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, http.StatusOK, "operators", s.newPage(w, r, "operators", d))
}

type operatorData struct {
	Op      *envoi.Operator
	New     bool
	Admin   bool
	Groups  []*envoi.Group
	Flow    *envoi.AuthFlow
	FlowErr *errView
	// Consent is true when the operator's flow takes a consent; Token is
	// the stored token then (nil: never consented).
	Consent bool
	Generic bool
	Token   *envoi.Token
	Now     time.Time
}

func (s *Server) operatorPage(w http.ResponseWriter, r *http.Request, status int, op *envoi.Operator, isNew bool, err error) {
	ctx := r.Context()
	lang := s.language(w, r)
	d := operatorData{Op: op, New: isNew, Admin: current(r).Role == envoi.RoleAdmin, Now: s.now()}
	if d.Admin {
		groups, gerr := s.Store.Groups(ctx)
		if gerr != nil {
			s.renderError(w, r, gerr)
			return
		}
		d.Groups = groups
	}
	if !isNew {
		f, ferr := s.Store.FlowForOperator(ctx, op.Code)
		switch {
		case ferr == nil:
			d.Flow = f
			d.Consent = needsConsent(f)
			d.Generic = f.GenericMailbox.Enabled
			if d.Consent {
				if t, terr := s.Store.Token(ctx, tokenKey(f, op.Code)); terr == nil {
					d.Token = t
				}
			}
		case envoi.ErrorCode(ferr) == envoi.ENoFlowForOperator:
			d.FlowErr = s.errView(ferr, lang)
		default:
			s.renderError(w, r, ferr)
			return
		}
	}
	op.SMTPPassword = ""
	p := s.newPage(w, r, "operators", d)
	p.Err = s.errView(err, p.Lang)
	p.Fields = s.fieldErrs(p.Lang, []error{err})
	if p.Err != nil {
		p.Err.Fields = p.Fields
	}
	s.render(w, status, "operator", p)
}

func (s *Server) newOperator(w http.ResponseWriter, r *http.Request) {
	s.operatorPage(w, r, http.StatusOK, &envoi.Operator{}, true, nil)
}

func (s *Server) editOperator(w http.ResponseWriter, r *http.Request) {
	op, err := s.Store.Operator(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.operatorPage(w, r, http.StatusOK, op, false, nil)
}

// saveOperator creates or updates an operator. An operator user changes
// only their e-mail tab's texts, SMTP password and OAuth switch; the
// address, name and group are the administrator's.
func (s *Server) saveOperator(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	code := r.PathValue("code")
	isNew := code == ""
	admin := current(r).Role == envoi.RoleAdmin
	op := &envoi.Operator{Code: v("code")}
	var err error
	if isNew {
		switch _, gerr := s.Store.Operator(ctx, op.Code); {
		case !envoi.ValidCode(op.Code):
			err = envoi.FieldError(envoi.EInvalidInput, "code", "%q is not a valid code (1 to 64 letters, digits, '_', '-' or '.')", op.Code)
		case gerr == nil:
			err = envoi.FieldError(envoi.EConflict, "code", "an operator with the code %s already exists", op.Code)
		case envoi.ErrorCode(gerr) != envoi.ENotFound:
			err = gerr
		}
	} else {
		op, err = s.Store.Operator(ctx, code)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
	}
	if admin {
		op.Name, op.Email, op.Group, op.Language = v("name"), v("email"), v("group"), r.PostFormValue("language")
	}
	op.FooterText = r.PostFormValue("footer_text")
	op.SignatureHTML = r.PostFormValue("signature_html")
	op.OAuthEnabled = r.PostFormValue("oauth_enabled") == "on"
	op.SMTPPassword = r.PostFormValue("smtp_password")
	op.ClearSMTPPassword = r.PostFormValue("clear_smtp_password") == "on"
	if err == nil {
		err = s.Store.PutOperator(ctx, op)
	}
	if err != nil {
		s.operatorPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), op, isNew, err)
		return
	}
	s.done(w, r, "/operators/"+op.Code, "flash.operator_saved", op.Code)
}

func (s *Server) deleteOperator(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if err := s.Store.DeleteOperator(r.Context(), code); err != nil {
		s.failTo(w, r, "/operators/"+code, err)
		return
	}
	s.done(w, r, "/operators", "flash.deleted", "")
}

// authenticateOperator runs the operator's consent: to the provider and
// back to envoi's callback, whose page leads back to the operator's tab.
func (s *Server) authenticateOperator(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	code := r.PathValue("code")
	back := "/operators/" + code
	op, err := s.Store.Operator(ctx, code)
	if err != nil {
		s.failTo(w, r, back, err)
		return
	}
	f, err := s.Store.FlowForOperator(ctx, code)
	if err != nil {
		s.failTo(w, r, back, err)
		return
	}
	if !op.OAuthEnabled && !f.GenericMailbox.Enabled {
		s.failTo(w, r, back, envoi.FieldError(envoi.EInvalidInput, "oauth_enabled", "OAuth is off for operator %s: switch it on and save first", code))
		return
	}
	s.startConsent(w, r, f.Code, code, back)
}
