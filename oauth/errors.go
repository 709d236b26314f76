package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"envoi"
)

// providerError is a token endpoint's refusal, kept typed until mapped.
type providerError struct {
	Status      int
	Code        string // RFC 6749 error
	Description string // first line of error_description
}

func (e *providerError) text() string {
	switch {
	case e.Code == "" && e.Description == "":
		return fmt.Sprintf("HTTP %d", e.Status)
	case e.Description == "":
		return e.Code
	case e.Code == "":
		return e.Description
	}
	return e.Code + ": " + e.Description
}

// asProviderError extracts the provider's answer from an oauth2 error,
// parsing the body when the library did not (the jwt package leaves it).
func asProviderError(err error) (*providerError, bool) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return nil, false
	}
	pe := &providerError{Code: re.ErrorCode, Description: re.ErrorDescription}
	if re.Response != nil {
		pe.Status = re.Response.StatusCode
	}
	if pe.Code == "" && len(re.Body) > 0 {
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			pe.Code, pe.Description = body.Error, body.Description
		}
	}
	// Microsoft appends trace and correlation ids on further lines.
	if i := strings.IndexAny(pe.Description, "\r\n"); i >= 0 {
		pe.Description = strings.TrimSpace(pe.Description[:i])
	}
	return pe, true
}

// classify maps a provider's refusal (from the token endpoint or the
// authorization redirect) to envoi's codes. invalid_grant is returned as
// EConsentRequired; callers decide what it means for the stored token.
func classify(code, desc string, status int) *envoi.Error {
	pe := &providerError{Status: status, Code: code, Description: desc}
	text := pe.text()
	has := func(s string) bool { return strings.Contains(desc, s) || code == s }
	var e *envoi.Error
	switch {
	case has("AADSTS50011") || has("AADSTS500112") || has("AADSTS500113") || code == "redirect_uri_mismatch":
		e = envoi.Errorf(envoi.EOAuthRedirectMismatch, "the provider refused the redirect URI: %s", text)
	case has("AADSTS7000215") || has("AADSTS7000222") || has("AADSTS7000218") || code == "invalid_client" || code == "unauthorized_client":
		e = envoi.Errorf(envoi.EOAuthInvalidClient, "the provider refused the client credentials: %s", text)
	case code == "invalid_grant" || has("AADSTS700082") || has("AADSTS50173"):
		e = envoi.Errorf(envoi.EConsentRequired, "the provider refused the grant: %s", text)
	case status >= 500 || status == 429 || code == "temporarily_unavailable" || code == "server_error":
		e = envoi.Errorf(envoi.EOAuthProvider, "the provider is unavailable: %s", text)
		e.Temporary = true
	default:
		e = envoi.Errorf(envoi.EOAuthProvider, "the provider refused the request: %s", text)
	}
	return e.WithDetail("provider_text", text)
}

// mapError turns any error of a call to the provider into an *envoi.Error:
// the provider's refusals by classify, and network failures, timeouts and
// 5xx answers into a Temporary EOAuthProvider.
func mapError(err error) *envoi.Error {
	if err == nil {
		return nil
	}
	var ee *envoi.Error
	if errors.As(err, &ee) {
		return ee
	}
	if pe, ok := asProviderError(err); ok {
		e := classify(pe.Code, pe.Description, pe.Status)
		e.Err = err
		return e
	}
	e := envoi.Errorf(envoi.EOAuthProvider, "the provider could not be reached: %s", networkReason(err))
	e.Temporary = true
	e.Err = err
	return e
}

func networkReason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
