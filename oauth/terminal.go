package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"envoi"
)

// Consent from a terminal, for `envoi auth login`: nothing is stored but
// the token, since the same process starts and finishes the consent.

// LoopbackConsent runs a consent whose redirect lands on a one-shot HTTP
// listener on 127.0.0.1 and a free port (RFC 8252 §7.3); when the flow's
// redirect URL is a loopback address ("http://localhost"), its host and
// path are kept with the chosen port. open is given the provider's page:
// it opens a browser or prints the address (an error from it ends the
// consent). It returns when the browser came back, ctx ended or the
// 10-minute consent window passed (EOAuthState). Errors are those of
// Callback.
func (s *Service) LoopbackConsent(ctx context.Context, flowCode, operator string, open func(url string) error) (*envoi.Token, error) {
	c, err := s.prepare(ctx, flowCode, operator)
	if err != nil {
		return nil, err
	}
	host, path := "127.0.0.1", "/"
	if isLoopbackURL(c.flow.RedirectURL) {
		u, _ := url.Parse(c.flow.RedirectURL)
		host = u.Hostname()
		if u.Path != "" {
			path = u.Path
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oauth: loopback listener: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	c.st.RedirectURI = fmt.Sprintf("http://%s%s", net.JoinHostPort(host, fmt.Sprint(port)), path)

	done := make(chan outcome, 1)
	var once sync.Once
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if r.URL.Path != path || !sameState(q.Get("state"), c.st.State) {
				http.NotFound(w, r) // a favicon, a stray or forged request
				return
			}
			handled := false
			once.Do(func() {
				handled = true
				tok, err := s.finish(ctx, c.st, q.Get("code"), q.Get("error"), q.Get("error_description"))
				writeResultPage(w, err)
				done <- outcome{tok, err}
			})
			if !handled {
				writeResultPage(w, envoi.Errorf(envoi.EOAuthState, "this consent was already completed"))
			}
		}),
	}
	go srv.Serve(ln)
	defer func() {
		// Let the browser get its page before the listener goes.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()

	if err := open(c.authURL()); err != nil {
		return nil, fmt.Errorf("oauth: open the consent page: %w", err)
	}
	return waitConsent(ctx, c.st.ExpiresAt.Sub(s.now()), done)
}

type outcome struct {
	tok *envoi.Token
	err error
}

// waitConsent waits for a terminal consent's outcome, ctx or the end of
// the consent window.
func waitConsent(ctx context.Context, window time.Duration, done <-chan outcome) (*envoi.Token, error) {
	timer := time.NewTimer(max(window, 0))
	defer timer.Stop()
	select {
	case o := <-done:
		return o.tok, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("oauth: consent abandoned: %w", ctx.Err())
	case <-timer.C:
		return nil, envoi.Errorf(envoi.EOAuthState, "nobody completed the consent within %s", envoi.OAuthStateTTL)
	}
}

func sameState(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func writeResultPage(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		e := envoi.AsError(err)
		fmt.Fprintf(w, "<!doctype html><title>envoi</title><h1>Consent failed</h1><p>%s</p><p>%s</p>", html.EscapeString(e.Message), html.EscapeString(e.Remedy))
		return
	}
	fmt.Fprint(w, "<!doctype html><title>envoi</title><h1>Consent received</h1><p>envoi can now send mail for this mailbox. You may close this window.</p>")
}

