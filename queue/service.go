package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"envoi"
)

// Service accepts messages for sending: the one path of the API, the CLI and
// the admin UI. Store and Composer are required.
type Service struct {
	Store    Store
	Composer Composer
	// MessageIDDomain is the right-hand side of generated Message-IDs
	// (default "envoi.invalid": set your own domain).
	MessageIDDomain string
	Metrics         *Metrics
	// Handoff, when set, keeps the bytes of each accepted message for this
	// process's workers (the Worker's Handoff), so they need not read them
	// back from the store.
	Handoff *Handoff
	// OnAccepted, when set, is called after each message is stored (the
	// serve command wakes its Worker: the message is sent without waiting
	// for the next poll).
	OnAccepted func()
	Now        func() time.Time
	Logger     *slog.Logger

	mu      sync.Mutex
	waiters map[string][]chan struct{}
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// RequestHash returns the fingerprint of a send request, compared when an
// Idempotency-Key is reused. Attachments are hashed as their standard
// base64 text (padded, on one line): the text the API keeps
// (Attachment.Encoded) is hashed as it is, without decoding it, and a file
// given as bytes hashes the same as the same file given in base64.
func RequestHash(req *envoi.SendRequest) string {
	h := sha256.New()
	r := *req
	r.Attachments = make([]envoi.Attachment, len(req.Attachments))
	for i, a := range req.Attachments {
		r.Attachments[i] = envoi.Attachment{Filename: a.Filename, ContentType: a.ContentType}
	}
	_ = json.NewEncoder(h).Encode(&r)
	var n [8]byte
	for _, a := range req.Attachments {
		text := a.Encoded
		if text == nil {
			text = base64.StdEncoding.AppendEncode(nil, a.Content)
		}
		binary.BigEndian.PutUint64(n[:], uint64(len(text)))
		h.Write(n[:])
		h.Write(text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Accept validates and composes req, then stores the message and its send
// job in one transaction. Everything that can be checked is checked before
// anything is stored: the catalogue's code of the first problem is returned
// and nothing is queued. With an Idempotency-Key already used for the same
// request it returns the existing message and created=false; for another
// request, EIdempotencyConflict.
func (s *Service) Accept(ctx context.Context, req *envoi.SendRequest, idempotencyKey string) (*envoi.Message, bool, error) {
	// The fingerprint serves only to compare a reused Idempotency-Key.
	a, err := s.compose(ctx, req, idempotencyKey != "")
	if err != nil {
		return nil, false, err
	}
	a.IdempotencyKey = idempotencyKey
	created, err := s.Store.CreateMessage(ctx, a)
	if err != nil {
		return nil, false, err
	}
	if created {
		s.Metrics.accepted()
		s.Handoff.Put(a.ID, a.EML)
		if s.Logger != nil {
			s.Logger.Info("queue: message accepted", "message", a.ID, "document_flow", req.DocumentFlow,
				"operator", req.Operator, "status", a.Status, "bytes", len(a.EML))
		}
		if s.OnAccepted != nil && a.Status == envoi.StatusQueued {
			s.OnAccepted()
		}
	}
	return a.Message, created, nil
}

// Preview composes req exactly as Accept would and returns the message
// bytes; nothing is stored or sent.
func (s *Service) Preview(ctx context.Context, req *envoi.SendRequest) ([]byte, error) {
	a, err := s.compose(ctx, req, false)
	if err != nil {
		return nil, err
	}
	return a.EML, nil
}

// compose validates req, the one check of a request (the edge: compose
// and the store take it as valid), mints the message's ids and composes it.
func (s *Service) compose(ctx context.Context, req *envoi.SendRequest, hash bool) (*envoi.Accepted, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	// The composer reads the configuration six times: at one version.
	ctx = s.Store.ConfigSnapshot(ctx)
	// The ids are minted here, once: the store and compose keep them.
	now := s.now()
	id := envoi.NewID("msg_")
	m := &envoi.Message{
		ID:        id,
		MessageID: envoi.MessageIDFor(id, s.MessageIDDomain),
		Request:   *req,
		Status:    envoi.StatusQueued,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if req.SendAt != nil {
		at := req.SendAt.UTC()
		if at.After(now.Add(envoi.MaxSendAhead)) {
			return nil, envoi.FieldError(envoi.EInvalidInput, "send_at", "%s is more than a year ahead; give a date within a year", req.SendAt.Format(time.RFC3339)).
				WithDetail("limit", "1 year")
		}
		if at.After(now) {
			m.Status, m.NextAttemptAt, m.WaitReason = envoi.StatusScheduled, at, envoi.WaitScheduled
		}
	}
	a := &envoi.Accepted{Message: m}
	if hash {
		a.RequestHash = RequestHash(req)
	}
	c, d, err := s.Composer.ComposeDelivery(ctx, m)
	if err != nil {
		return nil, err
	}
	// The composer says exactly how many bytes it writes: one allocation
	// of that size, which the handoff then holds without slack.
	buf := bytes.NewBuffer(make([]byte, 0, max(d.Envelope.Size, 0)))
	if _, err := c.WriteTo(buf); err != nil {
		return nil, err
	}
	a.EML = buf.Bytes()
	m.EMLSize = int64(buf.Len())
	if !req.Sensitive {
		m.Subject = envoi.HeaderSubject(a.EML)
	}
	m.Delivery = d
	m.Delivery.Envelope.Size = m.EMLSize
	if f := d.Identity.Flow; f != nil && f.Limits.RecipientsPerMessage > 0 && len(d.Envelope.Recipients) > f.Limits.RecipientsPerMessage {
		n, l := len(d.Envelope.Recipients), f.Limits.RecipientsPerMessage
		return nil, envoi.FieldError(envoi.EInvalidInput, "to",
			"%d recipients (To, Cc and Bcc); the provider of flow %s accepts %d a message: split them over several messages, or raise the flow's limits.recipients_per_message if the provider allows more",
			n, f.Code, l).WithDetail("limit", l).WithDetail("recipients", n)
	}
	m.Flow = m.Delivery.Identity.Key.Flow
	m.Mailbox = m.Delivery.Identity.Key.Operator
	// The attachments travel in the composed bytes; keep the stored request
	// small (on a copy: the caller's request keeps its attachments).
	m.Request.Attachments = slices.Clone(m.Request.Attachments)
	for i := range m.Request.Attachments {
		m.Request.Attachments[i].Content = nil
		m.Request.Attachments[i].Encoded = nil
	}
	if m.Request.Report != nil {
		m.Request.Report = &envoi.ReportRequest{Template: m.Request.Report.Template}
	}
	return a, nil
}

// Retry sends a failed or parked message again, now.
func (s *Service) Retry(ctx context.Context, id string) (*envoi.Message, error) {
	m, err := s.Store.Message(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.Status == envoi.StatusSent || m.Status == envoi.StatusBounced {
		return nil, envoi.Errorf(envoi.EMessageAlreadySent, "message %s was already sent at %s", id, m.SentAt.UTC().Format(time.RFC3339)).
			WithDetail("status", m.Status).WithDetail("sent_at", m.SentAt.UTC().Format(time.RFC3339))
	}
	if err := s.Store.RequeueMessage(ctx, id); err != nil {
		return nil, err
	}
	return s.Store.Message(ctx, id)
}

// ReleaseParked makes the messages parked while key waited for consent due
// now, so sending resumes by itself once the identity has consented: the
// web consent's callback and the terminal's "auth login" both call it. It
// returns how many were released, and logs that count or its error.
func (s *Service) ReleaseParked(ctx context.Context, key envoi.TokenKey) (int, error) {
	n, err := s.Store.ReleaseParked(ctx, key)
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("flow", key.Flow, "operator", key.Operator)
	if err != nil {
		log.Error("releasing parked messages after consent", "err", err)
		return 0, err
	}
	if n > 0 {
		log.Info("consent given: parked messages released", "messages", n)
	}
	return n, nil
}

// Changed wakes whoever waits on m; the worker calls it on each change.
func (s *Service) Changed(m *envoi.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.waiters[m.ID] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// Wait returns the message once it is sent, failed or parked on consent, or
// as it stands when d has passed. Changes made by this process wake it at
// once; changes made by another instance are seen by polling.
func (s *Service) Wait(ctx context.Context, id string, d time.Duration) (*envoi.Message, error) {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	if s.waiters == nil {
		s.waiters = map[string][]chan struct{}{}
	}
	s.waiters[id] = append(s.waiters[id], c)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := s.waiters[id]
		for i, x := range list {
			if x == c {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(s.waiters, id)
		} else {
			s.waiters[id] = list
		}
	}()

	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := 20 * time.Millisecond
	for {
		m, err := s.Store.Message(ctx, id)
		if err != nil {
			return nil, err
		}
		if envoi.Final(m.Status) || m.Status == envoi.StatusConsentRequired {
			return m, nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return m, nil
		case <-deadline.C:
			t.Stop()
			return m, nil
		case <-c:
		case <-t.C:
			poll = min(poll*2, 500*time.Millisecond)
		}
		t.Stop()
	}
}
