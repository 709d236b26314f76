package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"envoi/internal/testmail"
	"envoi/oauth"
	"envoi/queue"
	"envoi/smtp"
)

// Hooks adjust the parts MustStart leaves as the harness sets them: the
// SMTP sender's timeouts, the OAuth service's. Each runs after the
// harness's own setup of that part.
type Hooks struct {
	SMTP  func(*smtp.Sender)
	OAuth func(*oauth.Service)
}

// MustStartHooked is MustStart with hooks on the SMTP sender and the OAuth
// service (the fault tests shorten their timeouts).
func MustStartHooked(tb testing.TB, o EnvOptions, h Hooks) *Env {
	tb.Helper()
	if o.Shared != nil {
		tb.Fatal("MustStartHooked: Shared is not supported")
	}
	o.Hooks = h
	return MustStart(tb, o)
}

// fastRetries makes the worker retry at once and many times, so a fault
// test sees several attempts and then the recovery in a short run.
func fastRetries(w *queue.Worker) {
	w.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	w.MaxAttempts = 10000
}

// checkNoPanic fails the test when the server's log mentions a panic.
func checkNoPanic(t testing.TB, e *Env) {
	t.Helper()
	if logs := e.Logs(); strings.Contains(strings.ToLower(logs), "panic") {
		t.Errorf("the server logged a panic:\n%s", logs)
	}
}

// rawResult is one API call made without the test's T (from goroutines,
// or when the call itself may fail).
type rawResult struct {
	Status int
	Body   []byte
	Err    error
}

func (r rawResult) code() string {
	var e APIError
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// call makes one API call with key (none when empty) and a JSON body
// (marshalled unless it is already []byte); it never fails the test.
func (e *Env) call(method, path, key string, body any, headers ...string) rawResult {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return rawResult{Err: err}
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.Base+path, r)
	if err != nil {
		return rawResult{Err: err}
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawResult{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawResult{Status: resp.StatusCode, Body: b, Err: err}
}

// message reads a message's state; ok is false when the API did not answer 200.
func (e *Env) message(id string) (messageJSON, bool) {
	var m messageJSON
	r := e.call("GET", "/v1/messages/"+id, e.Key, nil)
	if r.Err != nil || r.Status != 200 || json.Unmarshal(r.Body, &m) != nil {
		return m, false
	}
	return m, true
}

// waitAll polls the messages until each satisfies ok, and fails the test
// with their states if that does not happen within d.
func (e *Env) waitAll(t testing.TB, ids []string, d time.Duration, what string, ok func(messageJSON) bool) []messageJSON {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var pending []messageJSON
		var all []messageJSON
		for _, id := range ids {
			m, got := e.message(id)
			if !got {
				m = messageJSON{ID: id, Status: "(unreadable)"}
			}
			all = append(all, m)
			if !got || !ok(m) {
				pending = append(pending, m)
			}
		}
		if len(pending) == 0 {
			return all
		}
		if time.Now().After(deadline) {
			n := min(len(pending), 5)
			t.Fatalf("%d of %d messages are not %s after %s; first ones: %s\nserver log:\n%s",
				len(pending), len(ids), what, d, fmtJSON(pending[:n]), tail(e.Logs(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliveries counts, per Message-ID, how many times the SMTP server
// recorded the message.
func deliveries(s *testmail.SMTPServer) map[string]int {
	n := map[string]int{}
	for _, m := range s.Messages() {
		msg, err := m.Parse()
		if err != nil {
			n["(unparsable)"]++
			continue
		}
		n[msg.Header.Get("Message-Id")]++
	}
	return n
}

// checkDeliveredOnce fails the test unless each message was received by
// the SMTP server exactly once; it returns how many extra copies it saw.
func checkDeliveredOnce(t testing.TB, s *testmail.SMTPServer, msgs []messageJSON) {
	t.Helper()
	got := deliveries(s)
	for _, m := range msgs {
		if c := got[m.MessageID]; c != 1 {
			t.Errorf("message %s (%s) received %d times by the SMTP server, want once", m.ID, m.MessageID, c)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// postMessages accepts n delivery notes and returns their ids.
func (e *Env) postMessages(t testing.TB, n int, prefix string) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		var m messageJSON
		e.MustDo(202, "POST", "/v1/messages", blRequest(fmt.Sprintf("%s%d@example.org", prefix, i)), &m)
		ids = append(ids, m.ID)
	}
	return ids
}

// configureUnthrottled is Configure with the O365 flow's per-mailbox rate
// (30 a minute, Exchange Online's) lifted, for tests that send many
// messages at once.
func (e *Env) configureUnthrottled() {
	e.T.Helper()
	e.Configure()
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso",
		"client_id": e.OAuth.ClientID(),
		"auth_url":  e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"smtp": e.SMTP.Endpoint(), "max_attachments_mb": 10, "rate_per_minute": 1000000,
		"operators": []string{"jdupont"},
	}, nil)
}

// countMessages counts every stored message, a page at a time.
func (e *Env) countMessages(t testing.TB) int {
	t.Helper()
	n, before := 0, ""
	for {
		var page []messageJSON
		e.MustDo(200, "GET", "/v1/messages?limit=1000&before="+before, nil, &page)
		n += len(page)
		if len(page) < 1000 {
			return n
		}
		before = page[len(page)-1].ID
	}
}
