package envoi

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// A stored secret is bound to where envoi sends it, and a change of that
// place drops it unless the same change gives it again: otherwise whoever
// may edit a flow could point it at their own server and receive the
// secret. The client secret and a service account's key go to the token
// URL (with the client ID); refresh tokens go there too, and access tokens
// to the SMTP server; SMTP passwords go to the SMTP server (host, port and
// security). The authorization and device URLs see only the client ID.

// Target names the SMTP server credentials are sent to: host (lower case),
// port and security. An SMTP password is bound to the target it was given
// for (the store keeps it beside the password).
func (s SMTPServer) Target() string {
	return strings.ToLower(s.Host) + ":" + strconv.Itoa(s.Port) + "/" + s.Security
}

// Repointing is what a change of a flow does to the secrets stored for it.
type Repointing struct {
	// ClientSecret: the token URL (tenant substituted) or the client ID
	// changed and the change gives no new secret.
	ClientSecret bool
	// ServiceAccountKey: the token URL changed and no new key is given.
	ServiceAccountKey bool
	// Tokens: the token URL, the client ID or where the access tokens go
	// changed (the SMTP server of an smtp flow, the transport or the API
	// URL of a mail API's); the identities of the flow consent again.
	Tokens bool
	// SMTP: the SMTP server changed; the operators' passwords, bound to the
	// old one, are dropped (per operator, by their bound target).
	SMTP bool
}

// Any says whether anything stored is dropped.
func (r Repointing) Any() bool { return r.ClientSecret || r.ServiceAccountKey || r.Tokens || r.SMTP }

// Repoint compares the stored flow old with its new version f (preset
// applied) and says which stored secrets f drops; nothing when old is nil.
func Repoint(old, f *AuthFlow) Repointing {
	if old == nil {
		return Repointing{}
	}
	tokenURL := old.Resolved().TokenURL != f.Resolved().TokenURL
	oauth := tokenURL || old.ClientID != f.ClientID
	smtp := old.SMTP.Target() != f.SMTP.Target()
	return Repointing{
		ClientSecret:      oauth && f.ClientSecret == "",
		ServiceAccountKey: tokenURL && f.ServiceAccountKey == "",
		Tokens:            oauth || tokenTarget(old) != tokenTarget(f),
		SMTP:              smtp,
	}
}

// tokenTarget names where f's access tokens are sent: its SMTP server, or
// its mail API.
func tokenTarget(f *AuthFlow) string {
	if t := f.EffectiveTransport(); t != TransportSMTP {
		return t + " " + strings.ToLower(f.EffectiveAPIURL())
	}
	return "smtp " + f.SMTP.Target()
}

// Kinds of FlowWarning.
const (
	// WarnInternalAddress: envoi connects to an address inside the machine
	// or a private network (allowed: internal relays and providers exist).
	WarnInternalAddress = "internal_address"
	// WarnCleartextCredentials: security none to a host other than this
	// machine; credentials are refused over it, so only a relay asking no
	// authentication works.
	WarnCleartextCredentials = "cleartext_credentials"
	// WarnSecretsDropped: the change re-pointed the flow and its stored
	// secrets were dropped (see Repoint); they must be given again.
	WarnSecretsDropped = "secrets_dropped"
)

// FlowWarning is something about a flow that is allowed but that the
// administrator should see: on the flow's API answer and page, and in its
// Test action.
type FlowWarning struct {
	Code    string `json:"code"`
	Field   string `json:"field"`
	Address string `json:"address,omitempty"`
	Message string `json:"message"`
}

// Warnings returns what f's administrator should know: each address envoi
// itself connects to (SMTP server; token, device and userinfo URLs of an
// OAuth flow) that is internal, and security none towards a host other
// than this machine. Names are not resolved: only IP literals and
// "localhost" are known to be internal.
func (f *AuthFlow) Warnings() []FlowWarning {
	var out []FlowWarning
	internal := func(field, host string) {
		if kind, ok := InternalAddress(host); ok {
			out = append(out, FlowWarning{Code: WarnInternalAddress, Field: field, Address: host,
				Message: fmt.Sprintf("%s is %s, an internal address (%s): envoi connects to it; check it is yours", field, host, kind)})
		}
	}
	internal("smtp.host", f.SMTP.Host)
	if f.Kind == KindOAuth2 {
		r := f.Resolved()
		for _, u := range []struct{ field, url string }{{"token_url", r.TokenURL}, {"device_url", r.DeviceURL}, {"userinfo_url", r.UserinfoURL}} {
			if p, err := url.Parse(u.url); err == nil && p.Host != "" {
				internal(u.field, p.Hostname())
			}
		}
	}
	if f.SMTP.Security == SecurityNone && f.SMTP.Host != "" && !LoopbackHost(f.SMTP.Host) {
		out = append(out, FlowWarning{Code: WarnCleartextCredentials, Field: "smtp.security", Address: f.SMTP.Host,
			Message: fmt.Sprintf("security none to %s: a password or token is never sent in clear to a host other than this machine, so this works only with a relay that asks no authentication; use starttls or tls", f.SMTP.Host)})
	}
	return out
}

// DroppedWarning describes what a change dropped (see Repoint); operators
// are the operators whose SMTP passwords were dropped. ok is false when
// nothing was.
func DroppedWarning(r Repointing, operators []string) (w FlowWarning, ok bool) {
	var what []string
	if r.ClientSecret {
		what = append(what, "the client secret")
	}
	if r.ServiceAccountKey {
		what = append(what, "the service account key")
	}
	if r.Tokens {
		what = append(what, "the OAuth tokens (consent again)")
	}
	if len(operators) > 0 {
		what = append(what, "the SMTP passwords of "+strings.Join(operators, ", "))
	}
	if len(what) == 0 {
		return FlowWarning{}, false
	}
	return FlowWarning{Code: WarnSecretsDropped, Field: "",
		Message: "the flow now sends its credentials elsewhere (token URL, client ID, SMTP server or mail API changed): dropped " + strings.Join(what, "; ") + "; give them again"}, true
}

// InternalAddress says whether host (a name, or an IP literal, brackets
// allowed) is internal, and which kind: loopback, private, link-local,
// shared (100.64.0.0/10) or unspecified. Names are not resolved: only
// "localhost" and names under ".localhost" are loopback.
func InternalAddress(host string) (kind string, ok bool) {
	h := strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "loopback", true
	}
	if i := strings.IndexByte(h, '%'); i >= 0 {
		h = h[:i] // an IPv6 zone
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		return "", false
	}
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback", true
	case a.IsPrivate():
		return "private", true
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "link-local", true
	case a.IsUnspecified():
		return "unspecified", true
	case netip.MustParsePrefix("100.64.0.0/10").Contains(a):
		return "shared", true
	}
	return "", false
}

// LoopbackHost says whether host is this machine: a loopback IP literal or
// localhost. Names are not resolved.
func LoopbackHost(host string) bool {
	kind, ok := InternalAddress(host)
	return ok && kind == "loopback"
}
