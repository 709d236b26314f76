// Package fakegraph is an in-process Microsoft Graph for envoi's tests:
// the mail endpoints envoi uses, on loopback, behaving as Microsoft
// Learn describes them. Each behaviour names the page it comes from:
//
//   - user-sendmail ("user: sendMail"): POST /me/sendMail and
//     /users/{id | userPrincipalName}/sendMail; a MIME body is the base64
//     of the message with Content-Type text/plain; 202 Accepted with no
//     body; malformed base64 is 400 "Invalid base64 string for MIME
//     content."; the message is saved to Sent Items.
//   - user-post-messages ("Create message"): POST /users/{id}/messages
//     with a MIME body creates a draft, 201 with the message resource
//     (id, internetMessageId).
//   - message-post-attachments ("Add attachment"): a fileAttachment under
//     3 MB in one POST, 201.
//   - outlook-large-attachments ("Attach large files to Outlook messages")
//     and attachment-createuploadsession: 3 MB to 150 MB through an
//     upload session: 201 with uploadUrl and nextExpectedRanges; PUTs of
//     byte ranges (Content-Range, up to 4 MB each) without an
//     Authorization header, each answered 200 with the next expected
//     start, the last 201 with a Location.
//   - message-send ("message: send"): POST /users/{id}/messages/{id}/send,
//     202 Accepted.
//   - user-get-mailboxsettings: GET /users/{id}/mailboxSettings.
//   - throttling and throttling-limits ("Microsoft Graph throttling
//     guidance", "Outlook service limits"): 429 Too Many Requests with
//     Retry-After; at most 4 concurrent requests per app and mailbox.
//   - errors ("Microsoft Graph error responses"): {"error": {"code",
//     "message"}}; 401 InvalidAuthenticationToken for an expired or
//     unknown token; 403 ErrorAccessDenied / ErrorSendAsDenied; 404
//     MailboxNotEnabledForRESTAPI for a mailbox not in Exchange Online;
//     413 for a request over 4 MB; ErrorMessageSizeExceeded over the
//     mailbox's message size limit (35 MB by default, "Exchange Online
//     limits").
//
// Sending as another mailbox: app-only tokens (client credentials) send
// as any mailbox of the tenant; a delegated token sends as its own user,
// and as a shared mailbox only when the test grants it (GrantSendAs).
package fakegraph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"sync"

	"envoi/internal/fakeapi"
)

// Limits of the service, as Microsoft Learn gives them.
const (
	MaxRequestBytes     = 4 << 20
	LargeAttachment     = 3 << 20
	MaxAttachment       = 150 << 20
	MaxUploadChunk      = 4 << 20
	ChunkUnit           = 320 << 10
	MaxConcurrent       = 4
	DefaultMessageLimit = 35 << 20
)

// Options configure Start.
type Options struct {
	// Tokens checks a bearer token (testmail.OAuthProvider.AccessTokenGrant).
	Tokens fakeapi.Tokens
	// MessageLimit is the mailboxes' message size limit
	// (DefaultMessageLimit).
	MessageLimit int
	// Discard keeps no message, only their count and size (Count): a
	// bench sends many.
	Discard bool
}

// Attachment is one attachment added to a draft.
type Attachment struct {
	Name, ContentType string
	Content           []byte
	// Chunks are the byte ranges of its upload session, [start, end).
	Chunks [][2]int
}

// Sent is one message Graph accepted.
type Sent struct {
	// Mailbox is who it was sent as (the path's user, or the token's for
	// /me).
	Mailbox string
	// MIME is the message as received: the sendMail body decoded, or the
	// draft's MIME.
	MIME []byte
	// Draft says it went as a draft with attachments added apart.
	Draft       bool
	Attachments []Attachment
	// InternetMessageID is the Message-ID Graph holds for it.
	InternetMessageID string
}

type draft struct {
	mailbox string
	mime    []byte
	imid    string
	atts    []*Attachment
}

