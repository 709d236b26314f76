package ui

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"envoi"
)

type documentRow struct {
	Flow    *envoi.DocumentFlow
	Setting *envoi.MailSetting
	Rule    *envoi.FileNameRule
}

type documentsData struct {
	Rows       []documentRow
	Configured int
}

// documentRows lists the catalogue of document flows with their mail
// setting and file-name rule, when they have one.
func (s *Server) documentRows(r *http.Request) ([]documentRow, int, error) {
	ctx := r.Context()
	flows, err := s.Store.DocumentFlows(ctx)
	if err != nil {
		return nil, 0, err
	}
	settings, err := s.Store.MailSettings(ctx)
	if err != nil {
		return nil, 0, err
	}
	rules, err := s.Store.FileNameRules(ctx)
	if err != nil {
		return nil, 0, err
	}
	bySetting := map[string]*envoi.MailSetting{}
	for _, m := range settings {
		bySetting[m.DocumentFlow] = m
	}
	byRule := map[string]*envoi.FileNameRule{}
	for _, x := range rules {
		byRule[x.DocumentFlow] = x
	}
	rows := make([]documentRow, 0, len(flows))
	lang := s.language(noCookie{}, r)
	for _, f := range flows {
		rows = append(rows, documentRow{Flow: f.Localized(lang), Setting: bySetting[f.Code], Rule: byRule[f.Code]})
	}
	return rows, len(settings), nil
}