// DeviceConsent runs the device code flow (RFC 8628) for a host without a
// browser: show is given the address to open on another device and the
// code to type there; the provider is polled at the interval it asks for
// until the person approves, refuses (EOAuthProvider), the code expires or
// ctx ends. The flow needs a device URL (Microsoft 365 and Gmail presets
// have one). Other errors are those of Callback.
func (s *Service) DeviceConsent(ctx context.Context, flowCode, operator string, show func(verificationURI, userCode string)) (*envoi.Token, error) {
	c, err := s.prepare(ctx, flowCode, operator)
	if err != nil {
		return nil, err
	}
	if c.flow.DeviceURL == "" {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "device_url", "flow %q has no device authorization URL", c.flow.Code)
	}
	// The device code is asked for with the first method; polling it
	// falls back like any token request (a refused client gets no token,
	// the code stays good).
	first := authOrder(c.flow)[0]
	actx, cancel := context.WithTimeout(ctx, s.timeout())
	da, err := s.deviceAuth(actx, configFor(c.flow, "", first), first)
	cancel()
	if err != nil && clientRefused(err) && first == envoi.TokenAuthBasic {
		actx, cancel := context.WithTimeout(ctx, s.timeout())
		da, err = s.deviceAuth(actx, configFor(c.flow, "", envoi.TokenAuthPost), envoi.TokenAuthPost)
		cancel()
	}
	if err != nil {
		return nil, consentFailure(mapError(err))
	}
	uri := da.VerificationURI
	if uri == "" {
		uri = da.VerificationURIComplete
	}
	show(uri, da.UserCode)
	tok, err := s.tokenCall(ctx, c.flow, func(method string) (*oauth2.Token, error) {
		return configFor(c.flow, "", method).DeviceAccessToken(s.client(ctx), da)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("oauth: consent abandoned: %w", ctx.Err())
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, envoi.Errorf(envoi.EOAuthState, "the device code expired before it was approved")
		}
		return nil, consentFailure(mapError(err))
	}
	return s.store(ctx, c, tok)
}

// consentFailure turns a refused grant during a consent into a provider
// error: nothing stored becomes consent_required.
func consentFailure(e *envoi.Error) *envoi.Error {
	if e.Code == envoi.EConsentRequired {
		e.Code, e.Remedy = envoi.EOAuthProvider, envoi.Remedy(envoi.EOAuthProvider, "en")
	}
	return e
}

// PasteConsent runs a consent whose redirect is Microsoft's native page
// (https://login.live.com/oauth20_desktop.srf, or the flow's redirect URL
// when set): prompt is given the provider's page, and returns the address
// the browser ended on, which the person copies from the address bar
// ("...oauth20_desktop.srf?code=...&state=..."). The state must be the one
// sent (EOAuthState); other errors are those of Callback.
func (s *Service) PasteConsent(ctx context.Context, flowCode, operator string, prompt func(authURL string) (pasted string, err error)) (*envoi.Token, error) {
	c, err := s.prepare(ctx, flowCode, operator)
	if err != nil {
		return nil, err
	}
	c.st.RedirectURI = MicrosoftNativeRedirect
	if c.flow.RedirectURL != "" {
		c.st.RedirectURI = c.flow.RedirectURL
	}
	pasted, err := prompt(c.authURL())
	if err != nil {
		return nil, fmt.Errorf("oauth: read the pasted address: %w", err)
	}
	q, err := pastedQuery(pasted)
	if err != nil {
		return nil, err
	}
	if !sameState(q.Get("state"), c.st.State) {
		return nil, envoi.Errorf(envoi.EOAuthState, "the pasted address is not the answer to this consent (its state differs)")
	}
	if !s.now().Before(c.st.ExpiresAt) {
		return nil, envoi.Errorf(envoi.EOAuthState, "the consent took longer than %s", envoi.OAuthStateTTL)
	}
	return s.finish(ctx, c.st, q.Get("code"), q.Get("error"), q.Get("error_description"))
}

// pastedQuery reads the parameters of a pasted address, or of a bare query
// string ("code=...&state=...").
func pastedQuery(pasted string) (url.Values, error) {
	pasted = strings.TrimSpace(pasted)
	bad := envoi.FieldError(envoi.EInvalidInput, "pasted", "paste the whole address the browser ended on (it holds code= and state=)")
	if pasted == "" {
		return nil, bad
	}
	raw := pasted
	if i := strings.IndexByte(pasted, '?'); i >= 0 {
		raw = pasted[i+1:]
	}
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	q, err := url.ParseQuery(raw)
	if err != nil || (q.Get("code") == "" && q.Get("error") == "") {
		return nil, bad
	}
	return q, nil
}
