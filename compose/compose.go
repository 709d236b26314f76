// Package compose turns an accepted send request and the configuration
// around it (the operator's flow, the document flow's mail setting and
// file-name rule, the operator, the company) into one MIME message: the
// bytes to send, the SMTP envelope and the identity to send as. It is steps
// 1 to 5 of SPEC.md's "Sending, step by step"; nothing is sent here.
package compose

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"envoi"
	"envoi/filename"
)

// Store is what composing reads from the store; sqlstore implements it.
// Each lookup returns an *envoi.Error with a code when nothing is found.
type Store interface {
	// FlowForOperator returns ENoFlowForOperator when the operator has none.
	FlowForOperator(ctx context.Context, operator string) (*envoi.AuthFlow, error)
	// MailSetting returns EMailSettingNotFound when the document flow has none.
	MailSetting(ctx context.Context, documentFlow string) (*envoi.MailSetting, error)
	// ChooseMailSetting returns the variant of the mail setting for a
	// company and a language, else the default; EMailSettingNotFound when
	// none applies.
	ChooseMailSetting(ctx context.Context, documentFlow, company, language string) (*envoi.MailSetting, error)
	DocumentFlow(ctx context.Context, code string) (*envoi.DocumentFlow, error)
	Operator(ctx context.Context, code string) (*envoi.Operator, error)
	Company(ctx context.Context, code string) (*envoi.Company, error)
	// FileNameRule returns ENotFound when the document flow has none.
	FileNameRule(ctx context.Context, documentFlow string) (*envoi.FileNameRule, error)
}

// MailLanguageOf is the language that picks a request's mail setting
// variant: the request's own, else its company's (company may be nil).
func MailLanguageOf(req *envoi.SendRequest, company *envoi.Company) string {
	if req.Language != "" {
		return req.Language
	}
	if company != nil {
		return company.Language
	}
	return ""
}

// ReportRenderer renders the report a send asks for to PDF; the report
// package implements it. company is nil when the send names no company.
// Missing data is EReportMissingParameters naming the parameters.
type ReportRenderer interface {
	Render(ctx context.Context, documentFlow *envoi.DocumentFlow, company *envoi.Company, req *envoi.ReportRequest) (pdf []byte, err error)
}

// Composer composes messages. Store is required; the other fields have
// useful zero values.
type Composer struct {
	Store Store
	// Reports renders report PDFs; nil refuses sends that ask for a report.
	Reports ReportRenderer
	// Now is the clock of the Date header (time.Now when nil).
	Now func() time.Time
	// MessageIDDomain is the right-hand side of the Message-ID made when a
	// message has none yet (a preview) and of the logo's Content-ID; by
	// default the domain of the message's Message-ID, else "envoi.invalid".
	MessageIDDomain string
	// Logger receives one debug line per composed message (never a secret).
	Logger *slog.Logger
}

