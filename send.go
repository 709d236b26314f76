package envoi

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"io"
	"strings"
	"time"
)

// TokenSource gives the access token an identity authenticates with over
// SMTP (XOAUTH2 / OAUTHBEARER). The oauth package implements it; the smtp
// package asks it at AUTH time.
type TokenSource interface {
	// AccessToken returns a valid access token for key, refreshing it when it
	// expires soon; force refreshes even a token that looks valid (after the
	// SMTP server refused it). Returns EConsentRequired when the provider
	// refused the refresh token, and a Temporary error when the provider
	// could not be reached.
	AccessToken(ctx context.Context, key TokenKey, force bool) (string, error)
}

// Identity is who a message is sent as: the flow, the token key (operator,
// or "" for the flow's generic mailbox), the SMTP username (the account that
// consented, for XOAUTH2; the operator's address for basic SMTP) and, for
// basic SMTP, the password.
//
// Stored with a Delivery, an identity keeps its key, username and sending
// operator only: the flow is read again when the message is sent, and the
// password is never stored with a message.
type Identity struct {
	Flow     *AuthFlow `json:"-"`
	Key      TokenKey  `json:"key"`
	Username string    `json:"username"`
	// Operator is the operator who sends: on basic SMTP, their stored
	// password authenticates (also for a generic mailbox's address).
	Operator string `json:"operator,omitempty"`
	Password string `json:"-"`
}

// SendingIdentity returns who op sends as with flow: the one rule that
// composing, sending and the flow test share. A generic mailbox, or an
// app-only grant (which needs one), sends as the flow's shared address
// with the flow's token (operator ""); otherwise the operator sends as
// their own address with their own token. On basic SMTP the operator's
// password authenticates. Returns EInvalidFlowData for a generic mailbox
// without a valid address, EInvalidInput for an operator without one.
func SendingIdentity(flow *AuthFlow, op *Operator) (Identity, error) {
	id := Identity{Flow: flow}
	if op != nil {
		id.Operator = op.Code
		if flow.Kind == KindSMTPBasic {
			id.Password = op.SMTPPassword
		}
	}
	id.Key = SendingKey(flow, id.Operator)
	if sharedMailbox(flow) {
		a, err := ParseAddress(flow.GenericMailbox.Email)
		if err != nil {
			return id, FieldError(EInvalidFlowData, "generic_mailbox.email",
				"flow %s: %q is not a valid e-mail address", flow.Code, flow.GenericMailbox.Email)
		}
		id.Username = a.Address
		return id, nil
	}
	if op == nil {
		return id, FieldError(EInvalidInput, "operator", "flow %s sends as an operator: say which one", flow.Code)
	}
	if op.Email == "" {
		return id, FieldError(EInvalidInput, "operator",
			"operator %s has no e-mail address to send from", op.Code).WithDetail("operator", op.Code)
	}
	a, err := ParseAddress(op.Email)
	if err != nil {
		return id, FieldError(EInvalidInput, "operator",
			"operator %s: %q is not a valid e-mail address", op.Code, op.Email).WithDetail("operator", op.Code)
	}
	id.Username = a.Address
	return id, nil
}

// SendingKey returns the token key operator sends with on flow (see
// SendingIdentity): the flow's generic key (operator "") for a generic
// mailbox or an app-only grant, the operator's own otherwise. A consent
// stores its token under this key.
func SendingKey(flow *AuthFlow, operator string) TokenKey {
	if sharedMailbox(flow) {
		return TokenKey{Flow: flow.Code}
	}
	return TokenKey{Flow: flow.Code, Operator: operator}
}

// sharedMailbox reports whether flow sends as its generic mailbox: it has
// one, or its grant is app-only (which needs one).
func sharedMailbox(flow *AuthFlow) bool {
	g := flow.EffectiveGrant()
	return flow.GenericMailbox.Enabled || g == GrantClientCredentials || g == GrantJWTBearer
}

// Envelope is the SMTP envelope of one message.
type Envelope struct {
	From       string   `json:"from"`
	Recipients []string `json:"recipients"`
	// Size is the message's size in bytes when known (SIZE extension).
	Size int64 `json:"size"`
}

// Sender sends one message's bytes over SMTP as an identity. Errors are
// *Error with an smtp_* code (or consent_required), Temporary set for the
// retryable ones, and the server's text in Details["server_text"].
type Sender interface {
	Send(ctx context.Context, id Identity, env Envelope, data io.WriterTo) error
}

// Transports a message can be delivered by (a flow's transport).
const (
	TransportSMTP = "smtp"
	// TransportGraph sends through Microsoft Graph's sendMail.
	TransportGraph = "graph"
	// TransportGmailAPI sends through the Gmail API's users.messages.send.
	TransportGmailAPI = "gmail_api"
)

