package envoi

import "net/http"

// HTTPStatus returns the HTTP status that answers an error of code: the one
// place where codes become statuses, for the JSON API, the admin UI and the
// OAuth callback page alike. Integrators rely on these statuses: extend the
// map, never change an entry. A code not named here is a request envoi
// understood but cannot carry out (422).
func HTTPStatus(code string) int {
	switch code {
	case EInvalidInput, EOAuthState:
		return http.StatusBadRequest
	case EUnauthorized:
		return http.StatusUnauthorized
	case EForbidden:
		return http.StatusForbidden
	case ENotFound, EDocumentFlowNotFound:
		return http.StatusNotFound
	case EConflict, EIdempotencyConflict, EMessageAlreadySent:
		return http.StatusConflict
	case ETooLarge:
		return http.StatusRequestEntityTooLarge
	case ELockedOut:
		return http.StatusTooManyRequests
	case EUnavailable:
		return http.StatusServiceUnavailable
	case EInternal:
		return http.StatusInternalServerError
	case EMessageBodyPruned:
		return http.StatusGone
	case ESMTPUnavailable, ESMTPTemporary, ESMTPTimeout, EOAuthProvider, EAPIUnavailable, EAPIThrottled:
		return http.StatusBadGateway
	}
	return http.StatusUnprocessableEntity
}