type session struct {
	draft *draft
	att   *Attachment
	size  int
	next  int
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API base, e.g. "http://127.0.0.1:41234/v1.0" (a flow's
	// api_url).
	URL string

	opts  Options
	base  string
	close func()

	mu       sync.Mutex
	sent     []Sent
	drafts   map[string]*draft
	sessions map[string]*session
	seq      int
	throttle []string // Retry-After values of the next answers, 429 each
	disabled map[string]bool
	sendAs   map[string]bool // "user\x00mailbox"
	inflight map[string]int
	maxSeen  int
	requests int
	deleted  int
	count    int
	bytes    int64
}

// Start runs a fake Graph on 127.0.0.1 until the test ends.
func Start(tb fakeapi.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("fakegraph: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// New runs a fake Graph on 127.0.0.1 until Close.
func New(opts Options) (*Server, error) {
	if opts.MessageLimit <= 0 {
		opts.MessageLimit = DefaultMessageLimit
	}
	s := &Server{opts: opts, drafts: map[string]*draft{}, sessions: map[string]*session{},
		disabled: map[string]bool{}, sendAs: map[string]bool{}, inflight: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1.0/{user...}", s.post)
	mux.HandleFunc("GET /v1.0/{user...}", s.get)
	mux.HandleFunc("DELETE /v1.0/{user...}", s.del)
	mux.HandleFunc("PUT /upload/{id}", s.upload)
	base, closeFn, err := fakeapi.Serve(mux)
	if err != nil {
		return nil, err
	}
	s.base, s.close = base, closeFn
	s.URL = base + "/v1.0"
	return s, nil
}

// Close stops the fake.
func (s *Server) Close() { s.close() }

// Count returns the number of messages accepted and their MIME bytes.
func (s *Server) Count() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.bytes
}

// record keeps one accepted message; s.mu is held.
func (s *Server) record(m Sent) {
	s.count++
	s.bytes += int64(len(m.MIME))
	for _, a := range m.Attachments {
		s.bytes += int64(len(a.Content))
	}
	if !s.opts.Discard {
		s.sent = append(s.sent, m)
	}
}

// Sent returns the messages accepted so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Throttle makes the next n requests answer 429 with that Retry-After.
func (s *Server) Throttle(n int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.throttle = append(s.throttle, retryAfter)
	}
}

// DisableMailbox makes a mailbox answer MailboxNotEnabledForRESTAPI.
func (s *Server) DisableMailbox(mailbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disabled[strings.ToLower(mailbox)] = true
}

// GrantSendAs lets user's delegated token send as mailbox (a shared
// mailbox's Send As permission).
func (s *Server) GrantSendAs(user, mailbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendAs[strings.ToLower(user)+"\x00"+strings.ToLower(mailbox)] = true
}

// MaxConcurrentSeen is the most requests seen in flight for one mailbox.
func (s *Server) MaxConcurrentSeen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxSeen
}

// Requests is the number of requests answered, upload PUTs included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// DraftsLeft is the number of drafts created and neither sent nor deleted.
func (s *Server) DraftsLeft() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.drafts)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// request is one authenticated call: the mailbox it acts on and the rest
// of its path.
type request struct {
	mailbox string
	rest    string
	done    func()
}

// begin counts the request, answers throttling and authentication, and
// resolves the mailbox. ok is false when it already answered.
func (s *Server) begin(w http.ResponseWriter, r *http.Request) (request, bool) {
	s.mu.Lock()
	s.requests++
	if len(s.throttle) > 0 {
		ra := s.throttle[0]
		s.throttle = s.throttle[1:]
		s.mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		writeError(w, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return request{}, false
	}
	s.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return request{}, false
	}
	g, err := s.opts.Tokens(tok)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
		return request{}, false
	}
	if !strings.Contains(g.Scope, "graph.microsoft.com/") {
		// A token for another resource (Outlook's SMTP.Send) is not one
		// for Graph: its audience is wrong.
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return request{}, false
	}
	path := r.PathValue("user")
	var mailbox, rest string
	switch {
	case path == "me" || strings.HasPrefix(path, "me/"):
		if g.App {
			writeError(w, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
			return request{}, false
		}
		mailbox, rest = g.User, strings.TrimPrefix(path, "me")
	case strings.HasPrefix(path, "users/"):
		mailbox, rest, _ = strings.Cut(strings.TrimPrefix(path, "users/"), "/")
		rest = "/" + rest
	default:
		writeError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+path+"'.")
		return request{}, false
	}
	mailbox = strings.ToLower(mailbox)
	s.mu.Lock()
	disabled := s.disabled[mailbox]
	granted := g.App || strings.EqualFold(g.User, mailbox) || s.sendAs[strings.ToLower(g.User)+"\x00"+mailbox]
	s.inflight[mailbox]++
	over := s.inflight[mailbox] > MaxConcurrent
	s.maxSeen = max(s.maxSeen, s.inflight[mailbox])
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		s.inflight[mailbox]--
		s.mu.Unlock()
	}
	switch {
	case over:
		done()
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
		return request{}, false
	case disabled:
		done()
		writeError(w, http.StatusNotFound, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
		return request{}, false
	case !granted:
		done()
		writeError(w, http.StatusForbidden, "ErrorSendAsDenied", "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.")
		return request{}, false
	}
	return request{mailbox: mailbox, rest: rest, done: done}, true
}

