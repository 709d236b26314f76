package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"envoi"
)

// Cookies of the UI.
const (
	sessionCookie = "envoi_session"
	// csrfCookie holds the token of the forms shown before sign-in (a
	// double-submit token: the form's field must equal the cookie, and
	// the cookie must carry the server's signature).
	csrfCookie  = "envoi_csrf"
	langCookie  = "envoi_lang"
	flashCookie = "envoi_flash"
)

// csrfField is the name of the hidden field holding the form's token;
// fetch requests send it as the X-CSRF-Token header.
const csrfField = "csrf"

type ctxKey int

const (
	userKey ctxKey = iota
	csrfKey
)

// current returns the signed-in user of r, nil when signed out.
func current(r *http.Request) *envoi.User {
	u, _ := r.Context().Value(userKey).(*envoi.User)
	return u
}

func csrfOf(r *http.Request) string {
	t, _ := r.Context().Value(csrfKey).(string)
	return t
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// sessionCSRF derives a session's form token from its cookie's token: the
// server keeps neither, and a page of another site can read neither.
func sessionCSRF(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("envoi ui csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// signed returns v with the server's signature for purpose appended.
func (s *Server) signed(purpose, v string) string {
	return v + "." + s.signature(purpose, v)
}

// verified returns the value of a signed string and whether its
// signature is the server's for purpose.
func (s *Server) verified(purpose, sv string) (string, bool) {
	i := strings.LastIndexByte(sv, '.')
	if i < 0 {
		return "", false
	}
	v, sig := sv[:i], sv[i+1:]
	if !hmac.Equal([]byte(sig), []byte(s.signature(purpose, v))) {
		return "", false
	}
	return v, true
}

func (s *Server) signature(purpose, v string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func formToken(r *http.Request) string {
	if t := r.Header.Get("X-CSRF-Token"); t != "" {
		return t
	}
	return r.PostFormValue(csrfField)
}

func (s *Server) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	switch {
	case maxAge < 0:
		c.MaxAge = -1
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	}
	return c
}

// guard runs a route's checks: sign-in, role, and for every request that
// changes something, the form token.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unsafe := r.Method != http.MethodGet && r.Method != http.MethodHead
		if unsafe {
			if err := s.readForm(w, r); err != nil {
				s.renderError(w, r, err)
				return
			}
		} else {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.readTimeout() + s.writeTimeout()))
		}
		if rt.access == anyone {
			if unsafe && rt.pattern != "/" {
				c, err := r.Cookie(csrfCookie)
				if err != nil || !s.anonToken(c.Value) || !sameToken(c.Value, formToken(r)) {
					s.renderError(w, r, envoi.Errorf(envoi.EForbidden, "the form's security token is missing or wrong; reload the page and submit again"))
					return
				}
			}
			rt.handler(w, r)
			return
		}
		u, token, ok := s.signedIn(w, r)
		if !ok {
			return
		}
		ctx := context.WithValue(context.WithValue(r.Context(), userKey, u), csrfKey, sessionCSRF(token))
		r = r.WithContext(ctx)
		if unsafe && !sameToken(sessionCSRF(token), formToken(r)) {
			s.renderError(w, r, envoi.Errorf(envoi.EForbidden, "the form's security token is missing or wrong; reload the page and submit again"))
			return
		}
		switch rt.access {
		case adminOnly:
			if u.Role != envoi.RoleAdmin {
				s.renderError(w, r, envoi.Errorf(envoi.EForbidden, "this page is for administrators"))
				return
			}
		case ownOperator:
			if u.Role != envoi.RoleAdmin && (u.Operator == "" || r.PathValue("code") != u.Operator) {
				s.renderError(w, r, envoi.Errorf(envoi.EForbidden, "an operator sees only their own e-mail tab"))
				return
			}
		}
		rt.handler(w, r)
	})
}

func (s *Server) readTimeout() time.Duration { return orDefault(s.ReadTimeout, DefaultReadTimeout) }
func (s *Server) uploadTimeout() time.Duration {
	return orDefault(s.UploadTimeout, DefaultUploadTimeout)
}
func (s *Server) writeTimeout() time.Duration { return orDefault(s.WriteTimeout, DefaultWriteTimeout) }

