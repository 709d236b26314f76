// Package gmailapi sends envoi's messages through the Gmail API with
// Google's client library: users.messages.send with the composed message
// (raw, base64url, in the JSON body; a media upload above RawLimit, up to
// the API's 35 MB). The access token comes from envoi.TokenSource (an
// operator's consent, or a service account with domain-wide delegation
// acting for the flow's mailbox), refreshed once when Google answers 401.
// The library is given its HTTP client and endpoint: it never looks for
// default credentials nor asks a metadata server.
package gmailapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/api/gmail/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"envoi"
)

// Limits and defaults.
const (
	// MaxMessageBytes is the largest message the API takes: the discovery
	// document's mediaUpload maxSize of users.messages.send (35 MB).
	MaxMessageBytes = 36700160
	// DefaultRawLimit is the largest message sent raw in the JSON body;
	// above it the message is a media upload.
	DefaultRawLimit = 5 << 20
	// DefaultTimeout bounds one call.
	DefaultTimeout = 2 * time.Minute
)

// Sender delivers messages through the Gmail API; the transport of
// envoi.TransportGmailAPI. Its zero value is ready but for Tokens; it is
// safe for concurrent use.
type Sender struct {
	// Tokens gives the access tokens (required).
	Tokens envoi.TokenSource
	// HTTPClient's transport carries the requests (http.DefaultTransport
	// when nil); the bearer token is added to each.
	HTTPClient *http.Client
	// RawLimit is the largest message sent raw (DefaultRawLimit).
	RawLimit int
	// Timeout bounds each call (DefaultTimeout).
	Timeout time.Duration
}

var _ envoi.Transport = (*Sender)(nil)

// bearer adds the current access token to each request.
type bearer struct {
	base  http.RoundTripper
	token string
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// call is one identity's calls: its service, its token, whether the token
// was refreshed already.
type call struct {
	s         *Sender
	key       envoi.TokenKey
	user      string
	auth      *bearer
	svc       *gmail.Service
	refreshed bool
}

func (s *Sender) newCall(ctx context.Context, id envoi.Identity) (*call, error) {
	f := id.Flow
	if f == nil {
		return nil, envoi.FieldError(envoi.EInvalidInput, "flow", "no authentication flow given")
	}
	if f.Kind != envoi.KindOAuth2 {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "transport", "the gmail_api transport authenticates with OAuth 2.0 tokens")
	}
	base := f.EffectiveAPIURL()
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, envoi.FieldError(envoi.EInvalidFlowData, "api_url", "%q is not an http(s) URL", base)
	}
	rt := http.DefaultTransport
	if s.HTTPClient != nil && s.HTTPClient.Transport != nil {
		rt = s.HTTPClient.Transport
	}
	c := &call{s: s, key: id.Key, auth: &bearer{base: rt}}
	// An operator's own consent sends as "me"; a shared mailbox (a
	// service account acting for it, or its own consent) is named.
	c.user = "me"
	if id.Key.Operator == "" {
		if id.Username == "" {
			return nil, envoi.FieldError(envoi.EInvalidFlowData, "generic_mailbox.email", "the shared mailbox to send as is not given")
		}
		c.user = id.Username
	}
	// The library's own request log is off: it would not be envoi's.
	svc, err := gmail.NewService(ctx, option.WithEndpoint(base+"/"), option.WithHTTPClient(&http.Client{Transport: c.auth}),
		option.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, envoi.Errorf(envoi.EInternal, "the Gmail API client: %v", err)
	}
	c.svc = svc
	tok, err := s.Tokens.AccessToken(ctx, c.key, false)
	if err != nil {
		return nil, err
	}
	c.auth.token = tok
	return c, nil
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// retry runs fn, and once more with a refreshed token when Google
// answered 401.
func (c *call) retry(ctx context.Context, fn func(ctx context.Context) error) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, c.s.timeout())
		err := fn(cctx)
		cancel()
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == http.StatusUnauthorized && !c.refreshed {
			c.refreshed = true
			tok, terr := c.s.Tokens.AccessToken(ctx, c.key, true)
			if terr != nil {
				return terr
			}
			c.auth.token = tok
			continue
		}
		if err != nil {
			return classify(err)
		}
		return nil
	}
}

