package oauth_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"envoi"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFlowTestInternalAddress checks that the Test action allows a flow
// whose SMTP server and token URL are internal addresses, but logs each at
// WARN with the flow's code and shows them in an "internal_address" step;
// and that security none towards another host shows a "cleartext" step.
func TestFlowTestInternalAddress(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	var logs lockedBuffer
	e.svc.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	e.mustConsent(t, jdupont)

	res, err := e.svc.Test(ctx, flowCode, jdupont, nil)
	must(t, err)
	if got, want := stepNames(res.Steps), "operator:ok flow:ok internal_address:ok token:ok"; got != want || !res.OK {
		t.Fatalf("steps: got %s (ok %v), want %s", got, res.OK, want)
	}
	detail := res.Steps[2].Detail
	for _, want := range []string{"smtp.host is 127.0.0.1", "token_url is 127.0.0.1", "loopback"} {
		if !strings.Contains(detail, want) {
			t.Errorf("internal address step %q lacks %q", detail, want)
		}
	}
	for _, want := range []string{"level=WARN", "flow=" + flowCode, "field=smtp.host", "field=token_url", "address=127.0.0.1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}

	// A public SMTP host with security none: no internal address for it,
	// a cleartext step instead (no probe: nothing connects to it).
	f := *e.flow
	f.ClientSecret = e.p.ClientSecret()
	f.SMTP = envoi.SMTPServer{Host: "smtp.example.org", Port: 25, Security: envoi.SecurityNone}
	must(t, e.store.PutAuthFlow(ctx, &f))
	e.mustConsent(t, jdupont) // the SMTP server changed: consent again
	res, err = e.svc.Test(ctx, flowCode, jdupont, nil)
	must(t, err)
	if got, want := stepNames(res.Steps), "operator:ok flow:ok cleartext:ok internal_address:ok token:ok"; got != want {
		t.Fatalf("steps: got %s, want %s", got, want)
	}
	if d := res.Steps[3].Detail; strings.Contains(d, "smtp.host") || !strings.Contains(d, "token_url") {
		t.Errorf("internal address step %q", d)
	}
}
