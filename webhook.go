package envoi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Webhook event types: what envoi tells the ERP about its messages and its
// identities. Each is written to the outbox in the transaction that makes
// the change it reports (see sqlstore), then delivered signed as the
// Standard Webhooks specification says (package webhook).
const (
	EventMessageAccepted        = "message.accepted"
	EventMessageSent            = "message.sent"
	EventMessageRetrying        = "message.retrying"
	EventMessageFailed          = "message.failed"
	EventMessageConsentRequired = "message.consent_required"
	EventMessageBounced         = "message.bounced"
	EventMessageDelayed         = "message.delayed"
	EventMessageRead            = "message.read"
	EventFlowConsentRequired    = "flow.consent_required"
	EventFlowConsentRestored    = "flow.consent_restored"
)

// EventTypes returns every webhook event type, in the catalogue's order.
func EventTypes() []string {
	return []string{EventMessageAccepted, EventMessageSent, EventMessageRetrying, EventMessageFailed,
		EventMessageConsentRequired, EventMessageBounced, EventMessageDelayed, EventMessageRead,
		EventFlowConsentRequired, EventFlowConsentRestored}
}

// MessageEvent returns the event a message reaching status reports, or ""
// when that status is not reported (queued, sending: the ERP learns them
// from message.accepted and the next event).
func MessageEvent(status string) string {
	switch status {
	case StatusSent:
		return EventMessageSent
	case StatusRetrying:
		return EventMessageRetrying
	case StatusFailed:
		return EventMessageFailed
	case StatusConsentRequired:
		return EventMessageConsentRequired
	case StatusBounced:
		return EventMessageBounced
	}
	return ""
}

// WebhookSecretPrefix starts every webhook secret: the Standard Webhooks
// form, "whsec_" then the key's bytes in base64.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a new secret of 32 random bytes in the
// Standard Webhooks form.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// WebhookKey returns the HMAC key of a secret: the bytes base64-encoded
// after "whsec_". Returns EInvalidInput naming "secret" when it is not of
// that form or shorter than 16 bytes.
func WebhookKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, WebhookSecretPrefix)
	if !ok {
		return nil, FieldError(EInvalidInput, "secret", "a webhook secret starts with %q then base64 (leave it empty to have envoi make one)", WebhookSecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, FieldError(EInvalidInput, "secret", "the part of the secret after %q is not base64", WebhookSecretPrefix)
	}
	if len(key) < 16 || len(key) > 64 {
		return nil, FieldError(EInvalidInput, "secret", "the secret's key is %d bytes; give 16 to 64", len(key))
	}
	return key, nil
}

// Webhook is an endpoint of the ERP that receives events: the URL, the
// event types it wants, and the secret that signs them (stored sealed,
// never shown again after it is made).
type Webhook struct {
	Code      string   `json:"code"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"-"`
	SecretSet bool     `json:"secret_set"`
	// Enabled is false once the endpoint answered 410 Gone; a PUT enables
	// it again. DisabledReason says why and when.
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Wants says whether the endpoint subscribes to the event type.
func (w *Webhook) Wants(eventType string) bool { return slices.Contains(w.Events, eventType) }

// Validate checks the code, the URL (http or https, a host, no
// credentials), the events (known, at least one) and the secret when one
// is given. Returns EInvalidInput naming the field.
func (w *Webhook) Validate() error {
	if err := checkCode(w.Code, "code"); err != nil {
		return err
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return FieldError(EInvalidInput, "url", "the webhook URL must be an absolute http or https URL")
	}
	if u.User != nil {
		return FieldError(EInvalidInput, "url", "the webhook URL must not carry credentials: the signature authenticates envoi")
	}
	if len(w.Events) == 0 {
		return FieldError(EInvalidInput, "events", "name at least one event, e.g. %q", EventMessageSent)
	}
	known := EventTypes()
	seen := map[string]bool{}
	for _, e := range w.Events {
		if !slices.Contains(known, e) {
			return FieldError(EInvalidInput, "events", "%q is not a webhook event; known: %s", e, strings.Join(known, ", ")).WithDetail("event", e)
		}
		if seen[e] {
			return FieldError(EInvalidInput, "events", "%q is named twice", e).WithDetail("event", e)
		}
		seen[e] = true
	}
	if w.Secret != "" {
		if _, err := WebhookKey(w.Secret); err != nil {
			return err
		}
	}
	return nil
}

// Event is one entry of the outbox: a change envoi reports, with its
// payload as the receivers get it. ID is the webhook-id of every delivery
// of it ("evt_..."), the receivers' key to drop a duplicate.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is an event's data: the message's (id, entity, document flow,
// status, error) for message events, the identity's (flow, operator,
// email) for flow events.
type EventData struct {
	MessageID    string      `json:"message_id,omitempty"`
	Entity       *Entity     `json:"entity,omitempty"`
	DocumentFlow string      `json:"document_flow,omitempty"`
	Operator     string      `json:"operator,omitempty"`
	Company      string      `json:"company,omitempty"`
	Status       string      `json:"status,omitempty"`
	Attempts     int         `json:"attempts,omitempty"`
	Error        *EventError `json:"error,omitempty"`
	SentAt       time.Time   `json:"sent_at,omitzero"`
	NextTry      time.Time   `json:"next_attempt_at,omitzero"`
	// Bounce and ReadAt are the delivery reports' (message.bounced,
	// message.delayed, message.read).
	Bounce any       `json:"bounce,omitempty"`
	ReadAt time.Time `json:"read_at,omitzero"`
	// Flow and Email name the identity of a flow event.
	Flow  string `json:"flow,omitempty"`
	Email string `json:"email,omitempty"`
}

// EventError is the error of an event: the catalogue's code, the
// provider's or envoi's message, and the remedy.
type EventError struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
	Remedy  string `json:"remedy,omitempty"`
}