// ComposeDelivery is Compose for the queue: the bytes to send (the Mail)
// and its delivery record (Mail.Delivery).
func (c *Composer) ComposeDelivery(ctx context.Context, m *envoi.Message) (io.WriterTo, *envoi.Delivery, error) {
	mail, err := c.Compose(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	return mail, mail.Delivery(), nil
}

// Compose builds the mail of m: it finds the operator's flow
// (ENoFlowForOperator), the document flow (EDocumentFlowNotFound) and its
// mail setting (EMailSettingNotFound), the operator and the company;
// fills subject and body with the context's keywords (EKeywordMissing
// naming every keyword without a value); adds the footers and the signature
// (see body.go for the precedence); renders the report (errors of Reports
// as they are, EInvalidInput when Reports is nil) and names it by the
// file-name rule; and refuses attachments over the flow's limit
// (EAttachmentsTooBig with limit_bytes and total_bytes) before anything is
// sent. The request was checked where it was accepted
// (SendRequest.Validate, by queue.Service): it is not checked again here.
//
// A preview is the same call: write the Mail and send nothing. m is not
// modified; when m.MessageID is empty a new one is made.
func (c *Composer) Compose(ctx context.Context, m *envoi.Message) (*Mail, error) {
	req := &m.Request
	if req.Report != nil && c.Reports == nil {
		return nil, envoi.FieldError(envoi.EInvalidInput, "report", "no report renderer configured")
	}
	msgID, envoiID, err := c.messageIDs(m)
	if err != nil {
		return nil, err
	}

	// 1. The operator's flow, 2. the document flow and its mail setting,
	// then what they refer to.
	flow, err := c.Store.FlowForOperator(ctx, req.Operator)
	if err != nil {
		return nil, fmt.Errorf("compose: flow of operator %q: %w", req.Operator, err)
	}
	docFlow, err := c.Store.DocumentFlow(ctx, req.DocumentFlow)
	if err != nil {
		return nil, fmt.Errorf("compose: document flow %q: %w", req.DocumentFlow, envoi.DocumentFlowNotFound(err, req.DocumentFlow))
	}
	var company *envoi.Company
	if req.Company != "" {
		if company, err = c.Store.Company(ctx, req.Company); err != nil {
			return nil, fmt.Errorf("compose: company %q: %w", req.Company, err)
		}
	}
	setting, err := c.Store.ChooseMailSetting(ctx, req.DocumentFlow, req.Company, MailLanguageOf(req, company))
	if err != nil {
		return nil, fmt.Errorf("compose: mail setting of %q: %w", req.DocumentFlow, err)
	}
	prio, err := priorityOf(setting.Priority)
	if err != nil {
		return nil, err
	}
	op, err := c.Store.Operator(ctx, req.Operator)
	if err != nil {
		return nil, fmt.Errorf("compose: operator %q: %w", req.Operator, err)
	}
	rule, err := c.Store.FileNameRule(ctx, req.DocumentFlow)
	if envoi.ErrorCode(err) == envoi.ENotFound {
		rule, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("compose: file-name rule of %q: %w", req.DocumentFlow, err)
	}

	id, err := envoi.SendingIdentity(flow, op)
	if err != nil {
		return nil, err
	}
	from := fromAddress(flow, op, company, id)
	env, err := envelope(from, req, setting.CopyToSender)
	if err != nil {
		return nil, err
	}

	// 3. Every keyword used needs a value, all of them named at once; the
	// file-name rule's too when the message sends a document.
	docIndex := documentIndex(req)
	texts := []string{setting.Subject, setting.Body}
	if rule != nil && (req.Report != nil || docIndex >= 0) {
		texts = append(texts, rule.Pattern)
	}
	if err := checkKeywords(req.Context, texts...); err != nil {
		return nil, err
	}
	subject, _ := envoi.Substitute(envoi.CleanHeader(setting.Subject), req.Context, envoi.CleanHeader)
	subject = singleSpaced(subject)
	if n := len(subject) + req.HeaderBytes(); n > envoi.MaxHeaderBytes {
		return nil, envoi.FieldError(envoi.EInvalidInput, "context", "the subject filled with the context's values takes %d bytes, with the addresses and file names %d; the limit is %d",
			len(subject), n, envoi.MaxHeaderBytes).WithDetail("limit_bytes", envoi.MaxHeaderBytes)
	}
	text := cleanText(setting.Body)
	plainBody, _ := envoi.Substitute(text, req.Context, cleanText)
	htmlBody, _ := envoi.Substitute(html.EscapeString(text), req.Context, func(v string) string {
		return html.EscapeString(cleanText(v))
	})

	// 5. Attachments: the ERP's files are counted before the report is
	// rendered, so a send already over the limit costs no rendering.
	limit := flow.MaxAttachmentsBytes()
	var total int64
	for _, a := range req.Attachments {
		total += a.Size()
	}
	if err := checkLimit(limit, total); err != nil {
		return nil, err
	}
	var files []file
	var document *Document
	if req.Report != nil {
		pdf, err := c.Reports.Render(ctx, docFlow, company, req.Report)
		if err != nil {
			return nil, fmt.Errorf("compose: render the report of %q: %w", req.DocumentFlow, err)
		}
		total += int64(len(pdf))
		if err := checkLimit(limit, total); err != nil {
			return nil, err
		}
		name, err := reportName(rule, req)
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: name, contentType: "application/pdf", content: pdf})
		document = &Document{Name: name, ContentType: "application/pdf", Content: pdf}
	}
	for i, a := range req.Attachments {
		name := attachmentName(a.Filename)
		ct := attachmentType(a.ContentType, name)
		if i == docIndex {
			// The ERP's own document: the rule's name, its bytes as given.
			if name, err = documentName(rule, req, name, ct); err != nil {
				return nil, err
			}
			document = &Document{Name: name, ContentType: ct, Content: a.Content, Encoded: a.Encoded}
		}
		files = append(files, file{name: name, contentType: ct, content: a.Content, encoded: a.Encoded})
	}

	// 4. Footers, signature and logo.
	logoCID := "logo." + seed(msgID, "logo") + "@" + c.contentDomain(msgID)
	b := buildBody(plainBody, htmlBody, op, company, logoCID)

	out, err := build(message{
		id:       msgID,
		envoiID:  envoiID,
		date:     c.now(),
		from:     from,
		req:      req,
		priority: prio,
		receipt:  setting.ReadReceipt,
		subject:  subject,
		body:     b,
		files:    files,
		envelope: env,
	})
	if err != nil {
		return nil, err
	}
	out.identity = id
	out.FileNameRule = rule
	out.Document = document
	if req.Entity != nil {
		e := *req.Entity
		out.Entity = &e
	}
	out.delivery = out.deliveryRecord()
	c.logger().Debug("compose: message composed", "message", m.ID, "message_id", msgID,
		"document_flow", req.DocumentFlow, "operator", req.Operator, "flow", flow.Code,
		"attachments", len(files), "size", out.envelope.Size)
	return out, nil
}

