package http

import (
	"context"
	"net/http"

	"envoi"
)

type documentFlowInput struct {
	Name     string   `json:"name"`
	Keywords []string `json:"keywords"`
	// Report omitted keeps the flow's report: a built-in flow's default
	// template (delivery_note for BL) is not lost to a PUT that renames it.
	Report *string `json:"report"`
}

func (s *Server) putDocumentFlow(w http.ResponseWriter, r *http.Request) {
	old, err := stored(s.Store.DocumentFlow(r.Context(), r.PathValue("code")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in documentFlowInput
	if err := s.decodePut(w, r, &in, old); err != nil {
		s.writeError(w, r, err)
		return
	}
	d := &envoi.DocumentFlow{Code: r.PathValue("code"), Name: in.Name, Keywords: in.Keywords, KeepReport: in.Report == nil}
	if in.Report != nil {
		d.Report = *in.Report
		if err := s.checkReportTemplate(r.Context(), d.Report); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if err := s.Store.PutDocumentFlow(r.Context(), d); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// flowLanguage is the language the document-flow routes name the
// built-in flows in: ?language= (a language tag), else Accept-Language,
// else English (the names as stored).
func flowLanguage(r *http.Request) string {
	if l := r.URL.Query().Get("language"); l != "" {
		return envoi.NegotiateLanguage(l, envoi.DefaultLanguage)
	}
	return Language(r)
}

func (s *Server) getDocumentFlow(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.DocumentFlow(r.Context(), r.PathValue("code"))
	if err != nil {
		s.writeError(w, r, envoi.DocumentFlowNotFound(err, r.PathValue("code")))
		return
	}
	writeJSON(w, http.StatusOK, d.Localized(flowLanguage(r)))
}

func (s *Server) listDocumentFlows(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.DocumentFlows(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lang := flowLanguage(r)
	for i, d := range list {
		list[i] = d.Localized(lang)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteDocumentFlow(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteDocumentFlow(r.Context(), r.PathValue("code")))
}

type mailSettingInput struct {
	Subject      string `json:"subject"`
	Body         string `json:"body"`
	Priority     string `json:"priority"`
	ReadReceipt  bool   `json:"read_receipt"`
	CopyToSender bool   `json:"copy_to_sender"`
}

// variantOf reads the ?company= and ?language= of a mail-setting route:
// which variant it is about ("" and "" for the default). language is a
// BCP 47 tag, kept as its primary subtag.
func variantOf(r *http.Request) (company, language string, err error) {
	q := r.URL.Query()
	company, language = q.Get("company"), q.Get("language")
	if company != "" && !envoi.ValidCode(company) {
		return "", "", envoi.FieldError(envoi.EInvalidInput, "company", "%q is not a valid code", company)
	}
	if language != "" {
		if language, err = envoi.MailLanguage(language); err != nil {
			return "", "", err
		}
	}
	return company, language, nil
}

func (s *Server) putMailSetting(w http.ResponseWriter, r *http.Request) {
	company, language, err := variantOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	old, err := stored(s.Store.MailSettingVariant(r.Context(), r.PathValue("document_flow"), company, language))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in mailSettingInput
	if err := s.decodePut(w, r, &in, old); err != nil {
		s.writeError(w, r, err)
		return
	}
	m := &envoi.MailSetting{
		DocumentFlow: r.PathValue("document_flow"), Company: company, Language: language, Subject: in.Subject, Body: in.Body,
		Priority: in.Priority, ReadReceipt: in.ReadReceipt, CopyToSender: in.CopyToSender,
	}
	if err := s.Store.PutMailSetting(r.Context(), m); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// mailSettingWithVariants is the default mail setting as GET answers it:
// with its variants.
type mailSettingWithVariants struct {
	*envoi.MailSetting
	Variants []*envoi.MailSetting `json:"variants"`
}

// getMailSetting answers 404 (with the catalogue's mail_setting_not_found)
// when the document flow has no setting yet (or not the variant asked
// for by ?company= and ?language=). The default lists its variants.
func (s *Server) getMailSetting(w http.ResponseWriter, r *http.Request) {
	company, language, err := variantOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	flow := r.PathValue("document_flow")
	m, err := s.Store.MailSettingVariant(r.Context(), flow, company, language)
	if err != nil {
		s.writeErrorStatus(w, r, err, notFoundStatus(err))
		return
	}
	if m.IsVariant() {
		writeJSON(w, http.StatusOK, m)
		return
	}
	variants, err := s.Store.MailSettingVariants(r.Context(), flow)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, mailSettingWithVariants{m, variants})
}

func notFoundStatus(err error) int {
	if envoi.ErrorCode(err) == envoi.EMailSettingNotFound {
		return http.StatusNotFound
	}
	return 0
}

func (s *Server) listMailSettings(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.MailSettings(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteMailSetting(w http.ResponseWriter, r *http.Request) {
	company, language, err := variantOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	err = s.Store.DeleteMailSettingVariant(r.Context(), r.PathValue("document_flow"), company, language)
	if err != nil {
		s.writeErrorStatus(w, r, err, notFoundStatus(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type fileNameInput struct {
	Pattern  string `json:"pattern"`
	Archive  bool   `json:"archive"`
	FileType string `json:"file_type"`
}

func (s *Server) putFileNameRule(w http.ResponseWriter, r *http.Request) {
	old, err := stored(s.Store.FileNameRule(r.Context(), r.PathValue("document_flow")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var in fileNameInput
	if err := s.decodePut(w, r, &in, old); err != nil {
		s.writeError(w, r, err)
		return
	}
	f := &envoi.FileNameRule{DocumentFlow: r.PathValue("document_flow"), Pattern: in.Pattern, Archive: in.Archive, FileType: in.FileType}
	if err := s.Store.PutFileNameRule(r.Context(), f); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) getFileNameRule(w http.ResponseWriter, r *http.Request) {
	f, err := s.Store.FileNameRule(r.Context(), r.PathValue("document_flow"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Server) listFileNameRules(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.FileNameRules(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteFileNameRule(w http.ResponseWriter, r *http.Request) {
	s.writeDeleted(w, r, s.Store.DeleteFileNameRule(r.Context(), r.PathValue("document_flow")))
}

// FileNames names documents by their flow's file-name rule as a send does
// (compose.Composer implements it).
type FileNames interface {
	FileName(ctx context.Context, req *envoi.FileNameRequest) (string, *envoi.FileNameRule, error)
}

type fileNameOutput struct {
	FileName string `json:"file_name"`
	// FileType and Archive are the rule's: how the document is filed, and
	// whether the ERP should archive what it prints or exports.
	FileType string `json:"file_type,omitempty"`
	Archive  bool   `json:"archive"`
}

// resolveFileName answers the name a document of the flow gets when the
// ERP prints or exports it: the one a send of the same context gives it.
func (s *Server) resolveFileName(w http.ResponseWriter, r *http.Request) {
	var in envoi.FileNameRequest
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	in.DocumentFlow = r.PathValue("document_flow")
	name, rule, err := s.FileNames.FileName(r.Context(), &in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := fileNameOutput{FileName: name}
	if rule != nil {
		out.FileType, out.Archive = rule.FileType, rule.Archive
	}
	writeJSON(w, http.StatusOK, out)
}