// mimeBody reads a text/plain base64 MIME body.
func mimeBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequest", "unreadable body")
		return nil, false
	}
	if len(body) > MaxRequestBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The maximum request length supported is 4MB.")
		return nil, false
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", "expected a MIME message as base64 text/plain, got "+ct)
		return nil, false
	}
	mime, err := base64.StdEncoding.DecodeString(string(body))
	if err != nil {
		writeError(w, http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		return nil, false
	}
	return mime, true
}

func messageID(mime []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(mime))
	if err != nil {
		return ""
	}
	return m.Header.Get("Message-Id")
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	defer req.done()
	parts := strings.Split(strings.Trim(req.rest, "/"), "/")
	switch {
	case req.rest == "/sendMail":
		mime, ok := mimeBody(w, r)
		if !ok {
			return
		}
		if len(mime) > s.opts.MessageLimit {
			writeError(w, http.StatusBadRequest, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
			return
		}
		s.mu.Lock()
		s.record(Sent{Mailbox: req.mailbox, MIME: mime, InternetMessageID: messageID(mime)})
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case req.rest == "/messages":
		mime, ok := mimeBody(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		s.seq++
		id := fmt.Sprintf("AAMk-draft-%d", s.seq)
		d := &draft{mailbox: req.mailbox, mime: mime, imid: messageID(mime)}
		if d.imid == "" {
			d.imid = fmt.Sprintf("<draft%d@fakegraph.invalid>", s.seq)
		}
		s.drafts[id] = d
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "internetMessageId": d.imid, "isDraft": true})
	case len(parts) == 3 && parts[0] == "messages" && parts[2] == "send":
		s.mu.Lock()
		d := s.drafts[parts[1]]
		if d == nil || d.mailbox != req.mailbox {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		size := len(d.mime)
		for _, a := range d.atts {
			size += len(a.Content) * 4 / 3
		}
		if size > s.opts.MessageLimit {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "ErrorMessageSizeExceeded", "The message exceeds the maximum supported size.")
			return
		}
		delete(s.drafts, parts[1])
		sent := Sent{Mailbox: d.mailbox, MIME: d.mime, Draft: true, InternetMessageID: d.imid}
		for _, a := range d.atts {
			sent.Attachments = append(sent.Attachments, *a)
		}
		s.record(sent)
		s.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case len(parts) == 3 && parts[0] == "messages" && parts[2] == "attachments":
		var in struct {
			Type         string `json:"@odata.type"`
			Name         string `json:"name"`
			ContentType  string `json:"contentType"`
			ContentBytes []byte `json:"contentBytes"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, MaxRequestBytes+1)).Decode(&in); err != nil || in.Type != "#microsoft.graph.fileAttachment" {
			writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", "not a fileAttachment")
			return
		}
		if len(in.ContentBytes) >= LargeAttachment {
			writeError(w, http.StatusRequestEntityTooLarge, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize", "an attachment of 3 MB or more goes through an upload session")
			return
		}
		s.mu.Lock()
		d := s.drafts[parts[1]]
		if d == nil || d.mailbox != req.mailbox {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		d.atts = append(d.atts, &Attachment{Name: in.Name, ContentType: in.ContentType, Content: in.ContentBytes})
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"name": in.Name, "size": len(in.ContentBytes)})
	case len(parts) == 4 && parts[0] == "messages" && parts[2] == "attachments" && parts[3] == "createUploadSession":
		var in struct {
			AttachmentItem struct {
				AttachmentType string `json:"attachmentType"`
				Name           string `json:"name"`
				Size           int    `json:"size"`
				ContentType    string `json:"contentType"`
			} `json:"AttachmentItem"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.AttachmentItem.AttachmentType != "file" || in.AttachmentItem.Name == "" {
			writeError(w, http.StatusBadRequest, "ErrorInvalidRequest", "AttachmentItem with attachmentType file, name and size is required")
			return
		}
		if in.AttachmentItem.Size > MaxAttachment || in.AttachmentItem.Size <= 0 {
			writeError(w, http.StatusBadRequest, "ErrorAttachmentSizeShouldNotBeMoreThanMaximumSize", "the attachment must be 150 MB at most")
			return
		}
		s.mu.Lock()
		d := s.drafts[parts[1]]
		if d == nil || d.mailbox != req.mailbox {
			s.mu.Unlock()
			writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
			return
		}
		s.seq++
		id := "sess" + strconv.Itoa(s.seq)
		s.sessions[id] = &session{draft: d, size: in.AttachmentItem.Size,
			att: &Attachment{Name: in.AttachmentItem.Name, ContentType: in.AttachmentItem.ContentType}}
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"uploadUrl": s.base + "/upload/" + id,
			"expirationDateTime": "2099-01-01T00:00:00Z", "nextExpectedRanges": []string{"0-"}})
	default:
		writeError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+req.rest+"'.")
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	defer req.done()
	if req.rest != "/mailboxSettings" {
		writeError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+req.rest+"'.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"timeZone": "UTC", "language": map[string]any{"locale": "en-US"}})
}

