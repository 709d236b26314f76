package ui

import (
	"net/http"
	"strings"

	"envoi"
)

// The catalogue of document flows. The built-in ones, seeded by the
// migrations, can be renamed and their keywords changed, as the store
// allows; only the flows the administrator added can be deleted.

func (s *Server) listDocumentFlows(w http.ResponseWriter, r *http.Request) {
	rows, _, err := s.documentRows(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	custom := 0
	for _, row := range rows {
		if !row.Flow.Builtin {
			custom++
		}
	}
	s.render(w, http.StatusOK, "documentflows", s.newPage(w, r, "docflows", documentFlowsData{Rows: rows, Custom: custom}))
}

type documentFlowsData struct {
	Rows   []documentRow
	Custom int
}

type documentFlowData struct {
	Row documentRow
	New bool
	// Keywords is the keywords field as shown: the stored ones, or what
	// was typed when the form comes back with an error.
	Keywords string
}

// parseKeywords splits the keywords field on commas, semicolons and
// spaces; brackets around a keyword, as written in a mail, are dropped.
// Checking them is the domain's (DocumentFlow.Validate).
func parseKeywords(field string) []string {
	out := []string{}
	for _, k := range strings.FieldsFunc(field, func(c rune) bool {
		return c == ',' || c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n'
	}) {
		if k = strings.TrimSuffix(strings.TrimPrefix(k, "["), "]"); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// documentFlowPage shows the form of d; a stored flow shows whether it has
// a mail setting and a file-name rule.
func (s *Server) documentFlowPage(w http.ResponseWriter, r *http.Request, status int, d *envoi.DocumentFlow, isNew bool, keywords string, err error) {
	data := documentFlowData{Row: documentRow{Flow: d}, New: isNew, Keywords: keywords}
	if !isNew {
		ctx := r.Context()
		m, merr := s.Store.MailSetting(ctx, d.Code)
		switch envoi.ErrorCode(merr) {
		case "":
			data.Row.Setting = m
		case envoi.EMailSettingNotFound, envoi.ENotFound:
		default:
			s.renderError(w, r, merr)
			return
		}
		rule, rerr := s.Store.FileNameRule(ctx, d.Code)
		switch envoi.ErrorCode(rerr) {
		case "":
			data.Row.Rule = rule
		case envoi.ENotFound:
		default:
			s.renderError(w, r, rerr)
			return
		}
	}
	p := s.newPage(w, r, "docflows", data)
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "documentflow", p)
}

func (s *Server) newDocumentFlow(w http.ResponseWriter, r *http.Request) {
	s.documentFlowPage(w, r, http.StatusOK, &envoi.DocumentFlow{}, true, "", nil)
}

func (s *Server) editDocumentFlow(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.DocumentFlow(r.Context(), r.PathValue("code"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.documentFlowPage(w, r, http.StatusOK, d, false, strings.Join(d.Keywords, ", "), nil)
}

// saveDocumentFlow creates a document flow or changes the name and
// keywords of one; its report and built-in mark are kept as stored.
func (s *Server) saveDocumentFlow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	code := r.PathValue("code")
	isNew := code == ""
	d := &envoi.DocumentFlow{Code: strings.TrimSpace(r.PostFormValue("code"))}
	var err error
	if isNew {
		switch _, gerr := s.Store.DocumentFlow(ctx, d.Code); {
		case !envoi.ValidCode(d.Code):
			err = envoi.FieldError(envoi.EInvalidInput, "code", "%q is not a valid code (1 to 64 letters, digits, '_', '-' or '.')", d.Code)
		case gerr == nil:
			err = envoi.FieldError(envoi.EConflict, "code", "a document flow with the code %s already exists", d.Code)
		case envoi.ErrorCode(gerr) != envoi.ENotFound:
			err = gerr
		}
	} else if d, err = s.Store.DocumentFlow(ctx, code); err != nil {
		s.renderError(w, r, err)
		return
	}
	keywords := r.PostFormValue("keywords")
	d.Name, d.Keywords = strings.TrimSpace(r.PostFormValue("name")), parseKeywords(keywords)
	d.KeepReport = true // the form has no report: the stored one stays
	if err == nil {
		err = s.Store.PutDocumentFlow(ctx, d)
	}
	if err != nil {
		s.documentFlowPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), d, isNew, keywords, err)
		return
	}
	s.done(w, r, "/document-flows/"+d.Code, "flash.document_flow_saved", d.Code)
}

// deleteDocumentFlow deletes a flow the administrator added, with its mail
// setting and file-name rule; the store refuses a built-in one.
func (s *Server) deleteDocumentFlow(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	if err := s.Store.DeleteDocumentFlow(r.Context(), code); err != nil {
		s.failTo(w, r, "/document-flows/"+code, err)
		return
	}
	s.done(w, r, "/document-flows", "flash.deleted", "")
}
