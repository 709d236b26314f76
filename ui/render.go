package ui

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"envoi"
)

type viewTemplate = template.Template

// views are the pages of the UI: templates/<name>.html, each defining
// "title" and "content" inside templates/layout.html. fragments are
// rendered alone (the live preview).
var (
	views = []string{
		"login", "forgot", "reset", "error", "home", "account",
		"flows", "flow", "operators", "operator", "groups", "group", "companies", "company",
		"documentflows", "documentflow", "mailsettings", "mailsetting", "filenames", "filename",
		"messages", "message", "tokens", "apikeys", "users", "user", "settings",
		"webhooks", "webhook",
	}
	fragments = []string{"preview", "testresult"}
)

// viewSet holds the views of every language, each parsed on its first
// use: a language's set of pages, parsed, holds about 4 MB of templates,
// which an instance that only sends (its UI unvisited, or visited in one
// language) need not keep. parseViews checks every view at start.
type viewSet struct {
	fsys fs.FS
	cat  catalogue

	mu     sync.Mutex
	parsed map[[2]string]*viewTemplate // language, view
}

// parseViews checks that every view and fragment parses and defines its
// blocks (a missing view, or a view without its blocks, is an error), and
// returns the set that parses them again, for each language, when first
// used. The templates parsed for the check are left to the garbage
// collector.
func parseViews(fsys fs.FS, cat catalogue) (*viewSet, error) {
	vs := &viewSet{fsys: fsys, cat: cat, parsed: map[[2]string]*viewTemplate{}}
	for _, v := range append(slices.Clone(views), fragments...) {
		if _, err := vs.parse(envoi.Languages[0], v); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

// get returns view (or fragment) name in lang, parsing it the first time.
func (vs *viewSet) get(lang, name string) (*viewTemplate, error) {
	if !slices.Contains(envoi.Languages, lang) {
		// Only the UI's languages are kept (a page's language is one).
		lang = envoi.Languages[0]
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	k := [2]string{lang, name}
	if t := vs.parsed[k]; t != nil {
		return t, nil
	}
	t, err := vs.parse(lang, name)
	if err != nil {
		return nil, err
	}
	vs.parsed[k] = t
	return t, nil
}

// parse parses view (or fragment) name with "t" bound to lang's
// catalogue, and checks its blocks.
func (vs *viewSet) parse(lang, name string) (*viewTemplate, error) {
	if slices.Contains(fragments, name) {
		t, err := template.New(name).Funcs(funcs(vs.cat, lang)).ParseFS(vs.fsys, "templates/partials.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: fragment %s: %w", name, err)
		}
		if t.Lookup("fragment") == nil {
			return nil, fmt.Errorf("ui: fragment %s defines no \"fragment\"", name)
		}
		return t, nil
	}
	if !slices.Contains(views, name) {
		return nil, fmt.Errorf("ui: no view %s", name)
	}
	t, err := template.New(name).Funcs(funcs(vs.cat, lang)).ParseFS(vs.fsys, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("ui: view %s: %w", name, err)
	}
	for _, block := range []string{"layout", "title", "content"} {
		if t.Lookup(block) == nil {
			return nil, fmt.Errorf("ui: view %s defines no %q", name, block)
		}
	}
	return t, nil
}

func funcs(cat catalogue, lang string) template.FuncMap {
	return template.FuncMap{
		"t": func(key string, args ...any) string { return cat.text(lang, key, args...) },
		// tor is the text of key, or fallback when the catalogue has none
		// (names that come from elsewhere: test steps, provider codes).
		"tor": func(key, fallback string) string {
			if t, ok := cat.lookup(lang, key); ok {
				return t
			}
			return fallback
		},
		"errmsg": func(code string) string { return envoi.Describe(code, lang).Message },
		// stepdetail is a flow test step's text in the page's language.
		"stepdetail": func(detail string) string { return stepDetail(cat, lang, detail) },
		"remedy":     func(code string) string { return envoi.Describe(code, lang).Remedy },
		"date":       formatTime,
		// when is a time the page's script shows in the viewer's zone
		// (its text, UTC, is what shows without the script).
		"when": func(t time.Time) template.HTML {
			if t.IsZero() {
				return "—"
			}
			return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `">` + template.HTMLEscapeString(formatTime(t)) + `</time>`)
		},
		"has": func(list []string, s string) bool {
			for _, x := range list {
				if x == s {
					return true
				}
			}
			return false
		},
		"join": strings.Join,
		"size": formatSize,
		"lang": func() string { return lang },
	}
}

// formatTime shows a time in UTC to the minute; "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// page is what every view receives: D is the view's own data.
type page struct {
	Lang  string
	Langs []string
	User  *envoi.User
	CSRF  string
	Flash *flashView
	Err   *errView
	// Fields are the form's wrong fields, each shown next to its input
	// (the page's script places them; the list stays under the error).
	Fields []fieldErr
	Nav    string
	Path   string
	D      any
}

// errView is an error as a person reads it: the catalogue's message and
// remedy in the page's language, and the specifics (the field, the
// provider's or server's text).
type errView struct {
	Code    string
	Message string
	Remedy  string
	Reason  string
	Field   string
	// Fields are the wrong fields, each with its fix (page.Fields).
	Fields []fieldErr
}

func (s *Server) errView(err error, lang string) *errView {
	if err == nil {
		return nil
	}
	e := envoi.AsError(err)
	if e.Code == envoi.EInternal {
		s.logger().Error("ui: internal error", "err", err)
		e = envoi.Errorf(envoi.EInternal, "internal error")
	}
	l := e.Localize(lang)
	v := &errView{Code: l.Code, Message: l.Message, Remedy: l.Remedy}
	if r, ok := l.Details["reason"].(string); ok {
		v.Reason = r
	}
	if t, ok := l.Details["provider_text"].(string); ok && t != "" && !strings.Contains(v.Reason, t) {
		v.Reason = strings.TrimSpace(v.Reason + " — " + t)
	}
	if t, ok := l.Details["server_text"].(string); ok && t != "" && !strings.Contains(v.Reason, t) {
		v.Reason = strings.TrimSpace(v.Reason + " — " + t)
	}
	if f, ok := l.Details["field"].(string); ok {
		v.Field = f
	}
	return v
}

// newPage returns the page of r with its language, user, form token and
// pending flash message.
func (s *Server) newPage(w http.ResponseWriter, r *http.Request, nav string, data any) *page {
	p := &page{Lang: s.language(w, r), Langs: envoi.Languages, User: current(r), Nav: nav, Path: r.URL.Path, D: data}
	if p.User != nil {
		p.CSRF = csrfOf(r)
	} else {
		p.CSRF = s.anonCSRF(w, r)
	}
	p.Flash = s.takeFlash(w, r, p.Lang)
	return p
}

// render writes view with p, status 200 unless told.
func (s *Server) render(w http.ResponseWriter, status int, view string, p *page) {
	t, err := s.views.get(p.Lang, view)
	var buf bytes.Buffer
	if err == nil {
		err = t.ExecuteTemplate(&buf, "layout", p)
	}
	if err != nil {
		s.logger().Error("ui: render", "view", view, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderFragment writes a fragment (no layout) for the page's scripts.
func (s *Server) renderFragment(w http.ResponseWriter, lang, name string, data any) {
	var buf bytes.Buffer
	t, err := s.views.get(lang, name)
	if err == nil {
		err = t.ExecuteTemplate(&buf, "fragment", data)
	}
	if err != nil {
		s.logger().Error("ui: render", "fragment", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// renderError answers err as a page: its status, message and remedy.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	p := s.newPage(w, r, "", nil)
	p.Err = s.errView(err, p.Lang)
	s.render(w, envoi.HTTPStatus(p.Err.Code), "error", p)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	what := r.URL.Path
	if len(what) > 100 {
		what = what[:100]
	}
	s.renderError(w, r, envoi.Errorf(envoi.ENotFound, "no page at %s", what))
}

// flash is a message shown once, on the page after a redirect: a
// catalogue key (with one argument) for successes, an error code (with its
// specifics) for failures.
type flash struct {
	Kind   string `json:"k"` // ok or error
	Key    string `json:"m,omitempty"`
	Arg    string `json:"a,omitempty"`
	Code   string `json:"c,omitempty"`
	Reason string `json:"r,omitempty"`
}

type flashView struct {
	Kind   string
	Text   string
	Remedy string
	Reason string
	Code   string
}

func (s *Server) setFlash(w http.ResponseWriter, f flash) {
	if len(f.Reason) > 400 {
		f.Reason = f.Reason[:400] + "…"
	}
	if len(f.Arg) > 200 {
		f.Arg = f.Arg[:200]
	}
	b, _ := json.Marshal(f)
	http.SetCookie(w, s.cookie(flashCookie, s.signed("flash", base64.RawURLEncoding.EncodeToString(b)), 5*time.Minute))
}

// flashError keeps err for the next page.
func (s *Server) flashError(w http.ResponseWriter, err error) {
	v := s.errView(err, "en")
	s.setFlash(w, flash{Kind: "error", Code: v.Code, Reason: v.Reason})
}

func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request, lang string) *flashView {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, s.cookie(flashCookie, "", -1))
	// Signed by envoi: a cookie planted by someone else shows nothing.
	payload, ok := s.verified("flash", c.Value)
	if !ok {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || (f.Kind != "ok" && f.Kind != "error") {
		return nil
	}
	v := &flashView{Kind: f.Kind, Reason: f.Reason, Code: f.Code}
	switch {
	case f.Code != "":
		t := envoi.Describe(f.Code, lang)
		v.Text, v.Remedy = t.Message, t.Remedy
	case f.Key != "":
		t, ok := s.cat.lookup(lang, f.Key)
		if !ok {
			return nil
		}
		if strings.Contains(t, "%s") {
			v.Text = s.cat.text(lang, f.Key, f.Arg)
		} else {
			v.Text = s.cat.text(lang, f.Key)
		}
	default:
		return nil
	}
	return v
}

// done redirects after a change, with a success message.
func (s *Server) done(w http.ResponseWriter, r *http.Request, to, key, arg string) {
	s.setFlash(w, flash{Kind: "ok", Key: key, Arg: arg})
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// failTo redirects after a failed action, with the error.
func (s *Server) failTo(w http.ResponseWriter, r *http.Request, to string, err error) {
	s.flashError(w, err)
	http.Redirect(w, r, to, http.StatusSeeOther)
}