func (s *Server) del(w http.ResponseWriter, r *http.Request) {
	req, ok := s.begin(w, r)
	if !ok {
		return
	}
	defer req.done()
	parts := strings.Split(strings.Trim(req.rest, "/"), "/")
	if len(parts) != 2 || parts[0] != "messages" {
		writeError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+req.rest+"'.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.drafts[parts[1]]; d == nil || d.mailbox != req.mailbox {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
		return
	}
	delete(s.drafts, parts[1])
	s.deleted++
	w.WriteHeader(http.StatusNoContent)
}

// upload takes one chunk of an upload session. The upload URL is its own
// authorization: a request that carries an Authorization header is
// refused ("Attach large files to Outlook messages": "don't specify an
// Authorization request header").
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	sess := s.sessions[r.PathValue("id")]
	s.mu.Unlock()
	if sess == nil {
		writeError(w, http.StatusNotFound, "ErrorItemNotFound", "unknown upload session")
		return
	}
	if r.Header.Get("Authorization") != "" {
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "the upload URL carries its own authorization; an Authorization header is refused")
		return
	}
	var start, end, total int
	if _, err := fmt.Sscanf(r.Header.Get("Content-Range"), "bytes %d-%d/%d", &start, &end, &total); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidContentRange", "Content-Range bytes start-end/total is required")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxUploadChunk+1))
	switch {
	case err != nil:
		writeError(w, http.StatusBadRequest, "BadRequest", "unreadable body")
		return
	case len(body) > MaxUploadChunk:
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "a chunk is 4 MB at most")
		return
	case total != sess.size || start != sess.next || end-start+1 != len(body) || end >= total:
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidContentRange",
			fmt.Sprintf("expected bytes from %d of %d; got %d-%d/%d with %d bytes", sess.next, sess.size, start, end, total, len(body)))
		return
	case end+1 < total && len(body)%ChunkUnit != 0:
		writeError(w, http.StatusBadRequest, "InvalidContentRange", "a chunk but the last must be a multiple of 320 KiB")
		return
	}
	s.mu.Lock()
	sess.att.Content = append(sess.att.Content, body...)
	sess.att.Chunks = append(sess.att.Chunks, [2]int{start, end + 1})
	sess.next = end + 1
	next := sess.next
	last := next == sess.size
	if last {
		sess.draft.atts = append(sess.draft.atts, sess.att)
		delete(s.sessions, r.PathValue("id"))
	}
	s.mu.Unlock()
	if last {
		w.Header().Set("Location", s.URL+"/attachments/"+r.PathValue("id"))
		w.WriteHeader(http.StatusCreated)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"expirationDateTime": "2099-01-01T00:00:00Z", "nextExpectedRanges": []string{strconv.Itoa(next)}})
}
