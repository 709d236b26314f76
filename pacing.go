package envoi

import (
	"errors"
	"fmt"
	"time"
)

// Message states a message waits in without an attempt being spent.
const (
	// StatusScheduled: the request's send_at is still ahead.
	StatusScheduled = "scheduled"
	// StatusBounced: sent, then reported undeliverable by a delivery
	// status notification (RFC 3464).
	StatusBounced = "bounced"
)

// Why a message waits (GET /v1/messages/{id}'s wait_reason).
const (
	// WaitRateLimited: its mailbox's rate or connection limit is reached,
	// by envoi's own count or by the provider's throttling reply.
	WaitRateLimited = "rate_limited"
	// WaitQuota: its mailbox's daily quota is used up until the window
	// rolls.
	WaitQuota = "quota"
	// WaitServerRetry: the server answered with a temporary failure; the
	// message is tried again after a backoff.
	WaitServerRetry = "server_retry"
	// WaitScheduled: the request asked to send it later (send_at).
	WaitScheduled = "scheduled"
)

// Throttle is a provider's answer that says "not now" about a mailbox
// rather than about a message: a throttling reply (Microsoft's 432 4.3.2,
// Gmail's 421 4.7.0, an HTTP 429 or 503 with Retry-After) or a daily
// quota used up (Gmail's 550 5.4.5). It is pacing, not failure: the
// message waits without spending an attempt, and the mailbox's other
// messages wait with it. Transports return it as their error.
type Throttle struct {
	// Reason is WaitRateLimited or WaitQuota.
	Reason string
	// RetryAfter is how long the provider asked to wait (Retry-After),
	// zero when it named no time.
	RetryAfter time.Duration
	// Reply is the provider's text, kept for the log and the API.
	Reply string
}

func (t *Throttle) Error() string {
	if t.RetryAfter > 0 {
		return fmt.Sprintf("throttled by the provider (%s), retry after %s: %s", t.Reason, t.RetryAfter, t.Reply)
	}
	return fmt.Sprintf("throttled by the provider (%s): %s", t.Reason, t.Reply)
}

// AsThrottle returns the Throttle in err's chain, nil when there is none.
func AsThrottle(err error) *Throttle {
	var t *Throttle
	if errors.As(err, &t) {
		return t
	}
	return nil
}