func (s *Server) listMailSettings(w http.ResponseWriter, r *http.Request) {
	rows, n, err := s.documentRows(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.render(w, http.StatusOK, "mailsettings", s.newPage(w, r, "mail", documentsData{Rows: rows, Configured: n}))
}

// sample is a keyword and the value the preview gives it.
type sample struct{ Keyword, Value string }

// sampleValues returns a plausible value for each keyword, for previews.
func (s *Server) sampleValues(keywords []string) (map[string]string, []sample) {
	known := map[string]string{
		"SOCIETE": "FORTERRO", "CLIENT": "Dupont Industrie", "FOURNISSEUR": "Aciers du Rhône",
		"SOUS_TRAITANT": "Usinage Martin", "DATE": s.now().Format("2006-01-02"), "MONTANT": "1 250,00 EUR",
		"UTILISATEUR": "Jeanne Dupont", "LIEN": strings.TrimRight(s.PublicURL, "/") + "/reset?token=…",
		"TITRE": "Procédure qualité", "ARTICLE": "ART-0042", "BANQUE": "Banque de Savoie",
		"PROVEEDOR": "Suministros Ibéricos", "DEMANDEUR": "Jeanne Dupont", "TABLEAU": "Ventes du mois",
	}
	values := map[string]string{}
	list := make([]sample, 0, len(keywords))
	for _, k := range keywords {
		v, ok := known[k]
		if !ok {
			if strings.HasPrefix(k, "ID_") {
				v = "12345"
			} else {
				v = strings.ToLower(k)
			}
		}
		values[k] = v
		list = append(list, sample{k, v})
	}
	return values, list
}

// previewData is the live preview of a mail setting: subject and body
// with the sample values, or the error that stops it.
type previewData struct {
	Subject string
	Body    string
	Samples []sample
	Err     *errView
}

func (s *Server) preview(flow *envoi.DocumentFlow, m *envoi.MailSetting, lang string) previewData {
	values, samples := s.sampleValues(flow.Keywords)
	d := previewData{Samples: samples}
	check := *m
	if err := check.Validate(flow); err != nil {
		d.Err = s.errView(err, lang)
		return d
	}
	var err error
	if d.Subject, err = envoi.Substitute(m.Subject, values, envoi.CleanHeader); err == nil {
		d.Body, err = envoi.Substitute(m.Body, values, nil)
	}
	d.Err = s.errView(err, lang)
	return d
}

type mailSettingData struct {
	Flow    *envoi.DocumentFlow
	Setting *envoi.MailSetting
	Exists  bool
	// Query is "?company=…&language=…" on a variant's page, "" on the
	// default's; Variants lists the flow's variants.
	Query     template.URL
	Variants  []*envoi.MailSetting
	Preview   previewData
	Operators []*envoi.Operator
	Companies []*envoi.Company
	// The full message preview: who it is sent as, and the .eml.
	MsgOperator string
	MsgCompany  string
	MsgLanguage string
	EML         string
	EMLErr      *errView
	// Mail is the composed message as read (its HTML is shown by
	// /mail-settings/{flow}/preview-message/html).
	Mail *mailView
}

// variantQuery reads which variant of a mail setting a page is about
// (?company=, ?language=; both empty for the default) and returns the
// query to carry in its links and forms.
func variantQuery(r *http.Request) (company, language string, query template.URL, err error) {
	q := r.URL.Query()
	company, language = strings.TrimSpace(q.Get("company")), strings.TrimSpace(q.Get("language"))
	if company != "" && !envoi.ValidCode(company) {
		return "", "", "", envoi.FieldError(envoi.EInvalidInput, "company", "%q is not a valid code", company)
	}
	if language != "" {
		if language, err = envoi.MailLanguage(language); err != nil {
			return "", "", "", err
		}
	}
	if company == "" && language == "" {
		return "", "", "", nil
	}
	v := url.Values{}
	if company != "" {
		v.Set("company", company)
	}
	if language != "" {
		v.Set("language", language)
	}
	return company, language, template.URL("?" + v.Encode()), nil
}

func mailSettingForm(r *http.Request, flow string) *envoi.MailSetting {
	company, language, _, _ := variantQuery(r)
	return &envoi.MailSetting{
		DocumentFlow: flow, Company: company, Language: language,
		Subject:      strings.TrimSpace(r.PostFormValue("subject")),
		Body:         r.PostFormValue("body"),
		Priority:     r.PostFormValue("priority"),
		ReadReceipt:  r.PostFormValue("read_receipt") == "on",
		CopyToSender: r.PostFormValue("copy_to_sender") == "on",
	}
}

func (s *Server) mailSettingPage(w http.ResponseWriter, r *http.Request, status int, d mailSettingData, err error) {
	ctx := r.Context()
	ops, lerr := s.Store.Operators(ctx)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	companies, lerr := s.Store.Companies(ctx)
	if lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	d.Operators, d.Companies = ops, companies
	d.Flow = d.Flow.Localized(s.language(noCookie{}, r))
	if d.Variants, lerr = s.Store.MailSettingVariants(ctx, d.Flow.Code); lerr != nil {
		s.renderError(w, r, lerr)
		return
	}
	if _, _, q, qerr := variantQuery(r); qerr == nil {
		d.Query = q
	}
	p := s.newPage(w, r, "mail", d)
	p.Err = s.errView(err, p.Lang)
	d.Preview = s.preview(d.Flow, d.Setting, p.Lang)
	p.D = d
	s.render(w, status, "mailsetting", p)
}

// loadMailSetting returns the document flow of the path and its setting,
// or the variant the query names (a blank one at normal priority when it
// has none).
func (s *Server) loadMailSetting(r *http.Request) (*envoi.DocumentFlow, *envoi.MailSetting, bool, error) {
	company, language, _, err := variantQuery(r)
	if err != nil {
		return nil, nil, false, err
	}
	flow, err := s.Store.DocumentFlow(r.Context(), r.PathValue("flow"))
	if err != nil {
		return nil, nil, false, err
	}
	m, err := s.Store.MailSettingVariant(r.Context(), flow.Code, company, language)
	switch envoi.ErrorCode(err) {
	case "":
		return flow, m, true, nil
	case envoi.EMailSettingNotFound, envoi.ENotFound:
		return flow, &envoi.MailSetting{DocumentFlow: flow.Code, Company: company, Language: language, Priority: envoi.PriorityNormal}, false, nil
	}
	return nil, nil, false, err
}

func (s *Server) editMailSetting(w http.ResponseWriter, r *http.Request) {
	flow, m, exists, err := s.loadMailSetting(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.mailSettingPage(w, r, http.StatusOK, mailSettingData{Flow: flow, Setting: m, Exists: exists}, nil)
}

func (s *Server) saveMailSetting(w http.ResponseWriter, r *http.Request) {
	flow, _, exists, err := s.loadMailSetting(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	m := mailSettingForm(r, flow.Code)
	if err := s.Store.PutMailSetting(r.Context(), m); err != nil {
		s.mailSettingPage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), mailSettingData{Flow: flow, Setting: m, Exists: exists}, err)
		return
	}
	_, _, q, _ := variantQuery(r)
	s.done(w, r, "/mail-settings/"+flow.Code+string(q), "flash.mail_setting_saved", flow.Code)
}

// previewMailSetting answers the live preview of the form as it stands,
// for the page's script.
func (s *Server) previewMailSetting(w http.ResponseWriter, r *http.Request) {
	flow, err := s.Store.DocumentFlow(r.Context(), r.PathValue("flow"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	lang := s.language(w, r)
	s.renderFragment(w, lang, "preview", s.preview(flow, mailSettingForm(r, flow.Code), lang))
}

// maxPreviewEML bounds the .eml shown on the page.
const maxPreviewEML = 64 << 10

// previewMessage composes the saved setting exactly as a send would, as
// the operator and company chosen, with the sample values, and shows the
// .eml; nothing is sent.
func (s *Server) previewMessage(w http.ResponseWriter, r *http.Request) {
	flow, m, exists, err := s.loadMailSetting(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	d := mailSettingData{Flow: flow, Setting: m, Exists: exists, MsgOperator: r.PostFormValue("operator"), MsgCompany: r.PostFormValue("msg_company"),
		MsgLanguage: strings.TrimSpace(r.PostFormValue("msg_language"))}
	lang := s.language(w, r)
	if s.Messages == nil {
		d.EMLErr = s.errView(envoi.Errorf(envoi.EUnavailable, "sending is not running in this process"), lang)
	} else {
		values, _ := s.sampleValues(flow.Keywords)
		// The variant a send of this company in this language would use.
		req := &envoi.SendRequest{DocumentFlow: flow.Code, Operator: d.MsgOperator, Company: d.MsgCompany, Language: d.MsgLanguage,
			To: []string{"client@example.com"}, Context: values}
		var eml []byte
		perr := req.Validate()
		if perr == nil {
			eml, perr = s.Messages.Preview(r.Context(), req)
		}
		if perr != nil {
			d.EMLErr = s.errView(perr, lang)
		} else {
			d.Mail = readMail(eml)
			if len(eml) > maxPreviewEML {
				eml = append(eml[:maxPreviewEML:maxPreviewEML], "\n…"...)
			}
			d.EML = string(eml)
		}
	}
	s.mailSettingPage(w, r, http.StatusOK, d, nil)
}

func (s *Server) deleteMailSetting(w http.ResponseWriter, r *http.Request) {
	flow := r.PathValue("flow")
	company, language, q, err := variantQuery(r)
	if err == nil {
		err = s.Store.DeleteMailSettingVariant(r.Context(), flow, company, language)
	}
	if err != nil {
		s.failTo(w, r, "/mail-settings/"+flow+string(q), err)
		return
	}
	if q != "" {
		s.done(w, r, "/mail-settings/"+flow, "flash.deleted", "")
		return
	}
	s.done(w, r, "/mail-settings", "flash.deleted", "")
}

func (s *Server) listFileNames(w http.ResponseWriter, r *http.Request) {
	rows, _, err := s.documentRows(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	n := 0
	for _, row := range rows {
		if row.Rule != nil {
			n++
		}
	}
	s.render(w, http.StatusOK, "filenames", s.newPage(w, r, "files", documentsData{Rows: rows, Configured: n}))
}

type fileNameData struct {
	Flow    *envoi.DocumentFlow
	Rule    *envoi.FileNameRule
	Exists  bool
	Example string
	Samples []sample
	ExErr   *errView
}

func (s *Server) fileNamePage(w http.ResponseWriter, r *http.Request, status int, d fileNameData, err error) {
	p := s.newPage(w, r, "files", nil)
	values, samples := s.sampleValues(d.Flow.Keywords)
	d.Samples = samples
	if d.Rule.Pattern != "" {
		name, xerr := s.fileName(d.Rule.Pattern, values)
		d.Example, d.ExErr = name, s.errView(xerr, p.Lang)
	}
	p.D = d
	p.Err = s.errView(err, p.Lang)
	s.render(w, status, "filename", p)
}

// fileName renders a pattern as a send would, with FileName when wired.
func (s *Server) fileName(pattern string, values map[string]string) (string, error) {
	if s.FileName != nil {
		return s.FileName(pattern, values, ".pdf")
	}
	name, err := envoi.Substitute(pattern, values, nil)
	if err != nil {
		return "", err
	}
	return name + ".pdf", nil
}

func (s *Server) editFileName(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	flow, err := s.Store.DocumentFlow(ctx, r.PathValue("flow"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rule, err := s.Store.FileNameRule(ctx, flow.Code)
	exists := err == nil
	if envoi.ErrorCode(err) == envoi.ENotFound {
		rule, err = &envoi.FileNameRule{DocumentFlow: flow.Code}, nil
	}
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.fileNamePage(w, r, http.StatusOK, fileNameData{Flow: flow, Rule: rule, Exists: exists}, nil)
}

func (s *Server) saveFileName(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	flow, err := s.Store.DocumentFlow(ctx, r.PathValue("flow"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	rule := &envoi.FileNameRule{
		DocumentFlow: flow.Code,
		Pattern:      strings.TrimSpace(r.PostFormValue("pattern")),
		Archive:      r.PostFormValue("archive") == "on",
		FileType:     strings.TrimSpace(r.PostFormValue("file_type")),
	}
	if err := s.Store.PutFileNameRule(ctx, rule); err != nil {
		s.fileNamePage(w, r, envoi.HTTPStatus(envoi.ErrorCode(err)), fileNameData{Flow: flow, Rule: rule}, err)
		return
	}
	s.done(w, r, "/file-names/"+flow.Code, "flash.file_name_saved", flow.Code)
}

// noCookie is a ResponseWriter for reading the page's language where no
// cookie is to be set (the page itself sets it).
type noCookie struct{}

func (noCookie) Header() http.Header         { return http.Header{} }
func (noCookie) Write(b []byte) (int, error) { return len(b), nil }
func (noCookie) WriteHeader(int)             {}

// previewMessageHTML composes the saved setting as previewMessage does and
// answers its HTML part for the page's sandboxed frame.
func (s *Server) previewMessageHTML(w http.ResponseWriter, r *http.Request) {
	flow, _, _, err := s.loadMailSetting(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if s.Messages == nil {
		writeFrame(w, "")
		return
	}
	q := r.URL.Query()
	values, _ := s.sampleValues(flow.Keywords)
	req := &envoi.SendRequest{DocumentFlow: flow.Code, Operator: q.Get("operator"), Company: q.Get("company"), To: []string{"client@example.com"}, Context: values}
	eml, err := s.Messages.Preview(r.Context(), req)
	if err != nil {
		writeFrame(w, "")
		return
	}
	if v := readMail(eml); v != nil {
		writeFrame(w, v.HTML)
		return
	}
	writeFrame(w, "")
}
