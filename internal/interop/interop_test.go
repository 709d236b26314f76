package interop

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// xoauth2 is a SASL XOAUTH2 client for net/smtp, without an initial
// response (the token is longer than a command line may be).
type xoauth2 struct{ user, token string }

func (a xoauth2) Start(*smtp.ServerInfo) (string, []byte, error) { return "XOAUTH2", nil, nil }
func (a xoauth2) Next(_ []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	return []byte("user=" + a.user + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

// TestPeers starts the three peers and checks what the scenarios rely on:
// an app-only JWT over 1 KB, Dovecot refusing AUTH before STARTTLS and
// accepting the token after it (introspected), PLAIN from the passwd file,
// and smtp-sink writing what Dovecot relayed.
func TestPeers(t *testing.T) {
	Need(t)
	p := StartProvider(t, ProviderOptions{
		Clients:   []Client{{ID: "app", Secret: "app-secret", TokenEndpointAuthMethod: "client_secret_basic", RedirectURIs: []string{}, GrantTypes: []string{GrantClientCredentials}, ResponseTypes: []string{}}},
		Mailboxes: map[string]string{"app": "shared@example.com"},
	})
	sink := StartSink(t)
	d := StartDovecot(t, DovecotOptions{Users: map[string]string{"basic@example.com": "basic-pw"}, IntrospectionURL: p.IntrospectionURLWithCredentials(), Relay: sink})

	req, _ := http.NewRequest("POST", p.TokenURL(), strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"smtp"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", "app-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if len(tok.AccessToken) < 1024 {
		t.Fatalf("access token of %d bytes, want over 1 KB: %s", len(tok.AccessToken), p.Output())
	}

	pem, err := os.ReadFile(d.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	dial := func() *smtp.Client {
		c, err := smtp.Dial(net.JoinHostPort(d.Host, strconv.Itoa(d.Port)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := dial()
	if err := c.Auth(smtp.PlainAuth("", "basic@example.com", "basic-pw", "localhost")); err == nil {
		t.Fatal("Dovecot accepted AUTH before STARTTLS: it took the client for a local one")
	}
	c = dial()
	if err := c.StartTLS(&tls.Config{ServerName: d.Host, RootCAs: roots}); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(xoauth2{"shared@example.com", tok.AccessToken}); err != nil {
		t.Fatalf("XOAUTH2: %v\n%s", err, d.Log())
	}
	if err := c.Mail("shared@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("to@example.org"); err != nil {
		t.Fatal(err)
	}
	w, _ := c.Data()
	_, _ = w.Write([]byte("Message-ID: <peers@test>\r\nSubject: peers\r\n\r\nhello\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
	got := sink.WithMessageID(t, "<peers@test>")
	if len(got) != 1 || got[0].MailFrom != "shared@example.com" || len(got[0].Rcpt) != 1 || got[0].Rcpt[0] != "to@example.org" {
		t.Fatalf("sink received %+v", got)
	}
	logins := d.Logins()
	if len(logins) != 1 || logins[0].Method != "XOAUTH2" || !logins[0].TLS || logins[0].User != "shared@example.com" {
		t.Errorf("Dovecot logins %+v\n%s", logins, d.Log())
	}
	if in := p.Introspections(); len(in) != 1 || !in[0].Active || in[0].Email != "shared@example.com" {
		t.Errorf("introspections %+v", in)
	}
}
