package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	envoihttp "envoi/http"
	"envoi/secret"
	"envoi/sqlstore"
)

// heldMessages is a send service whose Accept waits for the test to let
// it go (a token on release, or release closed): it stands for a
// composition or a commit that takes long, which nothing real here
// makes last on demand.
type heldMessages struct {
	envoihttp.Messages
	entered chan string // the Idempotency-Key of each Accept called
	release chan struct{}
	once    sync.Once

	mu       sync.Mutex
	accepted map[string]int
}

func newHeldMessages() *heldMessages {
	return &heldMessages{entered: make(chan string, 100), release: make(chan struct{}), accepted: map[string]int{}}
}

// free lets every Accept go, now and from now on.
func (m *heldMessages) free() { m.once.Do(func() { close(m.release) }) }

func (m *heldMessages) Accept(ctx context.Context, req *envoi.SendRequest, key string) (*envoi.Message, bool, error) {
	m.entered <- key
	select {
	case <-m.release:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accepted[key]++
	return &envoi.Message{ID: "msg_" + key, Status: envoi.StatusQueued, Request: *req}, true, nil
}

// gateEnv is an API server with held sends and its API key.
type gateEnv struct {
	srv  *envoihttp.Server
	msgs *heldMessages
	base string
	key  string
}

func startGate(t *testing.T, srv *envoihttp.Server) *gateEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, sqlstore.Options{DataDir: t.TempDir(), MasterKey: secret.NewKey()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key, rec := envoihttp.NewAPIKey("test")
	if err := store.CreateAPIKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	e := &gateEnv{srv: srv, msgs: newHeldMessages(), key: key}
	srv.Store, srv.Messages = store, e.msgs
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	// Before the server closes, which waits for its handlers: a test
	// that fails leaves none held.
	t.Cleanup(e.msgs.free)
	e.base = ts.URL
	return e
}

// sendBody is a send request carrying an attachment of some size.
func sendBody(to string) []byte {
	pdf := bytes.Repeat([]byte("JVBERi0xLjcK"), 20<<10/12)
	return []byte(`{"document_flow":"BL","operator":"jdupont","to":["` + to + `"],"attachments":[{"filename":"BL.pdf","content_type":"application/pdf","content_base64":"` + string(pdf) + `"}]}`)
}

// sendHead is the head of a send request of n bytes of body.
func (e *gateEnv) sendHead(key string, n int) string {
	host := strings.TrimPrefix(e.base, "http://")
	return fmt.Sprintf("POST /v1/messages HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n", host, e.key, key, n)
}

type gateAnswer struct {
	status     int
	retryAfter string
	body       []byte
	err        error
}

func (a gateAnswer) code() string {
	var b struct {
		Error struct {
			Code    string         `json:"code"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(a.body, &b)
	return b.Error.Code
}

// post sends a message with its Idempotency-Key on a connection of its own.
func (e *gateEnv) post(ctx context.Context, key string) gateAnswer {
	req, _ := http.NewRequestWithContext(ctx, "POST", e.base+"/v1/messages", bytes.NewReader(sendBody(key+"@example.org")))
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return gateAnswer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return gateAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b, err: err}
}

// postAsync posts in the background; the answer comes on the channel.
func (e *gateEnv) postAsync(ctx context.Context, key string) <-chan gateAnswer {
	c := make(chan gateAnswer, 1)
	go func() { c <- e.post(ctx, key) }()
	return c
}

// waitUntil waits for ok to hold; it fails the test after a minute,
// which is no measure of speed but a hang.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after a minute", what)
		}
	}
}

func (e *gateEnv) entered(t *testing.T, want ...string) {
	t.Helper()
	got := map[string]bool{}
	for range want {
		select {
		case k := <-e.msgs.entered:
			got[k] = true
		case <-time.After(time.Minute):
			t.Fatalf("sends at work: %v, want %v", got, want)
		}
	}
	for _, k := range want {
		if !got[k] {
			t.Fatalf("sends at work: %v, want %v", got, want)
		}
	}
}

// TestComposeGate: with both turns taken, sends whose bodies are read
// wait; past the waiting room one is answered 503 unavailable with
// Retry-After at once, on a connection that stays open for its next
// request; a client trickling its body holds no turn meanwhile; once the
// turns come free every waiting send is accepted, the trickled one too,
// and the refused one when posted again with its Idempotency-Key: each
// accepted once, none lost.
func TestComposeGate(t *testing.T) {
	e := startGate(t, &envoihttp.Server{ComposeConcurrency: 2, ComposeQueue: 2, ComposeWait: time.Hour})
	ctx := context.Background()

	// A client sends half its body, and goes on later.
	trickled := sendBody("trickle@example.org")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, e.sendHead("trickle", len(trickled))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(trickled[:len(trickled)/2]); err != nil {
		t.Fatal(err)
	}

	// Both turns go to complete requests while it trickles.
	a1, a2 := e.postAsync(ctx, "a1"), e.postAsync(ctx, "a2")
	e.entered(t, "a1", "a2")
	// The next two wait, bodies read; the trickling one is not among them.
	w1, w2 := e.postAsync(ctx, "w1"), e.postAsync(ctx, "w2")
	waitUntil(t, "two sends waiting", func() bool { return e.srv.AdmissionStats().Waiting == 2 })
	if st := e.srv.AdmissionStats(); st.Composing != 2 || st.Capacity != 2 || st.WaitingBytes < int64(2*len(sendBody("w1@example.org"))) {
		t.Errorf("gate %+v, want 2 composing of 2, 2 waiting with their bodies", st)
	}

	// The waiting room is full: the next is refused at once, its body read,
	// and its connection serves the client's next request.
	refused, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	body := sendBody("r1@example.org")
	if _, err := io.WriteString(refused, e.sendHead("r1", len(body))+string(body)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(refused)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := gateAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b}
	if got.status != http.StatusServiceUnavailable || got.code() != envoi.EUnavailable || got.retryAfter == "" || resp.Close {
		t.Fatalf("a send past the waiting room: %d Retry-After %q close %v %s; want 503 unavailable with Retry-After, the connection kept", got.status, got.retryAfter, resp.Close, got.body)
	}
	if !strings.Contains(string(got.body), "Idempotency-Key") || !strings.Contains(string(got.body), "retry_after_seconds") {
		t.Errorf("the refusal does not tell what to do: %s", got.body)
	}
	if _, err := io.WriteString(refused, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the refused send's connection, next request: %v %v", resp, err)
	}
	if st := e.srv.AdmissionStats(); st.RefusedFull != 1 || st.Waiting != 2 {
		t.Errorf("gate %+v, want 1 refused (full), still 2 waiting", st)
	}

	// The turns come free: the waiting ones are accepted, then the
	// trickled one once its body is whole, then the refused one sent again.
	e.msgs.free()
	for name, c := range map[string]<-chan gateAnswer{"a1": a1, "a2": a2, "w1": w1, "w2": w2} {
		if a := <-c; a.err != nil || a.status != http.StatusAccepted {
			t.Errorf("send %s: %d %s %v, want 202", name, a.status, a.body, a.err)
		}
	}
	if _, err := conn.Write(trickled[len(trickled)/2:]); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Errorf("the trickled send: %v %v, want 202", resp, err)
	}
	if a := e.post(ctx, "r1"); a.status != http.StatusAccepted {
		t.Errorf("the refused send posted again: %d %s %v, want 202", a.status, a.body, a.err)
	}
	e.msgs.mu.Lock()
	defer e.msgs.mu.Unlock()
	for _, k := range []string{"a1", "a2", "w1", "w2", "trickle", "r1"} {
		if n := e.msgs.accepted[k]; n != 1 {
			t.Errorf("send %s accepted %d times, want once", k, n)
		}
	}
	if len(e.msgs.accepted) != 6 {
		t.Errorf("accepted %v, want the 6 sends", e.msgs.accepted)
	}
	if st := e.srv.AdmissionStats(); st.Composing != 0 || st.Waiting != 0 || st.WaitingBytes != 0 {
		t.Errorf("gate %+v once every send is answered, want it empty", st)
	}
}

// TestComposeGateWait: a send that waits ComposeWait without a turn is
// refused 503 with Retry-After (Timeout); one whose client goes away
// while it waits leaves the waiting room and is never accepted
// (ClientGone).
func TestComposeGateWait(t *testing.T) {
	t.Run("Timeout", func(t *testing.T) {
		e := startGate(t, &envoihttp.Server{ComposeConcurrency: 1, ComposeQueue: 1, ComposeWait: 20 * time.Millisecond})
		ctx := context.Background()
		held := e.postAsync(ctx, "held")
		e.entered(t, "held")
		if a := e.post(ctx, "late"); a.status != http.StatusServiceUnavailable || a.code() != envoi.EUnavailable || a.retryAfter == "" {
			t.Errorf("a send without a turn within ComposeWait: %d Retry-After %q %s, want 503 unavailable with Retry-After", a.status, a.retryAfter, a.body)
		}
		if st := e.srv.AdmissionStats(); st.RefusedLate != 1 || st.RefusedFull != 0 || st.Waiting != 0 {
			t.Errorf("gate %+v, want 1 refused (timeout), none waiting", st)
		}
		e.msgs.free()
		if a := <-held; a.status != http.StatusAccepted {
			t.Errorf("the held send: %d %s %v, want 202", a.status, a.body, a.err)
		}
	})
	t.Run("ClientGone", func(t *testing.T) {
		e := startGate(t, &envoihttp.Server{ComposeConcurrency: 1, ComposeQueue: 1, ComposeWait: time.Hour})
		ctx := context.Background()
		held := e.postAsync(ctx, "held")
		e.entered(t, "held")
		gone, cancel := context.WithCancel(ctx)
		answer := e.postAsync(gone, "gone")
		waitUntil(t, "one send waiting", func() bool { return e.srv.AdmissionStats().Waiting == 1 })
		cancel()
		if a := <-answer; a.err == nil {
			t.Errorf("the send whose client went away was answered %d %s", a.status, a.body)
		}
		waitUntil(t, "the waiting room empty", func() bool { return e.srv.AdmissionStats().Waiting == 0 })
		e.msgs.free()
		if a := <-held; a.status != http.StatusAccepted {
			t.Errorf("the held send: %d %s %v, want 202", a.status, a.body, a.err)
		}
		// The next send gets the turn at once: the one that went away
		// took none.
		if a := e.post(ctx, "next"); a.status != http.StatusAccepted {
			t.Errorf("the next send: %d %s %v, want 202", a.status, a.body, a.err)
		}
		e.msgs.mu.Lock()
		defer e.msgs.mu.Unlock()
		if e.msgs.accepted["gone"] != 0 || len(e.msgs.accepted) != 2 {
			t.Errorf("accepted %v, want held and next alone", e.msgs.accepted)
		}
		if st := e.srv.AdmissionStats(); st.RefusedLate+st.RefusedFull != 0 {
			t.Errorf("gate %+v: a client that went away is counted refused", st)
		}
	})
}

// countedArchiver archives nothing and counts the calls.
type countedArchiver struct {
	mu    sync.Mutex
	calls int
}

func (a *countedArchiver) Archive(ctx context.Context, req *envoi.ArchiveRequest) (*envoi.ArchivedDocument, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	return &envoi.ArchivedDocument{ID: "arc_1", EntityType: req.Entity.Type, EntityID: req.Entity.ID, FileName: "BL.pdf"}, nil
}

// TestComposeGateArchive: a document to archive takes a turn of the gate
// as a send does: with the turn taken and the waiting room full it is
// refused 503 unavailable with Retry-After, nothing archived; once the
// turns come free it is archived.
func TestComposeGateArchive(t *testing.T) {
	arch := &countedArchiver{}
	e := startGate(t, &envoihttp.Server{ComposeConcurrency: 1, ComposeQueue: 1, ComposeWait: time.Hour, Archiver: arch})
	ctx := context.Background()
	a1 := e.postAsync(ctx, "a1")
	e.entered(t, "a1")
	a2 := e.postAsync(ctx, "a2")
	waitUntil(t, "one send waiting", func() bool { return e.srv.AdmissionStats().Waiting == 1 })

	archive := func() gateAnswer {
		body := `{"document_flow":"BL","entity":{"type":"BL","id":"1"},"content_type":"application/pdf","content_base64":"JVBERi0xLjcK"}`
		req, _ := http.NewRequestWithContext(ctx, "POST", e.base+"/v1/archive", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return gateAnswer{err: err}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return gateAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b, err: err}
	}
	refused := archive()
	if refused.err != nil || refused.status != http.StatusServiceUnavailable || refused.code() != envoi.EUnavailable || refused.retryAfter == "" {
		t.Fatalf("archive with the gate full: %d %q Retry-After %q (%v), want 503 unavailable with Retry-After", refused.status, refused.body, refused.retryAfter, refused.err)
	}
	if !strings.Contains(string(refused.body), "nothing was done") {
		t.Errorf("the refusal does not say nothing was done: %s", refused.body)
	}
	if arch.calls != 0 {
		t.Fatalf("archived %d documents while refusing", arch.calls)
	}

	e.msgs.free()
	for _, c := range []<-chan gateAnswer{a1, a2} {
		if a := <-c; a.status != http.StatusAccepted {
			t.Fatalf("send: %d %s (%v)", a.status, a.body, a.err)
		}
	}
	if a := archive(); a.status != http.StatusCreated {
		t.Fatalf("archive once the turns are free: %d %s (%v)", a.status, a.body, a.err)
	}
	if arch.calls != 1 {
		t.Errorf("archived %d documents, want 1", arch.calls)
	}
	if st := e.srv.AdmissionStats(); st.Composing != 0 || st.Waiting != 0 {
		t.Errorf("after the archive: %+v, want no turn taken", st)
	}
}