// Global endpoints of the mail APIs: a flow's api_url when it names none.
const (
	GraphURL    = "https://graph.microsoft.com/v1.0"
	GmailAPIURL = "https://gmail.googleapis.com/"
)

// Delivery is what acceptance decided about sending one message, stored
// whole with it: the worker hands it to a Transport as it is, and nothing
// of it is decided again at send time. Only what cannot be stored is added
// then: the flow as it stands (its server), the password of basic SMTP and
// the composed bytes (Content).
type Delivery struct {
	// Transport names the Transport that delivers it (TransportSMTP).
	Transport string   `json:"transport"`
	Envelope  Envelope `json:"envelope"`
	// Identity authenticates the delivery (see SendingIdentity).
	Identity Identity `json:"identity"`
	// Document is the document the message sends, nil when it has none.
	Document *DeliveryDocument `json:"document,omitempty"`
	// Archive is the file-name rule's decision, at acceptance, to store the
	// sent document and the message with the request's business entity.
	Archive bool `json:"archive,omitempty"`
	// FileType is the file type the rule gives the archived document.
	FileType string `json:"file_type,omitempty"`
	// Content is the composed message (RFC 5322), set when it is sent;
	// the store keeps it apart from the record.
	Content []byte `json:"-"`
}

// DeliveryDocument is the document a message sends (the rendered report,
// else the attachment marked as the document, else the first PDF the ERP
// attached), under the name the file-name rule gives it: its name and type, and where its
// bytes are in the composed message, base64-encoded.
type DeliveryDocument struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	// At and Encoded are the offset and the length, in the composed
	// message, of the document's base64 (line breaks included).
	At      int64 `json:"at"`
	Encoded int64 `json:"encoded"`
}

// Bytes returns the document's bytes, decoded from the composed message
// eml it was located in. Returns EInternal when eml does not hold it there.
func (d *DeliveryDocument) Bytes(eml []byte) ([]byte, error) {
	if d.At < 0 || d.Encoded < 0 || d.At+d.Encoded > int64(len(eml)) {
		return nil, Errorf(EInternal, "the document %s is not where its delivery says (%d+%d of %d bytes)", d.Name, d.At, d.Encoded, len(eml))
	}
	// The standard decoder skips the line breaks.
	b, err := base64.StdEncoding.AppendDecode(make([]byte, 0, d.Size), eml[d.At:d.At+d.Encoded])
	if err != nil || int64(len(b)) != d.Size {
		return nil, Errorf(EInternal, "the document %s is not where its delivery says: %v", d.Name, err)
	}
	return b, nil
}

// Transport delivers a message as its Delivery says: the smtp package
// today, HTTP mail APIs next. It returns what it learned of the accepted
// message (Outcome). Errors are *Error with a stable code, Temporary set
// for the retryable ones; EConsentRequired when the identity's token needs
// a person's consent again.
type Transport interface {
	Deliver(ctx context.Context, d *Delivery) (Outcome, error)
}

// Outcome is what a transport learned when the provider accepted a
// message. It holds no secret: it may be logged.
type Outcome struct {
	// ProviderMessageID is the provider's id of the accepted message (an
	// SMTP server's queue id), "" when its reply names none.
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	// Reply is the provider's final reply (an SMTP server's text after
	// DATA), "" when it gave none.
	Reply string `json:"reply,omitempty"`
}

// idEncoding is base32 with its alphabet in ASCII order (the characters of
// RFC 4648's, lower case), so that ids sort as the times they start with.
var idEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 26 base32 characters: the time in
// milliseconds (48 bits), then 80 random bits. "msg_" for messages, "arc_"
// for archived documents; every id of envoi is minted here.
//
// The time first makes ids minted in turn neighbours in an index: a
// message's row, its Message-ID and its events go to the end of their
// indexes, where random ids wrote to a page anywhere in each, every page a
// transaction touches being written whole to the database's log.
func NewID(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return prefix + idEncoding.EncodeToString(b[:])
}

// HeaderMessageID is the private header field every message carries with
// envoi's id of it ("msg_..."), besides its Message-ID: providers may
// rewrite the Message-ID, and a bounce or a read receipt that returns the
// original header is matched to the message by either.
const HeaderMessageID = "X-Envoi-Message-Id"

// MessageIDFor returns the Message-ID header's value of the message of
// that id, angle brackets included: its random part on the left, domain
// ("envoi.invalid" when empty) on the right. A message keeps it when it
// is sent again.
func MessageIDFor(id, domain string) string {
	if domain == "" {
		domain = "envoi.invalid"
	}
	if _, rest, ok := strings.Cut(id, "_"); ok {
		id = rest
	}
	return "<" + id + "@" + domain + ">"
}
