package ui

import (
	"net/http"
	"strings"
	"time"

	"envoi"
)

type loginData struct {
	Email string
	Next  string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if next != "" {
		next = localPath(next)
	}
	s.render(w, http.StatusOK, "login", s.newPage(w, r, "", loginData{Next: next}))
}

// login signs a user in. An unknown address and a wrong password get the
// same answer. Failures are counted by client address, for each account
// typed and for all of them: past MaxFailedLogins on one account, or
// MaxClientFailures in all, that address waits LockoutDuration (429
// ELockedOut, the same for unknown accounts). The account itself is never
// locked: the right password from another address still works. At most
// HashConcurrency passwords are checked at once (503 beyond).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	next := r.PostFormValue("next")
	if next != "" {
		next = localPath(next)
	}
	again := func(status int, e *errView) {
		p := s.newPage(w, r, "", loginData{Email: email, Next: next})
		p.Err = e
		s.render(w, status, "login", p)
	}
	wrong := func() {
		lang := s.language(w, r)
		again(http.StatusUnauthorized, &errView{Message: s.cat.text(lang, "login.wrong"),
			Remedy: s.cat.text(lang, "login.wrong_remedy", s.maxFailed(), int(s.lockout().Round(time.Minute)/time.Minute))})
	}
	throttled := func(wait time.Duration) {
		retryAfter(w, wait)
		again(http.StatusTooManyRequests, s.errView(errThrottled(wait), s.language(w, r)))
	}
	client := s.client(r)
	account := client + "\x00" + strings.ToLower(email)
	now := s.now()
	if wait := max(s.clients.wait(client, now), s.accounts.wait(account, now)); wait > 0 {
		throttled(wait)
		return
	}
	u, err := s.Store.UserByEmail(ctx, email)
	if err != nil && envoi.ErrorCode(err) != envoi.ENotFound {
		s.renderError(w, r, err)
		return
	}
	hash := dummyHash()
	if err == nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	if !s.slots.acquire(ctx) {
		retryAfter(w, time.Second)
		again(http.StatusServiceUnavailable, s.errView(errBusy(), s.language(w, r)))
		return
	}
	ok := CheckPassword(hash, password) && hash != dummyHash()
	s.slots.release()
	if !ok {
		wait := max(s.clients.add(client, now), s.accounts.add(account, now))
		if wait > 0 {
			s.logger().Warn("ui: client throttled after repeated failed sign-ins", "client", client)
			throttled(wait)
			return
		}
		wrong()
		return
	}
	s.accounts.forget(account)
	if err := s.Store.RecordLogin(ctx, u.ID); err != nil {
		s.renderError(w, r, err)
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		_ = s.Store.DeleteSession(ctx, hashToken(c.Value))
	}
	if err := s.startSession(w, r, u); err != nil {
		s.renderError(w, r, err)
		return
	}
	if envoi.KnownLanguage(u.Language) {
		http.SetCookie(w, s.cookie(langCookie, u.Language, 0))
	}
	if next == "" || next == "/login" {
		next = homeOf(u)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// homeOf is where a user lands: the dashboard, or an operator's own tab.
func homeOf(u *envoi.User) string {
	if u.Role == envoi.RoleOperator {
		return "/operators/" + u.Operator
	}
	return "/"
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.Store.DeleteSession(r.Context(), hashToken(c.Value)); err != nil {
			s.logger().Warn("ui: session not deleted at sign-out", "err", err)
		}
	}
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	s.done(w, r, "/login", "flash.signed_out", "")
}

type forgotData struct {
	Email string
	Sent  bool
}

func (s *Server) forgotForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "forgot", s.newPage(w, r, "", forgotData{}))
}

// recoverySender returns the operator and company recovery mails are sent
// as, or an error saying what the administrator must configure.
func (s *Server) recoverySender(r *http.Request) (operator, company string, err error) {
	ctx := r.Context()
	if s.Messages == nil {
		return "", "", envoi.Errorf(envoi.EUnavailable, "sending is not running in this process")
	}
	set, err := s.Store.Settings(ctx)
	if err != nil {
		return "", "", err
	}
	operator, company = set[SettingSystemSender], set[SettingSystemCompany]
	if operator == "" {
		return "", "", envoi.Errorf(envoi.EUnavailable, "no system sender is configured")
	}
	if _, err := s.Store.Operator(ctx, operator); err != nil {
		return "", "", envoi.Errorf(envoi.EUnavailable, "the system sender %q is not an operator", operator)
	}
	if _, err := s.Store.MailSetting(ctx, RecoveryFlow); err != nil {
		return "", "", envoi.Errorf(envoi.EUnavailable, "the %s document flow has no mail setting", RecoveryFlow)
	}
	return operator, company, nil
}

