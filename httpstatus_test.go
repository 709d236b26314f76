package envoi_test

import (
	"net/http"
	"testing"

	"envoi"
)

// TestHTTPStatus pins the status of every code: integrators' suites rely
// on the JSON API's, and the admin UI answers the same ones.
func TestHTTPStatus(t *testing.T) {
	want := map[string]int{
		envoi.EInvalidInput:          http.StatusBadRequest,
		envoi.EOAuthState:            http.StatusBadRequest,
		envoi.EUnauthorized:          http.StatusUnauthorized,
		envoi.EForbidden:             http.StatusForbidden,
		envoi.ENotFound:              http.StatusNotFound,
		envoi.EConflict:              http.StatusConflict,
		envoi.EIdempotencyConflict:   http.StatusConflict,
		envoi.ETooLarge:              http.StatusRequestEntityTooLarge,
		envoi.ELockedOut:             http.StatusTooManyRequests,
		envoi.EUnavailable:           http.StatusServiceUnavailable,
		envoi.EInternal:              http.StatusInternalServerError,
		envoi.EMessageBodyPruned:     http.StatusGone,
		envoi.ESMTPUnavailable:       http.StatusBadGateway,
		envoi.ESMTPTemporary:         http.StatusBadGateway,
		envoi.ESMTPTimeout:           http.StatusBadGateway,
		envoi.EOAuthProvider:         http.StatusBadGateway,
		envoi.EAPIUnavailable:        http.StatusBadGateway,
		envoi.EAPIThrottled:          http.StatusBadGateway,
		envoi.EInvalidFlowData:       http.StatusUnprocessableEntity,
		envoi.EMailSettingNotFound:   http.StatusUnprocessableEntity,
		envoi.EDocumentFlowNotFound:  http.StatusNotFound,
		envoi.EMessageAlreadySent:    http.StatusConflict,
		envoi.EUnknownKeyword:        http.StatusUnprocessableEntity,
		envoi.EConsentRequired:       http.StatusUnprocessableEntity,
		envoi.ESMTPAuthFailed:        http.StatusUnprocessableEntity,
		envoi.EReportTemplateInvalid: http.StatusUnprocessableEntity,
	}
	for _, code := range envoi.Codes() {
		if _, ok := want[code]; !ok {
			want[code] = http.StatusUnprocessableEntity
		}
	}
	for code, status := range want {
		if got := envoi.HTTPStatus(code); got != status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, status)
		}
	}
}