// readForm reads a form's body within its deadline: ReadTimeout, or
// UploadTimeout for a multipart form (a logo upload). A body announced
// over maxForm is refused unread, and the connection closes after the
// answer rather than drain it.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) error {
	multipart := strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data")
	read := s.readTimeout()
	if multipart {
		read = s.uploadTimeout()
	}
	rc := http.NewResponseController(w)
	start := time.Now()
	_ = rc.SetWriteDeadline(start.Add(read + s.writeTimeout()))
	if r.ContentLength > maxForm {
		w.Header().Set("Connection", "close")
		return envoi.Errorf(envoi.ETooLarge, "the form is %d bytes; the limit is %d", r.ContentLength, maxForm).WithDetail("limit_bytes", maxForm)
	}
	_ = rc.SetReadDeadline(start.Add(read))
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	var err error
	if multipart {
		err = r.ParseMultipartForm(maxForm)
	} else {
		err = r.ParseForm()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return envoi.Errorf(envoi.ETooLarge, "the form is over %d bytes", maxForm).WithDetail("limit_bytes", maxForm)
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		return envoi.Errorf(envoi.EInvalidInput, "the form did not arrive within %s", read)
	case err != nil:
		return envoi.Errorf(envoi.EInvalidInput, "the form cannot be read: %v", err)
	}
	// The body is read: net/http now watches the connection for the
	// client going away, and must not take a passing deadline for that.
	_ = rc.SetReadDeadline(start.Add(read + s.writeTimeout()))
	return nil
}

// maxForm bounds a form's body: a company logo is the largest field.
const maxForm = envoi.MaxLogoBytes + 256<<10

// signedIn returns the user of the request's session, or sends the
// browser to the sign-in page (ok false). A session ends at its expiry or
// after IdleTimeout without a request.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (*envoi.User, string, bool) {
	toLogin := func(reason string) (*envoi.User, string, bool) {
		http.SetCookie(w, s.cookie(sessionCookie, "", -1))
		if reason != "" {
			s.setFlash(w, flash{Kind: "error", Key: reason})
		}
		next := ""
		if r.Method == http.MethodGet && r.URL.Path != "/" {
			next = "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		http.Redirect(w, r, "/login"+next, http.StatusSeeOther)
		return nil, "", false
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return toLogin("")
	}
	hash := hashToken(c.Value)
	sess, err := s.Store.Session(r.Context(), hash)
	if envoi.ErrorCode(err) == envoi.EUnauthorized {
		return toLogin("flash.session_ended")
	}
	if err != nil {
		s.renderError(w, r, err)
		return nil, "", false
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeen) >= s.idleTimeout() {
		_ = s.Store.DeleteSession(r.Context(), hash)
		return toLogin("flash.session_expired")
	}
	u, err := s.Store.User(r.Context(), sess.UserID)
	if envoi.ErrorCode(err) == envoi.ENotFound {
		_ = s.Store.DeleteSession(r.Context(), hash)
		return toLogin("flash.session_ended")
	}
	if err != nil {
		s.renderError(w, r, err)
		return nil, "", false
	}
	// Note activity at most once a minute, not on every request.
	if now.Sub(sess.LastSeen) >= time.Minute {
		if err := s.Store.TouchSession(r.Context(), hash, now); err != nil {
			s.logger().Warn("ui: session activity not recorded", "err", err)
		}
	}
	return u, c.Value, true
}

// startSession signs u in: a new random token in the cookie, its hash in
// the store.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *envoi.User) error {
	token := randomToken()
	now := s.now()
	sess := &envoi.Session{Hash: hashToken(token), UserID: u.ID, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.sessionTTL())}
	if err := s.Store.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(sessionCookie, token, 0))
	if n, err := s.Store.DeleteExpiredSessions(r.Context(), now.Add(-time.Minute)); err != nil {
		s.logger().Warn("ui: expired sessions not swept", "err", err)
	} else if n > 0 {
		s.logger().Debug("ui: expired sessions swept", "count", n)
	}
	return nil
}

// anonCSRF returns the token of the forms shown before sign-in, setting
// its cookie when the browser has none or one envoi did not sign.
func (s *Server) anonCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && s.anonToken(c.Value) {
		return c.Value
	}
	t := s.signed("csrf", randomToken())
	http.SetCookie(w, s.cookie(csrfCookie, t, 0))
	return t
}

// anonToken reports whether t is a form token envoi issued: a client
// may set any cookie, but cannot sign one.
func (s *Server) anonToken(t string) bool {
	if len(t) > 200 {
		return false
	}
	v, ok := s.verified("csrf", t)
	return ok && len(v) >= 32
}