// forgot sends a password reset link by e-mail, through envoi's own
// sending, as the configured system sender. It says the same whether the
// address is known or not, and whether a mail went or not: one address
// gets at most one mail per RecoveryInterval. Each request counts against
// the client's address (MaxClientFailures). It refuses clearly when
// recovery is not configured.
func (s *Server) forgot(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	email := strings.TrimSpace(r.PostFormValue("email"))
	p := s.newPage(w, r, "", forgotData{Email: email})
	client, now := s.client(r), s.now()
	if wait := s.clients.wait(client, now); wait > 0 {
		retryAfter(w, wait)
		p.Err = s.errView(errThrottled(wait), p.Lang)
		s.render(w, http.StatusTooManyRequests, "forgot", p)
		return
	}
	s.clients.add(client, now)
	operator, company, err := s.recoverySender(r)
	if err != nil {
		if envoi.ErrorCode(err) == envoi.EInternal {
			s.renderError(w, r, err)
			return
		}
		p.Err = &errView{Code: envoi.EUnavailable, Message: s.cat.text(p.Lang, "forgot.not_configured"),
			Remedy: s.cat.text(p.Lang, "forgot.not_configured_remedy"), Reason: envoi.AsError(err).Message}
		s.render(w, http.StatusServiceUnavailable, "forgot", p)
		return
	}
	if !s.recovered.take(strings.ToLower(email), now) {
		// A mail went to this address less than RecoveryInterval ago.
		p.D = forgotData{Sent: true}
		s.render(w, http.StatusOK, "forgot", p)
		return
	}
	u, err := s.Store.UserByEmail(ctx, email)
	switch {
	case err == nil:
		if err := s.sendReset(r, u, operator, company); err != nil {
			s.logger().Warn("ui: password recovery mail not sent", "user", u.ID, "code", envoi.ErrorCode(err), "err", err)
		}
	case envoi.ErrorCode(err) != envoi.ENotFound:
		s.renderError(w, r, err)
		return
	}
	p.D = forgotData{Sent: true}
	s.render(w, http.StatusOK, "forgot", p)
}

func (s *Server) sendReset(r *http.Request, u *envoi.User, operator, company string) error {
	ctx := r.Context()
	token := randomToken()
	now := s.now()
	if err := s.Store.CreatePasswordReset(ctx, &envoi.PasswordReset{Hash: hashToken(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.resetTTL())}); err != nil {
		return err
	}
	base := strings.TrimRight(s.PublicURL, "/")
	if base == "" {
		base = "http://" + r.Host
	}
	societe := company
	if company != "" {
		if c, err := s.Store.Company(ctx, company); err == nil && c.Name != "" {
			societe = c.Name
		}
	}
	if societe == "" {
		societe = "envoi"
	}
	name := u.Name
	if name == "" {
		name = u.Email
	}
	req := &envoi.SendRequest{
		DocumentFlow: RecoveryFlow, Operator: operator, Company: company, To: []string{u.Email},
		Context: map[string]string{"SOCIETE": societe, "UTILISATEUR": name, "LIEN": base + "/reset?token=" + token},
		// The link signs its holder in: the mail is kept sealed until sent,
		// then erased, and shown in no log (API, UI, CLI).
		Sensitive: true,
	}
	_, _, err := s.Messages.Accept(ctx, req, "")
	return err
}

type resetData struct{ Token string }

func (s *Server) resetForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, http.StatusOK, "reset", s.newPage(w, r, "", resetData{Token: r.URL.Query().Get("token")}))
}

// reset sets a new password from a recovery link: single use, within
// ResetTTL. Every session of the user ends.
func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	token := r.PostFormValue("token")
	password := r.PostFormValue("password")
	fail := func(err error) {
		p := s.newPage(w, r, "", resetData{Token: token})
		p.Err = s.errView(err, p.Lang)
		if p.Err.Code == envoi.EUnauthorized {
			p.Err.Message, p.Err.Remedy = s.cat.text(p.Lang, "reset.invalid"), s.cat.text(p.Lang, "reset.invalid_remedy")
		}
		s.render(w, envoi.HTTPStatus(p.Err.Code), "reset", p)
	}
	// A wrong or spent link counts against the client's address, as a
	// failed sign-in does.
	client, now := s.client(r), s.now()
	if wait := s.clients.wait(client, now); wait > 0 {
		retryAfter(w, wait)
		fail(errThrottled(wait))
		return
	}
	if err := CheckPasswordStrength(password); err != nil {
		fail(err)
		return
	}
	if password != r.PostFormValue("password2") {
		fail(envoi.FieldError(envoi.EInvalidInput, "password2", "the two passwords differ"))
		return
	}
	if token == "" || len(token) > 100 {
		s.clients.add(client, now)
		fail(envoi.Errorf(envoi.EUnauthorized, "the password reset link is incomplete"))
		return
	}
	// The slot is taken before the link, which works once: a busy
	// server must not spend it.
	if !s.slots.acquire(r.Context()) {
		retryAfter(w, time.Second)
		fail(errBusy())
		return
	}
	defer s.slots.release()
	reset, err := s.Store.TakePasswordReset(r.Context(), hashToken(token))
	if err != nil {
		if envoi.ErrorCode(err) == envoi.EUnauthorized {
			s.clients.add(client, now)
		}
		fail(err)
		return
	}
	if !now.Before(reset.ExpiresAt) {
		fail(envoi.Errorf(envoi.EUnauthorized, "the password reset link expired at %s", formatTime(reset.ExpiresAt)))
		return
	}
	hash, err := HashPassword(password)
	if err != nil {
		fail(err)
		return
	}
	if err := s.Store.SetPassword(r.Context(), reset.UserID, hash); err != nil {
		fail(err)
		return
	}
	s.done(w, r, "/login", "flash.password_changed", "")
}
