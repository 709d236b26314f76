package http

import (
	"log/slog"
	"net/http"
	"time"
)

// accessLog logs one line per request once answered: method, path (never
// the query, which may carry an OAuth code), status, bytes, duration and
// client address. Probes (/healthz, /readyz, /metrics) and the UI's static
// files log at DEBUG, everything else at INFO; --log-level warn silences it.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			level := slog.LevelInfo
			switch p := r.URL.Path; {
			case p == "/healthz" || p == "/readyz" || p == "/metrics" || len(p) > 8 && p[:8] == "/static/":
				level = slog.LevelDebug
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			s.logger().LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder notes the status and size of an answer; Unwrap lets
// http.ResponseController reach the connection (flush, deadlines).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes a flush on, for handlers that stream (w.(http.Flusher)).
func (r *recorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}
