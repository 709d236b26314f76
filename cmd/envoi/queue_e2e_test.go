package main_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"envoi/internal/testmail"
	"envoi/queue"
)

// queuedMessage is a message as GET /v1/messages/{id} shows it, with the
// fields the queue's tests read.
type queuedMessage struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	MessageID  string `json:"message_id"`
	Duplicates int    `json:"possible_duplicates"`
	Error      *struct {
		Code    string         `json:"code"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

// unlimit puts the O365 flow of Configure back without the Microsoft 365
// preset's 30 messages a minute, for tests that send many.
func (e *Env) unlimit() {
	e.T.Helper()
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso",
		"client_id": e.OAuth.ClientID(), "client_secret": e.OAuth.ClientSecret(),
		"auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"smtp": e.SMTP.Endpoint(), "max_attachments_mb": 10, "rate_per_minute": 1000000,
		"operators": []string{"jdupont"},
	}, nil)
}

// waitStatus polls the message until it is in status or d has passed, and
// returns it as it last stood.
func (e *Env) waitStatus(id, status string, d time.Duration) queuedMessage {
	e.T.Helper()
	var m queuedMessage
	deadline := time.Now().Add(d)
	for {
		e.MustDo(200, "GET", "/v1/messages/"+id, nil, &m)
		if m.Status == status || time.Now().After(deadline) {
			return m
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countMessageIDs counts the copies of each Message-ID the server received.
func countMessageIDs(s *testmail.SMTPServer) map[string]int {
	got := map[string]int{}
	for _, m := range s.Messages() {
		msg, err := m.Parse()
		if err != nil {
			continue
		}
		got[msg.Header.Get("Message-Id")]++
	}
	return got
}

// TestRetryEndpoint: a message that failed for good is sent again by POST
// /v1/messages/{id}/retry once the cause is gone; a sent message cannot be
// retried (409), an unknown one is 404.
func TestRetryEndpoint(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}
	e.SMTP.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt, Text: "Mailbox unavailable"})
	var m queuedMessage
	e.MustDo(200, "POST", "/v1/messages?wait=20s", blRequest("gone@example.org"), &m)
	if m.Status != "failed" || m.Error == nil || m.Error.Code != "smtp_recipient_refused" || !strings.Contains(fmt.Sprint(m.Error.Details), "Mailbox unavailable") {
		t.Fatalf("message = %s, want failed with smtp_recipient_refused and the server's text", fmtJSON(m))
	}
	e.SMTP.Heal()

	var retried queuedMessage
	e.MustDo(202, "POST", "/v1/messages/"+m.ID+"/retry", nil, &retried)
	// The answer reads the message back after requeueing it: a worker may
	// already have taken it.
	if !slices.Contains([]string{"queued", "sending", "sent"}, retried.Status) {
		t.Errorf("retry answered %s, want queued (or a worker already at it: sending, sent)", fmtJSON(retried))
	}
	sent := e.waitStatus(m.ID, "sent", 20*time.Second)
	if sent.Status != "sent" || sent.Attempts != 2 || sent.Error != nil {
		t.Fatalf("after retry: %s, want sent after 2 attempts, no error", fmtJSON(sent))
	}
	if n := countMessageIDs(e.SMTP)[m.MessageID]; n != 1 {
		t.Errorf("%s received %d times, want once", m.MessageID, n)
	}
	var apiErr APIError
	if got := e.Do("POST", "/v1/messages/"+m.ID+"/retry", nil, &apiErr); got != 409 || apiErr.Error.Code != "message_already_sent" || apiErr.Error.Details["sent_at"] == nil {
		t.Errorf("retry of a sent message: %d %s, want 409 message_already_sent with sent_at", got, fmtJSON(apiErr))
	}
	if got := e.Do("POST", "/v1/messages/msg_doesnotexist/retry", nil, &apiErr); got != 404 || apiErr.Error.Code != "not_found" {
		t.Errorf("retry of an unknown message: %d %s, want 404 not_found", got, apiErr.Error.Code)
	}
}

// TestWait: ?wait= answers as soon as the message is sent (200), failed
// (200) or parked (202), and 202 with the message as it stands at the
// deadline.
func TestWait(t *testing.T) {
	e := MustStart(t, EnvOptions{Worker: func(w *queue.Worker) { w.MaxAttempts = 1 }})
	e.Configure()

	var parked queuedMessage
	t.Run("Parked", func(t *testing.T) {
		e.MustDo(202, "POST", "/v1/messages?wait=20s", blRequest("a@example.org"), &parked)
		if parked.Status != "consent_required" {
			t.Errorf("before consent: %s, want consent_required", fmtJSON(parked))
		}
	})
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}
	// The parked message resumes by itself; it must be gone before the
	// fault below is armed, or it could be the one to meet it.
	for deadline := time.Now().Add(10 * time.Second); parked.Status != "sent" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		e.MustDo(200, "GET", "/v1/messages/"+parked.ID, nil, &parked)
	}
	if parked.Status != "sent" {
		t.Fatalf("after consent the parked message is %s, want sent", fmtJSON(parked))
	}
	t.Run("Sent", func(t *testing.T) {
		var m queuedMessage
		e.MustDo(200, "POST", "/v1/messages?wait=20s", blRequest("b@example.org"), &m)
		if m.Status != "sent" {
			t.Errorf("%s, want sent", fmtJSON(m))
		}
	})
	t.Run("Failed", func(t *testing.T) {
		e.SMTP.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultData, Times: 1})
		var m queuedMessage
		e.MustDo(200, "POST", "/v1/messages?wait=20s", blRequest("c@example.org"), &m)
		if m.Status != "failed" || m.Error == nil || m.Error.Code != "smtp_temporary" {
			t.Errorf("%s, want failed with smtp_temporary after the one attempt allowed", fmtJSON(m))
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		e.SMTP.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultSlow, Delay: 2 * time.Second, Times: 1})
		defer e.SMTP.Heal()
		e.SMTP.DropConnections() // the next send dials, and waits for the greeting
		var m queuedMessage
		e.MustDo(202, "POST", "/v1/messages?wait=300ms", blRequest("d@example.org"), &m)
		if m.Status != "sending" && m.Status != "queued" {
			t.Errorf("%s, want still queued or sending at the deadline", fmtJSON(m))
		}
		if got := e.waitStatus(m.ID, "sent", 20*time.Second); got.Status != "sent" {
			t.Errorf("then: %s, want sent", fmtJSON(got))
		}
	})
	t.Run("ErrBadWait", func(t *testing.T) {
		var apiErr APIError
		if got := e.Do("POST", "/v1/messages?wait=forever", blRequest("e@example.org"), &apiErr); got != http.StatusBadRequest || apiErr.Error.Code != "invalid_input" {
			t.Errorf("?wait=forever: %d %s, want 400 invalid_input", got, apiErr.Error.Code)
		}
	})
}