// fromAddress returns the From header's address of a message sent as id
// (SendingIdentity): the generic mailbox's address with the company's name,
// else the operator's name and address. The identity is kept apart from
// From: the SMTP server checks the authenticated user, the recipient reads
// From.
func fromAddress(flow *envoi.AuthFlow, op *envoi.Operator, company *envoi.Company, id envoi.Identity) *mail.Address {
	if id.Key.Operator == "" {
		from := &mail.Address{Address: id.Username}
		if company != nil {
			from.Name = singleSpaced(envoi.CleanHeader(company.Name))
		}
		return from
	}
	return &mail.Address{Name: singleSpaced(envoi.CleanHeader(op.Name)), Address: id.Username}
}

// envelope returns the SMTP envelope: From the sender's address, the
// recipients To, Cc and Bcc and, with copy to sender, the sender (a Bcc that
// no header shows), each address once.
// A recipient that is not an address is EInvalidInput (the request is
// validated at acceptance; this keeps a bad one off the wire all the same).
func envelope(from *mail.Address, req *envoi.SendRequest, copyToSender bool) (envoi.Envelope, error) {
	env := envoi.Envelope{From: from.Address}
	seen := map[string]bool{}
	add := func(addr string) {
		k := strings.ToLower(addr)
		if !seen[k] {
			seen[k] = true
			env.Recipients = append(env.Recipients, addr)
		}
	}
	for _, list := range [][]string{req.To, req.Cc, req.Bcc} {
		for _, s := range list {
			a, err := envoi.ParseAddress(s)
			if err != nil {
				return env, envoi.FieldError(envoi.EInvalidInput, "to", "%s", envoi.AsError(err).Message).WithDetail("address", s)
			}
			add(a.Address)
		}
	}
	if copyToSender {
		add(from.Address)
	}
	return env, nil
}

// checkKeywords returns EKeywordMissing naming every keyword used in texts
// that values lacks.
func checkKeywords(values map[string]string, texts ...string) error {
	var missing []string
	seen := map[string]bool{}
	for _, t := range texts {
		for _, k := range envoi.Keywords(t) {
			if _, ok := values[k]; !ok && !seen[k] {
				seen[k] = true
				missing = append(missing, k)
			}
		}
	}
	if len(missing) > 0 {
		return envoi.Errorf(envoi.EKeywordMissing, "no value for %s", strings.Join(missing, ", ")).
			WithDetail("keywords", missing)
	}
	return nil
}

// priority is how a mail setting's priority is written in the header.
type priority struct{ importance, xPriority string }

// priorityOf returns the Importance and X-Priority values of p ("" is
// normal), EInvalidInput for anything else.
func priorityOf(p string) (priority, error) {
	switch p {
	case envoi.PriorityLow:
		return priority{"low", "5"}, nil
	case envoi.PriorityNormal, "":
		return priority{"normal", "3"}, nil
	case envoi.PriorityHigh:
		return priority{"high", "1"}, nil
	}
	return priority{}, envoi.FieldError(envoi.EInvalidInput, "priority", "%q is not low, normal or high", p)
}

func checkLimit(limit, total int64) error {
	if limit > 0 && total > limit {
		return envoi.Errorf(envoi.EAttachmentsTooBig, "the attachments total %d bytes; the flow's limit is %d bytes", total, limit).
			WithDetail("limit_bytes", limit).WithDetail("total_bytes", total)
	}
	return nil
}

// reportName names the report by the file-name rule's pattern, or, without
// one, by the document flow and the entity ("BL_12345.pdf"); the filename
// package cleans the name and forces ".pdf", as for print and export.
func reportName(rule *envoi.FileNameRule, req *envoi.SendRequest) (string, error) {
	return ruleName(rule, req.DocumentFlow, req.Context, req.Entity, "pdf")
}

