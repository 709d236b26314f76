package ui_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"envoi"
	"envoi/ui"
)

// catalogueKey is a catalogue key of the new screens shown as is.
var catalogueKey = regexp.MustCompile(`\b(?:groups?|docflows?|nav|flash|field|action)\.[a-z_]+`)

// renders loads each path as an administrator in lang and checks that the
// page is in that language, holds want, and shows no catalogue key.
func renders(t *testing.T, e *Env, lang string, want map[string]string) {
	t.Helper()
	b := e.Browser()
	b.Lang = lang
	b.SignIn("admin@forterro.example", adminPW)
	for path, w := range want {
		p := b.Get(path)
		if p.Status != http.StatusOK {
			t.Errorf("%s GET %s: %d %s", lang, path, p.Status, text(p.Body))
			continue
		}
		if !strings.Contains(p.Body, `<html lang="`+lang+`">`) {
			t.Errorf("%s GET %s: page not in %s", lang, path, lang)
		}
		visible := text(p.Body)
		if !strings.Contains(visible, w) {
			t.Errorf("%s GET %s: no %q in %s", lang, path, w, visible)
		}
		if k := catalogueKey.FindString(visible); k != "" {
			t.Errorf("%s GET %s shows the catalogue key %q", lang, path, k)
		}
	}
}

func adminBrowser(t *testing.T) (*Env, *Browser) {
	t.Helper()
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	b := e.Browser()
	b.SignIn("admin@forterro.example", adminPW)
	return e, b
}

