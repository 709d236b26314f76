// Package fakegmail is an in-process Gmail API for envoi's tests, on
// loopback, written from the API's discovery document (gmail/v1's
// gmail-api.json, shipped inside Google's Go client library):
//
//   - gmail.users.messages.send: POST gmail/v1/users/{userId}/messages/send
//     with a Message whose raw is the RFC 2822 message, base64url;
//     mediaUpload accepts message/* up to maxSize 36700160 bytes at
//     /upload/gmail/v1/users/{userId}/messages/send (simple protocol,
//     multipart: a JSON part and the message); answers the Message (id,
//     threadId, labelIds).
//   - gmail.users.getProfile: GET gmail/v1/users/{userId}/profile,
//     answers the Profile (emailAddress, messagesTotal, threadsTotal,
//     historyId).
//   - the scopes each method accepts are the document's "scopes" lists:
//     a token without one of them is refused with 403
//     insufficientPermissions.
//   - userId "me" is the token's user (the parameter's description).
//
// Errors are Google's JSON error object {"error": {"code", "message",
// "errors": [{"reason", "domain", "message"}], "status"}}, the reasons of
// the Gmail API's "Resolve errors" guide: 401 authError, 403
// insufficientPermissions / userRateLimitExceeded / dailyLimitExceeded,
// 429 rateLimitExceeded, 400 failedPrecondition ("Mail service not
// enabled") and invalidArgument ("Recipient address required").
package fakegmail

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"strings"
	"sync"

	"envoi/internal/fakeapi"
)

// MaxMessageBytes is the discovery document's mediaUpload maxSize of
// users.messages.send.
const MaxMessageBytes = 36700160

// Scopes of the methods served, from the discovery document.
var (
	sendScopes = []string{"https://mail.google.com/", "https://www.googleapis.com/auth/gmail.addons.current.action.compose",
		"https://www.googleapis.com/auth/gmail.compose", "https://www.googleapis.com/auth/gmail.modify",
		"https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/gmail.send.self"}
	profileScopes = []string{"https://mail.google.com/", "https://www.googleapis.com/auth/gmail.compose",
		"https://www.googleapis.com/auth/gmail.metadata", "https://www.googleapis.com/auth/gmail.modify",
		"https://www.googleapis.com/auth/gmail.readonly"}
)

// Options configure Start.
type Options struct {
	// Tokens checks a bearer token (testmail.OAuthProvider.AccessTokenGrant).
	Tokens fakeapi.Tokens
	// Discard keeps no message, only their count and size (Count).
	Discard bool
}

// Sent is one message the API accepted.
type Sent struct {
	Mailbox string
	// MIME is the message as received, decoded.
	MIME []byte
	// Upload is the uploadType of a media upload, "" for raw in JSON.
	Upload string
	ID     string
}

type fault struct {
	status          int
	reason, message string
	retryAfter      string
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API's root, e.g. "http://127.0.0.1:41234" (a flow's
	// api_url).
	URL string

	opts     Options
	close    func()
	mu       sync.Mutex
	sent     []Sent
	faults   []fault
	disabled map[string]bool
	seq      int
	count    int
	bytes    int64
}

// Count returns the number of messages accepted and their bytes.
func (s *Server) Count() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.bytes
}

// Start runs a fake Gmail API on 127.0.0.1 until the test ends.
func Start(tb fakeapi.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("fakegmail: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// New runs a fake Gmail API on 127.0.0.1 until Close.
func New(opts Options) (*Server, error) {
	s := &Server{opts: opts, disabled: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /gmail/v1/users/{user}/messages/send", s.send)
	mux.HandleFunc("POST /upload/gmail/v1/users/{user}/messages/send", s.send)
	mux.HandleFunc("GET /gmail/v1/users/{user}/profile", s.profile)
	base, closeFn, err := fakeapi.Serve(mux)
	if err != nil {
		return nil, err
	}
	s.URL, s.close = base, closeFn
	return s, nil
}

// Close stops the fake.
func (s *Server) Close() { s.close() }

// Sent returns the messages accepted so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Fail makes the next n requests fail with status and reason (and a
// Retry-After header when retryAfter is set): 429 rateLimitExceeded, 403
// userRateLimitExceeded, 403 dailyLimitExceeded...
func (s *Server) Fail(n, status int, reason, message, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status, reason, message, retryAfter})
	}
}

// DisableMailbox makes a mailbox answer failedPrecondition (Gmail not
// enabled for the user).
func (s *Server) DisableMailbox(mailbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disabled[strings.ToLower(mailbox)] = true
}

func writeError(w http.ResponseWriter, status int, reason, message string) {
	st := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
		413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}[status]
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": message, "status": st,
		"errors": []map[string]any{{"reason": reason, "domain": "global", "message": message}},
	}})
}

