package oauth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"envoi"
	"envoi/internal/testmail"
	"envoi/oauth"
)

// smtpProbe is a stand-in for the smtp package's Probe, with the go-smtp
// client: connect, authenticate with OAUTHBEARER, MAIL FROM / RCPT TO /
// RSET; send, when set, also sends a message.
func smtpProbe(srv *testmail.SMTPServer, tokens envoi.TokenSource, send bool) oauth.Probe {
	return func(ctx context.Context, id envoi.Identity) ([]envoi.TestStep, error) {
		var steps []envoi.TestStep
		step := func(name string, err error, detail string) error {
			if err != nil {
				steps = append(steps, envoi.TestStep{Name: name, Detail: err.Error()})
				return envoi.Errorf(envoi.ESMTPAuthFailed, "%s: %v", name, err)
			}
			steps = append(steps, envoi.TestStep{Name: name, OK: true, Detail: detail})
			return nil
		}
		c, err := gosmtp.DialStartTLS(srv.Addr, srv.ClientTLSConfig())
		if err := step("connect", err, srv.Addr); err != nil {
			return steps, err
		}
		defer c.Close()
		tok, err := tokens.AccessToken(ctx, id.Key, false)
		if err != nil {
			return steps, err
		}
		err = c.Auth(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: id.Username, Token: tok}))
		if err := step("authenticate", err, id.Username); err != nil {
			return steps, err
		}
		err = c.Mail(id.Username, nil)
		if err == nil {
			err = c.Rcpt("client@example.org", nil)
		}
		if send && err == nil {
			var w *gosmtp.DataCommand
			if w, err = c.Data(); err == nil {
				_, err = w.Write([]byte("From: " + id.Username + "\r\nTo: client@example.org\r\nSubject: BL 12345\r\n\r\nHello\r\n"))
				if cerr := w.Close(); err == nil {
					err = cerr
				}
			}
		} else if err == nil {
			err = c.Reset()
		}
		if err := step("envelope", err, "MAIL FROM / RCPT TO accepted"); err != nil {
			return steps, err
		}
		return steps, c.Quit()
	}
}

func stepNames(steps []envoi.TestStep) string {
	var b []string
	for _, s := range steps {
		mark := "ok"
		if !s.OK {
			mark = "FAIL"
		}
		b = append(b, s.Name+":"+mark)
	}
	return strings.Join(b, " ")
}

func TestFlowTest(t *testing.T) {
	ctx := context.Background()
	newTestEnv := func(t *testing.T) (*env, *testmail.SMTPServer) {
		e := newEnv(t, envOptions{})
		srv := testmail.StartSMTP(t, testmail.SMTPOptions{ValidateToken: e.p.ValidateAccessToken})
		f := *e.flow
		f.SMTP = srv.Endpoint()
		must(t, e.store.PutAuthFlow(ctx, &f))
		return e, srv
	}

	t.Run("OK", func(t *testing.T) {
		e, srv := newTestEnv(t)
		e.mustConsent(t, jdupont)
		e.clock.Add(2 * time.Hour) // the test refreshes the token
		res, err := e.svc.Test(ctx, flowCode, jdupont, smtpProbe(srv, e.svc, false))
		must(t, err)
		if got, want := stepNames(res.Steps), "operator:ok flow:ok internal_address:ok token:ok connect:ok authenticate:ok envelope:ok"; got != want || !res.OK {
			t.Errorf("steps: got %s (ok %v), want %s", got, res.OK, want)
		}
		if srv.MessageCount() != 0 {
			t.Error("the test sent a message")
		}
	})

	t.Run("ConsentThenSend", func(t *testing.T) {
		e, srv := newTestEnv(t)
		e.mustConsent(t, jdupont)
		id, err := e.svc.Identity(ctx, flowCode, jdupont)
		must(t, err)
		if id.Username != jdupontAt || id.Key != jdupontKey {
			t.Fatalf("identity: got %+v", id)
		}
		if _, err := smtpProbe(srv, e.svc, true)(ctx, id); err != nil {
			t.Fatal(err)
		}
		msgs := srv.Messages()
		if len(msgs) != 1 || msgs[0].AuthUser != jdupontAt || msgs[0].AuthMechanism != sasl.OAuthBearer {
			t.Fatalf("messages: got %+v", msgs)
		}
	})

	t.Run("ConsentRequired", func(t *testing.T) {
		e, srv := newTestEnv(t)
		e.mustConsent(t, jdupont)
		e.p.Revoke(jdupontAt)
		e.clock.Add(2 * time.Hour)
		res, err := e.svc.Test(ctx, flowCode, jdupont, smtpProbe(srv, e.svc, false))
		wantCode(t, err, envoi.EConsentRequired)
		if got, want := stepNames(res.Steps), "operator:ok flow:ok internal_address:ok token:FAIL"; got != want || res.OK || res.Error == nil {
			t.Errorf("steps: got %s, want %s", got, want)
		}
	})

	t.Run("TokenRefusedBySMTP", func(t *testing.T) {
		e, srv := newTestEnv(t)
		e.mustConsent(t, jdupont)
		e.p.Revoke(jdupontAt) // the access token dies before its expiry
		res, err := e.svc.Test(ctx, flowCode, jdupont, smtpProbe(srv, e.svc, false))
		wantCode(t, err, envoi.ESMTPAuthFailed)
		if got, want := stepNames(res.Steps), "operator:ok flow:ok internal_address:ok token:ok connect:ok authenticate:FAIL"; got != want {
			t.Errorf("steps: got %s, want %s", got, want)
		}
	})

	t.Run("OperatorNotInFlow", func(t *testing.T) {
		e, srv := newTestEnv(t)
		res, err := e.svc.Test(ctx, flowCode, "ndupuis", smtpProbe(srv, e.svc, false))
		wantCode(t, err, envoi.EOperatorNotInFlow)
		if got, want := stepNames(res.Steps), "operator:FAIL"; got != want {
			t.Errorf("steps: got %s, want %s", got, want)
		}
	})

	t.Run("InvalidFlowData", func(t *testing.T) {
		e, srv := newTestEnv(t)
		f := *e.flow
		f.Scope = "https://outlook.office.com/SMTP.Send" // no offline_access
		must(t, e.store.PutAuthFlow(ctx, &f))
		res, err := e.svc.Test(ctx, flowCode, jdupont, smtpProbe(srv, e.svc, false))
		ee := wantCode(t, err, envoi.EInvalidFlowData)
		if ee.Details["field"] != "scope" {
			t.Errorf("field: got %v, want scope", ee.Details["field"])
		}
		if got, want := stepNames(res.Steps), "operator:ok flow:FAIL"; got != want {
			t.Errorf("steps: got %s, want %s", got, want)
		}
	})
}
