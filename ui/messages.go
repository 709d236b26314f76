package ui

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"envoi"
)

// logPage is how many messages the log shows at once.
const logPage = 50

// statuses are the message states, in the order of the log's filter.
var statuses = []string{envoi.StatusQueued, envoi.StatusScheduled, envoi.StatusSending, envoi.StatusSent, envoi.StatusRetrying, envoi.StatusFailed, envoi.StatusConsentRequired}

type logFilter struct {
	Status, Operator, Flow, EntityType, EntityID, Since, Until string
}

type messagesData struct {
	Messages  []*envoi.Message
	Filter    logFilter
	Filtered  bool
	Statuses  []string
	Flows     []*envoi.DocumentFlow
	Operators []*envoi.Operator
	// Older is the link to the next page, "" on the last one; Newer the
	// link to the page before, "" on the first.
	Older, Newer string
}

// listMessages is the sent-mail log: newest first, searchable by status,
// operator, document flow, entity and date.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	lf := logFilter{
		Status: q.Get("status"), Operator: q.Get("operator"), Flow: q.Get("document_flow"),
		EntityType: q.Get("entity_type"), EntityID: q.Get("entity_id"), Since: q.Get("since"), Until: q.Get("until"),
	}
	f := envoi.MessageFilter{Status: lf.Status, Operator: lf.Operator, DocumentFlow: lf.Flow, EntityType: lf.EntityType, EntityID: lf.EntityID, Before: q.Get("before"), Limit: logPage + 1}
	var ferr error
	if lf.Since != "" {
		t, err := time.Parse(time.DateOnly, lf.Since)
		if err != nil {
			ferr = envoi.FieldError(envoi.EInvalidInput, "since", "%q is not a date (2006-01-02)", lf.Since)
		}
		f.Since = t
	}
	if lf.Until != "" {
		t, err := time.Parse(time.DateOnly, lf.Until)
		if err != nil {
			ferr = envoi.FieldError(envoi.EInvalidInput, "until", "%q is not a date (2006-01-02)", lf.Until)
		}
		f.Until = t.Add(24 * time.Hour) // the whole day
	}
	d := messagesData{Filter: lf, Statuses: statuses, Filtered: lf != logFilter{}}
	var err error
	if ferr == nil {
		if d.Messages, err = s.Store.Messages(ctx, f); err != nil {
			ferr = err
		}
	}
	// The pages seen are carried in "pages" (the before of each, "" for
	// the first): Newer goes back one, Older adds this one.
	var seen []string
	if raw := q.Get("pages"); raw != "" || q.Get("before") != "" {
		seen = strings.Split(raw, ",")
		if raw == "" {
			seen = []string{""}
		}
		if len(seen) > 1000 {
			seen = seen[len(seen)-1000:]
		}
	}
	link := func(before string, pages []string) string {
		v := url.Values{}
		for k, vals := range q {
			v[k] = vals
		}
		v.Del("before")
		v.Del("pages")
		if before != "" {
			v.Set("before", before)
		}
		if len(pages) > 0 {
			v.Set("pages", strings.Join(pages, ","))
		}
		if len(v) == 0 {
			return "/messages"
		}
		return "/messages?" + v.Encode()
	}
	if len(seen) > 0 {
		d.Newer = link(seen[len(seen)-1], seen[:len(seen)-1])
	}
	if len(d.Messages) > logPage {
		d.Messages = d.Messages[:logPage]
		d.Older = link(d.Messages[logPage-1].ID, append(append([]string(nil), seen...), q.Get("before")))
	}
	if d.Flows, err = s.Store.DocumentFlows(ctx); err != nil {
		s.renderError(w, r, err)
		return
	}
	if d.Operators, err = s.Store.Operators(ctx); err != nil {
		s.renderError(w, r, err)
		return
	}
	p := s.newPage(w, r, "messages", d)
	p.Err = s.errView(ferr, p.Lang)
	status := http.StatusOK
	if ferr != nil {
		status = envoi.HTTPStatus(p.Err.Code)
	}
	s.render(w, status, "messages", p)
}

type messageData struct {
	M        *envoi.Message
	Err      *errView
	CanRetry bool
	Headers  string
	// Mail is the message as read (subject, text, attachments; its HTML
	// is shown by /messages/{id}/html), nil when it cannot be read.
	Mail *mailView
}

// maxHeaders bounds the header block shown on a message's page.
const maxHeaders = 16 << 10

// showMessage is one message: its state, its error with the catalogue's
// message and remedy, its headers, the .eml and Retry.
func (s *Server) showMessage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	m, err := s.Store.Message(ctx, r.PathValue("id"))
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	lang := s.language(w, r)
	d := messageData{M: m, CanRetry: m.Status != envoi.StatusSent && m.Status != envoi.StatusBounced && s.Messages != nil}
	if m.ErrorCode != "" {
		t := envoi.Describe(m.ErrorCode, lang)
		d.Err = &errView{Code: m.ErrorCode, Message: t.Message, Remedy: t.Remedy, Reason: m.Error}
	}
	if eml, err := s.Store.EML(ctx, m.ID); err == nil {
		d.Mail = readMail(eml)
		if i := bytes.Index(eml, []byte("\r\n\r\n")); i >= 0 {
			eml = eml[:i]
		} else if i := bytes.Index(eml, []byte("\n\n")); i >= 0 {
			eml = eml[:i]
		}
		if len(eml) > maxHeaders {
			eml = eml[:maxHeaders]
		}
		d.Headers = string(eml)
	}
	s.render(w, http.StatusOK, "message", s.newPage(w, r, "messages", d))
}

func (s *Server) messageEML(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := s.Store.Message(ctx, id); err != nil {
		s.renderError(w, r, err)
		return
	}
	eml, err := s.Store.EML(ctx, id)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", `attachment; filename="`+id+`.eml"`)
	h.Set("Content-Length", strconv.Itoa(len(eml)))
	_, _ = w.Write(eml)
}

func (s *Server) retryMessage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	back := "/messages/" + url.PathEscape(id)
	if s.Messages == nil {
		s.failTo(w, r, back, envoi.Errorf(envoi.EUnavailable, "sending is not running in this process"))
		return
	}
	if _, err := s.Messages.Retry(r.Context(), id); err != nil {
		s.failTo(w, r, back, err)
		return
	}
	s.done(w, r, back, "flash.retried", "")
}
