package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"envoi"
)

// Client authentication at the token endpoint.
//
// Every token request (code exchange, refresh, device code, client
// credentials) goes through tokenCall, which authenticates the client as
// the flow's token_auth_method says. "auto" tries HTTP Basic, the method
// RFC 6749 §2.3.1 makes every server support, and when the provider refuses
// the client (invalid_client or unauthorized_client, or a bare 401) tries
// the request body once; the method that worked is stored on the flow
// (Store.SetTokenAuthLearned) and tried first from then on, by every
// instance and after a restart, so a provider that takes only the body
// costs one refused request per flow, once. x/oauth2's own auto-detection
// is not used: it falls back on any error (a 500, an expired code) and
// remembers in the oauth2.Config, which envoi builds for each request.

// authOrder returns the methods a token request of flow tries: one, or
// two for auto (the learned or Basic first, the other after a refusal).
// Without a client secret auto is none: there is nothing to authenticate
// with.
func authOrder(flow *envoi.AuthFlow) []string {
	switch m := flow.EffectiveTokenAuthMethod(); m {
	case envoi.TokenAuthBasic, envoi.TokenAuthPost, envoi.TokenAuthNone:
		return []string{m}
	}
	if flow.ClientSecret == "" {
		return []string{envoi.TokenAuthNone}
	}
	if flow.TokenAuthLearned == envoi.TokenAuthPost {
		return []string{envoi.TokenAuthPost, envoi.TokenAuthBasic}
	}
	return []string{envoi.TokenAuthBasic, envoi.TokenAuthPost}
}

// tokenCall runs call, one request to flow's token endpoint, with the
// client authentication of authOrder: once, or for auto a second time with
// the other method when the first was refused as invalid_client. It
// records what auto found to work. A refusal of the client is returned as
// an EOAuthInvalidClient that says which methods were tried and, when the
// method may be the cause, that token_auth_method may need changing; other
// errors are returned as call returned them.
func (s *Service) tokenCall(ctx context.Context, flow *envoi.AuthFlow, call func(method string) (*oauth2.Token, error)) (*oauth2.Token, error) {
	order := authOrder(flow)
	var tok *oauth2.Token
	var err error
	for i, m := range order {
		tok, err = call(m)
		if err == nil {
			if len(order) > 1 && flow.TokenAuthLearned != m {
				s.learn(ctx, flow, m)
			}
			return tok, nil
		}
		if !clientRefused(err) {
			return nil, err
		}
		if i+1 < len(order) {
			s.log().Info("oauth: the provider refused the client authentication; trying the other method",
				"flow", flow.Code, "tried", m, "next", order[i+1])
		}
	}
	return nil, methodError(flow, order, err)
}

// learn stores the method auto found to work; a failure to store costs
// only a refused request next time.
func (s *Service) learn(ctx context.Context, flow *envoi.AuthFlow, method string) {
	if err := s.Store.SetTokenAuthLearned(ctx, flow.Code, method); err != nil {
		s.log().Warn("oauth: the token_auth_method that worked was not stored", "flow", flow.Code, "method", method, "err", err)
		return
	}
	s.log().Info("oauth: token_auth_method found", "flow", flow.Code, "method", method)
}

// clientRefused reports whether err is the token endpoint refusing the
// client's authentication: 400 or 401 with invalid_client or
// unauthorized_client, or a 401 without an error code.
func clientRefused(err error) bool {
	pe, ok := asProviderError(err)
	if !ok || (pe.Status != http.StatusBadRequest && pe.Status != http.StatusUnauthorized) {
		return false
	}
	switch pe.Code {
	case "invalid_client", "unauthorized_client":
		return true
	case "":
		return pe.Status == http.StatusUnauthorized
	}
	return false
}

// methodError is the refusal of the client after the methods tried: when
// the method may be the cause, the message says to change
// token_auth_method rather than the secret.
func methodError(flow *envoi.AuthFlow, tried []string, err error) *envoi.Error {
	e := mapError(err)
	if e.Code != envoi.EOAuthInvalidClient {
		// A bare 401 classifies as a provider error: it is the client.
		e.Code, e.Remedy = envoi.EOAuthInvalidClient, envoi.Remedy(envoi.EOAuthInvalidClient, "en")
	}
	e.WithDetail("token_auth_method", flow.EffectiveTokenAuthMethod()).WithDetail("tried", strings.Join(tried, ", "))
	switch m := tried[len(tried)-1]; {
	case len(tried) > 1:
		e.Message += fmt.Sprintf(" (tried %s): check the client ID and secret", strings.Join(tried, " and "))
	case m == envoi.TokenAuthNone:
		e.Message += " (token_auth_method none sends no client secret): if the app is a confidential client, enter its secret and choose auto"
	default:
		other := envoi.TokenAuthBasic
		if m == envoi.TokenAuthBasic {
			other = envoi.TokenAuthPost
		}
		e.Message += fmt.Sprintf(" (sent by %s): if the client secret is right, the provider may not accept this token_auth_method: choose %s or auto", m, other)
	}
	return e
}

// configFor is the oauth2 configuration of flow authenticating the client
// by method.
func configFor(flow *envoi.AuthFlow, redirectURL, method string) *oauth2.Config {
	f := *flow
	f.TokenAuthMethod, f.TokenAuthLearned = method, ""
	return Config(&f, redirectURL)
}

// deviceAuth asks the device authorization endpoint for a code (RFC 8628
// §3.1) with client_id in the body and, when method is Basic, the client's
// credentials in the header (the body never carries the secret here, as
// envoi always asked Microsoft's and Google's endpoints). Errors are
// *oauth2.RetrieveError like the token endpoint's.
func (s *Service) deviceAuth(ctx context.Context, conf *oauth2.Config, method string) (*oauth2.DeviceAuthResponse, error) {
	v := url.Values{"client_id": {conf.ClientID}}
	if len(conf.Scopes) > 0 {
		v.Set("scope", strings.Join(conf.Scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, conf.Endpoint.DeviceAuthURL, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "device_url", "%q is not a URL", conf.Endpoint.DeviceAuthURL)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if method == envoi.TokenAuthBasic {
		req.SetBasicAuth(url.QueryEscape(conf.ClientID), url.QueryEscape(conf.ClientSecret))
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("oauth: read the device authorization answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := &oauth2.RetrieveError{Response: resp, Body: body}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil {
			re.ErrorCode, re.ErrorDescription = e.Error, e.Description
		}
		return nil, re
	}
	var da oauth2.DeviceAuthResponse
	if err := json.Unmarshal(body, &da); err != nil {
		return nil, envoi.Errorf(envoi.EOAuthProvider, "the provider's device authorization answer is not JSON")
	}
	return &da, nil
}
