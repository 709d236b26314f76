// Package graph sends envoi's messages through Microsoft Graph: the
// composed MIME message, base64 in a text/plain body, to
// /users/{mailbox}/sendMail (or /me/sendMail for an operator's own
// delegated consent), answered 202. A message too large for one request
// (about 4 MB) is created as a draft without its attachments, each
// attachment is added (a POST under 3 MB, an upload session in chunks
// above), and the draft is sent. Plain net/http; the access token comes
// from envoi.TokenSource, refreshed once when Graph answers 401.
package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"envoi"
)

// Defaults of the Sender's zero values.
const (
	// DefaultMaxRequestBytes is the largest request body sent at once:
	// Graph takes about 4 MB a request ("Send Outlook messages from
	// another user" and user-sendmail on Microsoft Learn), so above it
	// the message goes as a draft with its attachments uploaded apart.
	DefaultMaxRequestBytes = 4_000_000
	// DefaultChunkBytes is an upload session's chunk: a multiple of 320
	// KiB and under the 4 MB a PUT takes (attachment-createuploadsession).
	DefaultChunkBytes = 12 * 320 << 10
	// DefaultMaxConcurrent is the number of requests sent at once for one
	// mailbox: Outlook resources allow 4 concurrent requests per app and
	// mailbox (Microsoft Graph throttling limits, "Outlook service
	// limits").
	DefaultMaxConcurrent = 4
	// DefaultTimeout bounds one request.
	DefaultTimeout = 2 * time.Minute
	// LargeAttachment is the size from which an attachment goes through
	// an upload session rather than one POST ("Attach large files to
	// Outlook messages": under 3 MB one POST, 3 to 150 MB a session).
	LargeAttachment = 3 << 20
	// MaxAttachment is the largest attachment Graph takes (150 MB).
	MaxAttachment = 150 << 20
	// ChunkUnit is what every chunk but the last is a multiple of.
	ChunkUnit = 320 << 10
)

// Sender delivers messages through Microsoft Graph; the transport of
// envoi.TransportGraph. Its zero value is ready but for Tokens. It is safe
// for concurrent use.
type Sender struct {
	// Tokens gives the access tokens (required).
	Tokens envoi.TokenSource
	// HTTPClient sends the requests (http.DefaultClient when nil).
	HTTPClient *http.Client
	// MaxRequestBytes is the largest body sent in one request
	// (DefaultMaxRequestBytes).
	MaxRequestBytes int
	// ChunkBytes is the upload sessions' chunk size, rounded down to a
	// multiple of 320 KiB (DefaultChunkBytes).
	ChunkBytes int
	// MaxConcurrent bounds the requests in flight for one mailbox
	// (DefaultMaxConcurrent).
	MaxConcurrent int
	// Timeout bounds each request (DefaultTimeout).
	Timeout time.Duration
	// Logger receives what happens; never a token.
	Logger *slog.Logger

	mu    sync.Mutex
	slots map[string]chan struct{}
}

var _ envoi.Transport = (*Sender)(nil)

func (s *Sender) client() *http.Client {
	if s.HTTPClient != nil {
		return s.HTTPClient
	}
	return http.DefaultClient
}

func (s *Sender) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Sender) maxRequest() int {
	if s.MaxRequestBytes > 0 {
		return s.MaxRequestBytes
	}
	return DefaultMaxRequestBytes
}

