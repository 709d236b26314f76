package http

import (
	"encoding/json"
	"net/http"

	"envoi"
)

// authFlowInput is the body of PUT /v1/auth-flows/{code}: the flow's
// settings and its secrets, write-only (empty keeps the stored one).
type authFlowInput struct {
	envoi.AuthFlowSettings
	ClientSecret      string `json:"client_secret"`
	ServiceAccountKey string `json:"service_account_key"`
	// Warnings is read-only and ignored, so that a GET's answer can be
	// PUT back as other clients did before it was added.
	Warnings json.RawMessage `json:"warnings"`
}

func (s *Server) putAuthFlow(w http.ResponseWriter, r *http.Request) {
	old, err := stored(s.Store.AuthFlow(r.Context(), r.PathValue("code")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in authFlowInput
	if err := s.decodePut(w, r, &in, old, presetFilled); err != nil {
		s.writeError(w, r, err)
		return
	}
	f := in.AuthFlow(r.PathValue("code"), in.ClientSecret, in.ServiceAccountKey)
	if err := s.Store.PutAuthFlow(r.Context(), f); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeAuthFlow(w, r, f.Code, f.Dropped)
}

// authFlowOutput is a flow as the API shows it: with what its
// administrator should know (internal addresses, security none towards
// another host, and on the answer of a PUT the secrets it dropped).
type authFlowOutput struct {
	*envoi.AuthFlow
	Warnings []envoi.FlowWarning `json:"warnings"`
}

func newAuthFlowOutput(f *envoi.AuthFlow, dropped envoi.FlowWarning) authFlowOutput {
	out := authFlowOutput{AuthFlow: f, Warnings: []envoi.FlowWarning{}}
	if dropped.Code != "" {
		out.Warnings = append(out.Warnings, dropped)
	}
	out.Warnings = append(out.Warnings, f.Warnings()...)
	return out
}

func (s *Server) writeAuthFlow(w http.ResponseWriter, r *http.Request, code string, dropped envoi.FlowWarning) {
	f, err := s.Store.AuthFlow(r.Context(), code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newAuthFlowOutput(f, dropped))
}

func (s *Server) getAuthFlow(w http.ResponseWriter, r *http.Request) {
	s.writeAuthFlow(w, r, r.PathValue("code"), envoi.FlowWarning{})
}

func (s *Server) listAuthFlows(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.AuthFlows(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]authFlowOutput, len(list))
	for i, f := range list {
		out[i] = newAuthFlowOutput(f, envoi.FlowWarning{})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteAuthFlow(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteAuthFlow(r.Context(), r.PathValue("code")))
}

type presetOutput struct {
	Code        string           `json:"code"`
	Name        string           `json:"name"`
	Scope       string           `json:"scope"`
	AuthURL     string           `json:"auth_url"`
	TokenURL    string           `json:"token_url"`
	RedirectURL string           `json:"redirect_url"`
	SMTP        envoi.SMTPServer `json:"smtp"`
}

func (s *Server) listPresets(w http.ResponseWriter, r *http.Request) {
	var out []presetOutput
	for _, code := range []string{envoi.PresetMicrosoft365, envoi.PresetGmail, envoi.PresetGeneric} {
		p := envoi.Presets()[code]
		out = append(out, presetOutput{p.Code, p.Name, p.Scope, p.AuthURL, p.TokenURL, p.RedirectURL, p.SMTP})
	}
	writeJSON(w, http.StatusOK, out)
}

// presetFilled: a PUT that changes a flow's kind, preset or transport
// does not keep what the old one filled (scope, endpoints, servers,
// limits): the new one fills what the body leaves out.
var presetFilled = putReset{
	Triggers: []string{"kind", "preset", "transport"},
	Fields: []string{"scope", "auth_url", "token_url", "device_url", "userinfo_url", "smtp", "imap", "api_url",
		"limits", "rate_per_minute", "token_auth_method", "grant"},
}
