package main

import (
	"context"

	"envoi"
	"envoi/report"
)

// storedReports renders reports with the built-in templates and with the
// administrators' ones kept in the database, so a template saved through one
// instance is used by every instance at once. A stored template named like a
// built-in one takes its place.
type storedReports struct {
	r     *report.Renderer
	store envoi.ReportTemplateService
}

func (s *storedReports) Render(ctx context.Context, df *envoi.DocumentFlow, company *envoi.Company, req *envoi.ReportRequest) ([]byte, error) {
	name := req.Template
	if name == "" && df != nil {
		name = df.Report
	}
	if name != "" && envoi.ValidCode(name) {
		t, err := s.store.ReportTemplate(ctx, name)
		switch {
		case err == nil:
			tpl, err := report.ParseTemplate(t.Body)
			if err != nil {
				return nil, err
			}
			return s.r.RenderTemplate(ctx, tpl, company, req.Data)
		case envoi.ErrorCode(err) != envoi.ENotFound:
			return nil, err
		}
	}
	return s.r.Render(ctx, df, company, req)
}

// Validate checks a template's body as it will be used.
func (s *storedReports) Validate(body []byte) error {
	_, err := report.ParseTemplate(body)
	return err
}

// Preview renders a template's body (or, when body is empty, the template of
// that name) with data for company.
func (s *storedReports) Preview(ctx context.Context, name string, body []byte, company *envoi.Company, data map[string]any) ([]byte, error) {
	if len(body) == 0 {
		return s.Render(ctx, nil, company, &envoi.ReportRequest{Template: name, Data: data})
	}
	tpl, err := report.ParseTemplate(body)
	if err != nil {
		return nil, err
	}
	return s.r.RenderTemplate(ctx, tpl, company, data)
}

// Builtin names the templates embedded in envoi.
func (s *storedReports) Builtin() []string { return s.r.Names() }
