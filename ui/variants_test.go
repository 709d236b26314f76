package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"envoi"
	"envoi/ui"
)

// TestMailSettingVariantsScreen: the mail-setting screen opens a variant
// for a company and a language from the default's page, saves it, lists
// it on the default's page, and deletes it, the default untouched.
func TestMailSettingVariantsScreen(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	ctx := context.Background()
	must(t, e.Store.PutCompany(ctx, &envoi.Company{Code: "FORTERRO", Name: "Forterro"}))
	must(t, e.Store.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "BL", Subject: "BL [ID_BL]"}))
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)

	if p := b.Get("/mail-settings/BL"); !strings.Contains(p.Body, `id="new-variant"`) {
		t.Fatalf("the default's page has no way to open a variant:\n%s", text(p.Body))
	}
	const path = "/mail-settings/BL?company=FORTERRO&language=en-GB"
	p := b.Get(path)
	if p.Status != 200 || !strings.Contains(p.Body, `id="variant"`) || !strings.Contains(p.Body, `action="/mail-settings/BL?company=FORTERRO&amp;language=en"`) {
		t.Fatalf("variant page: %d\n%s", p.Status, p.Body)
	}
	if p := b.Submit(path, path, url.Values{"subject": {"Forterro EN [ID_BL]"}, "priority": {"normal"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("save variant: %d %s", p.Status, text(p.Body))
	}
	v, err := e.Store.MailSettingVariant(ctx, "BL", "FORTERRO", "en")
	if err != nil || v.Subject != "Forterro EN [ID_BL]" {
		t.Fatalf("stored variant: %+v, %v", v, err)
	}
	if d, _ := e.Store.MailSetting(ctx, "BL"); d.Subject != "BL [ID_BL]" {
		t.Errorf("the default changed: %q", d.Subject)
	}
	if p := b.Get("/mail-settings/BL"); !strings.Contains(p.Body, "Forterro EN [ID_BL]") {
		t.Errorf("the default's page does not list the variant:\n%s", text(p.Body))
	}
	if p := b.Submit(path, "/mail-settings/BL/delete?company=FORTERRO&language=en", nil); p.Status != http.StatusSeeOther {
		t.Fatalf("delete variant: %d", p.Status)
	}
	if _, err := e.Store.MailSettingVariant(ctx, "BL", "FORTERRO", "en"); envoi.ErrorCode(err) != envoi.EMailSettingNotFound {
		t.Errorf("after delete: %v", err)
	}
	if _, err := e.Store.MailSetting(ctx, "BL"); err != nil {
		t.Errorf("the default went with its variant: %v", err)
	}
	if p := b.Get("/mail-settings/BL?language=not+a+language"); p.Status != http.StatusBadRequest {
		t.Errorf("a bad language: %d, want 400", p.Status)
	}
}

// TestDocumentFlowNamesInUILanguage: the catalogue, mail-setting and
// file-name screens name the built-in flows in the UI's language.
func TestDocumentFlowNamesInUILanguage(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	for path, want := range map[string]string{
		"/document-flows?lang=fr": "Bon de livraison", "/mail-settings?lang=es": "Albarán de entrega",
		"/file-names?lang=fr": "Facture client", "/mail-settings/BL?lang=es": "Albarán de entrega",
	} {
		if p := b.Get(path); p.Status != 200 || !strings.Contains(p.Body, want) {
			t.Errorf("%s: %d, want %q on the page", path, p.Status, want)
		}
	}
}
