package ui

import (
	"net/http"
	"strings"
	"time"

	"envoi"
)

type webhooksData struct {
	Webhooks []*envoi.Webhook
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Webhooks(r.Context())
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "webhooks", s.newPage(w, r, "webhooks", webhooksData{Webhooks: list}))
}

type webhookData struct {
	Webhook *envoi.Webhook
	New     bool
	// Types are every event type, for the form's boxes.
	Types []string
	// NewSecret is the secret envoi just made, shown this once.
	NewSecret  string
	Deliveries []*envoi.WebhookDelivery
}

func (s *Server) webhookPage(w http.ResponseWriter, r *http.Request, status int, d webhookData, err error) {
	d.Types = envoi.EventTypes()
	if !d.New {
		ds, derr := s.Store.WebhookDeliveries(r.Context(), d.Webhook.Code, 20)
		if derr == nil {
			d.Deliveries = ds
		}
	}
	p := s.newPage(w, r, "webhooks", d)
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "webhook", p)
}

func (s *Server) newWebhook(w http.ResponseWriter, r *http.Request) {
	s.webhookPage(w, r, http.StatusOK, webhookData{Webhook: &envoi.Webhook{Events: []string{envoi.EventMessageSent, envoi.EventMessageFailed}}, New: true}, nil)
}

func (s *Server) editWebhook(w http.ResponseWriter, r *http.Request) {
	wh, err := s.Store.Webhook(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	wh.Secret = ""
	s.webhookPage(w, r, http.StatusOK, webhookData{Webhook: wh}, nil)
}

// saveWebhook creates or changes an endpoint. A secret left empty keeps
// the stored one; a new endpoint without one gets a secret made by envoi,
// shown on the answer to the form, this once.
func (s *Server) saveWebhook(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	code := r.PathValue("code")
	isNew := code == ""
	if isNew {
		code = strings.TrimSpace(r.PostFormValue("code"))
	}
	given := strings.TrimSpace(r.PostFormValue("secret"))
	wh := &envoi.Webhook{Code: code, URL: strings.TrimSpace(r.PostFormValue("url")), Events: r.PostForm["events"], Secret: given}
	if wh.Events == nil {
		wh.Events = []string{}
	}
	var err error
	if isNew {
		if _, gerr := s.Store.Webhook(ctx, code); gerr == nil {
			err = envoi.FieldError(envoi.EConflict, "code", "a webhook with the code %s already exists", code)
		}
	}
	if err == nil {
		err = s.Store.PutWebhook(ctx, wh)
	}
	if err != nil {
		wh.Secret = ""
		s.webhookPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), webhookData{Webhook: wh, New: isNew}, err)
		return
	}
	if given == "" && wh.Secret != "" {
		made := wh.Secret
		wh.Secret = ""
		s.webhookPage(w, r, http.StatusCreated, webhookData{Webhook: wh, NewSecret: made}, nil)
		return
	}
	s.done(w, r, "/webhooks/"+wh.Code, "flash.webhook_saved", wh.Code)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if err := s.Store.DeleteWebhook(r.Context(), code); err != nil {
		s.failTo(w, r, "/webhooks/"+code, err)
		return
	}
	s.done(w, r, "/webhooks", "flash.deleted", "")
}

// replayWebhook delivers again the events of the last hours the form
// names (1 to 72).
func (s *Server) replayWebhook(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	hours := 24
	switch r.PostFormValue("hours") {
	case "1":
		hours = 1
	case "72":
		hours = 72
	}
	since := time.Now().Add(-time.Duration(hours) * time.Hour)
	if _, err := s.Store.ReplayWebhook(r.Context(), code, envoi.Replay{Since: since}); err != nil {
		s.failTo(w, r, "/webhooks/"+code, err)
		return
	}
	s.done(w, r, "/webhooks/"+code, "flash.webhook_replayed", code)
}
