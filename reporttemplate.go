package envoi

import (
	"context"
	"encoding/json"
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

// ReportTemplateInfo is a report template as the API shows it: its body
// (the declarative layout, JSON), whether it is built in and whether an
// administrator stored one of that name (which is then the one used), and
// the JSON Schema (draft 2020-12) of the data a document of it takes.
type ReportTemplateInfo struct {
	Name       string          `json:"name"`
	Builtin    bool            `json:"builtin"`
	Custom     bool            `json:"custom"`
	Body       json.RawMessage `json:"template"`
	DataSchema map[string]any  `json:"data_schema"`
}
