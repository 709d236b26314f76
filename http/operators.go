package http

import (
	"net/http"

	"envoi"
)

type operatorInput struct {
	Name          string `json:"name"`
	Email         string `json:"email"`
	Group         string `json:"group"`
	FooterText    string `json:"footer_text"`
	SignatureHTML string `json:"signature_html"`
	OAuthEnabled  bool   `json:"oauth_enabled"`
	Language      string `json:"language"`
	// SMTPPassword is write-only: empty keeps the stored password.
	SMTPPassword string `json:"smtp_password"`
	// ClearSMTPPassword removes the stored password.
	ClearSMTPPassword bool `json:"clear_smtp_password"`
}

func (s *Server) putOperator(w http.ResponseWriter, r *http.Request) {
	old, err := stored(s.Store.Operator(r.Context(), r.PathValue("code")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in operatorInput
	if err := s.decodePut(w, r, &in, old); err != nil {
		s.writeError(w, r, err)
		return
	}
	o := &envoi.Operator{
		Code: r.PathValue("code"), Name: in.Name, Email: in.Email, Group: in.Group,
		FooterText: in.FooterText, SignatureHTML: in.SignatureHTML, OAuthEnabled: in.OAuthEnabled,
		Language: in.Language, SMTPPassword: in.SMTPPassword, ClearSMTPPassword: in.ClearSMTPPassword,
	}
	if err := o.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.PutOperator(r.Context(), o); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeOperator(w, r, o.Code)
}

func (s *Server) writeOperator(w http.ResponseWriter, r *http.Request, code string) {
	o, err := s.Store.Operator(r.Context(), code)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) getOperator(w http.ResponseWriter, r *http.Request) {
	s.writeOperator(w, r, r.PathValue("code"))
}

func (s *Server) listOperators(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Operators(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteOperator(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteOperator(r.Context(), r.PathValue("code")))
}

type groupInput struct {
	Name string `json:"name"`
}

func (s *Server) putGroup(w http.ResponseWriter, r *http.Request) {
	var in groupInput
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	g := &envoi.Group{Code: r.PathValue("code"), Name: in.Name}
	if err := g.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.PutGroup(r.Context(), g); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Groups(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteGroup(r.Context(), r.PathValue("code")))
}
