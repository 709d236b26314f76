package http_test

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	envoihttp "envoi/http"
)

// TestAccessLog: every request is logged once answered, with its status
// and without its query string; probes only at DEBUG.
func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	s := &envoihttp.Server{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	h := s.Handler()
	for _, target := range []string{"/oauth/callback?code=SECRETCODE&state=x", "/v1/nothing-here?k=v", "/healthz"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	out := buf.String()
	if strings.Contains(out, "SECRETCODE") || strings.Contains(out, "k=v") {
		t.Errorf("the access log shows a query string:\n%s", out)
	}
	if !strings.Contains(out, `msg="http request" method=GET path=/v1/nothing-here status=404`) {
		t.Errorf("no access log line for a 404:\n%s", out)
	}
	if !strings.Contains(out, "path=/oauth/callback status=") {
		t.Errorf("no access log line for the callback:\n%s", out)
	}
	if strings.Contains(out, "path=/healthz") {
		t.Errorf("a probe logged at INFO:\n%s", out)
	}
	if n := strings.Count(out, "http request"); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, out)
	}
}
