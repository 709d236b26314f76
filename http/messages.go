package http

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"envoi"
)

// Messages is the send service the API drives (queue.Service implements it).
type Messages interface {
	Accept(ctx context.Context, req *envoi.SendRequest, idempotencyKey string) (*envoi.Message, bool, error)
	Preview(ctx context.Context, req *envoi.SendRequest) ([]byte, error)
	Retry(ctx context.Context, id string) (*envoi.Message, error)
	Wait(ctx context.Context, id string, d time.Duration) (*envoi.Message, error)
}

// MaxWait bounds ?wait= on POST /v1/messages.
const MaxWait = 120 * time.Second

type messageOutput struct {
	ID        string       `json:"id"`
	Status    string       `json:"status"`
	Attempts  int          `json:"attempts"`
	Error     *errorFields `json:"error"`
	MessageID string       `json:"message_id"`
	// Subject and Recipients are what the message was sent with.
	Subject    string   `json:"subject,omitempty"`
	Recipients []string `json:"recipients"`
	// ProviderMessageID is the provider's own id of the sent message.
	ProviderMessageID string        `json:"provider_message_id,omitempty"`
	SentAt            *time.Time    `json:"sent_at"`
	NextTry           *time.Time    `json:"next_try,omitempty"`
	CreatedAt         time.Time     `json:"created_at"`
	DocumentFlow      string        `json:"document_flow"`
	Operator          string        `json:"operator"`
	Company           string        `json:"company,omitempty"`
	Entity            *envoi.Entity `json:"entity,omitempty"`
	Duplicates        int           `json:"possible_duplicates,omitempty"`
	NextAttempt       *time.Time    `json:"next_attempt_at,omitempty"`
	WaitReason        string        `json:"wait_reason,omitempty"`
	// What came back after the send: a bounce (status bounced), the
	// latest delay notice, a read receipt.
	Bounce *envoi.Bounce `json:"bounce,omitempty"`
	Delay  *envoi.Bounce `json:"delay,omitempty"`
	ReadAt *time.Time    `json:"read_at,omitempty"`
}

func messageJSON(m *envoi.Message, lang string) messageOutput {
	out := messageOutput{
		ID: m.ID, Status: m.Status, Attempts: m.Attempts, MessageID: m.MessageID, ProviderMessageID: m.ProviderMessageID,
		CreatedAt: m.CreatedAt, DocumentFlow: m.Request.DocumentFlow, Operator: m.Request.Operator,
		Company: m.Request.Company, Entity: m.Request.Entity, Duplicates: m.Duplicates,
		Subject: m.Subject, Recipients: m.Recipients(),
	}
	if !m.SentAt.IsZero() {
		out.SentAt = &m.SentAt
	}
	if !m.NextTry.IsZero() {
		out.NextTry = &m.NextTry
	}
	out.Bounce, out.Delay = m.Bounce, m.Delay
	if !m.ReadAt.IsZero() {
		out.ReadAt = &m.ReadAt
	}
	if !m.NextAttemptAt.IsZero() {
		out.NextAttempt, out.WaitReason = &m.NextAttemptAt, m.WaitReason
	}
	if m.ErrorCode != "" {
		t := envoi.Describe(m.ErrorCode, lang)
		out.Error = &errorFields{Code: m.ErrorCode, Message: t.Message, Remedy: t.Remedy, Details: map[string]any{"reason": m.Error}}
	}
	return out
}

