package ui

import (
	"net/http"
	"strings"

	"envoi"
)

func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "account", s.newPage(w, r, "account", current(r)))
}

// saveAccount saves the signed-in user's name and language.
func (s *Server) saveAccount(w http.ResponseWriter, r *http.Request) {
	u := *current(r)
	u.Name = strings.TrimSpace(r.PostFormValue("name"))
	u.Language = r.PostFormValue("language")
	if err := s.Store.UpdateUser(r.Context(), &u); err != nil {
		p := s.newPage(w, r, "account", &u)
		p.Err = s.errView(err, p.Lang)
		s.render(w, envoi.HTTPStatus(p.Err.Code), "account", p)
		return
	}
	if envoi.KnownLanguage(u.Language) {
		http.SetCookie(w, s.cookie(langCookie, u.Language, 0))
	} else {
		http.SetCookie(w, s.cookie(langCookie, "", -1))
	}
	s.done(w, r, "/account", "flash.saved", "")
}

// changePassword changes the signed-in user's password. The current one is
// required (a wrong one counts as a failed sign-in); every other session of
// the user ends, this one is renewed.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := current(r)
	fail := func(err error) {
		p := s.newPage(w, r, "account", u)
		p.Err = s.errView(err, p.Lang)
		s.render(w, envoi.HTTPStatus(p.Err.Code), "account", p)
	}
	if !CheckPassword(u.PasswordHash, r.PostFormValue("current")) {
		after, err := s.Store.RecordLoginFailure(ctx, u.ID, s.maxFailed(), s.now().Add(s.lockout()))
		if err == nil && after.LockedUntil.After(s.now()) {
			_ = s.endSession(w, r)
			fail(envoi.Errorf(envoi.ELockedOut, "too many wrong passwords"))
			return
		}
		fail(envoi.FieldError(envoi.EInvalidInput, "current", "the current password is wrong"))
		return
	}
	password := r.PostFormValue("password")
	if err := CheckPasswordStrength(password); err != nil {
		fail(err)
		return
	}
	if password != r.PostFormValue("password2") {
		fail(envoi.FieldError(envoi.EInvalidInput, "password2", "the two passwords differ"))
		return
	}
	hash, err := HashPassword(password)
	if err != nil {
		fail(err)
		return
	}
	if err := s.Store.SetPassword(ctx, u.ID, hash); err != nil {
		fail(err)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.renderError(w, r, err)
		return
	}
	s.done(w, r, "/account", "flash.password_changed_here", "")
}

// endSession deletes the request's session and its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	if c, err := r.Cookie(sessionCookie); err == nil {
		return s.Store.DeleteSession(r.Context(), hashToken(c.Value))
	}
	return nil
}
