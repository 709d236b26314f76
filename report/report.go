// Package report renders business documents — delivery notes, invoices,
// credit notes, quotes, order acknowledgements, supplier orders and their
// reminders — to PDF [état], from a declarative template and the
// document's data, in the company's language and currency.
//
// A template declares its parameters; data that lacks some fails before
// anything is drawn with report_missing_parameters naming each one
// (customer.name, lines[3].quantity). Totals are computed by envoi from the
// lines, exactly (see ComputeTotals for the rounding rule). Fonts are
// embedded (DejaVu Sans Condensed, see fonts/LICENSE), so accents, ñ, ç and
// € print the same everywhere.
package report

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"envoi"
)

//go:embed templates/*.json
var builtinFS embed.FS

// Names of the built-in templates.
const (
	DeliveryNote          = "delivery_note"
	Invoice               = "invoice"
	CreditNote            = "credit_note"
	Quote                 = "quote"
	OrderAck              = "order_ack"
	SupplierOrder         = "supplier_order"
	SupplierOrderReminder = "supplier_order_reminder"
)

// builtins parses the embedded templates once; they are part of the
// program, and a test parses each of them.
var builtins = sync.OnceValues(func() (map[string]*Template, error) {
	out := map[string]*Template{}
	entries, err := fs.ReadDir(builtinFS, "templates")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := builtinFS.ReadFile("templates/" + e.Name())
		if err != nil {
			return nil, err
		}
		t, err := ParseTemplate(b)
		if err != nil {
			return nil, fmt.Errorf("report: built-in template %s: %w", e.Name(), err)
		}
		out[strings.TrimSuffix(e.Name(), path.Ext(e.Name()))] = t
	}
	return out, nil
})

// Renderer renders reports from the built-in templates and the ones
// registered on it. The zero value is ready to use; it is safe for
// concurrent use.
type Renderer struct {
	// Now gives the creation date written into each PDF; time.Now when nil.
	// Fix it and the output is byte for byte reproducible.
	Now func() time.Time

	mu     sync.RWMutex
	custom map[string]*Template
	logos  logoCache
}

// Render renders the report req asks for: the template req.Template, or
// the document flow's default (df.Report) when it is empty, filled with
// req.Data, for company (its language, currency, logo and address).
// Returns EInvalidInput (field "report.template") when there is no such
// template, EReportMissingParameters naming each missing parameter, and
// EInvalidInput naming the parameters of the wrong type.
func (r *Renderer) Render(ctx context.Context, df *envoi.DocumentFlow, company *envoi.Company, req *envoi.ReportRequest) ([]byte, error) {
	if req == nil {
		return nil, envoi.FieldError(envoi.EInvalidInput, "report", "no report requested")
	}
	name := req.Template
	if name == "" && df != nil {
		name = df.Report
	}
	if name == "" {
		flow := ""
		if df != nil {
			flow = df.Code
		}
		return nil, envoi.FieldError(envoi.EInvalidInput, "report.template", "no report template named, and document flow %q has no default report", flow)
	}
	t, err := r.Template(name)
	if err != nil {
		return nil, envoi.FieldError(envoi.EInvalidInput, "report.template", "there is no report template %q (templates: %s)", name, strings.Join(r.Names(), ", ")).WithDetail("template", name)
	}
	return r.render(ctx, t, company, req.Data)
}

// RenderTemplate renders t, which need not be registered, with data for
// company: the preview of a template being written. Returns
// EReportTemplateInvalid when t is not valid, and the errors of Render.
func (r *Renderer) RenderTemplate(ctx context.Context, t *Template, company *envoi.Company, data map[string]any) ([]byte, error) {
	if t == nil {
		return nil, envoi.Errorf(envoi.EReportTemplateInvalid, "no template")
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return r.render(ctx, t.clone(), company, data)
}

// Register makes t available under name, replacing a custom template of
// that name; a custom template named like a built-in one is used instead
// of it. t is copied: changing it afterwards changes nothing. Returns
// EInvalidInput for a name that is not a code, EReportTemplateInvalid when
// t is not valid.
func (r *Renderer) Register(name string, t *Template) error {
	if !envoi.ValidCode(name) {
		return envoi.FieldError(envoi.EInvalidInput, "name", "%q is not a valid template name (letters, digits, '_', '-', '.')", name)
	}
	if t == nil {
		return envoi.Errorf(envoi.EReportTemplateInvalid, "no template")
	}
	if err := t.Validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.custom == nil {
		r.custom = map[string]*Template{}
	}
	r.custom[name] = t.clone()
	return nil
}

// Unregister removes the custom template name; a built-in template it
// replaced is used again.
func (r *Renderer) Unregister(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.custom, name)
}

// Template returns a copy of the template name: the custom one, else the
// built-in one. Returns ENotFound when there is neither.
func (r *Renderer) Template(name string) (*Template, error) {
	r.mu.RLock()
	t := r.custom[name]
	r.mu.RUnlock()
	if t == nil {
		b, err := builtins()
		if err != nil {
			return nil, envoi.AsError(err)
		}
		t = b[name]
	}
	if t == nil {
		return nil, envoi.Errorf(envoi.ENotFound, "no report template %q", name).WithDetail("template", name)
	}
	return t.clone(), nil
}

// Names returns the names of every template, built-in and custom, sorted.
func (r *Renderer) Names() []string {
	var names []string
	if b, err := builtins(); err == nil {
		for n := range b {
			names = append(names, n)
		}
	}
	r.mu.RLock()
	for n := range r.custom {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	r.mu.RUnlock()
	sort.Strings(names)
	return names
}

// render checks data against t, computes the totals, then draws.
func (r *Renderer) render(ctx context.Context, t *Template, company *envoi.Company, data map[string]any) (out []byte, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if company == nil {
		company = &envoi.Company{}
	}
	lang := company.DocumentLanguage()
	cur, err := lookupCurrency(company.Currency)
	if err != nil {
		return nil, err
	}
	vals, err := resolve(t, data)
	if err != nil {
		return nil, err
	}
	totals := map[string]*Totals{}
	for _, p := range t.Parameters {
		if ls, ok := vals[p.Name].([]line); ok {
			tt, err := computeTotals(ls, cur)
			if err != nil {
				return nil, err
			}
			totals[p.Name] = tt
		}
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	defer func() {
		// fpdf reports most faults as errors, but not all: a damaged image
		// can make it panic. A bad document must not take the server down.
		if p := recover(); p != nil {
			out, err = nil, envoi.Errorf(envoi.EInternal, "report: rendering failed: %v", p)
		}
	}()
	d := &doc{t: t, vals: vals, totals: totals, company: company, logos: &r.logos, lang: lang, cur: cur, ctx: ctx}
	var buf bytes.Buffer
	if err := d.draw(&buf, now()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
