package ui

import (
	"net/http"
	"strings"

	"envoi"
)

type apiKeysData struct {
	Keys []*envoi.APIKey
	// NewKey is the key just made, shown this once.
	NewKey  string
	NewName string
	Active  int
}

func (s *Server) apiKeysPage(w http.ResponseWriter, r *http.Request, status int, d apiKeysData, err error) {
	keys, lerr := s.Store.APIKeys(r.Context())
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	d.Keys = keys
	for _, k := range keys {
		if k.RevokedAt.IsZero() {
			d.Active++
		}
	}
	p := s.newPage(w, r, "keys", d)
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "apikeys", p)
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	s.apiKeysPage(w, r, http.StatusOK, apiKeysData{}, nil)
}

// createAPIKey makes a key and shows it once, on the answer to the form;
// only its hash is stored.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if s.NewAPIKey == nil {
		s.apiKeysPage(w, r, http.StatusServiceUnavailable, apiKeysData{NewName: name}, envoi.Errorf(envoi.EUnavailable, "API keys cannot be made in this process"))
		return
	}
	if name == "" || len(name) > 100 {
		s.apiKeysPage(w, r, envoi.HTTPStatus(envoi.EInvalidInput), apiKeysData{NewName: name}, envoi.FieldError(envoi.EInvalidInput, "name", "a key needs a name of 1 to 100 characters (what it is for, e.g. erp-production)"))
		return
	}
	key, rec := s.NewAPIKey(name)
	if err := s.Store.CreateAPIKey(r.Context(), rec); err != nil {
		s.apiKeysPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), apiKeysData{NewName: name}, err)
		return
	}
	s.logger().Info("ui: API key created", "id", rec.ID, "name", name, "by", current(r).ID)
	s.apiKeysPage(w, r, http.StatusCreated, apiKeysData{NewKey: key, NewName: name}, nil)
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Store.RevokeAPIKey(r.Context(), id); err != nil {
		s.failTo(w, r, "/api-keys", err)
		return
	}
	s.logger().Info("ui: API key revoked", "id", id, "by", current(r).ID)
	s.done(w, r, "/api-keys", "flash.key_revoked", "")
}
