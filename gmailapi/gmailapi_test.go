package gmailapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"envoi"
	"envoi/gmailapi"
	"envoi/internal/apitest"
	"envoi/internal/fakegmail"
	"envoi/internal/testmail"
)

const (
	jdupont = "jdupont@example.com"
	sales   = "sales@example.com"
	client  = "client@example.org"
)

type env struct {
	p      *testmail.OAuthProvider
	fake   *fakegmail.Server
	tokens *testmail.APITokens
	sender *gmailapi.Sender
	flow   *envoi.AuthFlow
}

// newEnv starts a Google-style provider and a fake Gmail API; jdupont has
// consented with the gmail.send scope. The sender's transport reaches
// loopback only: any other host fails the test.
func newEnv(t *testing.T) *env {
	t.Helper()
	p := testmail.StartOAuth(t, testmail.OAuthOptions{Style: testmail.OAuthGoogle, User: jdupont})
	fake := fakegmail.Start(t, fakegmail.Options{Tokens: p.AccessTokenGrant})
	tokens := &testmail.APITokens{Provider: p, RefreshTokens: map[string]string{"jdupont": p.IssueRefreshToken(jdupont, envoi.ScopeGmailSend)}}
	flow := &envoi.AuthFlow{Code: "gws", Kind: envoi.KindOAuth2, Preset: envoi.PresetGmail, Transport: envoi.TransportGmailAPI,
		APIURL: fake.URL, Scope: envoi.ScopeGmailSend}
	return &env{p: p, fake: fake, tokens: tokens, flow: flow,
		sender: &gmailapi.Sender{Tokens: tokens, HTTPClient: &http.Client{Transport: loopbackOnly{t}}}}
}

// loopbackOnly fails the test on any request to a host but 127.0.0.1:
// no metadata server, no Google endpoint.
type loopbackOnly struct{ t *testing.T }

