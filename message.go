package envoi

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net/textproto"
	"slices"
	"strings"
	"time"
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

// Statuses lists every state a message can be in, as the API names them.
var Statuses = []string{StatusScheduled, StatusQueued, StatusSending, StatusSent, StatusRetrying, StatusFailed, StatusConsentRequired, StatusBounced}

// CheckStatus refuses a status filter that names no state (EInvalidInput
// on field, listing them); "" is no filter.
func CheckStatus(status, field string) error {
	if status == "" || slices.Contains(Statuses, status) {
		return nil
	}
	return FieldError(EInvalidInput, field, "%q is not a message status (%s)", status, strings.Join(Statuses, ", "))
}

// Final reports whether status is an end state (sent, failed, or sent
// then bounced); a message parked on consent_required is not final: it
// resumes after consent.
func Final(status string) bool {
	return status == StatusSent || status == StatusFailed || status == StatusBounced
}

// Entity is the business entity a document belongs to (e.g. BL 12345).
type Entity struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Attachment is a file the ERP sends with the message. Document marks the
// one that is the document the message sends (a PDF the ERP rendered
// itself): it is named by the document flow's file-name rule, archived
// when the rule asks, its bytes unchanged. Without a report and without a
// marked attachment, the first PDF attachment is the document.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     []byte `json:"content_base64"`
	Document    bool   `json:"document,omitempty"`
	// Encoded, when set, is the file in standard base64 (padded, one line,
	// checked by CanonicalBase64) and Content is nil: the API keeps the
	// text it received, which composing cuts into 76-character lines
	// instead of decoding it and encoding it again.
	Encoded []byte `json:"-"`
}

// Size returns the file's size in bytes, decoded.
func (a *Attachment) Size() int64 {
	if a.Encoded != nil {
		return Base64DecodedLen(a.Encoded)
	}
	return int64(len(a.Content))
}

// Base64DecodedLen returns the number of bytes the padded standard base64
// text b decodes to.
func Base64DecodedLen(b []byte) int64 {
	n := int64(len(b)) / 4 * 3
	for i := len(b) - 1; i >= 0 && i >= len(b)-2 && b[i] == '='; i-- {
		n--
	}
	return n
}

