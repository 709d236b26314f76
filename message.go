package envoi

import (
	"time"
	"unicode/utf8"
)

// Message states.
const (
	StatusQueued          = "queued"
	StatusSending         = "sending"
	StatusSent            = "sent"
	StatusRetrying        = "retrying"
	StatusFailed          = "failed"
	StatusConsentRequired = "consent_required"
)

// Final reports whether status is an end state (sent or failed); a message
// parked on consent_required is not final: it resumes after consent.
func Final(status string) bool { return status == StatusSent || status == StatusFailed }

// Entity is the business entity a document belongs to (e.g. BL 12345).
type Entity struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Attachment is a file the ERP sends with the message.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     []byte `json:"content_base64"`
}

// ReportRequest asks envoi to render a report to PDF from data. Template is
// the name of a report template; empty means the document flow's default.
type ReportRequest struct {
	Template string         `json:"template"`
	Data     map[string]any `json:"data"`
}

// SendRequest is what the ERP asks: send the document of a document flow, for
// an operator of a company, to recipients, with keyword values in Context.
type SendRequest struct {
	DocumentFlow string            `json:"document_flow"`
	Operator     string            `json:"operator"`
	Company      string            `json:"company"`
	To           []string          `json:"to"`
	Cc           []string          `json:"cc"`
	Bcc          []string          `json:"bcc"`
	Context      map[string]string `json:"context"`
	Report       *ReportRequest    `json:"report"`
	Attachments  []Attachment      `json:"attachments"`
	Entity       *Entity           `json:"entity"`
	// Sensitive marks a mail that carries a credential (envoi's own
	// password reset mail): its composed bytes are kept sealed only until
	// it is sent or failed, its keyword values are not stored, and no
	// listing or read of the API, the UI or the CLI shows it. Never read
	// from JSON: the API cannot set it.
	Sensitive bool `json:"-"`
}

// Quotas of one send request, each refused with EInvalidInput naming the
// field and the limit. A request within them composes a message in
// bounded time and memory, whose header lines can all be folded.
const (
	// MaxAttachments bounds the files of one message.
	MaxAttachments = 100
	// MaxContextKeys bounds the keywords of one message's context.
	MaxContextKeys = 200
	// MaxKeywordValue bounds a context entry, keyword and value, in
	// characters.
	MaxKeywordValue = 10_000
	// MaxHeaderBytes bounds what a message's header fields carry: the
	// addresses, the attachments' names and types, and the subject once
	// filled.
	MaxHeaderBytes = 64 << 10
)

// Validate checks what can be checked without the store: codes,
// recipients and the quotas above (EInvalidInput naming the field).
func (r *SendRequest) Validate() error {
	if !ValidCode(r.DocumentFlow) {
		return FieldError(EInvalidInput, "document_flow", "%q is not a valid code", r.DocumentFlow)
	}
	if !ValidCode(r.Operator) {
		return FieldError(EInvalidInput, "operator", "%q is not a valid code", r.Operator)
	}
	if r.Company != "" && !ValidCode(r.Company) {
		return FieldError(EInvalidInput, "company", "%q is not a valid code", r.Company)
	}
	if len(r.To)+len(r.Cc)+len(r.Bcc) == 0 {
		return FieldError(EInvalidInput, "to", "at least one recipient is required")
	}
	if n := len(r.To) + len(r.Cc) + len(r.Bcc); n > MaxRecipients {
		return FieldError(EInvalidInput, "to", "%d recipients; the limit is %d per message", n, MaxRecipients)
	}
	// The header fields a request fills: its addresses, the attachments'
	// names and types; the subject, filled from the context, is counted
	// where it is composed (HeaderBytes).
	header := 0
	overHeaders := func(field string) error {
		return FieldError(EInvalidInput, field, "the addresses and file names of the message take over %d bytes; the limit is %d",
			header, MaxHeaderBytes).WithDetail("limit_bytes", MaxHeaderBytes)
	}
	for _, l := range []struct {
		field string
		list  []string
	}{{"to", r.To}, {"cc", r.Cc}, {"bcc", r.Bcc}} {
		for _, a := range l.list {
			if header += len(a); header > MaxHeaderBytes {
				return overHeaders(l.field)
			}
			if _, err := ParseAddress(a); err != nil {
				return FieldError(EInvalidInput, l.field, "%s", AsError(err).Message).WithDetail("address", a)
			}
		}
	}
	if len(r.Attachments) > MaxAttachments {
		return FieldError(EInvalidInput, "attachments", "%d attachments; the limit is %d per message", len(r.Attachments), MaxAttachments).
			WithDetail("limit", MaxAttachments)
	}
	for i, a := range r.Attachments {
		if a.Filename == "" {
			return FieldError(EInvalidInput, "attachments", "attachment %d has no filename", i)
		}
		if header += len(a.Filename) + len(a.ContentType); header > MaxHeaderBytes {
			return overHeaders("attachments")
		}
	}
	if len(r.Context) > MaxContextKeys {
		return FieldError(EInvalidInput, "context", "%d keywords; the limit is %d per message", len(r.Context), MaxContextKeys).
			WithDetail("limit", MaxContextKeys)
	}
	for k, v := range r.Context {
		if n := utf8.RuneCountInString(k) + utf8.RuneCountInString(v); n > MaxKeywordValue {
			return FieldError(EInvalidInput, "context", "the value of %s is %d characters long; the limit is %d", k, n, MaxKeywordValue).
				WithDetail("keyword", k).WithDetail("limit", MaxKeywordValue)
		}
	}
	if r.Entity != nil && (r.Entity.Type == "" || r.Entity.ID == "") {
		return FieldError(EInvalidInput, "entity", "an entity needs a type and an id")
	}
	return nil
}