// Deliver sends d's message (d.Content) as d's identity with
// users.messages.send. The outcome's ProviderMessageID is Gmail's message
// id. Errors are *envoi.Error: consent_required when the token is refused
// after one refresh, api_* codes with Google's reason and text in the
// details, and for 429, rateLimitExceeded, userRateLimitExceeded and the
// daily limits an api_throttled error that wraps an *envoi.Throttle
// (Temporary: the message waits).
func (s *Sender) Deliver(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
	if d.Transport != envoi.TransportGmailAPI {
		return envoi.Outcome{}, envoi.FieldError(envoi.EInvalidInput, "transport", "%q is not delivered through the Gmail API", d.Transport)
	}
	if d.Content == nil {
		return envoi.Outcome{}, envoi.FieldError(envoi.EInvalidInput, "data", "no message to send")
	}
	mime := envoi.APIMessage(d)
	if len(mime) > MaxMessageBytes {
		return envoi.Outcome{}, envoi.Errorf(envoi.EAPIMessageTooBig, "the message takes %d bytes; the Gmail API takes %d at most", len(mime), MaxMessageBytes)
	}
	c, err := s.newCall(ctx, d.Identity)
	if err != nil {
		return envoi.Outcome{}, err
	}
	rawLimit := s.RawLimit
	if rawLimit <= 0 {
		rawLimit = DefaultRawLimit
	}
	var sent *gmail.Message
	err = c.retry(ctx, func(ctx context.Context) error {
		var call *gmail.UsersMessagesSendCall
		if len(mime) <= rawLimit {
			call = c.svc.Users.Messages.Send(c.user, &gmail.Message{Raw: base64.URLEncoding.EncodeToString(mime)})
		} else {
			// One multipart upload request (no resumable session): its
			// retries would be the library's, not the queue's.
			call = c.svc.Users.Messages.Send(c.user, &gmail.Message{}).
				Media(bytes.NewReader(mime), googleapi.ContentType("message/rfc822"), googleapi.ChunkSize(0))
		}
		var err error
		sent, err = call.Context(ctx).Do()
		return err
	})
	if err != nil {
		return envoi.Outcome{}, err
	}
	return envoi.Outcome{ProviderMessageID: sent.Id, Reply: "200 OK, thread " + sent.ThreadId}, nil
}

// Probe is the mail part of a gmail_api flow's Test action: with the
// identity's token, read its profile (users.getProfile). The gmail.send
// scope does not allow that read (the discovery document lists the
// scopes of each method): then the probe asks users.messages.send for a
// message without any recipient, which the API refuses with 400 once the
// token and its scope have been accepted; nothing is sent. from and rcpt
// are not used.
func (s *Sender) Probe(ctx context.Context, id envoi.Identity, from, rcpt string) ([]envoi.TestStep, error) {
	const name = "gmail_api"
	c, err := s.newCall(ctx, id)
	if err != nil {
		return []envoi.TestStep{{Name: name, Detail: envoi.AsError(err).Message}}, err
	}
	var p *gmail.Profile
	err = c.retry(ctx, func(ctx context.Context) error {
		var err error
		p, err = c.svc.Users.GetProfile(c.user).Context(ctx).Do()
		return err
	})
	if err == nil {
		return []envoi.TestStep{{Name: name, OK: true, Detail: fmt.Sprintf("the Gmail API accepted the token for %s (%d messages)", p.EmailAddress, p.MessagesTotal)}}, nil
	}
	if !insufficientScope(err) {
		return []envoi.TestStep{{Name: name, Detail: envoi.AsError(err).Message}}, err
	}
	probe := []byte("Subject: envoi flow test\r\n\r\nnot sent: no recipient\r\n")
	err = c.retry(ctx, func(ctx context.Context) error {
		_, err := c.svc.Users.Messages.Send(c.user, &gmail.Message{Raw: base64.URLEncoding.EncodeToString(probe)}).Context(ctx).Do()
		return err
	})
	if e := envoi.AsError(err); e != nil && e.Code == envoi.EAPIRejected && e.Details["provider_status"] == http.StatusBadRequest {
		return []envoi.TestStep{{Name: name, OK: true, Detail: fmt.Sprintf("the Gmail API accepted the token and its send scope for %s (a message without recipient was refused, as expected: nothing sent)", id.Username)}}, nil
	}
	if err == nil {
		err = envoi.Errorf(envoi.EAPIRejected, "the Gmail API accepted a message without recipient")
	}
	return []envoi.TestStep{{Name: name, Detail: envoi.AsError(err).Message}}, err
}

