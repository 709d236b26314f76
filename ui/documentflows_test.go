package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"envoi"
	"envoi/ui"
)

func TestDocumentFlows(t *testing.T) {
	e, b := adminBrowser(t)
	ctx := context.Background()

	list := b.Get("/document-flows")
	if list.Status != 200 || !strings.Contains(list.Body, `href="/document-flows/BL"`) || !strings.Contains(list.Body, `href="/mail-settings/BL"`) || !strings.Contains(list.Body, `href="/file-names/BL"`) {
		t.Fatalf("list: want BL with links to its mail setting and file name: %d %s", list.Status, text(list.Body))
	}
	if !strings.Contains(text(list.Body), "BL Delivery note [SOCIETE] [ID_BL] [CLIENT] [DATE] built in") {
		t.Errorf("list: BL's row does not show its keywords and that it is built in: %s", text(list.Body))
	}
	if !strings.Contains(list.Body, "Only the built-in flows so far") {
		t.Error("list: no hint that only the built-in flows exist")
	}
	if p := b.Get("/"); !strings.Contains(p.Body, `href="/document-flows"`) {
		t.Error("the menu has no Document flows entry")
	}

	form := url.Values{"code": {"RETOUR"}, "name": {"Return note"}, "keywords": {"SOCIETE, [ID_RETOUR]  CLIENT;DATE\nSOCIETE"}}
	p := b.Submit("/document-flows/new", "/document-flows", form)
	if p.Status != http.StatusSeeOther || p.Location != "/document-flows/RETOUR" {
		t.Fatalf("create: %d → %q %s", p.Status, p.Location, text(p.Body))
	}
	if page := b.Get(p.Location); !strings.Contains(page.Body, "Document flow RETOUR saved.") || !strings.Contains(page.Body, `action="/document-flows/RETOUR/delete"`) {
		t.Errorf("after create: no flash or no delete form: %s", text(page.Body))
	}
	d, err := e.Store.DocumentFlow(ctx, "RETOUR")
	must(t, err)
	if want := []string{"SOCIETE", "ID_RETOUR", "CLIENT", "DATE"}; d.Name != "Return note" || !slices.Equal(d.Keywords, want) || d.Builtin {
		t.Errorf("stored %+v, want Return note with %v, not built in", d, want)
	}

	cases := []struct {
		name   string
		path   string
		form   url.Values
		status int
		want   []string
	}{
		{"ErrBadCode", "/document-flows", url.Values{"code": {"RE TOUR"}, "keywords": {"SOCIETE"}}, http.StatusBadRequest, []string{envoi.EInvalidInput, "not a valid code"}},
		{"ErrDuplicate", "/document-flows", url.Values{"code": {"BL"}, "name": {"Mine"}, "keywords": {"SOCIETE"}}, http.StatusConflict, []string{envoi.EConflict, "already exists"}},
		{"ErrBadKeyword", "/document-flows", url.Values{"code": {"AVOIR_FOURN"}, "keywords": {"SOCIETE id_avoir"}}, http.StatusBadRequest, []string{envoi.EInvalidInput, `"id_avoir" is not a keyword`, `value="SOCIETE id_avoir"`}},
		{"ErrBadKeywordOnEdit", "/document-flows/RETOUR", url.Values{"name": {"Return note"}, "keywords": {"SOCIETE 9LIVES"}}, http.StatusBadRequest, []string{envoi.EInvalidInput, `"9LIVES" is not a keyword`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.Submit("/document-flows/new", c.path, c.form)
			if p.Status != c.status || !strings.Contains(p.Body, `id="docflow-form"`) {
				t.Errorf("status %d, want %d with the form: %s", p.Status, c.status, text(p.Body))
			}
			for _, w := range c.want {
				if !strings.Contains(p.Body, w) && !strings.Contains(text(p.Body), w) {
					t.Errorf("the answer lacks %q: %s", w, text(p.Body))
				}
			}
		})
	}
	if _, err := e.Store.DocumentFlow(ctx, "AVOIR_FOURN"); envoi.ErrorCode(err) != envoi.ENotFound {
		t.Errorf("a flow with a bad keyword was stored: %v", err)
	}
	if bl, _ := e.Store.DocumentFlow(ctx, "BL"); bl.Name != "Delivery note" || !bl.Builtin {
		t.Errorf("a duplicate changed BL: %+v", bl)
	}
	if d, _ := e.Store.DocumentFlow(ctx, "RETOUR"); len(d.Keywords) != 4 {
		t.Errorf("a refused edit changed the keywords: %v", d.Keywords)
	}

	t.Run("BuiltinEdit", func(t *testing.T) {
		page := b.Get("/document-flows/BL")
		if !strings.Contains(page.Body, `id="delete-builtin"`) || strings.Contains(page.Body, `action="/document-flows/BL/delete"`) || !strings.Contains(page.Body, "delivery_note") {
			t.Errorf("built-in page: want no delete form, the reason, and its report: %s", text(page.Body))
		}
		p := b.Submit("/document-flows/BL", "/document-flows/BL", url.Values{"name": {"Bon de livraison"}, "keywords": {"SOCIETE ID_BL CLIENT DATE TRANSPORTEUR"}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("edit BL: %d %s", p.Status, text(p.Body))
		}
		bl, err := e.Store.DocumentFlow(ctx, "BL")
		must(t, err)
		if bl.Name != "Bon de livraison" || !bl.HasKeyword("TRANSPORTEUR") || !bl.Builtin || bl.Report != "delivery_note" {
			t.Errorf("BL after edit: %+v; want renamed, the new keyword, still built in with its report", bl)
		}
	})
	t.Run("ErrDeleteBuiltin", func(t *testing.T) {
		p := b.Submit("/document-flows/BL", "/document-flows/BL/delete", nil)
		if p.Status != http.StatusSeeOther || p.Location != "/document-flows/BL" {
			t.Fatalf("delete BL: %d → %q", p.Status, p.Location)
		}
		if page := b.Get(p.Location); !strings.Contains(page.Body, "built in and cannot be deleted") || !strings.Contains(page.Body, envoi.EInvalidInput) {
			t.Errorf("the refusal does not say why: %s", text(page.Body))
		}
		if _, err := e.Store.DocumentFlow(ctx, "BL"); err != nil {
			t.Errorf("BL deleted: %v", err)
		}
	})
	t.Run("ErrKeywordInUse", func(t *testing.T) {
		must(t, e.Store.PutMailSetting(ctx, &envoi.MailSetting{DocumentFlow: "RETOUR", Subject: "[SOCIETE] retour [ID_RETOUR]", Priority: envoi.PriorityNormal}))
		p := b.Submit("/document-flows/RETOUR", "/document-flows/RETOUR", url.Values{"name": {"Return note"}, "keywords": {"SOCIETE CLIENT"}})
		if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, envoi.EUnknownKeyword) || !strings.Contains(p.Body, "[ID_RETOUR]") {
			t.Errorf("removing a keyword in use: %d %s", p.Status, text(p.Body))
		}
		if d, _ := e.Store.DocumentFlow(ctx, "RETOUR"); !d.HasKeyword("ID_RETOUR") {
			t.Error("the keyword in use was removed")
		}
	})

	list = b.Get("/document-flows")
	if !strings.Contains(text(list.Body), "RETOUR Return note [SOCIETE] [ID_RETOUR] [CLIENT] [DATE] added set") || strings.Contains(list.Body, "Only the built-in flows so far") {
		t.Errorf("list with a custom flow: %s", text(list.Body))
	}

	p = b.Submit("/document-flows/RETOUR", "/document-flows/RETOUR/delete", nil)
	if p.Status != http.StatusSeeOther || p.Location != "/document-flows" {
		t.Fatalf("delete: %d → %q", p.Status, p.Location)
	}
	if page := b.Get("/document-flows"); !strings.Contains(page.Body, "Deleted.") || strings.Contains(page.Body, `href="/document-flows/RETOUR"`) {
		t.Errorf("after delete: %s", text(page.Body))
	}
	if _, err := e.Store.DocumentFlow(ctx, "RETOUR"); envoi.ErrorCode(err) != envoi.ENotFound {
		t.Errorf("flow after delete: %v, want not_found", err)
	}
	if _, err := e.Store.MailSetting(ctx, "RETOUR"); err == nil {
		t.Error("the mail setting of a deleted flow is still there")
	}
	if p := b.Get("/document-flows/RETOUR"); p.Status != http.StatusNotFound {
		t.Errorf("a deleted flow's page: %d, want 404", p.Status)
	}
}

