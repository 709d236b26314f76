package main_test

import (
	"strings"
	"testing"
	"time"

	"envoi/internal/freeport"
)

// TestLogsHoldNoSecret runs a consent and sends at debug level, then checks
// that no secret envoi was given appears in its logs.
func TestLogsHoldNoSecret(t *testing.T) {
	e := MustStart(t, EnvOptions{Args: []string{"--log-level", "debug"}})
	e.Configure()
	const password = "Sup3r-Secret-Passw0rd!"
	e.MustDo(200, "PUT", "/v1/operators/pat", map[string]any{"name": "Pat", "email": "pat@example.com", "smtp_password": password}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/BASIC", map[string]any{
		"kind": "smtp_basic", "smtp": map[string]any{"host": "127.0.0.1", "port": 1, "security": "starttls"},
		"operators": []string{"pat"},
	}, nil)
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	var m messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &m)
	if m.Status != "sent" {
		t.Fatalf("message: %s", fmtJSON(m))
	}
	logs := e.Logs()
	if !strings.Contains(logs, "level=") {
		t.Fatalf("no log captured at debug level:\n%s", logs)
	}
	for name, secret := range map[string]string{"client secret": e.OAuth.ClientSecret(), "smtp password": password, "api key": e.Key} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

// TestLogsTellEachMessagesStory: at info, each message's life is one line
// a step, each naming the message: accepted, then sent with the server's
// reply; a send to a server that is down, accepted then tried again with
// why and when; a message parked for consent. Each API request is logged
// once answered.
func TestLogsTellEachMessagesStory(t *testing.T) {
	e := MustStart(t, EnvOptions{Args: []string{"--log-level", "info"}})
	e.Configure()
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d %s", status, page)
	}
	var sent messageJSON
	e.MustDo(200, "POST", "/v1/messages?wait=10s", blRequest("client@example.org"), &sent)

	e.MustDo(200, "PUT", "/v1/operators/pat", map[string]any{"name": "Pat", "email": "pat@example.com"}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/DOWN", map[string]any{
		"kind": "smtp_basic", "smtp": map[string]any{"host": "127.0.0.1", "port": freeport.Port(t, "127.0.0.1"), "security": "none"},
		"operators": []string{"pat"},
	}, nil)
	down := blRequest("client@example.org")
	down["operator"] = "pat"
	var retried messageJSON
	e.MustDo(202, "POST", "/v1/messages", down, &retried)
	logs := e.Logs()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !strings.Contains(logs, "will be tried again"); {
		time.Sleep(50 * time.Millisecond)
		logs = e.Logs()
	}
	line := func(msg, id string) string {
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, msg) && strings.Contains(l, "message="+id) {
				return l
			}
		}
		t.Errorf("no %q line for %s in:\n%s", msg, id, logs)
		return ""
	}
	line("queue: message accepted", sent.ID)
	if l := line("queue: message sent", sent.ID); !strings.Contains(l, "reply=") {
		t.Errorf("the sent line lacks the server's reply: %s", l)
	}
	line("queue: message accepted", retried.ID)
	if l := line("queue: message will be tried again", retried.ID); !strings.Contains(l, "next_attempt_at=") || !strings.Contains(l, "code=smtp_unavailable") {
		t.Errorf("the retry line lacks why or when: %s", l)
	}
	if !strings.Contains(logs, `msg="http request" method=POST path=/v1/messages status=200`) {
		t.Errorf("no access log line for the sends:\n%s", logs)
	}
}
