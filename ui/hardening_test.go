package ui_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/ui"
)

// TestPlantedCSRFToken: a form token the client chose, set both in the
// cookie and in the field (a cookie planted by a sibling site, say), is
// refused; only a token envoi issued passes.
func TestPlantedCSRFToken(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	planted := strings.Repeat("A", 43)
	post := func(cookie, field string) Page {
		b := e.Browser()
		v := url.Values{"email": {"admin@forterro.example"}, "password": {adminPW}, "csrf": {field}}
		return b.Post("/login", v, "Cookie", "envoi_csrf="+cookie)
	}
	if p := post(planted, planted); p.Status != http.StatusForbidden {
		t.Errorf("a planted token in cookie and field: %d %s, want 403", p.Status, text(p.Body))
	}
	if p := post(planted+".forged", planted+".forged"); p.Status != http.StatusForbidden {
		t.Errorf("a planted token with a forged signature: %d, want 403", p.Status)
	}
	// The page replaces a planted cookie with a token of its own.
	b := e.Browser()
	b.c.Jar.SetCookies(mustURL(t, e.URL), []*http.Cookie{{Name: "envoi_csrf", Value: planted, Path: "/"}})
	if token := b.CSRF("/login"); token == planted {
		t.Errorf("the sign-in page kept the planted token")
	}
	b.SignIn("admin@forterro.example", adminPW)
}

// TestPlantedFlash: a flash cookie envoi did not write shows nothing.
func TestPlantedFlash(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	raw, _ := jsonFlash("error", "unauthorized", "Call our hotline to restore your account")
	b := e.Browser()
	b.c.Jar.SetCookies(mustURL(t, e.URL), []*http.Cookie{{Name: "envoi_flash", Value: raw, Path: "/"}})
	if p := b.Get("/login"); strings.Contains(p.Body, "Call our hotline") {
		t.Errorf("the sign-in page shows a planted flash message:\n%s", text(p.Body))
	}
	// envoi's own flash still shows.
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b = e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	token := b.CSRF("/account")
	if p := b.Post("/logout", url.Values{"csrf": {token}}); p.Status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.Status)
	}
	if p := b.Get("/login"); !strings.Contains(p.Body, `class="flash`) {
		t.Errorf("no flash after signing out:\n%s", text(p.Body))
	}
}

func jsonFlash(kind, code, reason string) (string, error) {
	b := fmt.Appendf(nil, `{"k":%q,"c":%q,"r":%q}`, kind, code, reason)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	must(t, err)
	return u
}

// TestRecoveryInterval: /forgot sends one mail per address per
// RecoveryInterval, and says the same whether it sent one or not.
func TestRecoveryInterval(t *testing.T) {
	e := NewEnv(t, ui.Server{RecoveryInterval: 10 * time.Minute})
	ctx := context.Background()
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "system", Email: "envoi@forterro.example"}))
	admin := e.Browser()
	admin.SignIn("admin@forterro.example", adminPW)
	if p := admin.Submit("/settings", "/settings", url.Values{"system_sender": {"system"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("save settings: %d %s", p.Status, text(p.Body))
	}
	forgot := func(email string) Page {
		return e.Browser().Submit("/forgot", "/forgot", url.Values{"email": {email}})
	}
	first := forgot("admin@forterro.example")
	for i, email := range []string{"admin@forterro.example", "ADMIN@forterro.example", "admin@forterro.example"} {
		p := forgot(email)
		if p.Status != first.Status || text(p.Body) != text(first.Body) {
			t.Errorf("request %d: %d %s; want the first answer: %d %s", i+2, p.Status, text(p.Body), first.Status, text(first.Body))
		}
		e.Clock.Advance(time.Minute)
	}
	if n := len(e.Sent.Requests()); n != 1 {
		t.Fatalf("%d recovery mails in 3 minutes, want 1", n)
	}
	e.Clock.Advance(10 * time.Minute)
	forgot("admin@forterro.example")
	if n := len(e.Sent.Requests()); n != 2 {
		t.Errorf("%d recovery mails once the interval passed, want 2", n)
	}
}

// TestSignInFlood: 64 sign-ins at once. Each password check takes 19 MiB
// (argon2id); unbounded, they took over a gigabyte together. With two
// slots, the heap stays within a few checks' worth, and the sign-ins
// beyond the slots and their short queue are answered 503 with
// Retry-After at once.
func TestSignInFlood(t *testing.T) {
	const n = 64
	const slots = 2
	e := NewEnv(t, ui.Server{HashConcurrency: slots, MaxClientFailures: 10 * n})
	b := e.Browser()
	token := b.CSRF("/login")
	cookie := ""
	for _, c := range b.c.Jar.Cookies(mustURL(t, e.URL)) {
		if c.Name == "envoi_csrf" {
			cookie = c.Name + "=" + c.Value
		}
	}
	// One password check beforehand, so the dummy hash and the
	// server's pools exist before the baseline.
	b.Submit("/login", "/login", url.Values{"email": {"warmup@forterro.example"}, "password": {"wrong password"}})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	start := make(chan struct{})
	statuses := make([]int, n)
	retry := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v := url.Values{"email": {fmt.Sprintf("user%d@forterro.example", i)}, "password": {"wrong password"}, "csrf": {token}}
			req, _ := http.NewRequest("POST", e.URL+"/login", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Cookie", cookie)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			<-start
			resp, err := c.Do(req)
			if err != nil {
				t.Errorf("sign-in %d: %v", i, err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i], retry[i] = resp.StatusCode, resp.Header.Get("Retry-After")
		})
	}
	close(start)
	wg.Wait()
	close(stop)
	<-sampled

	const mib = 1 << 20
	grew := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use: %d MiB before, peak %d MiB during %d sign-ins (+%d MiB)", base.HeapInuse/mib, peak/mib, n, grew/mib)
	// Two checks run at once (38 MiB); the collector may let as much
	// garbage pile up again before it runs. 64 checks at once are 1.2 GiB.
	if limit := int64(12 * 19 * mib); grew > limit {
		t.Errorf("the heap grew by %d MiB during %d concurrent sign-ins; want at most %d MiB", grew/mib, n, limit/mib)
	}
	var wrong, busy int
	for i, s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			wrong++
		case http.StatusServiceUnavailable:
			busy++
			if retry[i] == "" {
				t.Errorf("sign-in %d: 503 without Retry-After", i)
			}
		default:
			t.Errorf("sign-in %d: status %d, want 401 or 503", i, s)
		}
	}
	t.Logf("%d answered 401 (checked), %d answered 503 (busy)", wrong, busy)
	if busy == 0 {
		t.Errorf("no sign-in of %d was refused with 2 slots", n)
	}
}
