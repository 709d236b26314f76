package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/graph"
	"envoi/internal/apitest"
	"envoi/internal/fakegraph"
	"envoi/internal/testmail"
)

const (
	jdupont = "jdupont@example.com"
	sales   = "sales@example.com"
	client  = "client@example.org"
)

type env struct {
	p      *testmail.OAuthProvider
	fake   *fakegraph.Server
	tokens *testmail.APITokens
	sender *graph.Sender
	flow   *envoi.AuthFlow
}

// newEnv starts a provider and a fake Graph; jdupont has consented with
// the Graph scope.
func newEnv(t *testing.T, opts fakegraph.Options) *env {
	t.Helper()
	p := testmail.StartOAuth(t, testmail.OAuthOptions{User: jdupont})
	opts.Tokens = p.AccessTokenGrant
	fake := fakegraph.Start(t, opts)
	tokens := &testmail.APITokens{Provider: p, RefreshTokens: map[string]string{"jdupont": p.IssueRefreshToken(jdupont, envoi.ScopeGraphSend)}}
	flow := &envoi.AuthFlow{Code: "m365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Transport: envoi.TransportGraph,
		APIURL: fake.URL, Scope: envoi.ScopeGraphSend, Tenant: "contoso"}
	return &env{p: p, fake: fake, tokens: tokens, sender: &graph.Sender{Tokens: tokens}, flow: flow}
}

func (e *env) delivery(content []byte, rcpts ...string) *envoi.Delivery {
	if len(rcpts) == 0 {
		rcpts = []string{client}
	}
	return &envoi.Delivery{
		Transport: envoi.TransportGraph,
		Envelope:  envoi.Envelope{From: jdupont, Recipients: rcpts},
		Identity:  envoi.Identity{Flow: e.flow, Key: envoi.TokenKey{Flow: "m365", Operator: "jdupont"}, Username: jdupont},
		Content:   content,
	}
}

