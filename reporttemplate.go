package envoi

import (
	"context"
	"time"
)

// ReportTemplate is a report layout an administrator added: a declarative
// template (JSON) in the report package's format, validated when saved,
// used like the built-in ones by its name.
type ReportTemplate struct {
	Name      string    `json:"name"`
	Body      []byte    `json:"-"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ReportTemplateService stores administrators' report templates.
// ReportTemplate returns ENotFound when there is none of that name.
type ReportTemplateService interface {
	PutReportTemplate(ctx context.Context, t *ReportTemplate) error
	ReportTemplate(ctx context.Context, name string) (*ReportTemplate, error)
	ReportTemplates(ctx context.Context) ([]*ReportTemplate, error)
	DeleteReportTemplate(ctx context.Context, name string) error
}
