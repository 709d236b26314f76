package http

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"envoi"
)

// Reports checks, previews and lists report templates (cmd wires the report
// package behind it).
type Reports interface {
	Validate(body []byte) error
	Preview(ctx context.Context, name string, body []byte, company *envoi.Company, data map[string]any) ([]byte, error)
	Builtin() []string
	// Describe returns the template of that name, stored or built in, with
	// the JSON Schema of its data; ENotFound when there is none.
	Describe(ctx context.Context, name string) (*envoi.ReportTemplateInfo, error)
}

type reportTemplateOutput struct {
	Name    string          `json:"name"`
	Builtin bool            `json:"builtin"`
	Custom  bool            `json:"custom"`
	Body    json.RawMessage `json:"template,omitempty"`
}

func (s *Server) listReportTemplates(w http.ResponseWriter, r *http.Request) {
	custom, err := s.Store.ReportTemplates(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	byName := map[string]*reportTemplateOutput{}
	for _, n := range s.Reports.Builtin() {
		byName[n] = &reportTemplateOutput{Name: n, Builtin: true}
	}
	for _, t := range custom {
		o := byName[t.Name]
		if o == nil {
			o = &reportTemplateOutput{Name: t.Name}
			byName[t.Name] = o
		}
		o.Custom = true
	}
	out := make([]*reportTemplateOutput, 0, len(byName))
	for _, o := range byName {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// getReportTemplate answers a template, an administrator's or a built-in
// one, with the JSON Schema (draft 2020-12) of the data it takes.
func (s *Server) getReportTemplate(w http.ResponseWriter, r *http.Request) {
	if s.Reports == nil {
		// Without the report package, the stored templates only.
		t, err := s.Store.ReportTemplate(r.Context(), r.PathValue("name"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, reportTemplateOutput{Name: t.Name, Custom: true, Body: t.Body})
		return
	}
	d, err := s.Reports.Describe(r.Context(), r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// putReportTemplate stores an administrator's template, validated first:
// a template that would fail at send time is refused when saved.
func (s *Server) putReportTemplate(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if err := s.decode(w, r, &raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Reports.Validate(raw); err != nil {
		s.writeError(w, r, err)
		return
	}
	t := &envoi.ReportTemplate{Name: r.PathValue("name"), Body: raw}
	if err := s.Store.PutReportTemplate(r.Context(), t); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, reportTemplateOutput{Name: t.Name, Custom: true, Body: t.Body})
}

func (s *Server) deleteReportTemplate(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteReportTemplate(r.Context(), r.PathValue("name")))
}

type reportPreviewInput struct {
	Name     string          `json:"name"`
	Template json.RawMessage `json:"template"`
	Company  string          `json:"company"`
	Data     map[string]any  `json:"data"`
}

// previewReport renders a template — saved, built-in, or given inline — to
// PDF with the data given, or with sample data when none is; nothing is
// stored.
func (s *Server) previewReport(w http.ResponseWriter, r *http.Request) {
	var in reportPreviewInput
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.Name == "" && len(in.Template) == 0 {
		s.writeError(w, r, envoi.FieldError(envoi.EInvalidInput, "name", "give the name of a template or a template"))
		return
	}
	var company *envoi.Company
	if in.Company != "" {
		c, err := s.Store.Company(r.Context(), in.Company)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		company = c
	}
	// Rendering a PDF takes a turn of the gate in front of composing.
	done, err := s.admitWork(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pdf, err := s.Reports.Preview(r.Context(), in.Name, in.Template, company, in.Data)
	done()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	_, _ = w.Write(pdf)
}

// checkReportTemplate refuses a document flow's report that names no
// built-in nor stored template ("" is none: the flow has no report).
func (s *Server) checkReportTemplate(ctx context.Context, name string) error {
	if name == "" || s.Reports == nil || slices.Contains(s.Reports.Builtin(), name) {
		return nil
	}
	_, err := s.Store.ReportTemplate(ctx, name)
	if envoi.ErrorCode(err) == envoi.ENotFound {
		return envoi.FieldError(envoi.EInvalidInput, "report", "there is no report template %q (built-in: %s); store it first with PUT /v1/report-templates/%s", name, strings.Join(s.Reports.Builtin(), ", "), name)
	}
	return err
}
