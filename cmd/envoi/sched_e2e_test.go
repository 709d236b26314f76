package main_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLimitsSendAtAndWaits: a flow's limits through PUT /v1/auth-flows
// (preset defaults filled, rate_per_minute an alias), a message with
// send_at waiting as scheduled with its time and reason in GET
// /v1/messages/{id} and `envoi messages show`, a request over the
// flow's recipients a message refused with 400, and the per-mailbox
// metrics.
func TestLimitsSendAtAndWaits(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	// The harness sets high limits; zero brings back the preset's.
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{"rate_per_minute": 0, "limits": map[string]any{"messages_per_minute": 0, "connections": 0}}, nil)
	var flow struct {
		RatePerMinute int            `json:"rate_per_minute"`
		Limits        map[string]int `json:"limits"`
	}
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	if flow.RatePerMinute != 30 || flow.Limits["messages_per_minute"] != 30 || flow.Limits["connections"] != 3 ||
		flow.Limits["recipients_per_day"] != 10000 || flow.Limits["recipients_per_message"] != 500 {
		t.Errorf("Microsoft 365 flow: rate %d, limits %v; want the preset's 30/min, 3 connections, 10,000 a day, 500 a message", flow.RatePerMinute, flow.Limits)
	}
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso",
		"client_id": e.OAuth.ClientID(), "auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"smtp": e.SMTP.Endpoint(), "operators": []string{"jdupont"},
		"limits": map[string]int{"messages_per_minute": 12, "recipients_per_message": 2},
	}, &flow)
	if flow.RatePerMinute != 12 || flow.Limits["messages_per_minute"] != 12 || flow.Limits["recipients_per_message"] != 2 || flow.Limits["connections"] != 3 {
		t.Errorf("after PUT: rate %d, limits %v; want 12 a minute both ways, 2 a message, the preset's 3 connections", flow.RatePerMinute, flow.Limits)
	}
	if code := e.Do("PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso", "client_id": "x", "smtp": e.SMTP.Endpoint(),
		"limits": map[string]int{"connections": -1},
	}, nil); code != 422 {
		t.Errorf("negative connections: %d, want 422 (invalid_flow_data)", code)
	}

	send := func(extra map[string]any, out any) int {
		body := map[string]any{"document_flow": "BL", "operator": "jdupont", "company": "FORTERRO",
			"to": []string{"client@example.org"}, "context": map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "1"}}
		for k, v := range extra {
			body[k] = v
		}
		return e.Do("POST", "/v1/messages", body, out)
	}
	var refused struct {
		Error struct {
			Code    string         `json:"code"`
			Remedy  string         `json:"remedy"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if code := send(map[string]any{"cc": []string{"a@example.org", "b@example.org"}}, &refused); code != 400 ||
		refused.Error.Code != "invalid_input" || refused.Error.Details["field"] != "to" || refused.Error.Remedy == "" {
		t.Errorf("3 recipients, 2 allowed: %d %+v; want 400 invalid_input on to with a remedy", code, refused.Error)
	}
	if code := send(map[string]any{"send_at": "tomorrow"}, nil); code != 400 {
		t.Errorf("send_at not RFC 3339: %d, want 400", code)
	}
	at := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	var m struct {
		ID            string    `json:"id"`
		Status        string    `json:"status"`
		NextAttemptAt time.Time `json:"next_attempt_at"`
		WaitReason    string    `json:"wait_reason"`
	}
	if code := send(map[string]any{"send_at": at.Format(time.RFC3339)}, &m); code != 202 {
		t.Fatalf("send_at: %d", code)
	}
	e.MustDo(200, "GET", "/v1/messages/"+m.ID, nil, &m)
	if m.Status != "scheduled" || m.WaitReason != "scheduled" || !m.NextAttemptAt.Equal(at) {
		t.Errorf("GET scheduled message: %+v; want scheduled, wait_reason scheduled, next_attempt_at %v", m, at)
	}
	out := e.Run(e.storageArgs("messages", "show", m.ID)...)
	if !strings.Contains(out, "scheduled") || !strings.Contains(out, "next:") {
		t.Errorf("messages show:\n%s\nwant its wait and time", out)
	}
	resp, err := http.Get(e.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `envoi_mailbox_queued{flow="O365",mailbox="jdupont"} 1`) {
		t.Errorf("/metrics has no per-mailbox queued count:\n%s", grepLines(string(b), "envoi_mailbox"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestApplyLimits: `envoi apply` sets a flow's limits from its YAML.
func TestApplyLimits(t *testing.T) {
	e := MustStart(t, EnvOptions{})
	e.Configure()
	cfg := filepath.Join(t.TempDir(), "envoi.yaml")
	doc := "auth_flows:\n  O365:\n    kind: oauth2\n    preset: microsoft365\n    tenant: contoso\n" +
		"    client_id: " + e.OAuth.ClientID() + "\n    auth_url: " + e.OAuth.AuthURL() + "\n    token_url: " + e.OAuth.TokenURL() + "\n" +
		"    smtp: {host: " + e.SMTP.Endpoint().Host + ", port: " + strconv.Itoa(e.SMTP.Endpoint().Port) + ", security: " + e.SMTP.Endpoint().Security + "}\n" +
		"    limits: {messages_per_minute: 7, connections: 1, recipients_per_day: 900, recipients_per_message: 40, messages_per_day: 300}\n" +
		"    operators: [jdupont]\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run("apply", "-f", cfg)
	var flow struct {
		RatePerMinute int            `json:"rate_per_minute"`
		Limits        map[string]int `json:"limits"`
	}
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	want := map[string]int{"messages_per_minute": 7, "connections": 1, "recipients_per_day": 900, "recipients_per_message": 40, "messages_per_day": 300}
	for k, v := range want {
		if flow.Limits[k] != v {
			t.Errorf("limits.%s = %d, want %d (all: %v)", k, flow.Limits[k], v, flow.Limits)
		}
	}
	if flow.RatePerMinute != 7 {
		t.Errorf("rate_per_minute %d, want 7 (the alias)", flow.RatePerMinute)
	}
}
