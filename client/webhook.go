package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook event types.
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

// Event is the body of a webhook delivery. Its ID is also the webhook-id
// header, the same at every attempt and replay: keep the IDs handled to
// drop a duplicate.
type Event struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is what an event is about: a message (its id, the ERP's
// entity, document flow, status, error) or, for flow events, an identity
// (flow, operator, email).
type EventData struct {
	MessageID    string          `json:"message_id,omitempty"`
	Entity       *Entity         `json:"entity,omitempty"`
	DocumentFlow string          `json:"document_flow,omitempty"`
	Operator     string          `json:"operator,omitempty"`
	Company      string          `json:"company,omitempty"`
	Status       string          `json:"status,omitempty"`
	Attempts     int             `json:"attempts,omitempty"`
	Error        *ErrorInfo      `json:"error,omitempty"`
	SentAt       *time.Time      `json:"sent_at,omitempty"`
	NextTry      *time.Time      `json:"next_attempt_at,omitempty"`
	Bounce       json.RawMessage `json:"bounce,omitempty"`
	ReadAt       *time.Time      `json:"read_at,omitempty"`
	Flow         string          `json:"flow,omitempty"`
	Email        string          `json:"email,omitempty"`
}

// DefaultTolerance is how far a delivery's webhook-timestamp may be from
// the receiver's clock (either way) before VerifyWebhook refuses it: a
// replayed old delivery is refused even with its valid signature.
const DefaultTolerance = 5 * time.Minute

// Errors of webhook verification.
var (
	ErrWebhookHeaders   = errors.New("envoi webhook: webhook-id, webhook-timestamp or webhook-signature missing")
	ErrWebhookTimestamp = errors.New("envoi webhook: the timestamp is outside the tolerance")
	ErrWebhookSignature = errors.New("envoi webhook: no signature matches")
	ErrWebhookSecret    = errors.New("envoi webhook: the secret is not whsec_ then base64")
)

// WebhookVerifier checks envoi's webhook deliveries: signed as the
// Standard Webhooks specification says, webhook-signature is "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body", keyed by the secret's bytes
// (base64 after "whsec_"). Several signatures may be given, separated by
// spaces (during a change of secret); one matching is enough.
type WebhookVerifier struct {
	Secret string
	// Tolerance bounds the timestamp's distance to Now (DefaultTolerance
	// when zero; negative skips the check).
	Tolerance time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Verify checks headers and the raw body as received, and returns the
// event it carries. Verify before parsing, and on the body's exact bytes.
func (v *WebhookVerifier) Verify(headers http.Header, body []byte) (*Event, error) {
	enc, ok := strings.CutPrefix(v.Secret, "whsec_")
	if !ok {
		return nil, ErrWebhookSecret
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) == 0 {
		return nil, ErrWebhookSecret
	}
	id, ts, sigs := headers.Get("webhook-id"), headers.Get("webhook-timestamp"), headers.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return nil, ErrWebhookHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, ErrWebhookTimestamp
	}
	tol := v.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	if tol > 0 {
		now := time.Now
		if v.Now != nil {
			now = v.Now
		}
		if d := now().Sub(time.Unix(sec, 0)); d > tol || d < -tol {
			return nil, ErrWebhookTimestamp
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	matched := false
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			matched = true
			break
		}
	}
	if !matched {
		return nil, ErrWebhookSignature
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("envoi webhook: the body is not an event: %w", err)
	}
	return &ev, nil
}

// VerifyWebhook checks a delivery with secret and DefaultTolerance and
// returns its event; see WebhookVerifier.
func VerifyWebhook(secret string, headers http.Header, body []byte) (*Event, error) {
	return (&WebhookVerifier{Secret: secret}).Verify(headers, body)
}

// Webhook is an endpoint of the ERP that receives events.
type Webhook struct {
	Code           string    `json:"code"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	SecretSet      bool      `json:"secret_set"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// Secret is only in the answer of the PutWebhook that made it: keep it.
	Secret string `json:"secret,omitempty"`
}

// WebhookInput is the body of PUT /v1/webhooks/{code}. An empty Secret
// keeps the stored one, or has envoi make one (returned once).
type WebhookInput struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret,omitempty"`
}

// WebhookAttempt is one POST of a delivery.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

// WebhookDelivery is an event on its way to an endpoint.
type WebhookDelivery struct {
	ID          string           `json:"id"`
	Webhook     string           `json:"webhook"`
	EventID     string           `json:"event_id"`
	EventType   string           `json:"event_type"`
	State       string           `json:"state"`
	Attempts    int              `json:"attempts"`
	NextTry     *time.Time       `json:"next_attempt_at,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	DeliveredAt *time.Time       `json:"delivered_at,omitempty"`
	AttemptLog  []WebhookAttempt `json:"attempt_log"`
}

// Replay selects events to deliver again: one EventID, or the events of
// the endpoint's types in [Since, Until) (Until zero: now).
type Replay struct {
	EventID string    `json:"event_id,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
}

// PutWebhook creates or replaces the endpoint code and enables it.
func (c *Client) PutWebhook(ctx context.Context, code string, in *WebhookInput) (*Webhook, error) {
	var w Webhook
	if _, err := c.do(ctx, http.MethodPut, "/v1/webhooks/"+url.PathEscape(code), in, &w, nil); err != nil {
		return nil, err
	}
	return &w, nil
}

// GetWebhook returns the endpoint code (without its secret).
func (c *Client) GetWebhook(ctx context.Context, code string) (*Webhook, error) {
	var w Webhook
	if _, err := c.do(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(code), nil, &w, nil); err != nil {
		return nil, err
	}
	return &w, nil
}

// DeleteWebhook removes the endpoint code and its deliveries.
func (c *Client) DeleteWebhook(ctx context.Context, code string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/webhooks/"+url.PathEscape(code), nil, nil, nil)
	return err
}

// WebhookDeliveries returns the endpoint's latest deliveries, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, code string) ([]WebhookDelivery, error) {
	var out []WebhookDelivery
	if _, err := c.do(ctx, http.MethodGet, "/v1/webhooks/"+url.PathEscape(code)+"/deliveries", nil, &out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// ReplayWebhook queues events again to the endpoint and returns how many.
func (c *Client) ReplayWebhook(ctx context.Context, code string, r Replay) (int, error) {
	var out struct {
		Queued int `json:"queued"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/webhooks/"+url.PathEscape(code)+"/replay", r, &out, nil); err != nil {
		return 0, err
	}
	return out.Queued, nil
}
