// Package queue accepts messages and sends them: the service the API and the
// CLI share (accept, preview, retry, wait) and the workers that take send
// jobs from the durable queue, send them, retry temporary failures with
// backoff, park messages whose token needs consent, and never lose one.
package queue

import (
	"context"
	"io"
	"time"

	"maragu.dev/goqite"

	"envoi"
)

// Store is what the queue needs from the store.
type Store interface {
	CreateMessage(ctx context.Context, m *envoi.Message) (bool, error)
	Message(ctx context.Context, id string) (*envoi.Message, error)
	UpdateMessage(ctx context.Context, m *envoi.Message) error
	EML(ctx context.Context, id string) ([]byte, error)
	AuthFlow(ctx context.Context, code string) (*envoi.AuthFlow, error)
	Operator(ctx context.Context, code string) (*envoi.Operator, error)
	// ClaimMessage marks the message sending and counts an attempt, leased
	// until leaseUntil, unless it is final or another worker holds a live
	// lease; it returns the message and whether this caller won it. Several
	// instances may receive the same job; only one claims the message. A
	// claim over a lapsed "sending" lease (a worker died mid-send) counts a
	// possible duplicate in Message.Duplicates.
	ClaimMessage(ctx context.Context, id string, leaseUntil time.Time) (*envoi.Message, bool, error)
	// SentSince counts messages sent as (flow, mailbox) since t.
	SentSince(ctx context.Context, flow, mailbox string, t time.Time) (int, error)
	// ReleaseParked makes the messages parked on consent for key due now.
	ReleaseParked(ctx context.Context, key envoi.TokenKey) (int, error)
	// RequeueMessage makes the message's job due now (manual retry).
	RequeueMessage(ctx context.Context, id string) error
}

// Jobs is the durable job queue (goqite's Queue satisfies it).
type Jobs interface {
	Receive(ctx context.Context) (*goqite.Message, error)
	Extend(ctx context.Context, id goqite.ID, delay time.Duration) error
	Delete(ctx context.Context, id goqite.ID) error
}

var _ Jobs = (*goqite.Queue)(nil)

// Composer turns an accepted message into the bytes to send, its envelope
// and the identity to send as (the compose package implements it).
type Composer interface {
	Compose(ctx context.Context, m *envoi.Message) (Composed, error)
}

// Composed is a composed message.
type Composed interface {
	io.WriterTo
	Envelope() envoi.Envelope
	Identity() envoi.Identity
}
