package ui

import (
	"net/http"
	"time"
)

type tokensData struct {
	Tokens      []TokenState
	NeedConsent int
	Now         time.Time
}

// listTokens is token health: who must consent again and since when, the
// provider's text, and the Authenticate button for each.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.health(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := tokensData{Tokens: list, Now: s.now()}
	for _, t := range list {
		if t.NeedsConsent {
			d.NeedConsent++
		}
	}
	s.render(w, http.StatusOK, "tokens", s.newPage(w, r, "tokens", d))
}