func (l loopbackOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Hostname() != "127.0.0.1" {
		l.t.Errorf("request to %s", r.URL)
		return nil, fmt.Errorf("not loopback")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (e *env) delivery(content []byte, rcpts ...string) *envoi.Delivery {
	if len(rcpts) == 0 {
		rcpts = []string{client}
	}
	return &envoi.Delivery{
		Transport: envoi.TransportGmailAPI,
		Envelope:  envoi.Envelope{From: jdupont, Recipients: rcpts},
		Identity:  envoi.Identity{Flow: e.flow, Key: envoi.TokenKey{Flow: "gws", Operator: "jdupont"}, Username: jdupont},
		Content:   content,
	}
}

func TestDeliver(t *testing.T) {
	t.Run("RawBytes", func(t *testing.T) {
		e := newEnv(t)
		msg := apitest.Message(jdupont, client, "<g1@envoi.test>", apitest.RandomFile("BL.pdf", 30<<10))
		out, err := e.sender.Deliver(context.Background(), e.delivery(msg))
		if err != nil {
			t.Fatal(err)
		}
		sent := e.fake.Sent()
		if len(sent) != 1 || sent[0].Upload != "" || sent[0].Mailbox != jdupont || !bytes.Equal(sent[0].MIME, msg) {
			t.Fatalf("sent %d, want the composed bytes raw as %s", len(sent), jdupont)
		}
		if out.ProviderMessageID != sent[0].ID || out.ProviderMessageID == "" {
			t.Errorf("ProviderMessageID = %q, want Gmail's id %q", out.ProviderMessageID, sent[0].ID)
		}
	})
	t.Run("BlindRecipients", func(t *testing.T) {
		e := newEnv(t)
		msg := apitest.Message(jdupont, client, "<g2@envoi.test>")
		if _, err := e.sender.Deliver(context.Background(), e.delivery(msg, client, "audit@example.org")); err != nil {
			t.Fatal(err)
		}
		if got, want := e.fake.Sent()[0].MIME, append([]byte("Bcc: audit@example.org\r\n"), msg...); !bytes.Equal(got, want) {
			t.Errorf("the Gmail API received no Bcc field for the blind recipient")
		}
	})
	t.Run("LargeUpload", func(t *testing.T) {
		e := newEnv(t)
		msg := apitest.Message(jdupont, client, "<g3@envoi.test>", apitest.RandomFile("plan.pdf", 8<<20))
		if _, err := e.sender.Deliver(context.Background(), e.delivery(msg)); err != nil {
			t.Fatal(err)
		}
		s := e.fake.Sent()[0]
		if s.Upload != "multipart" || !bytes.Equal(s.MIME, msg) {
			t.Errorf("upload %q, %d bytes; want a multipart media upload of the %d composed", s.Upload, len(s.MIME), len(msg))
		}
	})
	t.Run("SizeLimit", func(t *testing.T) {
		e := newEnv(t)
		msg := apitest.Message(jdupont, client, "<g4@envoi.test>", apitest.RandomFile("huge.pdf", 27<<20))
		_, err := e.sender.Deliver(context.Background(), e.delivery(msg))
		if envoi.ErrorCode(err) != envoi.EAPIMessageTooBig || len(e.fake.Sent()) != 0 {
			t.Errorf("err = %v, want api_message_too_big and nothing sent", err)
		}
	})
	for _, tc := range []struct {
		name, reason, retryAfter string
		status                   int
		wait                     string
		after                    time.Duration
	}{
		{"429", "rateLimitExceeded", "12", http.StatusTooManyRequests, envoi.WaitRateLimited, 12 * time.Second},
		{"UserRate", "userRateLimitExceeded", "", http.StatusForbidden, envoi.WaitRateLimited, 0},
		{"Daily", "dailyLimitExceeded", "", http.StatusForbidden, envoi.WaitQuota, 0},
	} {
		t.Run("Throttled"+tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Fail(1, tc.status, tc.reason, "slow down", tc.retryAfter)
			_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<t@envoi.test>")))
			th := envoi.AsThrottle(err)
			if th == nil || th.Reason != tc.wait || th.RetryAfter != tc.after || !envoi.IsTemporary(err) {
				t.Fatalf("err = %v (throttle %+v), want %s after %s, temporary", err, th, tc.wait, tc.after)
			}
		})
	}
	t.Run("TokenExpiresMidRun", func(t *testing.T) {
		e := newEnv(t)
		for i := range 3 {
			if i == 1 {
				e.p.ExpireAccessTokens()
			}
			if _, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, fmt.Sprintf("<x%d@envoi.test>", i)))); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if got := e.tokens.Calls(); got != 2 {
			t.Errorf("%d token requests, want 2", got)
		}
	})
	t.Run("ConsentRevoked", func(t *testing.T) {
		e := newEnv(t)
		e.p.Revoke(jdupont)
		_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<v@envoi.test>")))
		if envoi.ErrorCode(err) != envoi.EConsentRequired {
			t.Errorf("err = %v, want consent_required", err)
		}
	})
	t.Run("DelegationDenied", func(t *testing.T) {
		e := newEnv(t)
		e.flow.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: sales}
		e.tokens.RefreshTokens[""] = e.p.IssueRefreshToken(jdupont, envoi.ScopeGmailSend)
		d := e.delivery(apitest.Message(sales, client, "<d@envoi.test>"))
		d.Identity = envoi.Identity{Flow: e.flow, Key: envoi.TokenKey{Flow: "gws"}, Username: sales}
		if _, err := e.sender.Deliver(context.Background(), d); envoi.ErrorCode(err) != envoi.EAPIAccessDenied {
			t.Errorf("err = %v, want api_access_denied", err)
		}
	})
	t.Run("SharedMailbox", func(t *testing.T) {
		e := newEnv(t)
		e.flow.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: sales}
		e.tokens.RefreshTokens[""] = e.p.IssueRefreshToken(sales, envoi.ScopeGmailSend)
		d := e.delivery(apitest.Message(sales, client, "<sh@envoi.test>"))
		d.Identity = envoi.Identity{Flow: e.flow, Key: envoi.TokenKey{Flow: "gws"}, Username: sales}
		if _, err := e.sender.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if got := e.fake.Sent()[0].Mailbox; got != sales {
			t.Errorf("sent as %s, want %s", got, sales)
		}
	})
	t.Run("MailboxNotEnabled", func(t *testing.T) {
		e := newEnv(t)
		e.fake.DisableMailbox(jdupont)
		_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<n@envoi.test>")))
		if envoi.ErrorCode(err) != envoi.EAPIMailboxNotEnabled {
			t.Errorf("err = %v, want api_mailbox_not_enabled", err)
		}
	})
}

func TestProbe(t *testing.T) {
	t.Run("SendScope", func(t *testing.T) {
		e := newEnv(t)
		steps, err := e.sender.Probe(context.Background(), e.delivery(nil).Identity, jdupont, jdupont)
		if err != nil || len(steps) != 1 || !steps[0].OK {
			t.Fatalf("steps %+v, err %v", steps, err)
		}
		if len(e.fake.Sent()) != 0 {
			t.Errorf("the probe sent a message")
		}
	})
	t.Run("FullScope", func(t *testing.T) {
		e := newEnv(t)
		e.tokens.RefreshTokens["jdupont"] = e.p.IssueRefreshToken(jdupont, "https://mail.google.com/")
		steps, err := e.sender.Probe(context.Background(), e.delivery(nil).Identity, jdupont, jdupont)
		if err != nil || !steps[0].OK {
			t.Fatalf("steps %+v, err %v", steps, err)
		}
	})
	t.Run("WrongScope", func(t *testing.T) {
		e := newEnv(t)
		e.tokens.RefreshTokens["jdupont"] = e.p.IssueRefreshToken(jdupont, "openid email")
		steps, err := e.sender.Probe(context.Background(), e.delivery(nil).Identity, jdupont, jdupont)
		if err == nil || steps[0].OK || envoi.ErrorCode(err) != envoi.EAPIAccessDenied {
			t.Fatalf("steps %+v, err %v; want api_access_denied", steps, err)
		}
	})
}