func TestGroups(t *testing.T) {
	e, b := adminBrowser(t)
	ctx := context.Background()

	if p := b.Get("/groups"); p.Status != 200 || !strings.Contains(p.Body, "No groups yet") || !strings.Contains(p.Body, `href="/groups/new"`) {
		t.Fatalf("empty list: %d %s", p.Status, text(p.Body))
	}
	if p := b.Get("/"); !strings.Contains(p.Body, `href="/groups"`) {
		t.Error("the menu has no Groups entry")
	}

	p := b.Submit("/groups/new", "/groups", url.Values{"code": {"SALES"}, "name": {"Sales"}})
	if p.Status != http.StatusSeeOther || p.Location != "/groups/SALES" {
		t.Fatalf("create: %d → %q %s", p.Status, p.Location, text(p.Body))
	}
	if page := b.Get(p.Location); !strings.Contains(page.Body, "Group SALES saved.") || !strings.Contains(page.Body, `value="Sales"`) {
		t.Errorf("after create: no flash or no name: %s", text(page.Body))
	}
	g, err := e.Store.Group(ctx, "SALES")
	must(t, err)
	if g.Name != "Sales" {
		t.Errorf("stored name %q, want Sales", g.Name)
	}

	t.Run("ErrBadCode", func(t *testing.T) {
		p := b.Submit("/groups/new", "/groups", url.Values{"code": {"-sales"}, "name": {"Bad"}})
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, envoi.EInvalidInput) || !strings.Contains(p.Body, "not a valid code") || !strings.Contains(p.Body, `id="group-form"`) {
			t.Errorf("bad code: %d %s, want 400 (invalid_input, as in the API) with the form and the error", p.Status, text(p.Body))
		}
		if !strings.Contains(p.Body, `value="Bad"`) {
			t.Error("the form lost the name typed")
		}
		if _, err := e.Store.Group(ctx, "-sales"); envoi.ErrorCode(err) != envoi.ENotFound {
			t.Errorf("a group with a bad code was stored: %v", err)
		}
	})
	t.Run("ErrDuplicate", func(t *testing.T) {
		p := b.Submit("/groups/new", "/groups", url.Values{"code": {"SALES"}, "name": {"Other"}})
		if p.Status != http.StatusConflict || !strings.Contains(p.Body, "already exists") || !strings.Contains(p.Body, `id="group-form"`) {
			t.Errorf("same code again: %d %s, want 409 with the form", p.Status, text(p.Body))
		}
		if g, _ := e.Store.Group(ctx, "SALES"); g.Name != "Sales" {
			t.Errorf("a duplicate overwrote the group: name %q", g.Name)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if p := b.Get("/groups/NOPE"); p.Status != http.StatusNotFound {
			t.Errorf("unknown group: %d, want 404", p.Status)
		}
		if p := b.Submit("/groups/SALES", "/groups/NOPE", url.Values{"name": {"x"}}); p.Status != http.StatusNotFound {
			t.Errorf("save an unknown group: %d, want 404", p.Status)
		}
	})

	if p := b.Submit("/groups/SALES", "/groups/SALES", url.Values{"code": {"IGNORED"}, "name": {"Sales team"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", p.Status, text(p.Body))
	}
	if g, _ := e.Store.Group(ctx, "SALES"); g.Name != "Sales team" {
		t.Errorf("after edit: name %q, want Sales team", g.Name)
	}
	if _, err := e.Store.Group(ctx, "IGNORED"); envoi.ErrorCode(err) != envoi.ENotFound {
		t.Error("editing a group took the code of the form")
	}

	// An operator in the group and a flow that lists it.
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Email: "jdupont@forterro.example", Group: "SALES"}))
	must(t, e.Store.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "O365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Tenant: "contoso", ClientID: "id", Groups: []string{"SALES"}}))
	list := b.Get("/groups")
	row := text(list.Body)
	if !strings.Contains(row, "SALES Sales team 1 O365") || !strings.Contains(list.Body, `href="/auth-flows/O365"`) {
		t.Errorf("list: want SALES with 1 operator on O365: %s", row)
	}
	page := b.Get("/groups/SALES")
	if !strings.Contains(page.Body, `href="/operators/jdupont"`) || !strings.Contains(page.Body, `id="delete-blocked"`) || strings.Contains(page.Body, `action="/groups/SALES/delete"`) {
		t.Errorf("page of a group in use: want its operator, the reason it cannot be deleted, no delete form: %s", text(page.Body))
	}

	// The store refuses to delete a group in use, whatever the page offers;
	// the operator keeps their group.
	deleteRefused := func(t *testing.T, reason string) {
		t.Helper()
		p := b.Submit("/groups/SALES", "/groups/SALES/delete", nil)
		if p.Status != http.StatusSeeOther || p.Location != "/groups/SALES" {
			t.Fatalf("delete refused: %d → %q, want back to the group", p.Status, p.Location)
		}
		page := b.Get(p.Location)
		if !strings.Contains(page.Body, envoi.EInvalidInput) || !strings.Contains(page.Body, reason) || !strings.Contains(page.Body, "Correct the field") {
			t.Errorf("the refusal does not say why (%q) with the catalogue's remedy: %s", reason, text(page.Body))
		}
		if _, err := e.Store.Group(ctx, "SALES"); err != nil {
			t.Errorf("group deleted: %v", err)
		}
	}
	t.Run("ErrDeleteWithOperators", func(t *testing.T) {
		deleteRefused(t, "group SALES has 1 operators")
		if o, _ := e.Store.Operator(ctx, "jdupont"); o.Group != "SALES" {
			t.Errorf("operator's group is %q after a refused delete", o.Group)
		}
	})
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Email: "jdupont@forterro.example"}))
	t.Run("ErrDeleteListedByFlow", func(t *testing.T) { deleteRefused(t, "assigned to flow O365") })
	must(t, e.Store.PutAuthFlow(ctx, &envoi.AuthFlow{Code: "O365", Kind: envoi.KindOAuth2, Preset: envoi.PresetMicrosoft365, Tenant: "contoso", ClientID: "id"}))

	page = b.Get("/groups/SALES")
	if !strings.Contains(page.Body, `action="/groups/SALES/delete"`) || !strings.Contains(page.Body, `data-confirm=`) {
		t.Fatalf("an unused group offers no delete with confirmation: %s", text(page.Body))
	}
	p = b.Submit("/groups/SALES", "/groups/SALES/delete", nil)
	if p.Status != http.StatusSeeOther || p.Location != "/groups" {
		t.Fatalf("delete: %d → %q", p.Status, p.Location)
	}
	if page := b.Get("/groups"); !strings.Contains(page.Body, "Deleted.") || !strings.Contains(page.Body, "No groups yet") {
		t.Errorf("after delete: %s", text(page.Body))
	}
	if _, err := e.Store.Group(ctx, "SALES"); envoi.ErrorCode(err) != envoi.ENotFound {
		t.Errorf("group after delete: %v, want not_found", err)
	}
	if _, err := e.Store.Operator(ctx, "jdupont"); err != nil {
		t.Errorf("deleting a group touched its former operator: %v", err)
	}
}