func hasAny(scope string, want []string) bool {
	for _, have := range strings.Fields(scope) {
		for _, w := range want {
			if have == w {
				return true
			}
		}
	}
	return false
}

// begin answers faults and authentication; it returns the mailbox acted on.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, scopes []string) (string, bool) {
	s.mu.Lock()
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		s.mu.Unlock()
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		writeError(w, f.status, f.reason, f.message)
		return "", false
	}
	s.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	g, err := s.opts.Tokens(tok)
	if !ok || err != nil {
		writeError(w, http.StatusUnauthorized, "authError", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return "", false
	}
	if !hasAny(g.Scope, scopes) {
		writeError(w, http.StatusForbidden, "insufficientPermissions", "Request had insufficient authentication scopes.")
		return "", false
	}
	user := r.PathValue("user")
	if user == "me" {
		user = g.User
	}
	user = strings.ToLower(user)
	if !strings.EqualFold(user, g.User) {
		writeError(w, http.StatusForbidden, "forbidden", "Delegation denied for "+g.User)
		return "", false
	}
	s.mu.Lock()
	disabled := s.disabled[user]
	s.mu.Unlock()
	if disabled {
		writeError(w, http.StatusBadRequest, "failedPrecondition", "Mail service not enabled")
		return "", false
	}
	return user, true
}

func (s *Server) send(w http.ResponseWriter, r *http.Request) {
	user, ok := s.begin(w, r, sendScopes)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2*MaxMessageBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidArgument", "unreadable body")
		return
	}
	upload := r.URL.Query().Get("uploadType")
	var msg []byte
	if strings.HasPrefix(r.URL.Path, "/upload/") {
		if msg, ok = uploaded(w, r, upload, body); !ok {
			return
		}
	} else {
		var m struct {
			Raw string `json:"raw"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			writeError(w, http.StatusBadRequest, "invalidArgument", "Invalid JSON payload received.")
			return
		}
		if msg, err = base64.URLEncoding.DecodeString(m.Raw); err != nil {
			if msg, err = base64.RawURLEncoding.DecodeString(m.Raw); err != nil {
				writeError(w, http.StatusBadRequest, "invalidArgument", "Invalid value for ByteString")
				return
			}
		}
	}
	if len(msg) > MaxMessageBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "uploadTooLarge", "Request payload size exceeds the limit: 36700160 bytes.")
		return
	}
	pm, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidArgument", "Invalid RFC 5322 message")
		return
	}
	if pm.Header.Get("To")+pm.Header.Get("Cc")+pm.Header.Get("Bcc") == "" {
		writeError(w, http.StatusBadRequest, "invalidArgument", "Recipient address required")
		return
	}
	s.mu.Lock()
	s.seq++
	id := fmt.Sprintf("18c%013x", s.seq)
	s.count++
	s.bytes += int64(len(msg))
	if !s.opts.Discard {
		s.sent = append(s.sent, Sent{Mailbox: user, MIME: msg, Upload: upload, ID: id})
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "threadId": id, "labelIds": []string{"SENT"}})
}

// uploaded reads a simple media upload: uploadType media (the message
// alone) or multipart (multipart/related: the JSON metadata, then the
// message).
func uploaded(w http.ResponseWriter, r *http.Request, upload string, body []byte) ([]byte, bool) {
	switch upload {
	case "media":
		return body, true
	case "multipart":
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/related" {
			writeError(w, http.StatusBadRequest, "badContent", "multipart uploads are multipart/related")
			return nil, false
		}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		if _, err := mr.NextPart(); err != nil {
			writeError(w, http.StatusBadRequest, "badContent", "no metadata part")
			return nil, false
		}
		p, err := mr.NextPart()
		if err != nil {
			writeError(w, http.StatusBadRequest, "badContent", "no media part")
			return nil, false
		}
		if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "message/") {
			writeError(w, http.StatusBadRequest, "badContent", "Media type '"+ct+"' is not supported. Valid media types: [message/*]")
			return nil, false
		}
		b, err := io.ReadAll(p)
		if err != nil {
			writeError(w, http.StatusBadRequest, "badContent", "unreadable media part")
			return nil, false
		}
		return b, true
	}
	writeError(w, http.StatusBadRequest, "invalidArgument", "uploadType "+upload+" is not served by this fake")
	return nil, false
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request) {
	user, ok := s.begin(w, r, profileScopes)
	if !ok {
		return
	}
	s.mu.Lock()
	n := 0
	for _, m := range s.sent {
		if m.Mailbox == user {
			n++
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"emailAddress": user, "messagesTotal": n, "threadsTotal": n, "historyId": "1"})
}
