package ui_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"envoi"
	"envoi/ui"
)

func TestWebhooks(t *testing.T) {
	e, b := adminBrowser(t)
	ctx := context.Background()
	if p := b.Get("/webhooks"); p.Status != 200 || !strings.Contains(p.Body, "No webhooks yet") {
		t.Fatalf("empty list: %d %s", p.Status, text(p.Body))
	}
	if p := b.Get("/"); !strings.Contains(p.Body, `href="/webhooks"`) {
		t.Error("the menu has no Webhooks entry")
	}

	// No secret: envoi makes one and shows it on the answer, once.
	p := b.Submit("/webhooks/new", "/webhooks", url.Values{"code": {"erp"}, "url": {"https://erp.example/envoi"},
		"events": {envoi.EventMessageSent, envoi.EventMessageBounced}})
	if p.Status != http.StatusCreated || !strings.Contains(p.Body, `id="new-secret"`) {
		t.Fatalf("create: %d %s", p.Status, text(p.Body))
	}
	w, err := e.Store.Webhook(ctx, "erp")
	must(t, err)
	if !strings.Contains(html.UnescapeString(p.Body), w.Secret) || len(w.Events) != 2 {
		t.Errorf("the page does not show the stored secret, or events %v", w.Events)
	}
	page := b.Get("/webhooks/erp")
	if strings.Contains(html.UnescapeString(page.Body), w.Secret) || !strings.Contains(page.Body, "https://erp.example/envoi") {
		t.Errorf("the secret is shown again, or the URL is missing: %s", text(page.Body))
	}

	// Saved again without a secret: the stored one is kept.
	p = b.Submit("/webhooks/erp", "/webhooks/erp", url.Values{"url": {"https://erp.example/v2"}, "events": {envoi.EventMessageFailed}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.Status, text(p.Body))
	}
	again, err := e.Store.Webhook(ctx, "erp")
	must(t, err)
	if again.Secret != w.Secret || again.URL != "https://erp.example/v2" {
		t.Errorf("after a save without secret: %+v", again)
	}

	t.Run("ErrUnknownEvent", func(t *testing.T) {
		p := b.Submit("/webhooks/erp", "/webhooks/erp", url.Values{"url": {"https://erp.example/v2"}, "events": {"message.exploded"}})
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "message.exploded") || !strings.Contains(p.Body, `id="webhook-form"`) {
			t.Errorf("unknown event: %d %s", p.Status, text(p.Body))
		}
	})

	p = b.Submit("/webhooks/erp", "/webhooks/erp/delete", nil)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("delete: %d", p.Status)
	}
	if _, err := e.Store.Webhook(ctx, "erp"); envoi.ErrorCode(err) != envoi.ENotFound {
		t.Errorf("after delete: %v", err)
	}
}

func TestWebhooksRender(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	must(t, e.Store.PutWebhook(context.Background(), &envoi.Webhook{Code: "erp", URL: "https://erp.example/envoi", Events: []string{envoi.EventMessageSent}}))
	want := map[string]map[string]string{
		"en": {"/webhooks": "Webhooks", "/webhooks/new": "New webhook", "/webhooks/erp": "Signing secret"},
		"fr": {"/webhooks": "Webhooks", "/webhooks/new": "Nouveau webhook", "/webhooks/erp": "Secret de signature"},
		"es": {"/webhooks": "Webhooks", "/webhooks/new": "Nuevo webhook", "/webhooks/erp": "Secreto de firma"},
	}
	for _, lang := range envoi.Languages {
		t.Run(lang, func(t *testing.T) { renders(t, e, lang, want[lang]) })
	}
}
