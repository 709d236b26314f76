package ui

import (
	"net/http"
	"strings"

	"envoi/signature"
)

// writeFrame answers html for a sandboxed frame of the UI: the mail's own
// styles apply (the pages' policy, style-src 'self', would drop them), and
// nothing else runs or loads — no script, no remote image, no form.
func writeFrame(w http.ResponseWriter, html string) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("<!doctype html><meta charset=\"utf-8\">" + html))
}

// signaturePreview renders a signature as mails carry it: through the
// allow-list sends use (signature.Sanitize), with the styles it keeps.
func (s *Server) signaturePreview(w http.ResponseWriter, r *http.Request) {
	writeFrame(w, signature.Sanitize(r.PostFormValue("signature_html")))
}

// messageHTML is the HTML part of a stored message, its inline images
// included, for the message page's frame.
func (s *Server) messageHTML(w http.ResponseWriter, r *http.Request) {
	eml, err := s.storedEML(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	v := readMail(eml)
	if v == nil || v.HTML == "" {
		writeFrame(w, "")
		return
	}
	writeFrame(w, v.HTML)
}

// messageSource is a stored message's raw source, shown as text.
func (s *Server) messageSource(w http.ResponseWriter, r *http.Request) {
	eml, err := s.storedEML(r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", "inline")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(strings.ToValidUTF8(string(eml), "\uFFFD")))
}

// storedEML is the composed message of the route's id, as the .eml
// download gives it (a message the store hides is not found).
func (s *Server) storedEML(r *http.Request) ([]byte, error) {
	id := r.PathValue("id")
	if _, err := s.Store.Message(r.Context(), id); err != nil {
		return nil, err
	}
	return s.Store.EML(r.Context(), id)
}
