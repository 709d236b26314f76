package http

import (
	"encoding/base64"
	"net/http"

	"envoi"
)

type companyInput struct {
	Name          string  `json:"name"`
	FooterText    string  `json:"footer_text"`
	SignatureHTML string  `json:"signature_html"`
	LogoPNGBase64 *string `json:"logo_png_base64"`
	Language      string  `json:"language"`
	Currency      string  `json:"currency"`
	Address       string  `json:"address"`
}

type companyOutput struct {
	*envoi.Company
	LogoSet bool `json:"logo_set"`
}

func errNotFound(what, code string) error {
	return envoi.Errorf(envoi.ENotFound, "%s %q not found", what, code).WithDetail(what, code)
}

// putCompany upserts a company. An absent logo_png_base64 keeps the stored
// logo; an empty string removes it.
func (s *Server) putCompany(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	old, err := stored(s.Store.Company(r.Context(), code))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in companyInput
	if err := s.decodePut(w, r, &in, old); err != nil {
		s.writeError(w, r, err)
		return
	}
	c := &envoi.Company{Code: code, Name: in.Name, FooterText: in.FooterText, SignatureHTML: in.SignatureHTML, Language: in.Language, Currency: in.Currency, Address: in.Address}
	if in.LogoPNGBase64 == nil {
		if old != nil {
			c.Logo, c.LogoType = old.Logo, old.LogoType
		}
	} else if *in.LogoPNGBase64 != "" {
		logo, err := base64.StdEncoding.DecodeString(*in.LogoPNGBase64)
		if err != nil {
			s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, "logo_png_base64", "invalid base64"))
			return
		}
		// The type is the one the image decodes as, not a guess from its
		// first bytes; Validate checks the rest (envoi.CheckLogo).
		typ, err := envoi.CheckLogo(logo)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		c.Logo, c.LogoType = logo, typ
	}
	if err := c.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.PutCompany(r.Context(), c); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, companyOutput{c, len(c.Logo) > 0})
}

func (s *Server) getCompany(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.Company(r.Context(), r.PathValue("code"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, companyOutput{c, len(c.Logo) > 0})
}

func (s *Server) listCompanies(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Companies(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]companyOutput, len(list))
	for i, c := range list {
		out[i] = companyOutput{c, len(c.Logo) > 0}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteCompany(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteCompany(r.Context(), r.PathValue("code")))
}

func (s *Server) writeDeleted(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
