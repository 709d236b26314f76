package report

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"sync/atomic"

	"envoi"
)

// TemplateStore is where administrators' report templates are kept
// (sqlstore.Store implements it). ReportTemplate returns ENotFound when
// there is none of that name.
type TemplateStore interface {
	ReportTemplate(ctx context.Context, name string) (*envoi.ReportTemplate, error)
}

// Library renders reports with the built-in templates and with the
// administrators' ones kept in Store, so that a template saved through one
// instance is used by every instance at once. A stored template named like
// a built-in one takes its place. Each stored template is parsed once per
// version: the parsed template is kept under its name with the SHA-256 of
// the body it came from, and parsed again only when the stored body
// differs. Renderer and Store are required; a Library is safe for
// concurrent use.
type Library struct {
	Renderer *Renderer
	Store    TemplateStore

	mu     sync.Mutex
	parsed map[string]parsedTemplate
	parses atomic.Int64
}

// parsedTemplate is a stored template as parsed, and the hash of its body.
type parsedTemplate struct {
	sum [sha256.Size]byte
	t   *Template
}

// Render renders the report req asks for, as Renderer.Render does, with
// the stored template of that name when there is one. Returns the stored
// template's EReportTemplateInvalid when it no longer parses, the store's
// errors other than ENotFound, and the errors of Renderer.Render.
func (l *Library) Render(ctx context.Context, df *envoi.DocumentFlow, company *envoi.Company, req *envoi.ReportRequest) ([]byte, error) {
	name := req.Template
	if name == "" && df != nil {
		name = df.Report
	}
	if name != "" && envoi.ValidCode(name) {
		t, err := l.stored(ctx, name)
		switch {
		case err == nil:
			// Parsed templates are valid and render works on a copy.
			return l.Renderer.render(ctx, t.clone(), company, req.Data)
		case envoi.ErrorCode(err) != envoi.ENotFound:
			return nil, err
		}
	}
	return l.Renderer.Render(ctx, df, company, req)
}

// stored returns the parsed stored template name, from the cache when its
// body has not changed. Returns ENotFound when none is stored.
func (l *Library) stored(ctx context.Context, name string) (*Template, error) {
	rt, err := l.Store.ReportTemplate(ctx, name)
	if err != nil {
		if envoi.ErrorCode(err) == envoi.ENotFound {
			l.mu.Lock()
			delete(l.parsed, name)
			l.mu.Unlock()
		}
		return nil, err
	}
	sum := sha256.Sum256(rt.Body)
	l.mu.Lock()
	p, ok := l.parsed[name]
	l.mu.Unlock()
	if ok && p.sum == sum {
		return p.t, nil
	}
	l.parses.Add(1)
	t, err := ParseTemplate(rt.Body)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.parsed == nil {
		l.parsed = map[string]parsedTemplate{}
	}
	l.parsed[name] = parsedTemplate{sum: sum, t: t}
	l.mu.Unlock()
	return t, nil
}

// Validate checks a template's body as it will be used. Returns
// EReportTemplateInvalid naming the fault.
func (l *Library) Validate(body []byte) error {
	_, err := ParseTemplate(body)
	return err
}

// Preview renders a template's body (or, when body is empty, the template
// of that name) with data for company; without data (nil or empty), with
// the template's SampleData. Returns the errors of Validate and of Render.
func (l *Library) Preview(ctx context.Context, name string, body []byte, company *envoi.Company, data map[string]any) ([]byte, error) {
	if len(body) == 0 {
		if len(data) == 0 {
			t, err := l.template(ctx, name)
			if err != nil {
				return nil, err
			}
			return l.Renderer.render(ctx, t, company, t.SampleData())
		}
		return l.Render(ctx, nil, company, &envoi.ReportRequest{Template: name, Data: data})
	}
	t, err := ParseTemplate(body)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		data = t.SampleData()
	}
	return l.Renderer.RenderTemplate(ctx, t, company, data)
}

// template returns a copy of the template of that name that Render would
// use: the stored one, else the Renderer's. Returns EInvalidInput naming
// report.template when there is none, as Render does.
func (l *Library) template(ctx context.Context, name string) (*Template, error) {
	if envoi.ValidCode(name) {
		t, err := l.stored(ctx, name)
		switch {
		case err == nil:
			return t.clone(), nil
		case envoi.ErrorCode(err) != envoi.ENotFound:
			return nil, err
		}
	}
	t, err := l.Renderer.Template(name)
	if err != nil {
		return nil, envoi.FieldError(envoi.EInvalidInput, "report.template", "there is no report template %q (templates: %s)", name, strings.Join(l.Renderer.Names(), ", ")).WithDetail("template", name)
	}
	return t, nil
}

// Builtin names the templates embedded in envoi (and any registered on
// Renderer).
func (l *Library) Builtin() []string { return l.Renderer.Names() }