// Delivery states of an event to one endpoint.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// WebhookDelivery is an event on its way to one endpoint, with its attempts.
type WebhookDelivery struct {
	ID         string            `json:"id"`
	Webhook    string            `json:"webhook"`
	EventID    string            `json:"event_id"`
	EventType  string            `json:"event_type"`
	State      string            `json:"state"`
	Attempts   int               `json:"attempts"`
	NextTry    time.Time         `json:"next_attempt_at,omitzero"`
	CreatedAt  time.Time         `json:"created_at"`
	Delivered  time.Time         `json:"delivered_at,omitzero"`
	AttemptLog []*WebhookAttempt `json:"attempt_log"`
}

// WebhookAttempt is one POST of an event to an endpoint: when, the HTTP
// status (0 when none came back) and the error.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

// Replay asks for events to be delivered again to one endpoint: the event
// EventID, or the events of the endpoint's types created in [Since, Until).
type Replay struct {
	EventID string    `json:"event_id,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
}

// WebhookService stores webhook endpoints and their deliveries.
type WebhookService interface {
	// PutWebhook inserts or replaces the endpoint of w.Code and enables
	// it. An empty w.Secret keeps the stored one; when none is stored a
	// new one is made and left in w.Secret (to be shown once).
	PutWebhook(ctx context.Context, w *Webhook) error
	// Webhook returns the endpoint with its secret; ENotFound if none.
	Webhook(ctx context.Context, code string) (*Webhook, error)
	Webhooks(ctx context.Context) ([]*Webhook, error)
	DeleteWebhook(ctx context.Context, code string) error
	// WebhookDeliveries returns the endpoint's latest deliveries, newest
	// first, with their attempts; ENotFound when there is no endpoint.
	WebhookDeliveries(ctx context.Context, code string, limit int) ([]*WebhookDelivery, error)
	// ReplayWebhook queues the events r selects to the endpoint again and
	// returns how many; ENotFound for an unknown endpoint or event.
	ReplayWebhook(ctx context.Context, code string, r Replay) (int, error)
}

// WebhookJob is a delivery claimed by a dispatcher: the event's body to
// POST to the endpoint, and the claim's token that fences its outcome.
type WebhookJob struct {
	Delivery  string
	Token     string
	Webhook   *Webhook // with its secret
	EventID   string
	EventType string
	Body      []byte
	// Attempt counts this one: 1 for the first.
	Attempt int
}

// WebhookOutcome is what one POST of a delivery came to.
type WebhookOutcome struct {
	At         time.Time
	StatusCode int
	Error      string
	Duration   time.Duration
	// Delivered: the endpoint answered 2xx. Gone: it answered 410, and is
	// disabled. Otherwise the delivery is due again at Retry, or given up
	// when Retry is zero.
	Delivered bool
	Gone      bool
	Retry     time.Time
}
