package http

import (
	"net/http"

	"envoi"
)

// Handler returns the whole route table of envoi's HTTP side.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, s.requireAPIKey(h))
	}

	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)

	api("GET /v1/document-flows", s.listDocumentFlows)
	api("GET /v1/document-flows/{code}", s.getDocumentFlow)
	api("PUT /v1/document-flows/{code}", s.putDocumentFlow)
	api("DELETE /v1/document-flows/{code}", s.deleteDocumentFlow)

	api("GET /v1/companies", s.listCompanies)
	api("GET /v1/companies/{code}", s.getCompany)
	api("PUT /v1/companies/{code}", s.putCompany)
	api("DELETE /v1/companies/{code}", s.deleteCompany)

	api("GET /v1/groups", s.listGroups)
	api("PUT /v1/groups/{code}", s.putGroup)
	api("DELETE /v1/groups/{code}", s.deleteGroup)

	api("GET /v1/operators", s.listOperators)
	api("GET /v1/operators/{code}", s.getOperator)
	api("PUT /v1/operators/{code}", s.putOperator)
	api("DELETE /v1/operators/{code}", s.deleteOperator)

	api("GET /v1/auth-flows", s.listAuthFlows)
	api("GET /v1/auth-flows/{code}", s.getAuthFlow)
	api("PUT /v1/auth-flows/{code}", s.putAuthFlow)
	api("DELETE /v1/auth-flows/{code}", s.deleteAuthFlow)
	api("GET /v1/presets", s.listPresets)

	api("GET /v1/mail-settings", s.listMailSettings)
	api("GET /v1/mail-settings/{document_flow}", s.getMailSetting)
	api("PUT /v1/mail-settings/{document_flow}", s.putMailSetting)
	api("DELETE /v1/mail-settings/{document_flow}", s.deleteMailSetting)

	api("GET /v1/file-names", s.listFileNameRules)
	api("GET /v1/file-names/{document_flow}", s.getFileNameRule)
	api("PUT /v1/file-names/{document_flow}", s.putFileNameRule)
	api("DELETE /v1/file-names/{document_flow}", s.deleteFileNameRule)

	api("POST /v1/messages", s.needs(s.Messages != nil, s.postMessage))
	api("POST /v1/messages/preview", s.needs(s.Messages != nil, s.previewMessage))
	api("GET /v1/messages", s.listMessages)
	api("GET /v1/messages/{id}", s.getMessage)
	api("GET /v1/messages/{id}/eml", s.getMessageEML)
	api("POST /v1/messages/{id}/retry", s.needs(s.Messages != nil, s.retryMessage))

	api("POST /v1/auth-flows/{code}/test", s.needs(s.Tester != nil, s.testAuthFlow))
	api("GET /v1/auth-flows/{code}/consent", s.needs(s.Consent != nil, s.startConsent))
	mux.HandleFunc("GET /oauth/callback", s.needs(s.Consent != nil, s.oauthCallback))
	api("GET /v1/tokens", s.listTokens)

	api("GET /v1/archive", s.listArchive)
	api("GET /v1/archive/{id}", s.needs(s.Archive != nil, s.downloadArchive))

	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	mux.HandleFunc("/", s.notFound)
	return s.recoverPanics(mux)
}

// needs answers 503 unavailable when a part of envoi the route needs is not
// wired in this process.
func (s *Server) needs(ok bool, h http.HandlerFunc) http.HandlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, envoi.Errorf(envoi.EUnavailable, "this part of envoi is not running in this process"))
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeErrorStatus(w, r, errNotFound("route", r.Method+" "+r.URL.Path), http.StatusNotFound)
}

// recoverPanics turns a panic in a handler into a logged 500, so one bad
// request never takes the server down.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger().Error("http: panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.writeErrorStatus(w, r, envoi.Errorf(envoi.EInternal, "internal error"), http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
