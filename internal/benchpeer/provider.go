package benchpeer

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Provider is a minimal OAuth 2.0 token endpoint on loopback, at URL+"/token":
// it answers refresh_token grants for the refresh tokens RefreshToken makes
// with new access tokens (an hour long), counts its calls, and lets the sink
// check the tokens it issued (Validate).
type Provider struct {
	URL string

	srv    *http.Server
	calls  atomic.Int64
	tokens sync.Map // access token -> user
}

// StartProvider listens on a free port of 127.0.0.1 and serves until Close.
func StartProvider() (*Provider, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Provider{URL: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the endpoint.
func (p *Provider) Close() { p.srv.Close() }

// Calls is the number of token requests answered, refused ones included.
func (p *Provider) Calls() int64 { return p.calls.Load() }

// RefreshToken is the refresh token the provider accepts for user.
func (p *Provider) RefreshToken(user string) string { return "rt." + user }

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	rt := r.PostFormValue("refresh_token")
	user, ok := strings.CutPrefix(rt, "rt.")
	if r.PostFormValue("grant_type") != "refresh_token" || !ok || user == "" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"unknown refresh token"}`)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	at := "at." + hex.EncodeToString(b)
	p.tokens.Store(at, user)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 3600, "refresh_token": rt, "scope": "smtp"})
}

// User returns the user token was issued for; an error when the provider
// did not issue it.
func (p *Provider) User(token string) (string, error) {
	u, ok := p.tokens.Load(token)
	if !ok {
		return "", errors.New("benchpeer: unknown access token")
	}
	return u.(string), nil
}

// Validate checks that token is an access token the provider issued, for
// user when user is not empty.
func (p *Provider) Validate(user, token string) error {
	u, ok := p.tokens.Load(token)
	if !ok || (user != "" && u.(string) != user) {
		return errors.New("benchpeer: unknown access token")
	}
	return nil
}