// decodeSend reads a send request: a JSON body, or multipart/form-data
// with the JSON in a part and binary files (decodeSendMultipart). Once
// the body is read, the request waits for its turn to compose (admit),
// then a JSON body is decoded.
//
// The attachments' base64 text stays where it is in the body's buffer:
// call release once req's attachments are no longer used (the message is
// composed and accepted), which gives the turn back and lends the buffer
// to the next request. release is never nil.
func (s *Server) decodeSend(w http.ResponseWriter, r *http.Request) (req *envoi.SendRequest, release func(), err error) {
	release = func() {}
	if r.ContentLength > s.maxBody() {
		refuseBody(w, r)
		return nil, release, envoi.Errorf(envoi.ETooLarge, "the body is %d bytes; the limit is %d", r.ContentLength, s.maxBody()).WithDetail("limit_bytes", s.maxBody())
	}
	body := http.MaxBytesReader(w, r.Body, s.maxBody())
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		// Its files are encoded as they arrive: the request waits with
		// them in hand.
		r.Body = body
		if req, err = s.decodeSendMultipart(r); err != nil {
			return nil, release, err
		}
		done, err := s.admit(w, r, attachmentBytes(req))
		if err != nil {
			return nil, release, err
		}
		return req, done, nil
	}
	buf, err := s.readBody(body, r.ContentLength)
	if err != nil {
		return nil, release, err
	}
	done, err := s.admit(w, r, int64(len(*buf)))
	if err != nil {
		putBodyBuffer(buf)
		return nil, release, err
	}
	req = new(envoi.SendRequest)
	free, err := s.decodeRead(buf, req, true)
	release = func() { free(); done() }
	if err != nil {
		return nil, release, err
	}
	return req, release, nil
}

// attachmentBytes is the size of the attachments req holds.
func attachmentBytes(req *envoi.SendRequest) int64 {
	var n int64
	for _, a := range req.Attachments {
		n += int64(len(a.Encoded) + len(a.Content))
	}
	return n
}

// postMessage accepts a message: 202 with its id and status, or with
// ?wait=30s its state once sent, failed or parked (202 still at the deadline).
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			if n, nerr := strconv.Atoi(v); nerr == nil {
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d < 0 || d > MaxWait {
			s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, "wait", "%q is not a duration between 0s and %s (e.g. 30s)", v, MaxWait))
			return
		}
		wait = d
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 || strings.ContainsAny(key, "\r\n\x00") {
		s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, "Idempotency-Key", "at most 200 printable characters"))
		return
	}
	req, release, err := s.decodeSend(w, r)
	if err != nil {
		release()
		s.writeError(w, r, err)
		return
	}
	m, created, err := s.Messages.Accept(r.Context(), req, key)
	// The turn is given back here, not after the ?wait= below.
	release()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/v1/messages/"+m.ID)
	if wait > 0 {
		if m2, err := s.Messages.Wait(r.Context(), m.ID, wait); err == nil {
			m = m2
		}
	}
	status := http.StatusAccepted
	if envoi.Final(m.Status) {
		status = http.StatusOK
	}
	writeJSON(w, status, messageJSON(m, Language(r)))
}

func (s *Server) previewMessage(w http.ResponseWriter, r *http.Request) {
	req, release, err := s.decodeSend(w, r)
	if err != nil {
		release()
		s.writeError(w, r, err)
		return
	}
	eml, err := s.Messages.Preview(r.Context(), req)
	release()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Length", strconv.Itoa(len(eml)))
	_, _ = w.Write(eml)
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	m, err := s.Store.Message(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, messageJSON(m, Language(r)))
}

func (s *Server) getMessageEML(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Store.Message(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	eml, err := s.Store.EML(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "message/rfc822")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.eml"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(eml)))
	_, _ = w.Write(eml)
}

func (s *Server) retryMessage(w http.ResponseWriter, r *http.Request) {
	m, err := s.Messages.Retry(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, messageJSON(m, Language(r)))
}

// listMessages answers the messages matching ?status=&operator=&document_flow=
// &entity_type=&entity_id=&since=&until=&limit=&before=, newest first.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := envoi.MessageFilter{
		Status: q.Get("status"), Operator: q.Get("operator"), DocumentFlow: q.Get("document_flow"),
		EntityType: q.Get("entity_type"), EntityID: q.Get("entity_id"), Before: q.Get("before"),
	}
	if err := envoi.CheckStatus(f.Status, "status"); err != nil {
		s.writeError(w, r, err)
		return
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				if t, err = time.Parse(time.DateOnly, v); err != nil {
					s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, name, "%q is not a date (2006-01-02 or RFC 3339)", v))
					return
				}
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, "limit", "%q is not between 1 and 1000", v))
			return
		}
		f.Limit = n
	}
	list, err := s.Store.Messages(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]messageOutput, len(list))
	for i, m := range list {
		out[i] = messageJSON(m, Language(r))
	}
	writeJSON(w, http.StatusOK, out)
}