func TestDeliver(t *testing.T) {
	t.Run("SendMailBytes", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		msg := apitest.Message(jdupont, client, "<a1@envoi.test>", apitest.RandomFile("BL.pdf", 40<<10))
		out, err := e.sender.Deliver(context.Background(), e.delivery(msg))
		if err != nil {
			t.Fatal(err)
		}
		sent := e.fake.Sent()
		if len(sent) != 1 || sent[0].Draft || sent[0].Mailbox != jdupont {
			t.Fatalf("sent = %+v, want one sendMail as %s", sent, jdupont)
		}
		if !bytes.Equal(sent[0].MIME, msg) {
			t.Errorf("Graph received %d bytes, not the %d composed", len(sent[0].MIME), len(msg))
		}
		if got, want := out.ProviderMessageID, "<a1@envoi.test>"; got != want {
			t.Errorf("ProviderMessageID = %q, want %q", got, want)
		}
	})
	t.Run("BlindRecipients", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		msg := apitest.Message(jdupont, client, "<a2@envoi.test>")
		if _, err := e.sender.Deliver(context.Background(), e.delivery(msg, client, "audit@example.org")); err != nil {
			t.Fatal(err)
		}
		got := e.fake.Sent()[0].MIME
		if want := append([]byte("Bcc: audit@example.org\r\n"), msg...); !bytes.Equal(got, want) {
			t.Errorf("Graph received %q..., want the Bcc field then the composed bytes", got[:min(80, len(got))])
		}
	})
	t.Run("LargeAsDraft", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		big := apitest.RandomFile("plan.pdf", 5<<20+12345)
		small := apitest.RandomFile("BL.pdf", 200<<10)
		msg := apitest.Message(jdupont, client, "<a3@envoi.test>", small, big)
		out, err := e.sender.Deliver(context.Background(), e.delivery(msg))
		if err != nil {
			t.Fatal(err)
		}
		sent := e.fake.Sent()
		if len(sent) != 1 || !sent[0].Draft {
			t.Fatalf("sent = %d messages, draft %v; want one draft sent", len(sent), len(sent) == 1 && sent[0].Draft)
		}
		s := sent[0]
		if len(s.Attachments) != 2 {
			t.Fatalf("%d attachments, want 2", len(s.Attachments))
		}
		for i, want := range []apitest.File{small, big} {
			a := s.Attachments[i]
			if a.Name != want.Name || !bytes.Equal(a.Content, want.Content) {
				t.Errorf("attachment %d: %s of %d bytes, want %s of %d", i, a.Name, len(a.Content), want.Name, len(want.Content))
			}
		}
		if len(s.Attachments[0].Chunks) != 0 {
			t.Errorf("the 200 KB attachment went through an upload session")
		}
		chunks := s.Attachments[1].Chunks
		if len(chunks) < 2 {
			t.Fatalf("the 5 MB attachment came in %d chunks", len(chunks))
		}
		at := 0
		for i, c := range chunks {
			if c[0] != at {
				t.Errorf("chunk %d starts at %d, want %d", i, c[0], at)
			}
			if i < len(chunks)-1 && (c[1]-c[0])%(320<<10) != 0 {
				t.Errorf("chunk %d is %d bytes, not a multiple of 320 KiB", i, c[1]-c[0])
			}
			at = c[1]
		}
		if at != len(big.Content) {
			t.Errorf("chunks end at %d, want %d", at, len(big.Content))
		}
		if bytes.Contains(s.MIME, []byte("filename=plan.pdf")) || !bytes.Contains(s.MIME, []byte("voici le BL")) {
			t.Errorf("the draft's MIME should keep the body and leave the attachments out")
		}
		if out.ProviderMessageID != "<a3@envoi.test>" || e.fake.DraftsLeft() != 0 {
			t.Errorf("ProviderMessageID = %q, drafts left %d", out.ProviderMessageID, e.fake.DraftsLeft())
		}
	})
	t.Run("Throttled", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		e.fake.Throttle(1, "7")
		_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<a4@envoi.test>")))
		th := envoi.AsThrottle(err)
		if th == nil {
			t.Fatalf("err = %v, want an *envoi.Throttle", err)
		}
		if th.Reason != envoi.WaitRateLimited || th.RetryAfter != 7*time.Second {
			t.Errorf("throttle = %+v, want rate_limited after 7s", th)
		}
		if !envoi.IsTemporary(err) || envoi.ErrorCode(err) != envoi.EAPIThrottled {
			t.Errorf("err %v: code %s temporary %v, want api_throttled, temporary", err, envoi.ErrorCode(err), envoi.IsTemporary(err))
		}
		if len(e.fake.Sent()) != 0 {
			t.Errorf("a throttled message was sent")
		}
	})
	t.Run("TokenExpiresMidRun", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		for i := range 3 {
			if i == 1 {
				e.p.ExpireAccessTokens()
			}
			if _, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, fmt.Sprintf("<e%d@envoi.test>", i)))); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if got := e.tokens.Calls(); got != 2 {
			t.Errorf("%d token requests, want 2 (the first, one refresh after the 401)", got)
		}
	})
	t.Run("ConsentRevoked", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		if _, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<r1@envoi.test>"))); err != nil {
			t.Fatal(err)
		}
		e.p.Revoke(jdupont)
		_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<r2@envoi.test>")))
		if envoi.ErrorCode(err) != envoi.EConsentRequired {
			t.Errorf("err = %v, want consent_required", err)
		}
	})
	t.Run("OutlookScopeNeedsConsent", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		e.tokens.RefreshTokens["jdupont"] = e.p.IssueRefreshToken(jdupont, "offline_access https://outlook.office.com/SMTP.Send")
		_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<o1@envoi.test>")))
		if envoi.ErrorCode(err) != envoi.EConsentRequired {
			t.Errorf("err = %v, want consent_required (an SMTP token is no Graph token)", err)
		}
	})
	t.Run("AppOnlySharedMailbox", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		e.tokens.AppScope = envoi.ScopeGraphAppOnly
		e.flow.Grant, e.flow.GenericMailbox = envoi.GrantClientCredentials, envoi.GenericMailbox{Enabled: true, Email: sales}
		d := e.delivery(apitest.Message(sales, client, "<s1@envoi.test>"))
		d.Identity = envoi.Identity{Flow: e.flow, Key: envoi.TokenKey{Flow: "m365"}, Username: sales}
		if _, err := e.sender.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		if got := e.fake.Sent()[0].Mailbox; got != sales {
			t.Errorf("sent as %s, want %s", got, sales)
		}
	})
	t.Run("SendAsDenied", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		// The generic mailbox's consent was given by jdupont, who has no
		// Send As on it.
		e.flow.GenericMailbox = envoi.GenericMailbox{Enabled: true, Email: sales}
		e.tokens.RefreshTokens[""] = e.p.IssueRefreshToken(jdupont, envoi.ScopeGraphSend)
		d := e.delivery(apitest.Message(sales, client, "<s2@envoi.test>"))
		d.Identity = envoi.Identity{Flow: e.flow, Key: envoi.TokenKey{Flow: "m365"}, Username: sales}
		_, err := e.sender.Deliver(context.Background(), d)
		if envoi.ErrorCode(err) != envoi.EAPIAccessDenied || envoi.IsTemporary(err) {
			t.Fatalf("err = %v, want a permanent api_access_denied", err)
		}
		if e := envoi.AsError(err); e.Details["provider_code"] != "ErrorSendAsDenied" {
			t.Errorf("details = %v, want provider_code ErrorSendAsDenied", e.Details)
		}
		e.fake.GrantSendAs(jdupont, sales)
		if _, err := e.sender.Deliver(context.Background(), d); err != nil {
			t.Errorf("with Send As granted: %v", err)
		}
	})
	t.Run("MailboxNotEnabled", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		e.fake.DisableMailbox(jdupont)
		_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, "<m1@envoi.test>")))
		if envoi.ErrorCode(err) != envoi.EAPIMailboxNotEnabled {
			t.Errorf("err = %v, want api_mailbox_not_enabled", err)
		}
	})
	t.Run("SizeLimit", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{MessageLimit: 4 << 20})
		msg := apitest.Message(jdupont, client, "<z1@envoi.test>", apitest.RandomFile("huge.pdf", 6<<20))
		_, err := e.sender.Deliver(context.Background(), e.delivery(msg))
		if envoi.ErrorCode(err) != envoi.EAPIMessageTooBig || envoi.IsTemporary(err) {
			t.Errorf("err = %v, want a permanent api_message_too_big", err)
		}
		if e.fake.DraftsLeft() != 0 {
			t.Errorf("%d drafts left behind", e.fake.DraftsLeft())
		}
	})
	t.Run("FourRequestsAMailbox", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				_, err := e.sender.Deliver(context.Background(), e.delivery(apitest.Message(jdupont, client, fmt.Sprintf("<c%d@envoi.test>", i))))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if got := e.fake.MaxConcurrentSeen(); got > fakegraph.MaxConcurrent {
			t.Errorf("%d requests in flight for one mailbox, Graph allows %d", got, fakegraph.MaxConcurrent)
		}
		if got := len(e.fake.Sent()); got != 16 {
			t.Errorf("%d sent, want 16", got)
		}
	})
	t.Run("WrongTransport", func(t *testing.T) {
		e := newEnv(t, fakegraph.Options{})
		d := e.delivery([]byte("x"))
		d.Transport = envoi.TransportSMTP
		if _, err := e.sender.Deliver(context.Background(), d); envoi.ErrorCode(err) != envoi.EInvalidInput {
			t.Errorf("err = %v, want invalid_input", err)
		}
	})
}

func TestProbe(t *testing.T) {
	e := newEnv(t, fakegraph.Options{})
	id := e.delivery(nil).Identity
	steps, err := e.sender.Probe(context.Background(), id, jdupont, jdupont)
	if err != nil || len(steps) == 0 || !steps[len(steps)-1].OK {
		t.Fatalf("steps %+v, err %v", steps, err)
	}
	if strings.Contains(fmt.Sprint(steps), "at-") || len(e.fake.Sent()) != 0 {
		t.Errorf("the probe leaked a token or sent a message")
	}
	e.fake.DisableMailbox(jdupont)
	if _, err := e.sender.Probe(context.Background(), id, jdupont, jdupont); envoi.ErrorCode(err) != envoi.EAPIMailboxNotEnabled {
		t.Errorf("err = %v, want api_mailbox_not_enabled", err)
	}
}