// Message is a send request accepted by envoi, and what became of it.
// MessageID is chosen at acceptance, so a send retried after a crash carries
// the same Message-ID and a duplicate is recognisable.
type Message struct {
	ID             string      `json:"id"`
	IdempotencyKey string      `json:"idempotency_key,omitempty"`
	Request        SendRequest `json:"-"`
	Status         string      `json:"status"`
	Attempts       int         `json:"attempts"`
	ErrorCode      string      `json:"error_code,omitempty"`
	Error          string      `json:"error,omitempty"`
	MessageID      string      `json:"message_id"`
	// ProviderMessageID is the provider's own id of the sent message (an
	// SMTP server's queue id, Graph's internetMessageId, Gmail's message
	// id), "" when it named none.
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	// Mailbox is the identity the message is sent as (for rate limits and
	// parking on consent): flow code and operator ("" for a generic mailbox).
	Flow      string    `json:"flow"`
	Mailbox   string    `json:"mailbox"`
	NextTry   time.Time `json:"next_try,omitzero"`
	SentAt    time.Time `json:"sent_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	EMLSize   int64     `json:"eml_size,omitempty"`
	// Duplicates counts the claims over a lapsed lease (a send cut by a
	// crash): the message may have gone out that many times more. Shown
	// to users (possible_duplicates), so a fact of the message, not of a
	// claim (see Claim).
	Duplicates int `json:"duplicates,omitempty"`
	// Sensitive: see SendRequest.Sensitive.
	Sensitive bool `json:"-"`
	// Delivery is what acceptance decided about sending it (envelope,
	// identity, transport, document, archive), stored whole with it; its
	// composed bytes are stored beside it (see Accepted).
	Delivery *Delivery `json:"-"`
}

// MessageFilter selects messages in a listing; zero fields do not filter.
type MessageFilter struct {
	Status       string
	Operator     string
	DocumentFlow string
	EntityType   string
	EntityID     string
	Since        time.Time
	Until        time.Time
	Limit        int
	// Before pages: messages created strictly before this id's message.
	Before string
}

// ArchivedDocument is a sent document stored with its business entity
// [stockage GED].
type ArchivedDocument struct {
	ID           string    `json:"id"`
	EntityType   string    `json:"entity_type"`
	EntityID     string    `json:"entity_id"`
	DocumentFlow string    `json:"document_flow"`
	MessageID    string    `json:"message_id"`
	FileName     string    `json:"file_name"`
	FileType     string    `json:"file_type"`
	ContentType  string    `json:"content_type"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	CreatedAt    time.Time `json:"created_at"`
}

// APIKey is a key the ERP uses on /v1. Only its hash is stored; the key is
// shown once, at creation.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// HeaderBytes is the size of what the request puts in header fields (see
// MaxHeaderBytes) besides the subject: its addresses and its attachments'
// names and types.
func (r *SendRequest) HeaderBytes() int {
	n := 0
	for _, l := range [][]string{r.To, r.Cc, r.Bcc} {
		for _, a := range l {
			n += len(a)
		}
	}
	for _, a := range r.Attachments {
		n += len(a.Filename) + len(a.ContentType)
	}
	return n
}
