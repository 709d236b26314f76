package http

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"envoi"
)

// Defaults of the per-route limits (Server.ReadTimeout, UploadTimeout,
// WriteTimeout, SmallBodyBytes).
const (
	DefaultReadTimeout    = 30 * time.Second
	DefaultUploadTimeout  = 10 * time.Minute
	DefaultWriteTimeout   = 2 * time.Minute
	DefaultSmallBodyBytes = 1 << 20
)

// uploadRoutes take or give documents: a send with its attachments (25 MB
// and more once in base64), its preview, a company with its logo, a report
// template, a printed or exported document to archive, and the downloads. They get MaxBodyBytes and UploadTimeout;
// every other route SmallBodyBytes and ReadTimeout.
var uploadRoutes = map[string]bool{
	"POST /v1/messages":                 true,
	"POST /v1/messages/preview":         true,
	"GET /v1/messages/{id}/eml":         true,
	"PUT /v1/companies/{code}":          true,
	"PUT /v1/report-templates/{name}":   true,
	"POST /v1/report-templates/preview": true,
	"GET /v1/archive/{id}":              true,
	"POST /v1/archive":                  true,
}

func (s *Server) readTimeout() time.Duration {
	return orDefault(s.ReadTimeout, DefaultReadTimeout)
}

func (s *Server) uploadTimeout() time.Duration {
	return orDefault(s.UploadTimeout, DefaultUploadTimeout)
}

func (s *Server) writeTimeout() time.Duration {
	return orDefault(s.WriteTimeout, DefaultWriteTimeout)
}

func (s *Server) smallBody() int64 {
	if s.SmallBodyBytes <= 0 {
		return DefaultSmallBodyBytes
	}
	return s.SmallBodyBytes
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// bounded gives a route its limits: a deadline to read the body, a
// deadline to write the answer after it, and a size. A body announced over
// the size is refused before a byte of it is read, and the connection
// closes after the answer rather than drain it.
//
// The read deadline is lifted once the body is read whole: net/http then
// watches the connection for the client going away, and a deadline passing
// there would cancel a handler still at work (a send waiting for its
// outcome).
func (s *Server) bounded(upload bool, next http.Handler) http.Handler {
	read, limit := s.readTimeout(), s.smallBody()
	if upload {
		read, limit = s.uploadTimeout(), s.maxBody()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		start := time.Now()
		_ = rc.SetWriteDeadline(start.Add(read + s.writeTimeout()))
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			s.writeError(w, r, envoi.Errorf(envoi.ETooLarge, "the body is %d bytes; the limit is %d", r.ContentLength, limit).WithDetail("limit_bytes", limit))
			return
		}
		if hasBody(r) {
			_ = rc.SetReadDeadline(start.Add(read))
			r.Body = &deadlineBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), rc: rc, timeout: read}
		}
		next.ServeHTTP(w, r)
	})
}

// hasBody reports whether r comes with a body to read.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// refuseBody marks an answer given without reading the request's body:
// the connection closes after it instead of reading what the client still
// sends (possibly slowly, possibly for ever).
func refuseBody(w http.ResponseWriter, r *http.Request) {
	if hasBody(r) {
		w.Header().Set("Connection", "close")
	}
}

// deadlineBody lifts the connection's read deadline at the body's end and
// turns a missed deadline into an error saying so.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = &bodyTimeout{limit: b.timeout}
	}
	return n, err
}

// bodyTimeout is the error of a body that did not arrive in time.
type bodyTimeout struct{ limit time.Duration }

func (e *bodyTimeout) Error() string {
	return "the request body did not arrive within " + e.limit.String()
}

// headers sets the headers of every answer: no content sniffing, and on an
// https public URL, HTTPS only from now on (HSTS).
func (s *Server) headers(next http.Handler) http.Handler {
	hsts := false
	if u, err := url.Parse(s.PublicURL); err == nil && u.Scheme == "https" {
		hsts = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
