package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"envoi"
)

// PutReportTemplate inserts or replaces an administrator's report template.
// The caller validates the body (the report package knows the format).
func (s *Store) PutReportTemplate(ctx context.Context, t *envoi.ReportTemplate) error {
	if !envoi.ValidCode(t.Name) {
		return envoi.FieldError(envoi.EInvalidInput, "name", "%q is not a valid template name", t.Name)
	}
	now := s.nowUTC()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO report_templates (name, body, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
		t.Name, t.Body, s.ts(now))
	if err != nil {
		return fmt.Errorf("sqlstore: put report template %q: %w", t.Name, err)
	}
	t.UpdatedAt = now
	return nil
}

// ReportTemplate returns the template of that name; ENotFound if none.
func (s *Store) ReportTemplate(ctx context.Context, name string) (*envoi.ReportTemplate, error) {
	var t envoi.ReportTemplate
	err := s.reads().QueryRowContext(ctx, `SELECT name, body, updated_at FROM report_templates WHERE name = $1`, name).
		Scan(&t.Name, &t.Body, scanTime(&t.UpdatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("report template", name)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: report template %q: %w", name, err)
	}
	return &t, nil
}

// ReportTemplates returns every administrator's template by name.
func (s *Store) ReportTemplates(ctx context.Context) ([]*envoi.ReportTemplate, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT name, body, updated_at FROM report_templates ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: report templates: %w", err)
	}
	defer rows.Close()
	var out []*envoi.ReportTemplate
	for rows.Next() {
		var t envoi.ReportTemplate
		if err := rows.Scan(&t.Name, &t.Body, scanTime(&t.UpdatedAt)); err != nil {
			return nil, fmt.Errorf("sqlstore: report templates: %w", err)
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// DeleteReportTemplate removes a template; ENotFound if none.
func (s *Store) DeleteReportTemplate(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM report_templates WHERE name = $1`, name)
	return affected(res, err, "report template", name)
}
