package http

import (
	_ "embed"
	"net/http"
	"strings"

	"envoi"
)

// OpenAPI is the API's description, served at GET /openapi.yaml; a test
// checks it against the route table below.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Route is one line of the route table.
type Route struct {
	Method  string
	Path    string
	Public  bool // no API key (health, OAuth callback, the spec itself)
	handler http.HandlerFunc
}

// Routes returns the whole route table of envoi's HTTP API.
func (s *Server) Routes() []Route {
	msg := s.Messages != nil
	return []Route{
		{"GET", "/healthz", true, s.healthz},
		{"GET", "/readyz", true, s.readyz},
		{"GET", "/openapi.yaml", true, s.openAPI},
		{"GET", "/oauth/callback", true, s.needs(s.Consent != nil, s.oauthCallback)},

		{"GET", "/v1/document-flows", false, s.listDocumentFlows},
		{"GET", "/v1/document-flows/{code}", false, s.getDocumentFlow},
		{"PUT", "/v1/document-flows/{code}", false, s.putDocumentFlow},
		{"DELETE", "/v1/document-flows/{code}", false, s.deleteDocumentFlow},

		{"GET", "/v1/companies", false, s.listCompanies},
		{"GET", "/v1/companies/{code}", false, s.getCompany},
		{"PUT", "/v1/companies/{code}", false, s.putCompany},
		{"DELETE", "/v1/companies/{code}", false, s.deleteCompany},

		{"GET", "/v1/groups", false, s.listGroups},
		{"PUT", "/v1/groups/{code}", false, s.putGroup},
		{"DELETE", "/v1/groups/{code}", false, s.deleteGroup},

		{"GET", "/v1/operators", false, s.listOperators},
		{"GET", "/v1/operators/{code}", false, s.getOperator},
		{"PUT", "/v1/operators/{code}", false, s.putOperator},
		{"DELETE", "/v1/operators/{code}", false, s.deleteOperator},

		{"GET", "/v1/presets", false, s.listPresets},
		{"GET", "/v1/auth-flows", false, s.listAuthFlows},
		{"GET", "/v1/auth-flows/{code}", false, s.getAuthFlow},
		{"PUT", "/v1/auth-flows/{code}", false, s.putAuthFlow},
		{"DELETE", "/v1/auth-flows/{code}", false, s.deleteAuthFlow},
		{"POST", "/v1/auth-flows/{code}/test", false, s.needs(s.Tester != nil, s.testAuthFlow)},
		{"GET", "/v1/auth-flows/{code}/consent", false, s.needs(s.Consent != nil, s.startConsent)},
		{"GET", "/v1/tokens", false, s.listTokens},

		{"GET", "/v1/mail-settings", false, s.listMailSettings},
		{"GET", "/v1/mail-settings/{document_flow}", false, s.getMailSetting},
		{"PUT", "/v1/mail-settings/{document_flow}", false, s.putMailSetting},
		{"DELETE", "/v1/mail-settings/{document_flow}", false, s.deleteMailSetting},

		{"GET", "/v1/file-names", false, s.listFileNameRules},
		{"GET", "/v1/file-names/{document_flow}", false, s.getFileNameRule},
		{"PUT", "/v1/file-names/{document_flow}", false, s.putFileNameRule},
		{"DELETE", "/v1/file-names/{document_flow}", false, s.deleteFileNameRule},
		{"POST", "/v1/file-names/{document_flow}/resolve", false, s.needs(s.FileNames != nil, s.resolveFileName)},

		{"POST", "/v1/messages", false, s.needs(msg, s.postMessage)},
		{"POST", "/v1/messages/preview", false, s.needs(msg, s.previewMessage)},
		{"GET", "/v1/messages", false, s.listMessages},
		{"GET", "/v1/messages/{id}", false, s.getMessage},
		{"GET", "/v1/messages/{id}/eml", false, s.getMessageEML},
		{"POST", "/v1/messages/{id}/retry", false, s.needs(msg, s.retryMessage)},

		{"GET", "/v1/report-templates", false, s.needs(s.Reports != nil, s.listReportTemplates)},
		{"GET", "/v1/report-templates/{name}", false, s.getReportTemplate},
		{"PUT", "/v1/report-templates/{name}", false, s.needs(s.Reports != nil, s.putReportTemplate)},
		{"DELETE", "/v1/report-templates/{name}", false, s.deleteReportTemplate},
		{"POST", "/v1/report-templates/preview", false, s.needs(s.Reports != nil, s.previewReport)},

		{"GET", "/v1/webhooks", false, s.listWebhooks},
		{"GET", "/v1/webhooks/{code}", false, s.getWebhook},
		{"PUT", "/v1/webhooks/{code}", false, s.putWebhook},
		{"DELETE", "/v1/webhooks/{code}", false, s.deleteWebhook},
		{"GET", "/v1/webhooks/{code}/deliveries", false, s.listWebhookDeliveries},
		{"POST", "/v1/webhooks/{code}/replay", false, s.replayWebhook},

		{"GET", "/v1/archive", false, s.listArchive},
		{"POST", "/v1/archive", false, s.needs(s.Archiver != nil, s.postArchive)},
		{"GET", "/v1/archive/{id}", false, s.needs(s.Archive != nil, s.downloadArchive)},
	}
}

// Handler returns envoi's HTTP handler: the route table, /metrics, and a
// JSON 404 for everything else.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		var h http.Handler = rt.handler
		if !rt.Public {
			h = s.requireAPIKey(h)
		}
		mux.Handle(rt.Method+" "+rt.Path, s.bounded(uploadRoutes[rt.Method+" "+rt.Path], h))
	}
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.bounded(false, s.Metrics))
	}
	notFound := s.bounded(false, http.HandlerFunc(s.notFound))
	if s.UI != nil {
		// The UI bounds its own routes' bodies and times.
		mux.Handle("/", s.UI)
		mux.Handle("/v1/", notFound)
	} else {
		mux.Handle("/", notFound)
	}
	return s.accessLog(s.headers(s.recoverPanics(mux)))
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPI)
}

// needs answers 503 unavailable when a part of envoi the route needs is not
// wired in this process.
func (s *Server) needs(ok bool, h http.HandlerFunc) http.HandlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		refuseBody(w, r)
		s.writeError(w, r, envoi.Errorf(envoi.EUnavailable, "this part of envoi is not running in this process"))
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	refuseBody(w, r)
	what := r.Method + " " + r.URL.Path
	if strings.ContainsAny(what, "\r\n") {
		what = "this route"
	}
	s.writeErrorStatus(w, r, errNotFound("route", what), http.StatusNotFound)
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
