package smtp_test

import (
	"errors"
	"strings"
	"testing"

	"envoi"
	"envoi/internal/testmail"
	"envoi/smtp"
)

// TestSend_LongTokenWithoutInitialResponse: with a 2 KB JWT-like access
// token the AUTH line with the initial response would exceed RFC 5321's
// 512 octets, which the test server enforces (500 5.5.2 Line too long):
// the token goes after the server's 334 instead (RFC 4954 §4), for
// XOAUTH2 and OAUTHBEARER, and a long password for PLAIN. A short token
// keeps the initial response.
func TestSend_LongTokenWithoutInitialResponse(t *testing.T) {
	long := testmail.SMTPLongToken(2048)
	if len(long) < 2048 {
		t.Fatalf("SMTPLongToken gave %d bytes", len(long))
	}
	longPassword := strings.Repeat("p", 600)
	for _, tt := range []struct {
		name, mech, token, password string
		wantIR                      bool
	}{
		{"XOAUTH2/Long", smtp.MechXOAuth2, long, "", false},
		{"OAUTHBEARER/Long", smtp.MechOAuthBearer, long, "", false},
		{"PLAIN/Long", "PLAIN", "", longPassword, false},
		{"XOAUTH2/Short", smtp.MechXOAuth2, goodToken, "", true},
		{"PLAIN/Short", "PLAIN", "", password, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, testmail.SMTPOptions{
				Users: map[string]string{operatorEmail: tt.password},
				ValidateToken: func(user, token string) error {
					if user == operatorEmail && token == tt.token {
						return nil
					}
					return errors.New("invalid token")
				},
			})
			s := newSender(t, srv, &tokens{Token: tt.token, Fresh: tt.token})
			id := basicIdentity(srv)
			id.Password = tt.password
			if tt.token != "" {
				id = oauthIdentity(srv)
				s.OAuthMechanism = tt.mech
			}
			if e := sendErr(t, s, id, nil); e != nil {
				t.Fatalf("send: %v", e)
			}
			auths := srv.Auths()
			if len(auths) != 1 || !auths[0].Accepted || auths[0].Mechanism != tt.mech || auths[0].InitialResponse != tt.wantIR {
				t.Fatalf("AUTH log: got %+v, want one accepted %s, initial response %v", auths, tt.mech, tt.wantIR)
			}
		})
	}
}

// TestSend_RetryWithoutInitialResponse: a server that refuses the AUTH
// line with its initial response (here one counting lines shorter than
// 512 octets, answering 500 5.5.2) is asked once more without it, on the
// same connection; the refusal of the second AUTH is final and shows no
// secret.
func TestSend_RetryWithoutInitialResponse(t *testing.T) {
	for _, oauth := range []bool{false, true} {
		name := "PLAIN"
		if oauth {
			name = "XOAUTH2"
		}
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, testmail.SMTPOptions{MaxCommandLine: 40})
			s := newSender(t, srv, &tokens{Token: goodToken, Fresh: goodToken})
			id := basicIdentity(srv)
			if oauth {
				id = oauthIdentity(srv)
			}
			if e := sendErr(t, s, id, nil); e != nil {
				t.Fatalf("send: %v", e)
			}
			auths := srv.Auths()
			if len(auths) != 2 || !auths[0].LineTooLong || auths[1].InitialResponse || !auths[1].Accepted {
				t.Fatalf("AUTH log: got %+v, want the line refused, then accepted without initial response", auths)
			}
			if got := srv.Connections(); got != 1 {
				t.Errorf("connections: got %d, want 1", got)
			}
		})
	}
	t.Run("RefusedAgain", func(t *testing.T) {
		srv := startServer(t, testmail.SMTPOptions{MaxCommandLine: 40})
		srv.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultAuth, Code: 504, EnhancedCode: "5.5.4", Text: "Unrecognized authentication type"})
		s := newSender(t, srv, nil)
		e := sendErr(t, s, basicIdentity(srv), nil)
		if e == nil || e.Code != envoi.ESMTPAuthFailed || e.Temporary {
			t.Fatalf("got %v, want permanent %s", e, envoi.ESMTPAuthFailed)
		}
		if got := len(srv.Auths()); got != 2 {
			t.Errorf("AUTH commands: got %d, want 2 (one retry without initial response)", got)
		}
		if strings.Contains(e.Error(), password) || strings.Contains(fmtDetails(e), password) {
			t.Errorf("the error shows the password: %v", e)
		}
	})
}

func fmtDetails(e *envoi.Error) string {
	var b strings.Builder
	for k, v := range e.Details {
		b.WriteString(k)
		b.WriteString("=")
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
		b.WriteString(" ")
	}
	return b.String()
}
