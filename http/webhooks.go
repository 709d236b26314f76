package http

import (
	"net/http"
	"strconv"

	"envoi"
)

type webhookInput struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

// webhookOutput is an endpoint as the API shows it: never its secret,
// except the one envoi just made (Secret), shown this once.
type webhookOutput struct {
	*envoi.Webhook
	Secret string `json:"secret,omitempty"`
}

// putWebhook upserts an endpoint and enables it. Without a secret the
// stored one is kept, or, for a new endpoint, envoi makes one and answers
// it this once.
func (s *Server) putWebhook(w http.ResponseWriter, r *http.Request) {
	var in webhookInput
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	wh := &envoi.Webhook{Code: r.PathValue("code"), URL: in.URL, Events: in.Events, Secret: in.Secret}
	if wh.Events == nil {
		wh.Events = []string{}
	}
	if err := s.Store.PutWebhook(r.Context(), wh); err != nil {
		s.writeError(w, r, err)
		return
	}
	out := webhookOutput{Webhook: wh}
	if in.Secret == "" {
		out.Secret = wh.Secret
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	wh, err := s.Store.Webhook(r.Context(), r.PathValue("code"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, webhookOutput{Webhook: wh})
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Webhooks(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteWebhook(r.Context(), r.PathValue("code")))
}

// listWebhookDeliveries answers the endpoint's latest deliveries with
// their attempts (?limit=, 50 by default).
func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, "limit", "limit must be a positive number"))
			return
		}
		limit = n
	}
	list, err := s.Store.WebhookDeliveries(r.Context(), r.PathValue("code"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// replayWebhook queues again one event ({event_id}) or the events of a
// time range ({since, until}) to the endpoint; it answers how many.
func (s *Server) replayWebhook(w http.ResponseWriter, r *http.Request) {
	var in envoi.Replay
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := s.Store.ReplayWebhook(r.Context(), r.PathValue("code"), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"queued": n})
}
