package smtp

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail/smtp"

	"envoi"
)

// SASL mechanisms for OAuth 2.0 access tokens.
const (
	MechXOAuth2     = "XOAUTH2"
	MechOAuthBearer = "OAUTHBEARER"
)

// TokenExpirySource is a token source that also tells when the access
// token it gives expires (the oauth package's Service is one). The Sender
// then stops reusing a connection once the token that authenticated it
// has expired.
type TokenExpirySource interface {
	// AccessTokenExpiry is envoi.TokenSource's AccessToken, with the
	// token's expiry; a zero expiry is unknown.
	AccessTokenExpiry(ctx context.Context, key envoi.TokenKey, force bool) (token string, expiry time.Time, err error)
}

// login authenticates cn as id: PLAIN (or LOGIN when only LOGIN is
// offered) with the password of a basic flow; XOAUTH2 (or OAUTHBEARER)
// with an access token asked from Tokens now. A token the server refuses
// with 535 is refreshed once (force) and tried once more. It returns the
// expiry of the token that authenticated, when known. Errors are final:
// the token source's pass through unchanged, the server's are classified.
// No credentials go over an unencrypted connection to another machine.
// A basic flow whose server offers no AUTH extension, and is not one of
// the providers' servers (providerHost), sends without AUTH even with a
// password stored: the server is a relay that accepts by address.
func (s *Sender) login(ctx context.Context, cn *conn, t target, id envoi.Identity) (time.Time, error) {
	if hasCredentials(t, id) && !cn.tls && !loopbackAddr(cn.raw.RemoteAddr()) {
		return time.Time{}, inClear(t.host)
	}
	info := &gomail.ServerInfo{Name: t.host, TLS: cn.tls, Auth: cn.auth}
	switch t.kind {
	case envoi.KindSMTPBasic:
		if id.Password == "" {
			return time.Time{}, nil // no password: a relay that asks no authentication (allowed by address)
		}
		if !cn.authExt && !providerHost(t.host) {
			// A relay that accepts by address (an internal server, a
			// smarthost) offers no AUTH at all: the password is not
			// needed there, and sending without it is what the operator
			// of a basic flow expects. A provider's server always offers
			// AUTH; one that does not is refused below (noMechanism).
			cn.relay = true
			s.log().Warn("smtp: the server offers no authentication; sending without AUTH as to a relay (the stored SMTP password is not used)",
				"flow", t.flow, "operator", id.Key.Operator, "server", t.host)
			return time.Time{}, nil
		}
		var a gomail.Auth
		switch {
		case slices.Contains(cn.auth, "PLAIN"):
			a = gomail.PlainAuth("", id.Username, id.Password, t.host, true)
		case slices.Contains(cn.auth, "LOGIN"):
			a = gomail.LoginAuth(id.Username, id.Password, t.host, true)
		default:
			return time.Time{}, noMechanism(cn.auth, "PLAIN or LOGIN")
		}
		return time.Time{}, classified(cn.authenticate(ctx, a, info))
	case envoi.KindOAuth2:
		if s.Tokens == nil {
			return time.Time{}, envoi.Errorf(envoi.EInternal, "smtp: the sender has no token source for OAuth 2.0 flows")
		}
		mech := s.oauthMechanism(cn.auth)
		for force := false; ; force = true {
			token, expiry, err := s.accessToken(ctx, id.Key, force)
			if err != nil {
				return time.Time{}, tokenError(err)
			}
			err = cn.authenticate(ctx, oauthAuth(mech, id.Username, token, t), info)
			var ce *CommandError
			if err == nil || force || cn.broken || !errors.As(err, &ce) || ce.Code != 535 {
				return expiry, classified(err)
			}
			s.log().Info("smtp: the server refused the access token; refreshing it once",
				"flow", t.flow, "operator", id.Key.Operator, "mechanism", mech, "reply", ce.EnhancedCode)
		}
	}
	return time.Time{}, envoi.FieldError(envoi.EInvalidFlowData, "kind", "%q is not smtp_basic or oauth2", t.kind)
}

// accessToken asks Tokens for key's token, and its expiry when Tokens
// knows it.
func (s *Sender) accessToken(ctx context.Context, key envoi.TokenKey, force bool) (string, time.Time, error) {
	if ts, ok := s.Tokens.(TokenExpirySource); ok {
		return ts.AccessTokenExpiry(ctx, key, force)
	}
	token, err := s.Tokens.AccessToken(ctx, key, force)
	return token, time.Time{}, err
}

// classified returns Classify(err) as an error, nil for nil.
func classified(err error) error {
	if err == nil {
		return nil
	}
	return Classify(err)
}

// tokenError returns the token source's error as it is when it is envoi's
// (consent_required, a temporary provider failure), wrapped as internal
// otherwise.
func tokenError(err error) error {
	var ee *envoi.Error
	if errors.As(err, &ee) {
		return err
	}
	return envoi.AsError(err)
}

func (s *Sender) oauthMechanism(offered []string) string {
	switch strings.ToUpper(s.OAuthMechanism) {
	case MechXOAuth2:
		return MechXOAuth2
	case MechOAuthBearer:
		return MechOAuthBearer
	}
	if !slices.Contains(offered, MechXOAuth2) && slices.Contains(offered, MechOAuthBearer) {
		return MechOAuthBearer
	}
	return MechXOAuth2
}

func noMechanism(offered []string, want string) *envoi.Error {
	list := strings.Join(offered, " ")
	if list == "" {
		list = "none"
	}
	return envoi.Errorf(envoi.ESMTPAuthFailed, "the server offers no %s authentication (it offers: %s)", want, list).
		WithDetail("offered_mechanisms", list)
}

func oauthAuth(mech, user, token string, t target) gomail.Auth {
	if mech == MechOAuthBearer {
		return &oauthBearerAuth{user: user, token: token, host: t.host, port: t.port}
	}
	return gomail.XOAuth2Auth(user, token)
}

// oauthBearerAuth is OAUTHBEARER (RFC 7628) for go-mail's client.
type oauthBearerAuth struct {
	user, token, host string
	port              int
}

func (a *oauthBearerAuth) Start(*gomail.ServerInfo) (string, []byte, error) {
	// RFC 5801: ',' and '=' in the authzid are escaped.
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(a.user)
	ir := "n,a=" + user + ",\x01host=" + a.host + "\x01port=" + strconv.Itoa(a.port) +
		"\x01auth=Bearer " + a.token + "\x01\x01"
	return MechOAuthBearer, []byte(ir), nil
}

// Next answers the error challenge with the %x01 RFC 7628 asks for; the
// server then ends the exchange with its failure reply.
func (a *oauthBearerAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return []byte{0x01}, nil
	}
	return nil, nil
}

// providerHost reports whether host is the SMTP server of a provider envoi
// knows (envoi.Presets): such a server always asks for authentication, so
// its not offering AUTH is an error, never a relay.
func providerHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	for _, p := range envoi.Presets() {
		if p.SMTP.Host != "" && strings.EqualFold(p.SMTP.Host, host) {
			return true
		}
	}
	return false
}