func (s *Sender) chunk() int {
	c := s.ChunkBytes
	if c <= 0 {
		c = DefaultChunkBytes
	}
	return max(c/ChunkUnit, 1) * ChunkUnit
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// acquire takes one of the mailbox's request slots; release gives it back.
func (s *Sender) acquire(ctx context.Context, mailbox string) (release func(), err error) {
	n := s.MaxConcurrent
	if n <= 0 {
		n = DefaultMaxConcurrent
	}
	s.mu.Lock()
	if s.slots == nil {
		s.slots = map[string]chan struct{}{}
	}
	ch := s.slots[mailbox]
	if ch == nil {
		ch = make(chan struct{}, n)
		s.slots[mailbox] = ch
	}
	s.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// target is where one identity's requests go.
type target struct {
	base    string // the flow's API base URL, without a trailing slash
	user    string // "/me" or "/users/{mailbox}"
	mailbox string // the concurrency key
	key     envoi.TokenKey
}

func targetOf(id envoi.Identity) (target, error) {
	f := id.Flow
	if f == nil {
		return target{}, envoi.FieldError(envoi.EInvalidInput, "flow", "no authentication flow given")
	}
	if f.Kind != envoi.KindOAuth2 {
		return target{}, envoi.FieldError(envoi.EInvalidFlowData, "transport", "the graph transport authenticates with OAuth 2.0 tokens")
	}
	base := f.EffectiveAPIURL()
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return target{}, envoi.FieldError(envoi.EInvalidFlowData, "api_url", "%q is not an http(s) URL", base)
	}
	t := target{base: base, key: id.Key, mailbox: f.Code + "\x00" + strings.ToLower(id.Username)}
	// An operator's own delegated consent sends as the signed-in user;
	// a shared mailbox (app-only, or a generic mailbox) is named.
	if id.Key.Operator != "" && f.EffectiveGrant() == envoi.GrantAuthorizationCode {
		t.user = "/me"
	} else {
		if id.Username == "" {
			return target{}, envoi.FieldError(envoi.EInvalidFlowData, "generic_mailbox.email", "the shared mailbox to send as is not given")
		}
		t.user = "/users/" + url.PathEscape(id.Username)
	}
	return t, nil
}

// Deliver sends d's message (d.Content) as d's identity. The outcome's
// ProviderMessageID is the message's internetMessageId as Graph holds it:
// the draft's when the message went as a draft, else the Message-ID
// envoi set, which Graph keeps (sendMail answers 202 with no body).
// Errors are *envoi.Error: consent_required when the token is refused
// after one refresh, api_* codes with the provider's code and text in
// the details, and on 429 or 503 an api_throttled error that wraps an
// *envoi.Throttle (Temporary, so the message waits).
func (s *Sender) Deliver(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
	if d.Transport != envoi.TransportGraph {
		return envoi.Outcome{}, envoi.FieldError(envoi.EInvalidInput, "transport", "%q is not delivered through Microsoft Graph", d.Transport)
	}
	if d.Content == nil {
		return envoi.Outcome{}, envoi.FieldError(envoi.EInvalidInput, "data", "no message to send")
	}
	t, err := targetOf(d.Identity)
	if err != nil {
		return envoi.Outcome{}, err
	}
	c := &call{s: s, t: t}
	mime := envoi.APIMessage(d)
	if base64.StdEncoding.EncodedLen(len(mime)) <= s.maxRequest() {
		if _, err := c.do(ctx, http.MethodPost, t.user+"/sendMail", "text/plain", b64(mime), http.StatusAccepted); err != nil {
			return envoi.Outcome{}, err
		}
		return envoi.Outcome{ProviderMessageID: headerMessageID(mime), Reply: "202 Accepted"}, nil
	}
	return s.sendLarge(ctx, c, mime)
}

// sendLarge creates the message as a draft from its MIME without its
// attachments, adds each attachment, then sends the draft.
func (s *Sender) sendLarge(ctx context.Context, c *call, mime []byte) (envoi.Outcome, error) {
	draft, atts, err := splitAttachments(mime)
	if err != nil {
		return envoi.Outcome{}, err
	}
	if base64.StdEncoding.EncodedLen(len(draft)) > s.maxRequest() {
		return envoi.Outcome{}, envoi.Errorf(envoi.EAPIMessageTooBig, "the message without its attachments takes %d bytes; Microsoft Graph takes about 4 MB a request", len(draft))
	}
	for _, a := range atts {
		if len(a.content) > MaxAttachment {
			return envoi.Outcome{}, envoi.Errorf(envoi.EAPIMessageTooBig, "the attachment %s takes %d bytes; Microsoft Graph takes 150 MB at most", a.name, len(a.content))
		}
	}
	body, err := c.do(ctx, http.MethodPost, c.t.user+"/messages", "text/plain", b64(draft), http.StatusCreated)
	if err != nil {
		return envoi.Outcome{}, err
	}
	var msg struct {
		ID                string `json:"id"`
		InternetMessageID string `json:"internetMessageId"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.ID == "" {
		return envoi.Outcome{}, envoi.Errorf(envoi.EAPIRejected, "Microsoft Graph created the draft but named no id").WithDetail("provider_text", truncate(string(body)))
	}
	item := c.t.user + "/messages/" + url.PathEscape(msg.ID)
	for _, a := range atts {
		if err := s.attach(ctx, c, item, a); err != nil {
			c.discard(item)
			return envoi.Outcome{}, err
		}
	}
	if _, err := c.do(ctx, http.MethodPost, item+"/send", "", nil, http.StatusAccepted); err != nil {
		c.discard(item)
		return envoi.Outcome{}, err
	}
	id := msg.InternetMessageID
	if id == "" {
		id = msg.ID
	}
	return envoi.Outcome{ProviderMessageID: id, Reply: "202 Accepted"}, nil
}

// attach adds one attachment to the draft: one POST under 3 MB, an upload
// session above.
func (s *Sender) attach(ctx context.Context, c *call, item string, a attachment) error {
	if len(a.content) < LargeAttachment {
		body, _ := json.Marshal(map[string]any{
			"@odata.type": "#microsoft.graph.fileAttachment", "name": a.name, "contentType": a.contentType,
			"contentBytes": a.content, "isInline": false,
		})
		_, err := c.do(ctx, http.MethodPost, item+"/attachments", "application/json", body, http.StatusCreated)
		return err
	}
	body, _ := json.Marshal(map[string]any{"AttachmentItem": map[string]any{
		"attachmentType": "file", "name": a.name, "size": len(a.content), "contentType": a.contentType,
	}})
	resp, err := c.do(ctx, http.MethodPost, item+"/attachments/createUploadSession", "application/json", body, http.StatusCreated)
	if err != nil {
		return err
	}
	var sess struct {
		UploadURL string `json:"uploadUrl"`
	}
	if err := json.Unmarshal(resp, &sess); err != nil || sess.UploadURL == "" {
		return envoi.Errorf(envoi.EAPIRejected, "Microsoft Graph opened no upload session for %s", a.name).WithDetail("provider_text", truncate(string(resp)))
	}
	size := len(a.content)
	for at := 0; at < size; {
		end := min(at+s.chunk(), size)
		if err := c.put(ctx, sess.UploadURL, a.content[at:end], at, size); err != nil {
			return err
		}
		at = end
	}
	return nil
}

// call is one delivery's requests: the target, and whether the token was
// refreshed already (once per delivery).
type call struct {
	s         *Sender
	t         target
	token     string
	refreshed bool
}

// do sends one request to the API and returns the answer's body when its
// status is want. A 401 refreshes the token once and tries again.
func (c *call) do(ctx context.Context, method, path, contentType string, body []byte, want int) ([]byte, error) {
	if c.token == "" {
		tok, err := c.s.Tokens.AccessToken(ctx, c.t.key, false)
		if err != nil {
			return nil, err
		}
		c.token = tok
	}
	for {
		status, h, resp, err := c.send(ctx, method, c.t.base+path, contentType, body, true)
		if err != nil {
			return nil, err
		}
		if status == want {
			return resp, nil
		}
		if status == http.StatusUnauthorized && !c.refreshed {
			c.refreshed = true
			tok, err := c.s.Tokens.AccessToken(ctx, c.t.key, true)
			if err != nil {
				return nil, err
			}
			c.token = tok
			continue
		}
		return nil, classify(status, h, resp)
	}
}

// put uploads one chunk of an upload session. The upload URL carries its
// own authorization: no Authorization header is sent with it ("Attach
// large files to Outlook messages", step 2).
func (c *call) put(ctx context.Context, uploadURL string, chunk []byte, at, size int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, uploadURL, bytes.NewReader(chunk))
	if err != nil {
		return envoi.Errorf(envoi.EAPIRejected, "the upload URL Microsoft Graph gave is not a URL")
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", at, at+len(chunk)-1, size))
	status, h, resp, err := c.exchange(ctx, req)
	if err != nil {
		return err
	}
	if status == http.StatusOK || status == http.StatusCreated {
		return nil
	}
	return classify(status, h, resp)
}

// discard deletes a draft that will not be sent, as best it can.
func (c *call) discard(item string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if status, _, _, err := c.send(ctx, http.MethodDelete, c.t.base+item, "", nil, true); err != nil || status >= 300 {
		c.s.log().Warn("graph: the draft of a message not sent was not deleted", "status", status, "err", err)
	}
}

func (c *call) send(ctx context.Context, method, u, contentType string, body []byte, auth bool) (int, http.Header, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return 0, nil, nil, envoi.FieldError(envoi.EInvalidFlowData, "api_url", "%q does not make a request URL", c.t.base)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.exchange(ctx, req)
}

// exchange sends req within the mailbox's concurrency and the timeout.
func (c *call) exchange(ctx context.Context, req *http.Request) (int, http.Header, []byte, error) {
	release, err := c.s.acquire(ctx, c.t.mailbox)
	if err != nil {
		return 0, nil, nil, unavailable(err)
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, c.s.timeout())
	defer cancel()
	resp, err := c.s.client().Do(req.WithContext(ctx))
	if err != nil {
		return 0, nil, nil, unavailable(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, unavailable(err)
	}
	return resp.StatusCode, resp.Header, b, nil
}

func unavailable(err error) error {
	e := envoi.Errorf(envoi.EAPIUnavailable, "Microsoft Graph could not be reached")
	e.Temporary = true
	e.Err = err
	return e
}

func b64(b []byte) []byte {
	out := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(out, b)
	return out
}

func truncate(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// classify turns an answer Graph gave with an unexpected status into an
// *envoi.Error, the provider's code and text in the details. Error codes
// from Microsoft Learn: "Microsoft Graph error responses and resource
// types" (the error object), "Microsoft Graph throttling guidance" (429,
// 503 and Retry-After), and Exchange's ErrorSendAsDenied,
// MailboxNotEnabledForRESTAPI and ErrorMessageSizeExceeded.
func classify(status int, h http.Header, body []byte) error {
	var ge struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &ge)
	code, text := ge.Error.Code, ge.Error.Message
	if text == "" {
		text = truncate(strings.TrimSpace(string(body)))
	}
	reply := fmt.Sprintf("%d %s", status, code)
	if text != "" {
		reply += ": " + text
	}
	wrap := func(e *envoi.Error) *envoi.Error {
		e.WithDetail("provider_status", status).WithDetail("provider_text", text)
		if code != "" {
			e.WithDetail("provider_code", code)
		}
		return e
	}
	ra := retryAfter(h, time.Now())
	switch {
	case status == http.StatusTooManyRequests || (status == http.StatusServiceUnavailable && h.Get("Retry-After") != ""):
		e := wrap(envoi.Errorf(envoi.EAPIThrottled, "Microsoft Graph asked to wait"))
		e.Temporary = true
		e.Err = &envoi.Throttle{Reason: envoi.WaitRateLimited, RetryAfter: ra, Reply: reply}
		return e
	case status == http.StatusUnauthorized || strings.Contains(text, "AADSTS65001") || strings.Contains(text, "AADSTS700082") ||
		strings.Contains(text, "AADSTS50173") || strings.Contains(text, "AADSTS50076"):
		return wrap(envoi.Errorf(envoi.EConsentRequired, "Microsoft Graph refused the access token after a refresh (%s): the mailbox must consent again", reply))
	case code == "MailboxNotEnabledForRESTAPI" || code == "MailboxNotSupportedForRESTAPI":
		return wrap(envoi.Errorf(envoi.EAPIMailboxNotEnabled, "Microsoft Graph cannot send from this mailbox: %s", text))
	case code == "ErrorMessageSizeExceeded" || status == http.StatusRequestEntityTooLarge:
		return wrap(envoi.Errorf(envoi.EAPIMessageTooBig, "Microsoft Graph refused the message's size: %s", text))
	case code == "ErrorSendAsDenied" || code == "ErrorAccessDenied" || code == "Authorization_RequestDenied" || status == http.StatusForbidden:
		return wrap(envoi.Errorf(envoi.EAPIAccessDenied, "Microsoft Graph refused to send as this mailbox: %s", text))
	case status >= 500 || status == http.StatusRequestTimeout:
		e := wrap(envoi.Errorf(envoi.EAPIUnavailable, "Microsoft Graph answered %d", status))
		e.Temporary = true
		return e
	}
	return wrap(envoi.Errorf(envoi.EAPIRejected, "Microsoft Graph refused the request: %s", reply))
}

// headerMessageID returns the Message-ID header field's value of mime, ""
// when it has none.
func headerMessageID(mime []byte) string {
	end := bytes.Index(mime, []byte("\r\n\r\n"))
	if end < 0 {
		return ""
	}
	for _, line := range strings.Split(string(mime[:end]), "\r\n") {
		name, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Message-ID") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
