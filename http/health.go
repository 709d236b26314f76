package http

import (
	"context"
	"net/http"
	"time"

	"envoi"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the database answers, 503 otherwise, so a load
// balancer sends no traffic to an instance that cannot accept messages.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Pinger != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Pinger.Ping(ctx); err != nil {
			s.logger().Warn("http: database not reachable", "err", err)
			s.writeError(w, r, envoi.Errorf(envoi.EUnavailable, "the database is not reachable"))
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
