package ui

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"envoi"
)

type companiesData struct {
	Companies []*envoi.Company
}

func (s *Server) listCompanies(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Companies(r.Context())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "companies", s.newPage(w, r, "companies", companiesData{Companies: list}))
}

type companyData struct {
	Company  *envoi.Company
	New      bool
	MaxLogo  int64
	HasLogo  bool
	LogoSize int64
}

func (s *Server) companyPage(w http.ResponseWriter, r *http.Request, status int, c *envoi.Company, isNew bool, err error) {
	d := companyData{Company: c, New: isNew, MaxLogo: envoi.MaxLogoBytes, HasLogo: len(c.Logo) > 0, LogoSize: int64(len(c.Logo))}
	p := s.newPage(w, r, "companies", d)
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "company", p)
}

func (s *Server) newCompany(w http.ResponseWriter, r *http.Request) {
	s.companyPage(w, r, http.StatusOK, &envoi.Company{}, true, nil)
}

func (s *Server) editCompany(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.Company(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.companyPage(w, r, http.StatusOK, c, false, nil)
}

// readLogo returns the uploaded logo and its type, nil when none was sent.
// It must be a PNG or JPEG image, at most envoi.MaxLogoBytes, within the
// dimensions envoi.CheckLogo allows.
func readLogo(r *http.Request) ([]byte, string, error) {
	file, hdr, err := r.FormFile("logo")
	if errors.Is(err, http.ErrMissingFile) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", envoi.FieldError(envoi.EInvalidInput, "logo", "the upload cannot be read: %v", err)
	}
	defer file.Close()
	if hdr.Size == 0 && hdr.Filename == "" {
		return nil, "", nil
	}
	b, err := io.ReadAll(io.LimitReader(file, envoi.MaxLogoBytes+1))
	if err != nil {
		return nil, "", envoi.FieldError(envoi.EInvalidInput, "logo", "the upload cannot be read: %v", err)
	}
	if len(b) == 0 {
		return nil, "", nil
	}
	if len(b) > envoi.MaxLogoBytes {
		return nil, "", envoi.FieldError(envoi.EInvalidInput, "logo", "the logo is over %d KB (%s); the limit is %d KB", envoi.MaxLogoBytes>>10, formatSize(hdr.Size), envoi.MaxLogoBytes>>10).
			WithDetail("limit_bytes", envoi.MaxLogoBytes)
	}
	ct := http.DetectContentType(b)
	if ct != "image/png" && ct != "image/jpeg" {
		return nil, "", envoi.FieldError(envoi.EInvalidInput, "logo", "the logo is %s; it must be a PNG or JPEG image", ct)
	}
	// The rules of every save (dimensions, a whole decode), in one place.
	if ct, err = envoi.CheckLogo(b); err != nil {
		return nil, "", err
	}
	return b, ct, nil
}

// saveCompany creates or updates a company; the logo is kept unless a new
// one is uploaded or "remove" is ticked.
func (s *Server) saveCompany(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	code := r.PathValue("code")
	isNew := code == ""
	c := &envoi.Company{Code: v("code")}
	var err error
	if isNew {
		switch _, gerr := s.Store.Company(ctx, c.Code); {
		case !envoi.ValidCode(c.Code):
			err = envoi.FieldError(envoi.EInvalidInput, "code", "%q is not a valid code (1 to 64 letters, digits, '_', '-' or '.')", c.Code)
		case gerr == nil:
			err = envoi.FieldError(envoi.EConflict, "code", "a company with the code %s already exists", c.Code)
		case envoi.ErrorCode(gerr) != envoi.ENotFound:
			err = gerr
		}
	} else if c, err = s.Store.Company(ctx, code); err != nil {
		s.renderError(w, r, err)
		return
	}
	c.Name, c.FooterText, c.Language, c.Currency, c.Address = v("name"), r.PostFormValue("footer_text"), v("language"), strings.ToUpper(v("currency")), r.PostFormValue("address")
	c.SignatureHTML = r.PostFormValue("signature_html")
	if r.PostFormValue("remove_logo") == "on" {
		c.Logo, c.LogoType = nil, ""
	}
	if err == nil {
		var logo []byte
		var ct string
		if logo, ct, err = readLogo(r); err == nil && logo != nil {
			c.Logo, c.LogoType = logo, ct
		}
	}
	if err == nil {
		err = s.Store.PutCompany(ctx, c)
	}
	if err != nil {
		s.companyPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), c, isNew, err)
		return
	}
	s.done(w, r, "/companies/"+c.Code, "flash.company_saved", c.Code)
}

// companyLogo serves a company's logo as stored.
func (s *Server) companyLogo(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.Company(r.Context(), r.PathValue("code"))
	if err == nil && len(c.Logo) == 0 {
		err = envoi.Errorf(envoi.ENotFound, "company %s has no logo", c.Code)
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", c.LogoType)
	h.Set("Content-Length", strconv.Itoa(len(c.Logo)))
	h.Set("Cache-Control", "private, no-cache")
	_, _ = w.Write(c.Logo)
}

func (s *Server) deleteCompany(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if err := s.Store.DeleteCompany(r.Context(), code); err != nil {
		s.failTo(w, r, "/companies/"+code, err)
		return
	}
	s.done(w, r, "/companies", "flash.deleted", "")
}
