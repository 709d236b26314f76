package envoi

import (
	"errors"
	"fmt"
	"strings"
)

// Stable error codes. Integrators and the UI rely on them: extend the list,
// never rename a code.
const (
	// The seed's catalogue (§6).
	EMailSettingNotFound      = "mail_setting_not_found"
	EDocumentFlowNotFound     = "document_flow_not_found"
	EMessageAlreadySent       = "message_already_sent"
	ENoFlowForOperator        = "no_flow_for_operator"
	EAttachmentsTooBig        = "attachments_too_big"
	EOperatorNotInFlow        = "operator_not_in_flow"
	EInvalidFlowData          = "invalid_flow_data"
	EReportMissingParameters  = "report_missing_parameters"
	EConsentRequired          = "consent_required"
	EKeywordMissing           = "keyword_missing"
	EUnknownKeyword           = "unknown_keyword"
	EInvalidInput             = "invalid_input"
	ENotFound                 = "not_found"
	EConflict                 = "conflict"
	EIdempotencyConflict      = "idempotency_conflict"
	EUnauthorized             = "unauthorized"
	EForbidden                = "forbidden"
	ETooLarge                 = "request_too_large"
	EUnavailable              = "unavailable"
	EInternal                 = "internal"
	EConsentWrongMailbox      = "consent_wrong_mailbox"
	EOAuthState               = "oauth_state_invalid"
	EOAuthProvider            = "oauth_provider_error"
	EOAuthRedirectMismatch    = "oauth_redirect_mismatch"
	EOAuthInvalidClient       = "oauth_invalid_client"
	ESMTPAuthDisabled         = "smtp_auth_disabled"
	ESMTPAuthFailed           = "smtp_auth_failed"
	ESMTPBasicAuthUnsupported = "smtp_basic_auth_unsupported"
	ESMTPMessageTooBig        = "smtp_message_too_big"
	ESMTPRecipientRefused     = "smtp_recipient_refused"
	ESMTPUnavailable          = "smtp_unavailable"
	ESMTPTemporary            = "smtp_temporary"
	ESMTPPermanent            = "smtp_permanent"
	ESMTPTLS                  = "smtp_tls"
	ESMTPTimeout              = "smtp_timeout"
	EReportTemplateInvalid    = "report_template_invalid"
	EArchiveChecksumMismatch  = "archive_checksum_mismatch"
	ELockedOut                = "locked_out"
)

// Error is envoi's one error type: a stable code, a message for a person, a
// remedy that says what to do, and details (the field at fault, the missing
// names, the provider's text). Err is the cause, kept for logs and errors.Is.
type Error struct {
	Code    string
	Message string
	Remedy  string
	Details map[string]any
	// Temporary marks errors worth retrying later (4xx SMTP replies, a
	// provider that is down). Permanent errors end a message in failed.
	Temporary bool
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Codes of the mail API transports (Microsoft Graph, the Gmail API); the
// provider's own code and text are kept in Details["provider_code"] and
// Details["provider_text"].
const (
	// EAPIAccessDenied: the provider refused to send as this mailbox
	// (Graph's ErrorSendAsDenied or 403, the Gmail API's 403): a
	// permission, not a token.
	EAPIAccessDenied = "api_access_denied"
	// EAPIMailboxNotEnabled: the mailbox cannot be reached through the
	// API (Graph's MailboxNotEnabledForRESTAPI: on-premises, unlicensed or
	// inactive).
	EAPIMailboxNotEnabled = "api_mailbox_not_enabled"
	// EAPIMessageTooBig: the provider refused the message's size.
	EAPIMessageTooBig = "api_message_too_big"
	// EAPIThrottled: the provider asked to wait (429, 503 with
	// Retry-After, a rate or daily limit); the error wraps an *Throttle.
	// Temporary: the message waits, it does not fail.
	EAPIThrottled = "api_throttled"
	// EAPIUnavailable: the API could not be reached or answered 5xx.
	EAPIUnavailable = "api_unavailable"
	// EAPIRejected: the provider refused the request for another reason.
	EAPIRejected = "api_rejected"
)

// Codes of the send queue.
const (
	// EDeliveryAbandoned: the message's sends kept ending without an
	// outcome (the process died or the lease lapsed mid-send); the worker
	// gave up so that one message cannot crash-loop the service.
	EDeliveryAbandoned = "delivery_abandoned"
	// EMessageBodyPruned: the composed message (.eml) was removed by the
	// retention of sent messages' bodies (--body-retention); the message,
	// its outcome and its archived document stay. HTTP 410.
	EMessageBodyPruned = "message_body_pruned"
)

// Errorf returns an *Error with code and a message in English, the remedy of
// the catalogue filled in.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Remedy: Remedy(code, "en")}
}

// WithDetail returns e with one more detail set; it is meant for chaining
// right after Errorf.
func (e *Error) WithDetail(key string, value any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = value
	return e
}

// FieldError is the error of a configuration object with a wrong field: the
// code is invalid_flow_data for flows and invalid_input otherwise, and the
// details name the field.
func FieldError(code, field, format string, args ...any) *Error {
	return Errorf(code, "%s: %s", field, fmt.Sprintf(format, args...)).WithDetail("field", field)
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// AsError returns the first *Error in err's chain, or an internal error
// wrapping err. It returns nil for nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: EInternal, Message: "internal error", Remedy: Remedy(EInternal, "en"), Err: err}
}

// IsTemporary reports whether err is worth retrying later.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary
}
