package testmail_test

import (
	"encoding/base64"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"envoi/internal/testmail"
)

// TestSMTPServer_CommandLineLimit: an AUTH line over 512 octets (a long
// token as initial response) is refused with 500 5.5.2 Line too long and
// logged; the same credentials after 334 are accepted, on the same
// connection. A negative MaxCommandLine lifts the limit.
func TestSMTPServer_CommandLineLimit(t *testing.T) {
	token := testmail.SMTPLongToken(1500)
	if len(token) < 1500 {
		t.Fatalf("SMTPLongToken(1500) gave %d bytes", len(token))
	}
	ir := base64.StdEncoding.EncodeToString([]byte("user=u@example.com\x01auth=Bearer " + token + "\x01\x01"))
	accept := func(user, tok string) error {
		if tok != token {
			return errors.New("bad token")
		}
		return nil
	}
	for _, tt := range []struct {
		name     string
		limit    int
		wantCode int
	}{{"Default", 0, 500}, {"Unlimited", -1, 235}} {
		t.Run(tt.name, func(t *testing.T) {
			s := testmail.StartSMTP(t, testmail.SMTPOptions{Security: testmail.SMTPSecurityNone, ValidateToken: accept, MaxCommandLine: tt.limit})
			nc, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			c := textproto.NewConn(nc)
			t.Cleanup(func() { c.Close() })
			cmd := func(expect int, format string, args ...any) string {
				t.Helper()
				id, err := c.Cmd(format, args...)
				if err != nil {
					t.Fatal(err)
				}
				c.StartResponse(id)
				defer c.EndResponse(id)
				code, msg, err := c.ReadResponse(0)
				if err != nil || code != expect {
					t.Fatalf("%.20s: got %d %q (%v), want %d", format, code, msg, err, expect)
				}
				return msg
			}
			if _, _, err := c.ReadResponse(220); err != nil {
				t.Fatal(err)
			}
			cmd(250, "EHLO client.test")
			msg := cmd(tt.wantCode, "AUTH XOAUTH2 %s", ir)
			if tt.wantCode == 500 {
				if !strings.Contains(msg, "5.5.2 Line too long") {
					t.Errorf("reply: got %q, want 5.5.2 Line too long", msg)
				}
				cmd(334, "AUTH XOAUTH2")
				cmd(235, "%s", ir)
			}
			auths := s.Auths()
			last := auths[len(auths)-1]
			if !last.Accepted || last.Token != token || last.InitialResponse != (tt.wantCode == 235) {
				t.Errorf("AUTH log: got %+v", auths)
			}
			if tt.wantCode == 500 && (len(auths) != 2 || !auths[0].LineTooLong || auths[0].Token != "") {
				t.Errorf("AUTH log: got %+v, want the long line first, without its token", auths)
			}
		})
	}
}