func TestGroupsRender(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	e.MustUser("admin@forterro.example", envoi.RoleAdmin, "", adminPW)
	ctx := context.Background()
	empty := map[string]map[string]string{
		"en": {"/groups": "No groups yet", "/groups/new": "New group"},
		"fr": {"/groups": "Aucun groupe pour l'instant", "/groups/new": "Nouveau groupe"},
		"es": {"/groups": "Todavía no hay grupos", "/groups/new": "Nuevo grupo"},
	}
	for _, lang := range envoi.Languages {
		t.Run("Empty_"+lang, func(t *testing.T) { renders(t, e, lang, empty[lang]) })
	}
	must(t, e.Store.PutGroup(ctx, &envoi.Group{Code: "SALES", Name: "Sales"}))
	must(t, e.Store.PutGroup(ctx, &envoi.Group{Code: "EMPTY"}))
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Email: "jdupont@forterro.example", Group: "SALES"}))
	full := map[string]map[string]string{
		"en": {"/groups": "no flow", "/groups/SALES": "envoi never moves operators out by itself", "/groups/EMPTY": "deleting it changes nothing for any operator"},
		"fr": {"/groups": "aucun flux", "/groups/SALES": "envoi ne retire jamais les opérateurs de lui-même", "/groups/EMPTY": "le supprimer ne change rien pour aucun opérateur"},
		"es": {"/groups": "ningún flujo", "/groups/SALES": "envoi nunca saca a los operadores por sí mismo", "/groups/EMPTY": "eliminarlo no cambia nada para ningún operador"},
	}
	for _, lang := range envoi.Languages {
		t.Run("Full_"+lang, func(t *testing.T) { renders(t, e, lang, full[lang]) })
	}
}

// TestNewScreensAdminOnly checks that an operator user reaches neither the
// groups nor the document flows, to read or to change.
func TestNewScreensAdminOnly(t *testing.T) {
	e := NewEnv(t, ui.Server{})
	ctx := context.Background()
	must(t, e.Store.PutOperator(ctx, &envoi.Operator{Code: "jdupont", Email: "jdupont@forterro.example", Group: "SALES"}))
	must(t, e.Store.PutDocumentFlow(ctx, &envoi.DocumentFlow{Code: "RETOUR", Keywords: []string{"SOCIETE"}}))
	e.MustUser("jdupont@forterro.example", envoi.RoleOperator, "jdupont", "operator password")
	b := e.Browser()
	b.SignIn("jdupont@forterro.example", "operator password")
	for _, path := range []string{"/groups", "/groups/new", "/groups/SALES", "/document-flows", "/document-flows/new", "/document-flows/RETOUR", "/document-flows/BL"} {
		if p := b.Get(path); p.Status != http.StatusForbidden {
			t.Errorf("operator GET %s: %d, want 403", path, p.Status)
		}
	}
	token := b.CSRF("/operators/jdupont")
	for _, path := range []string{"/groups", "/groups/SALES", "/groups/SALES/delete", "/document-flows", "/document-flows/RETOUR", "/document-flows/RETOUR/delete"} {
		if p := b.Post(path, url.Values{"csrf": {token}, "code": {"HACK"}, "name": {"x"}, "keywords": {"X"}}); p.Status != http.StatusForbidden {
			t.Errorf("operator POST %s: %d, want 403", path, p.Status)
		}
	}
	if own := b.Get("/operators/jdupont"); strings.Contains(own.Body, `href="/groups"`) || strings.Contains(own.Body, `href="/document-flows"`) {
		t.Error("an operator's menu links to the groups or document flows")
	}
	if g, err := e.Store.Group(ctx, "SALES"); err != nil || g.Name != "SALES" {
		t.Errorf("group after an operator's posts: %+v %v", g, err)
	}
	if d, err := e.Store.DocumentFlow(ctx, "RETOUR"); err != nil || d.Name != "" {
		t.Errorf("document flow after an operator's posts: %+v %v", d, err)
	}
	for _, code := range []string{"HACK"} {
		if _, err := e.Store.Group(ctx, code); err == nil {
			t.Error("an operator created a group")
		}
		if _, err := e.Store.DocumentFlow(ctx, code); err == nil {
			t.Error("an operator created a document flow")
		}
	}
}