func TestParseKeywords(t *testing.T) {
	e, b := adminBrowser(t)
	cases := []struct {
		name, field string
		want        []string
	}{
		{"Commas", "A,B , C", []string{"A", "B", "C"}},
		{"Spaces", "  A\tB\r\nC ", []string{"A", "B", "C"}},
		{"Brackets", "[A] [B],[C]", []string{"A", "B", "C"}},
		{"Empty", " , ; ", []string{}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := "F" + string(rune('0'+i))
			p := b.Submit("/document-flows/new", "/document-flows", url.Values{"code": {code}, "keywords": {c.field}})
			if p.Status != http.StatusSeeOther {
				t.Fatalf("create: %d %s", p.Status, text(p.Body))
			}
			d, err := e.Store.DocumentFlow(context.Background(), code)
			must(t, err)
			if !slices.Equal(d.Keywords, c.want) {
				t.Errorf("keywords %q stored as %q, want %q", c.field, d.Keywords, c.want)
			}
		})
	}
}

func TestDocumentFlowsRender(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	ctx := context.Background()
	must(t, e.Store.PutDocumentFlow(ctx, &envoi.DocumentFlow{Code: "RETOUR", Name: "Return note", Keywords: []string{"SOCIETE", "ID_RETOUR"}}))
	must(t, e.Store.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "RETOUR", Pattern: "Retour_[ID_RETOUR]"}))
	want := map[string]map[string]string{
		"en": {"/document-flows": "Document flows", "/document-flows/new": "New document flow", "/document-flows/BL": "can be renamed and its keywords changed, not deleted", "/document-flows/RETOUR": "Retour_[ID_RETOUR]"},
		"fr": {"/document-flows": "Flux de documents", "/document-flows/new": "Nouveau flux de documents", "/document-flows/BL": "on peut le renommer et changer ses mots clés, pas le supprimer", "/document-flows/RETOUR": "Son paramétrage de mail et sa règle de nom de fichier sont supprimés avec lui"},
		"es": {"/document-flows": "Flujos de documentos", "/document-flows/new": "Nuevo flujo de documentos", "/document-flows/BL": "se puede renombrar y cambiar sus palabras clave, pero no eliminar", "/document-flows/RETOUR": "Su configuración de correo y su regla de nombre de archivo se eliminan con él"},
	}
	for _, lang := range envoi.Languages {
		t.Run(lang, func(t *testing.T) { renders(t, e, lang, want[lang]) })
	}
}
