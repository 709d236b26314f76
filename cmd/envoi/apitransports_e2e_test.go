package main_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"envoi/internal/fakegmail"
	"envoi/internal/fakegraph"
	"envoi/internal/testmail"
)

// apiMessage is a message as GET /v1/messages/{id} shows it, with the
// fields the transports' tests read.
type apiMessage struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	Attempts          int    `json:"attempts"`
	MessageID         string `json:"message_id"`
	ProviderMessageID string `json:"provider_message_id"`
	WaitReason        string `json:"wait_reason"`
	Error             *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// eml returns the message's bytes as envoi sent them.
func (e *Env) eml(id string) []byte {
	e.T.Helper()
	req, _ := http.NewRequest("GET", e.Base+"/v1/messages/"+id+"/eml", nil)
	req.Header.Set("Authorization", "Bearer "+e.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.T.Fatalf("eml of %s: %d %s", id, resp.StatusCode, b)
	}
	return b
}

// testFlow runs the flow's Test action through the API.
func (e *Env) testFlow(flow, operator string) (ok bool, steps string) {
	e.T.Helper()
	var res struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"steps"`
	}
	e.Do("POST", "/v1/auth-flows/"+flow+"/test", map[string]any{"operator": operator}, &res)
	var b strings.Builder
	for _, s := range res.Steps {
		b.WriteString(s.Name)
		if !s.OK {
			b.WriteString("(failed)")
		}
		b.WriteString(" ")
	}
	return res.OK, b.String()
}

// TestGraphTransportE2E: a flow switched to the graph transport through
// the API takes Graph's scope from the preset; the operator consents
// again; envoi serve sends the composed message through the fake Graph,
// byte for byte, and records Graph's message id; the Test action reads
// the mailbox; a 429 does not lose the message; an app-only flow sends
// as its shared mailbox.
func TestGraphTransportE2E(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var dbURL string
			if db == "postgres" {
				dbURL = freshPostgres(t)
			}
			testGraphTransport(t, MustStart(t, EnvOptions{DatabaseURL: dbURL}))
		})
	}
}

func testGraphTransport(t *testing.T, e *Env) {
	fake := fakegraph.Start(t, fakegraph.Options{Tokens: e.OAuth.AccessTokenGrant})
	e.Configure()
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso", "transport": "graph", "api_url": fake.URL,
		"client_id": e.OAuth.ClientID(), "client_secret": e.OAuth.ClientSecret(),
		"auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"scope":           "offline_access https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All",
		"rate_per_minute": 1000000, "operators": []string{"jdupont"},
	}, nil)
	var flow struct {
		Transport, Scope string
		APIURL           string `json:"api_url"`
	}
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	if flow.Transport != "graph" || flow.Scope != "https://graph.microsoft.com/Mail.Send offline_access" || flow.APIURL != fake.URL {
		t.Fatalf("flow = %+v, want graph with Graph's scope", flow)
	}
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}

	var m apiMessage
	e.MustDo(200, "POST", "/v1/messages?wait=30s", blRequest("client@example.org"), &m)
	if m.Status != "sent" {
		t.Fatalf("message = %s, want sent", fmtJSON(m))
	}
	sent := fake.Sent()
	if len(sent) != 1 || sent[0].Mailbox != "user@example.com" {
		t.Fatalf("Graph received %d messages, want one as user@example.com", len(sent))
	}
	if !bytes.Equal(sent[0].MIME, e.eml(m.ID)) {
		t.Errorf("Graph received other bytes than the message's eml")
	}
	if m.ProviderMessageID == "" || m.ProviderMessageID != sent[0].InternetMessageID || m.MessageID != m.ProviderMessageID {
		t.Errorf("provider_message_id %q, message_id %q; want Graph's internetMessageId %q", m.ProviderMessageID, m.MessageID, sent[0].InternetMessageID)
	}
	if out := e.Run("messages", "show", m.ID); !strings.Contains(out, "provider-id: "+m.ProviderMessageID) {
		t.Errorf("messages show:\n%s\nwant the provider's id", out)
	}
	if ok, steps := e.testFlow("O365", "jdupont"); !ok || !strings.Contains(steps, "graph_mailbox ") {
		t.Errorf("test action: ok %v, steps %s", ok, steps)
	}

	// Graph asks to wait: the message is not lost (not failed, not sent).
	fake.Throttle(1, "120")
	e.MustDo(202, "POST", "/v1/messages", blRequest("later@example.org"), &m)
	deadline := time.Now().Add(30 * time.Second)
	for {
		e.MustDo(200, "GET", "/v1/messages/"+m.ID, nil, &m)
		if (m.Error != nil && m.Error.Code == "api_throttled") || m.WaitReason != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m.Status == "failed" || m.Status == "sent" || (m.WaitReason == "" && (m.Error == nil || m.Error.Code != "api_throttled")) {
		t.Errorf("throttled message = %s, want it waiting", fmtJSON(m))
	}

	// App-only: the flow sends as its shared mailbox with Graph's
	// .default scope, no consent.
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "microsoft365", "tenant": "contoso", "transport": "graph", "api_url": fake.URL,
		"grant": "client_credentials", "generic_mailbox": map[string]any{"enabled": true, "email": "sales@example.com"},
		"client_id": e.OAuth.ClientID(), "client_secret": e.OAuth.ClientSecret(),
		"auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(),
		"rate_per_minute": 1000000, "operators": []string{"jdupont"},
	}, nil)
	e.MustDo(200, "POST", "/v1/messages?wait=30s", blRequest("shared@example.org"), &m)
	if m.Status != "sent" {
		t.Fatalf("app-only message = %s, want sent", fmtJSON(m))
	}
	sent = fake.Sent()
	if last := sent[len(sent)-1]; last.Mailbox != "sales@example.com" {
		t.Errorf("sent as %s, want the shared mailbox", last.Mailbox)
	}
}

// TestGmailAPITransportE2E: a Gmail flow on the gmail_api transport
// consents with the gmail.send scope; envoi serve sends the composed
// message through the fake Gmail API and records Gmail's id; the Test
// action proves the send permission without sending; revoked consent
// parks the next message on consent_required.
func TestGmailAPITransportE2E(t *testing.T) {
	e := MustStart(t, EnvOptions{OAuth: testmail.OAuthOptions{Style: testmail.OAuthGoogle}})
	fake := fakegmail.Start(t, fakegmail.Options{Tokens: e.OAuth.AccessTokenGrant})
	e.Configure()
	e.MustDo(200, "PUT", "/v1/auth-flows/O365", map[string]any{
		"kind": "oauth2", "preset": "gmail", "transport": "gmail_api", "api_url": fake.URL,
		"client_id": e.OAuth.ClientID(), "client_secret": e.OAuth.ClientSecret(),
		"auth_url": e.OAuth.AuthURL(), "token_url": e.OAuth.TokenURL(), "userinfo_url": e.OAuth.UserinfoURL(),
		"operators": []string{"jdupont"},
	}, nil)
	var flow struct{ Transport, Scope string }
	e.MustDo(200, "GET", "/v1/auth-flows/O365", nil, &flow)
	if flow.Transport != "gmail_api" || flow.Scope != "https://www.googleapis.com/auth/gmail.send" {
		t.Fatalf("flow = %+v, want gmail_api with gmail.send", flow)
	}
	if status, page := e.Consent("O365", "jdupont"); status != 200 {
		t.Fatalf("consent: %d\n%s", status, page)
	}
	var m apiMessage
	e.MustDo(200, "POST", "/v1/messages?wait=30s", blRequest("client@example.org"), &m)
	if m.Status != "sent" {
		t.Fatalf("message = %s, want sent", fmtJSON(m))
	}
	sent := fake.Sent()
	if len(sent) != 1 || !bytes.Equal(sent[0].MIME, e.eml(m.ID)) {
		t.Fatalf("the Gmail API received %d messages, want the eml once", len(sent))
	}
	if m.ProviderMessageID != sent[0].ID {
		t.Errorf("provider_message_id = %q, want Gmail's %q", m.ProviderMessageID, sent[0].ID)
	}
	if ok, steps := e.testFlow("O365", "jdupont"); !ok || !strings.Contains(steps, "gmail_api ") || len(fake.Sent()) != 1 {
		t.Errorf("test action: ok %v, steps %s, %d sent", ok, steps, len(fake.Sent()))
	}
	e.OAuth.Revoke("user@example.com")
	e.MustDo(202, "POST", "/v1/messages?wait=30s", blRequest("after@example.org"), &m)
	if m.Status != "consent_required" {
		t.Errorf("after revocation: %s, want consent_required", fmtJSON(m))
	}

	// A service account with domain-wide delegation sends as the shared
	// mailbox: the flow made on SMTP through the API, moved to the Gmail
	// API by `envoi apply` (the stored key is kept, the preset gives the
	// gmail.send scope).
	sa := e.OAuth.NewOAuthServiceAccount(t, "envoi@project.iam.example")
	e.MustDo(200, "PUT", "/v1/operators/compta", map[string]any{"name": "Compta", "email": "compta@example.com"}, nil)
	e.MustDo(200, "PUT", "/v1/auth-flows/GSA", map[string]any{
		"kind": "oauth2", "preset": "gmail", "grant": "jwt_bearer", "service_account_key": string(sa),
		"token_url": e.OAuth.TokenURL(), "generic_mailbox": map[string]any{"enabled": true, "email": "sales@example.com"},
		"smtp": e.SMTP.Endpoint(), "operators": []string{"compta"},
	}, nil)
	cfg := filepath.Join(t.TempDir(), "envoi.yaml")
	doc := "auth_flows:\n  GSA:\n    kind: oauth2\n    preset: gmail\n    grant: jwt_bearer\n    transport: gmail_api\n" +
		"    api_url: " + fake.URL + "\n    token_url: " + e.OAuth.TokenURL() + "\n" +
		"    generic_mailbox: {enabled: true, email: sales@example.com}\n    operators: [compta]\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Run("apply", "-f", cfg)
	var gsa struct{ Transport, Scope string }
	e.MustDo(200, "GET", "/v1/auth-flows/GSA", nil, &gsa)
	if gsa.Transport != "gmail_api" || gsa.Scope != "https://www.googleapis.com/auth/gmail.send" {
		t.Fatalf("after apply: %+v", gsa)
	}
	req := blRequest("dwd@example.org")
	req["operator"] = "compta"
	e.MustDo(200, "POST", "/v1/messages?wait=30s", req, &m)
	if m.Status != "sent" {
		t.Fatalf("service account message = %s, want sent", fmtJSON(m))
	}
	sent = fake.Sent()
	if last := sent[len(sent)-1]; last.Mailbox != "sales@example.com" {
		t.Errorf("sent as %s, want the delegated mailbox", last.Mailbox)
	}
}
