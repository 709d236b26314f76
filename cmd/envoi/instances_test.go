package main_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi/internal/testmail"
)

// consentAcross runs the web consent of operator on flow starting on
// instance from and landing, after the provider, on instance to: the
// pending consent (state, PKCE verifier) is in the shared database.
func consentAcross(t *testing.T, from, to *Env, flow, operator string) (int, string) {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", from.Base+"/v1/auth-flows/"+flow+"/consent?operator="+url.QueryEscape(operator), nil)
	req.Header.Set("Authorization", "Bearer "+from.Key)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("consent on %s: status %d, want 302", from.Base, resp.StatusCode)
	}
	provider := from.OAuth.HTTPClient()
	provider.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err = provider.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(back.String(), from.Base+"/oauth/callback") {
		t.Fatalf("provider redirected to %q, want %s/oauth/callback", resp.Header.Get("Location"), from.Base)
	}
	// A load balancer sends the browser to another instance.
	other, _ := url.Parse(to.Base)
	back.Host = other.Host
	resp, err = http.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestThreeInstances: three envoi serve on one PostgreSQL share the queue,
// the tokens and the pending consents. A consent started on one instance
// completes on another; messages accepted by any instance are each sent
// exactly once; access tokens that live less than the refresh margin are
// refreshed by whichever instance needs one, under the provider's strict
// refresh-token rotation, and nobody is asked to consent again.
func TestThreeInstances(t *testing.T) {
	dbURL := freshPostgres(t)
	a := MustStart(t, EnvOptions{DatabaseURL: dbURL, OAuth: testmail.OAuthOptions{AccessTokenLifetime: time.Minute, Rotation: testmail.OAuthRotateStrict}})
	b := MustStart(t, EnvOptions{Shared: a})
	c := MustStart(t, EnvOptions{Shared: a})
	instances := []*Env{a, b, c}
	a.Configure()
	a.unlimit()

	status, page := consentAcross(t, a, c, "O365", "jdupont")
	if status != 200 || !strings.Contains(page, "user@example.com") {
		t.Fatalf("consent started on a, finished on c: %d\n%s", status, page)
	}
	var tokens []struct{ Flow, Operator, Status string }
	b.MustDo(200, "GET", "/v1/tokens", nil, &tokens)
	if len(tokens) != 1 || tokens[0].Status != "valid" {
		t.Fatalf("tokens seen by b: %s, want the one valid token", fmtJSON(tokens))
	}

	const n = 300
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := instances[i%3]
			req := blRequest(fmt.Sprintf("client%03d@example.org", i))
			var m queuedMessage
			if got := e.Do("POST", "/v1/messages", req, &m, "Idempotency-Key", fmt.Sprintf("bl-%03d", i)); got != 202 && got != 200 {
				t.Errorf("POST on instance %d: %d", i%3, got)
			}
			ids[i] = m.ID
		}()
		if i%30 == 29 {
			wg.Wait()
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	want := map[string]bool{}
	for i, id := range ids {
		m := instances[(i+1)%3].waitStatus(id, "sent", 60*time.Second)
		if m.Status != "sent" {
			t.Fatalf("message %s: %s, want sent", id, fmtJSON(m))
		}
		want[m.MessageID] = true
	}
	got := countMessageIDs(a.SMTP)
	for mid := range want {
		if got[mid] != 1 {
			t.Errorf("%s received %d times, want exactly once", mid, got[mid])
		}
	}
	if len(got) != n {
		t.Errorf("the server received %d distinct messages, want %d", len(got), n)
	}
	b.MustDo(200, "GET", "/v1/tokens", nil, &tokens)
	if len(tokens) != 1 || tokens[0].Status != "valid" {
		t.Errorf("tokens after the run: %s, want still valid (no consent asked again)", fmtJSON(tokens))
	}
	t.Logf("%d messages sent once each by 3 instances; %d SMTP connections; token endpoint: %d refreshes",
		n, a.SMTP.Connections(), a.OAuth.TokenCalls(testmail.OAuthGrantRefreshToken))
}