func insufficientScope(err error) bool {
	e := envoi.AsError(err)
	return e.Code == envoi.EAPIAccessDenied && e.Details["provider_reason"] == "insufficientPermissions"
}

// classify turns the library's error into an *envoi.Error. Reasons from
// the Gmail API's "Resolve errors" guide: 401 authError; 403
// insufficientPermissions, rateLimitExceeded, userRateLimitExceeded,
// dailyLimitExceeded, domainPolicy; 429 rateLimitExceeded (also "too many
// concurrent requests for user"); 400 failedPrecondition (mail service
// not enabled) and invalidArgument; 5xx backendError.
func classify(err error) error {
	var ee *envoi.Error
	if errors.As(err, &ee) {
		return err
	}
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		e := envoi.Errorf(envoi.EAPIUnavailable, "the Gmail API could not be reached")
		e.Temporary = true
		e.Err = err
		return e
	}
	reason := ""
	if len(ge.Errors) > 0 {
		reason = ge.Errors[0].Reason
	}
	text := ge.Message
	reply := fmt.Sprintf("%d %s: %s", ge.Code, reason, text)
	wrap := func(e *envoi.Error) *envoi.Error {
		e.WithDetail("provider_status", ge.Code).WithDetail("provider_text", text)
		if reason != "" {
			e.WithDetail("provider_reason", reason)
		}
		return e
	}
	lower := strings.ToLower(text)
	throttle := func(why string) error {
		e := wrap(envoi.Errorf(envoi.EAPIThrottled, "the Gmail API asked to wait"))
		e.Temporary = true
		e.Err = &envoi.Throttle{Reason: why, RetryAfter: retryAfter(ge.Header), Reply: reply}
		return e
	}
	switch {
	case reason == "dailyLimitExceeded" || reason == "quotaExceeded" || strings.Contains(lower, "daily user sending limit"):
		return throttle(envoi.WaitQuota)
	case ge.Code == http.StatusTooManyRequests || reason == "rateLimitExceeded" || reason == "userRateLimitExceeded":
		return throttle(envoi.WaitRateLimited)
	case ge.Code == http.StatusServiceUnavailable && ge.Header.Get("Retry-After") != "":
		return throttle(envoi.WaitRateLimited)
	case ge.Code == http.StatusUnauthorized:
		return wrap(envoi.Errorf(envoi.EConsentRequired, "the Gmail API refused the access token after a refresh (%s): the mailbox must consent again", reply))
	case ge.Code == http.StatusRequestEntityTooLarge || strings.Contains(lower, "too large"):
		return wrap(envoi.Errorf(envoi.EAPIMessageTooBig, "the Gmail API refused the message's size: %s", text))
	case reason == "failedPrecondition" || strings.Contains(lower, "mail service not enabled"):
		return wrap(envoi.Errorf(envoi.EAPIMailboxNotEnabled, "the Gmail API cannot send from this mailbox: %s", text))
	case ge.Code == http.StatusForbidden:
		return wrap(envoi.Errorf(envoi.EAPIAccessDenied, "the Gmail API refused to send as this mailbox: %s", text))
	case ge.Code >= 500:
		e := wrap(envoi.Errorf(envoi.EAPIUnavailable, "the Gmail API answered %d", ge.Code))
		e.Temporary = true
		return e
	}
	return wrap(envoi.Errorf(envoi.EAPIRejected, "the Gmail API refused the request: %s", reply))
}

func retryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && time.Until(t) > 0 {
		return time.Until(t)
	}
	return 0
}
