// Package queue accepts messages and sends them: the service the API and the
// CLI share (accept, preview, retry, wait) and the workers that take send
// jobs from the durable queue, send them, retry temporary failures with
// backoff, park messages whose token needs consent, and never lose one.
package queue

import (
	"context"
	"io"
	"time"

	"envoi"
)

// Store is what the queue needs from the store.
type Store interface {
	CreateMessage(ctx context.Context, a *envoi.Accepted) (bool, error)
	Message(ctx context.Context, id string) (*envoi.Message, error)
	// EMLToSend returns the bytes to send of a claimed message, also of a
	// sensitive one (which EML and Message do not show).
	EMLToSend(ctx context.Context, id string) ([]byte, error)
	AuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error)
	Operator(ctx context.Context, code string) (*envoi.Operator, error)
	// ConfigSnapshot returns ctx carrying one version of the
	// configuration: the reads of one task (composing, sending) under it
	// see the same flows, operators and settings.
	ConfigSnapshot(ctx context.Context) context.Context
	// ClaimDue claims up to n due messages, taking a message only when
	// its mailbox (flow and mailbox) has room in its flow's limits
	// (connections, rate, daily quotas), round the mailboxes with due
	// messages so that none starves another: each returned message is
	// marked sending, its attempts counted, leased for lease (it is due
	// again when the lease lapses), as a claim with its token.
	// Several instances may ask at once; a message is claimed by one
	// only. A claim over a lapsed "sending" lease (a worker died mid-send)
	// counts a possible duplicate in Message.Duplicates and a claim
	// without an outcome in Claim.Unfinished.
	ClaimDue(ctx context.Context, n int, lease time.Duration) ([]*envoi.Claim, error)
	// Finish records a claimed message's status, attempts, error, next
	// try and sent time, and when it is due again: never when the message
	// is final, after delay otherwise. Only the holder of the message's
	// latest claim (c.Token) records an outcome: an older claim gets
	// EConflict. An outcome other than sending sets Unfinished back to 0;
	// a final one erases a sensitive message's bytes.
	Finish(ctx context.Context, c *envoi.Claim, delay time.Duration) error
	// ExtendLease extends a claim's lease to until while it is sent (the
	// heartbeat); EConflict when the claim is no longer the message's
	// latest or the message no longer sending: the lease is lost.
	ExtendLease(ctx context.Context, c *envoi.Claim, until time.Time) error
	// PauseMailbox holds the messages of (flow, mailbox) until until, for
	// reason (envoi.WaitRateLimited, WaitQuota): a throttling reply.
	PauseMailbox(ctx context.Context, flow, mailbox string, until time.Time, reason string) error
	// ReleaseParked makes the messages parked on consent for key due now.
	ReleaseParked(ctx context.Context, key envoi.TokenKey) (int, error)
	// RequeueMessage makes the message due now (manual retry).
	RequeueMessage(ctx context.Context, id string) error
}

// Composer turns an accepted message into the bytes to send and its
// delivery record: what acceptance decided about delivering them
// (envelope, identity, transport, document, archive), which the worker
// hands to the transport as it is. The compose package implements it.
type Composer interface {
	ComposeDelivery(ctx context.Context, m *envoi.Message) (io.WriterTo, *envoi.Delivery, error)
}
