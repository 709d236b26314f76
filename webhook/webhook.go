// Package webhook delivers envoi's events to the ERP's endpoints: it takes
// due deliveries from the store's outbox (several instances may run it:
// each delivery is claimed with a lease), POSTs each event signed as the
// Standard Webhooks specification says, and records every attempt; a
// failure is tried again on a backoff of about three days, and an
// endpoint answering 410 Gone is disabled.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"envoi"
)

// The headers of a signed delivery (Standard Webhooks).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign returns the webhook-signature header's value of a delivery:
// "v1," then the base64 HMAC-SHA256, keyed by the secret's bytes (base64
// after "whsec_"), of "id.timestamp.body". Returns EInvalidInput for a
// secret not of that form.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := envoi.WebhookKey(secret)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Store is what the dispatcher needs of the store (sqlstore implements it).
type Store interface {
	ClaimWebhookDeliveries(ctx context.Context, n int, lease time.Duration) ([]*envoi.WebhookJob, error)
	RecordWebhookAttempt(ctx context.Context, j *envoi.WebhookJob, o envoi.WebhookOutcome) error
	PurgeWebhookEvents(ctx context.Context, before time.Time) (int, error)
}

// DefaultBackoff is the wait after each failed attempt: nine retries over
// about three days (71h35m5s), then the delivery is given up.
var DefaultBackoff = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 20 * time.Hour,
}

// Dispatcher delivers the outbox's due events. Options are exported
// fields; Store is required, the rest have useful zero values.
type Dispatcher struct {
	Store Store
	// Client POSTs; by default one with a 15s timeout that follows no
	// redirect (a 3xx is a failed attempt).
	Client *http.Client
	// Backoff is the wait after each failed attempt (DefaultBackoff).
	Backoff []time.Duration
	// Poll is how often Run looks for due deliveries (1s).
	Poll time.Duration
	// Lease is how long a claimed delivery stays with this dispatcher
	// (1m): after a crash another takes it once it lapses.
	Lease time.Duration
	// Batch bounds the deliveries claimed, and POSTed at once (16).
	Batch int
	// Retention is how long settled events are kept, for the deliveries'
	// log and replays (30 days); Run purges older ones every hour.
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

func (d *Dispatcher) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return &http.Client{
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run delivers due events until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	poll := d.Poll
	if poll <= 0 {
		poll = time.Second
	}
	client := d.client()
	t := time.NewTicker(poll)
	defer t.Stop()
	var purged time.Time
	for {
		if now := d.now(); now.Sub(purged) >= time.Hour {
			purged = now
			d.purge(ctx)
		}
		for {
			n, err := d.deliverDue(ctx, client)
			if err != nil && ctx.Err() == nil {
				d.logger().Warn("webhook deliveries", "err", err)
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// purge deletes the settled events older than the retention.
func (d *Dispatcher) purge(ctx context.Context) {
	keep := d.Retention
	if keep <= 0 {
		keep = 30 * 24 * time.Hour
	}
	n, err := d.Store.PurgeWebhookEvents(ctx, d.now().Add(-keep))
	if err != nil && ctx.Err() == nil {
		d.logger().Warn("purging webhook events", "err", err)
	} else if n > 0 {
		d.logger().Info("webhook events purged", "count", n, "older_than", keep)
	}
}

// DeliverDue claims one batch of due deliveries, POSTs them and records
// the outcomes; it returns how many it claimed.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	return d.deliverDue(ctx, d.client())
}

func (d *Dispatcher) deliverDue(ctx context.Context, client *http.Client) (int, error) {
	batch, lease := d.Batch, d.Lease
	if batch <= 0 {
		batch = 16
	}
	if lease <= 0 {
		lease = time.Minute
	}
	jobs, err := d.Store.ClaimWebhookDeliveries(ctx, batch, lease)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Go(func() {
			o := d.post(ctx, client, j)
			// Record even when ctx ends: the attempt was made.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			errs[i] = d.Store.RecordWebhookAttempt(rctx, j, o)
			d.logger().Debug("webhook attempt", "webhook", j.Webhook.Code, "event", j.EventID, "type", j.EventType,
				"attempt", j.Attempt, "status", o.StatusCode, "delivered", o.Delivered, "err", o.Error)
		})
	}
	wg.Wait()
	return len(jobs), errors.Join(errs...)
}

// post makes one attempt of j and says what came of it.
func (d *Dispatcher) post(ctx context.Context, client *http.Client, j *envoi.WebhookJob) envoi.WebhookOutcome {
	start := d.now()
	o := envoi.WebhookOutcome{At: start}
	fail := func(msg string) envoi.WebhookOutcome {
		o.Error = msg
		o.Duration = d.now().Sub(start)
		backoff := d.Backoff
		if backoff == nil {
			backoff = DefaultBackoff
		}
		if j.Attempt >= 1 && j.Attempt <= len(backoff) {
			o.Retry = d.now().Add(backoff[j.Attempt-1])
		}
		return o
	}
	ts := start.Unix()
	sig, err := Sign(j.Webhook.Secret, j.EventID, ts, j.Body)
	if err != nil {
		return fail("cannot sign: " + err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.Webhook.URL, bytes.NewReader(j.Body))
	if err != nil {
		return fail("bad URL: " + err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "envoi-webhooks/1")
	req.Header.Set(HeaderID, j.EventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := client.Do(req)
	if err != nil {
		return fail(err.Error())
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	o.StatusCode = resp.StatusCode
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		o.Delivered = true
		o.Duration = d.now().Sub(start)
		return o
	case resp.StatusCode == http.StatusGone:
		o.Gone = true
		o.Error = "410 Gone: the endpoint is disabled until it is saved again"
		o.Duration = d.now().Sub(start)
		return o
	}
	return fail(fmt.Sprintf("the endpoint answered %s", resp.Status))
}