// ruleName is the name of a document of documentFlow with extension ext:
// the rule's pattern filled from values when the flow has one, else the
// flow and the entity's id. The name is cleaned by the filename package.
func ruleName(rule *envoi.FileNameRule, documentFlow string, values map[string]string, entity *envoi.Entity, ext string) (string, error) {
	if rule != nil && strings.TrimSpace(rule.Pattern) != "" {
		return filename.Render(rule.Pattern, values, ext)
	}
	name := documentFlow
	if entity != nil {
		name += "_" + entity.ID
	}
	// The name is a keyword's value, so brackets in an entity id are not
	// taken for keywords.
	return filename.Render("[NAME]", map[string]string{"NAME": name}, ext)
}

// FileName returns the name a document of req's document flow gets when
// it is printed or exported — the one a send with the same context gives
// it (seed §4.2) — and the flow's file-name rule (nil when it has none).
// With a rule, every keyword of its pattern needs a value
// (EKeywordMissing naming them all); without one the name is the flow and
// the entity's id. The extension is req.Extension, "pdf" by default. An
// unknown document flow is ENotFound naming document_flow; an unknown
// company or operator ENotFound too.
func (c *Composer) FileName(ctx context.Context, req *envoi.FileNameRequest) (string, *envoi.FileNameRule, error) {
	if err := req.Validate(); err != nil {
		return "", nil, err
	}
	if _, err := c.Store.DocumentFlow(ctx, req.DocumentFlow); err != nil {
		return "", nil, envoi.DocumentFlowNotFound(err, req.DocumentFlow)
	}
	if req.Company != "" {
		if _, err := c.Store.Company(ctx, req.Company); err != nil {
			return "", nil, err
		}
	}
	if req.Operator != "" {
		if _, err := c.Store.Operator(ctx, req.Operator); err != nil {
			return "", nil, err
		}
	}
	rule, err := c.Store.FileNameRule(ctx, req.DocumentFlow)
	if envoi.ErrorCode(err) == envoi.ENotFound {
		rule, err = nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if rule != nil {
		if err := checkKeywords(req.Context, rule.Pattern); err != nil {
			return "", nil, err
		}
	}
	ext := req.Extension
	if ext == "" {
		ext = "pdf"
	}
	name, err := ruleName(rule, req.DocumentFlow, req.Context, req.Entity, ext)
	return name, rule, err
}

// documentIndex returns the index of the attachment that is the request's
// document: none when it asks for a report (the report is), else the one
// marked Document, else its first PDF; -1 when there is none.
func documentIndex(req *envoi.SendRequest) int {
	if req.Report != nil {
		return -1
	}
	first := -1
	for i, a := range req.Attachments {
		if a.Document {
			return i
		}
		if first < 0 && isPDF(attachmentType(a.ContentType, attachmentName(a.Filename))) {
			first = i
		}
	}
	return first
}

// documentName names a document the ERP attached (clean is its cleaned
// name, contentType its type): by the file-name rule's pattern when the
// flow has one, with the extension of its type (".pdf" for a PDF, else
// its own name's), else by its own name.
func documentName(rule *envoi.FileNameRule, req *envoi.SendRequest, clean, contentType string) (string, error) {
	if rule == nil || strings.TrimSpace(rule.Pattern) == "" {
		return clean, nil
	}
	return filename.Render(rule.Pattern, req.Context, DocumentExt(clean, contentType))
}

// DocumentExt is the extension a document named by a file-name rule gets:
// "pdf" for a PDF, else the extension of name ("" when it has none, and
// the pattern's own is kept).
func DocumentExt(name, contentType string) string {
	if isPDF(contentType) {
		return "pdf"
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

// attachmentName cleans the name the ERP gave a file. It is taken for a
// path at worst: only its last element is kept ("../../etc/passwd" is
// "passwd"), then the filename package makes it safe.
func attachmentName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return filename.Sanitize(name)
}

// singleSpaced trims spaces and tabs at both ends of a header text (a
// subject, a display name) and makes each run of them one space: the
// header is folded at spaces, and a run of them at a fold can leave a line
// of white space alone, which some readers take for the end of the header.
func singleSpaced(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.Trim(s, " \t") {
		if r == ' ' || r == '\t' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cleanText makes a keyword value safe in a body: line breaks are kept (as
// \n), other control characters are dropped.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r < 0x20 || r == 0x7f:
			return -1
		}
		return r
	}, s)
}

func (c *Composer) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Composer) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

var _ io.WriterTo = (*Mail)(nil)
