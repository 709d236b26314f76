// Package client is envoi's Go client for Go ERPs: the v1 API's types,
// sending with an idempotency key, reading and waiting for a message's
// outcome, errors carrying envoi's stable code and remedy, and the
// verification of envoi's signed webhooks.
//
// It depends on the standard library alone, so an ERP that requires the
// envoi module and imports envoi/client pulls nothing else in.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one envoi's v1 API. Create it with New; its fields may be
// changed before first use.
type Client struct {
	// BaseURL is where envoi serves, e.g. "http://127.0.0.1:8025".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>" (envoi apikey create).
	APIKey string
	// HTTPClient makes the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Language asks for error messages and remedies in "en", "fr" or "es".
	Language string
	// PollInterval is Wait's pause between reads (default 500ms).
	PollInterval time.Duration
}

// New returns a client of the envoi at baseURL, authenticated by apiKey.
func New(baseURL, apiKey string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), APIKey: apiKey}
}

// Message statuses.
const (
	StatusQueued          = "queued"
	StatusScheduled       = "scheduled"
	StatusSending         = "sending"
	StatusSent            = "sent"
	StatusRetrying        = "retrying"
	StatusFailed          = "failed"
	StatusConsentRequired = "consent_required"
	StatusBounced         = "bounced"
)

// Settled says whether a message in status has an outcome the ERP acts on:
// sent (or bounced after), failed, or parked until an operator consents
// again. Wait returns at the first of these.
func Settled(status string) bool {
	switch status {
	case StatusSent, StatusFailed, StatusConsentRequired, StatusBounced:
		return true
	}
	return false
}

// Entity is the ERP's business entity a document belongs to (BL 12345).
type Entity struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Attachment is a file sent with the message; Content travels in base64.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     []byte `json:"content_base64"`
	// Document marks the business document itself (archived with the entity).
	Document bool `json:"document,omitempty"`
}

// Report asks envoi to render the document to PDF from a report template.
type Report struct {
	Template string         `json:"template"`
	Data     map[string]any `json:"data"`
}

// SendRequest is the body of POST /v1/messages.
type SendRequest struct {
	DocumentFlow string            `json:"document_flow"`
	Operator     string            `json:"operator"`
	Company      string            `json:"company,omitempty"`
	To           []string          `json:"to"`
	Cc           []string          `json:"cc,omitempty"`
	Bcc          []string          `json:"bcc,omitempty"`
	Context      map[string]string `json:"context,omitempty"`
	Report       *Report           `json:"report,omitempty"`
	Attachments  []Attachment      `json:"attachments,omitempty"`
	Entity       *Entity           `json:"entity,omitempty"`
	// SendAt defers the send (zero: at once); Language picks the mail's.
	SendAt   time.Time `json:"send_at,omitzero"`
	Language string    `json:"language,omitempty"`
}

// Message is a message as GET /v1/messages/{id} shows it.
type Message struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Attempts     int        `json:"attempts"`
	Error        *ErrorInfo `json:"error"`
	MessageID    string     `json:"message_id"`
	SentAt       *time.Time `json:"sent_at"`
	NextTry      *time.Time `json:"next_try,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	DocumentFlow string     `json:"document_flow"`
	Operator     string     `json:"operator"`
	Company      string     `json:"company,omitempty"`
	Entity       *Entity    `json:"entity,omitempty"`
	// PossibleDuplicates counts sends cut by a crash that may have left.
	PossibleDuplicates int `json:"possible_duplicates,omitempty"`
	// Replayed: Send found the idempotency key used by the same request
	// and answered the message it made then.
	Replayed bool `json:"-"`
}

// ErrorInfo is envoi's error object: a stable code, a message and a
// remedy (in the client's Language), and details.
type ErrorInfo struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Remedy  string         `json:"remedy"`
	Details map[string]any `json:"details,omitempty"`
}

// Error is an error answer of the API. Test its code with errors.As, or
// with IsCode.
type Error struct {
	StatusCode int
	ErrorInfo
}

func (e *Error) Error() string {
	s := fmt.Sprintf("envoi: %s (%d): %s", e.Code, e.StatusCode, e.Message)
	if e.Remedy != "" {
		s += "; " + e.Remedy
	}
	return s
}

// Temporary says whether the same request may work later (429, 5xx).
func (e *Error) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// IsCode says whether err is an API error with that code (for example
// "mail_setting_not_found", "consent_required", "idempotency_conflict").
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// SendOptions are the options of one send.
type SendOptions struct {
	// IdempotencyKey makes a retried Send answer the message of the first
	// (the same request) instead of sending twice; a key reused for
	// another request is an "idempotency_conflict" error.
	IdempotencyKey string
	// Wait asks envoi to answer once the message settles or Wait passes
	// (at most 120s; the answer is then the message still on its way).
	Wait time.Duration
}

// Send submits req and returns the message accepted (or, with o.Wait,
// as it stands when it settled or the wait ended).
func (c *Client) Send(ctx context.Context, req *SendRequest, o *SendOptions) (*Message, error) {
	path := "/v1/messages"
	hdr := http.Header{}
	if o != nil {
		if o.Wait > 0 {
			path += "?wait=" + url.QueryEscape(o.Wait.String())
		}
		if o.IdempotencyKey != "" {
			hdr.Set("Idempotency-Key", o.IdempotencyKey)
		}
	}
	var m Message
	resp, err := c.do(ctx, http.MethodPost, path, req, &m, hdr)
	if err != nil {
		return nil, err
	}
	m.Replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	return &m, nil
}

// Get returns the message of that id; a "not_found" *Error if none.
func (c *Client) Get(ctx context.Context, id string) (*Message, error) {
	var m Message
	if _, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, &m, nil); err != nil {
		return nil, err
	}
	return &m, nil
}

// Wait reads the message until it settles (Settled) and returns it, or
// returns ctx's error with the message as last read.
func (c *Client) Wait(ctx context.Context, id string) (*Message, error) {
	every := c.PollInterval
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m, err := c.Get(ctx, id)
		if err != nil {
			return m, err
		}
		if Settled(m.Status) {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case <-t.C:
		}
	}
}

// do sends a JSON request and decodes a JSON answer into out; an error
// answer is an *Error.
func (c *Client) do(ctx context.Context, method, path string, in, out any, hdr http.Header) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("envoi: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("envoi: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	if c.Language != "" {
		req.Header.Set("Accept-Language", c.Language)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("envoi: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("envoi: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error ErrorInfo `json:"error"`
		}
		e := &Error{StatusCode: resp.StatusCode}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.ErrorInfo = eb.Error
		} else {
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), strings.TrimSpace(string(data))
		}
		return resp, e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("envoi: decode %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}