// base64Values maps a standard base64 character to its value, other bytes
// to 0xff.
var base64Values = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// CanonicalBase64 reports whether b is standard base64 exactly as
// base64.StdEncoding encodes some bytes: a multiple of four characters of
// the alphabet, the padding only at the end, the bits the padding leaves
// unused zero, and no line break or space. Such text decodes to one byte
// string and is the encoding of it, so it can be sent as it is, cut into
// lines.
func CanonicalBase64(b []byte) bool {
	if len(b)%4 != 0 {
		return false
	}
	end := len(b)
	pad := 0
	for pad < 2 && end > 0 && b[end-1] == '=' {
		end--
		pad++
	}
	var bad byte
	for _, c := range b[:end] {
		bad |= base64Values[c]
	}
	if bad&0x80 != 0 {
		return false
	}
	switch pad {
	case 1: // the last character before "=" carries 2 unused bits
		return base64Values[b[end-1]]&0x3 == 0
	case 2: // 4 unused bits
		return base64Values[b[end-1]]&0xf == 0
	}
	return true
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
	// Language is the recipient's language, a BCP 47 tag (fr, fr-CH, de):
	// it picks the mail setting's variant (ChooseMailSetting), the
	// company's language when empty.
	Language string `json:"language,omitempty"`
	// SendAt, when set, asks to send no sooner (RFC 3339): the message
	// waits as StatusScheduled. At most MaxSendAhead ahead; a past time
	// is now.
	SendAt *time.Time `json:"send_at,omitempty"`
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
	// MaxSendAhead bounds a request's send_at.
	MaxSendAhead = 366 * 24 * time.Hour
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
	if r.Language != "" {
		if _, err := MailLanguage(r.Language); err != nil {
			return err
		}
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
	document := -1
	for i, a := range r.Attachments {
		if a.Filename == "" {
			return FieldError(EInvalidInput, "attachments", "attachment %d has no filename", i)
		}
		if a.Document {
			field := fmt.Sprintf("attachments[%d].document", i)
			if r.Report != nil {
				return FieldError(EInvalidInput, field, "the request asks for a report, which is its document: no attachment can be the document too")
			}
			if document >= 0 {
				return FieldError(EInvalidInput, field, "attachments %d and %d both say they are the document; a message sends one", document, i)
			}
			document = i
		}
		if header += len(a.Filename) + len(a.ContentType); header > MaxHeaderBytes {
			return overHeaders("attachments")
		}
	}
	if err := checkContext(r.Context); err != nil {
		return err
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
	// Subject is the subject the message was sent with, filled at
	// acceptance ("" for envoi's own sensitive mails).
	Subject string `json:"subject,omitempty"`
	// ProviderMessageID is the provider's own id of the sent message (an
	// SMTP server's queue id, Graph's internetMessageId, Gmail's message
	// id), "" when it named none.
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	// Mailbox is the identity the message is sent as (for rate limits and
	// parking on consent): flow code and operator ("" for a generic mailbox).
	Flow    string    `json:"flow"`
	Mailbox string    `json:"mailbox"`
	NextTry time.Time `json:"next_try,omitzero"`
	// NextAttemptAt and WaitReason say, of a message that waits, until
	// when and why (envoi.WaitRateLimited, WaitQuota, WaitServerRetry,
	// WaitScheduled): its own due time, or its mailbox's pause when
	// that is later.
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	WaitReason    string    `json:"wait_reason,omitempty"`
	SentAt        time.Time `json:"sent_at,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	EMLSize       int64     `json:"eml_size,omitempty"`
	// Duplicates counts the claims over a lapsed lease (a send cut by a
	// crash): the message may have gone out that many times more. Shown
	// to users (possible_duplicates), so a fact of the message, not of a
	// claim (see Claim).
	Duplicates int `json:"duplicates,omitempty"`
	// Sensitive: see SendRequest.Sensitive.
	Sensitive bool `json:"-"`
	// Bounce is what a delivery status notification said when the message
	// was reported undeliverable (status bounced), nil when none came.
	Bounce *Bounce `json:"bounce,omitempty"`
	// Delay is the latest delay notice (a report with action delayed): the
	// status is unchanged, the notice is shown. Nil when none came.
	Delay *Bounce `json:"delay,omitempty"`
	// ReadAt is when a read receipt (RFC 8098, disposition displayed)
	// says the message was displayed; zero when none came.
	ReadAt time.Time `json:"read_at,omitzero"`
	// Delivery is what acceptance decided about sending it (envelope,
	// identity, transport, document, archive), stored whole with it; its
	// composed bytes are stored beside it (see Accepted).
	Delivery *Delivery `json:"-"`
}

// Bounce is what a report about a sent message said of one recipient: a
// bounce (RFC 3464 action failed) or a delay notice (action delayed).
type Bounce struct {
	// Recipient is the address the report is about.
	Recipient string `json:"recipient"`
	// Status is the enhanced status code (RFC 3463), e.g. "5.1.1".
	Status string `json:"status"`
	// Diagnostic is the remote server's reply as the report quotes it.
	Diagnostic string `json:"diagnostic"`
	// At is when the report says it happened, else when envoi read it.
	At time.Time `json:"at"`
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

// HeaderSubject returns the Subject of the composed message eml, decoded
// (RFC 2047) and unfolded; "" when it has none or its header does not
// parse.
func HeaderSubject(eml []byte) string {
	end := bytes.Index(eml, []byte("\r\n\r\n"))
	if end < 0 {
		return ""
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(eml[:end+4]))).ReadMIMEHeader()
	if err != nil {
		return ""
	}
	s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		return h.Get("Subject")
	}
	return s
}

// Recipients returns the addresses m was sent to: To, then Cc and Bcc
// when the request is loaded whole; never nil.
func (m *Message) Recipients() []string {
	out := make([]string, 0, len(m.Request.To)+len(m.Request.Cc)+len(m.Request.Bcc))
	out = append(out, m.Request.To...)
	out = append(out, m.Request.Cc...)
	return append(out, m.Request.Bcc...)
}
