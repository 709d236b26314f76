package ui

import (
	"io/fs"
	"net/http"
)

// access says who may use a route.
type access int

const (
	// anyone, signed in or not: static files and the sign-in pages.
	anyone access = iota
	// signedIn is any signed-in user.
	signedIn
	// adminOnly is a user of role admin.
	adminOnly
	// ownOperator is an admin, or the operator user whose operator code is
	// the route's {code}.
	ownOperator
)

type route struct {
	pattern string
	access  access
	handler http.HandlerFunc
}

// routes is the whole route table of the UI.
func (s *Server) routes() []route {
	static, _ := fs.Sub(files, "static")
	return []route{
		{"GET /static/", anyone, s.static(http.StripPrefix("/static/", http.FileServerFS(static)))},
		{"GET /login", anyone, s.loginForm},
		{"POST /login", anyone, s.login},
		{"POST /logout", signedIn, s.logout},
		{"GET /forgot", anyone, s.forgotForm},
		{"POST /forgot", anyone, s.forgot},
		{"GET /reset", anyone, s.resetForm},
		{"POST /reset", anyone, s.reset},

		{"GET /{$}", signedIn, s.home},
		{"GET /account", signedIn, s.account},
		{"POST /account", signedIn, s.saveAccount},
		{"POST /account/password", signedIn, s.changePassword},

		{"GET /auth-flows", adminOnly, s.listFlows},
		{"GET /auth-flows/new", adminOnly, s.newFlow},
		{"POST /auth-flows", adminOnly, s.saveFlow},
		{"GET /auth-flows/{code}", adminOnly, s.editFlow},
		{"POST /auth-flows/{code}", adminOnly, s.saveFlow},
		{"POST /auth-flows/{code}/delete", adminOnly, s.deleteFlow},
		{"POST /auth-flows/{code}/test", adminOnly, s.testFlow},
		{"POST /auth-flows/{code}/test/start", adminOnly, s.startFlowTest},
		{"GET /auth-flows/{code}/test/{id}", adminOnly, s.flowTestProgress},
		{"POST /auth-flows/{code}/test/{id}/cancel", adminOnly, s.cancelFlowTest},
		{"POST /auth-flows/{code}/authenticate", adminOnly, s.authenticateFlow},

		{"GET /operators", adminOnly, s.listOperators},
		{"GET /operators/new", adminOnly, s.newOperator},
		{"POST /operators", adminOnly, s.saveOperator},
		{"GET /operators/{code}", ownOperator, s.editOperator},
		{"POST /operators/{code}", ownOperator, s.saveOperator},
		{"POST /operators/{code}/delete", adminOnly, s.deleteOperator},
		{"POST /operators/{code}/authenticate", ownOperator, s.authenticateOperator},

		{"GET /groups", adminOnly, s.listGroups},
		{"GET /groups/new", adminOnly, s.newGroup},
		{"POST /groups", adminOnly, s.saveGroup},
		{"GET /groups/{code}", adminOnly, s.editGroup},
		{"POST /groups/{code}", adminOnly, s.saveGroup},
		{"POST /groups/{code}/delete", adminOnly, s.deleteGroup},

		{"GET /companies", adminOnly, s.listCompanies},
		{"GET /companies/new", adminOnly, s.newCompany},
		{"POST /companies", adminOnly, s.saveCompany},
		{"GET /companies/{code}", adminOnly, s.editCompany},
		{"POST /companies/{code}", adminOnly, s.saveCompany},
		{"GET /companies/{code}/logo", adminOnly, s.companyLogo},
		{"POST /companies/{code}/delete", adminOnly, s.deleteCompany},

		{"GET /document-flows", adminOnly, s.listDocumentFlows},
		{"GET /document-flows/new", adminOnly, s.newDocumentFlow},
		{"POST /document-flows", adminOnly, s.saveDocumentFlow},
		{"GET /document-flows/{code}", adminOnly, s.editDocumentFlow},
		{"POST /document-flows/{code}", adminOnly, s.saveDocumentFlow},
		{"POST /document-flows/{code}/delete", adminOnly, s.deleteDocumentFlow},

		{"GET /mail-settings", adminOnly, s.listMailSettings},
		{"GET /mail-settings/{flow}", adminOnly, s.editMailSetting},
		{"POST /mail-settings/{flow}", adminOnly, s.saveMailSetting},
		{"POST /mail-settings/{flow}/preview", adminOnly, s.previewMailSetting},
		{"POST /mail-settings/{flow}/preview-message", adminOnly, s.previewMessage},
		{"GET /mail-settings/{flow}/preview-message/html", adminOnly, s.previewMessageHTML},
		{"POST /mail-settings/{flow}/delete", adminOnly, s.deleteMailSetting},

		{"GET /file-names", adminOnly, s.listFileNames},
		{"GET /file-names/{flow}", adminOnly, s.editFileName},
		{"POST /file-names/{flow}", adminOnly, s.saveFileName},

		{"GET /messages", adminOnly, s.listMessages},
		{"GET /messages/{id}", adminOnly, s.showMessage},
		{"GET /messages/{id}/eml", adminOnly, s.messageEML},
		{"GET /messages/{id}/html", adminOnly, s.messageHTML},
		{"GET /messages/{id}/source", adminOnly, s.messageSource},
		{"POST /signature-preview", signedIn, s.signaturePreview},
		{"POST /messages/{id}/retry", adminOnly, s.retryMessage},

		{"GET /tokens", adminOnly, s.listTokens},

		{"GET /webhooks", adminOnly, s.listWebhooks},
		{"GET /webhooks/new", adminOnly, s.newWebhook},
		{"POST /webhooks", adminOnly, s.saveWebhook},
		{"GET /webhooks/{code}", adminOnly, s.editWebhook},
		{"POST /webhooks/{code}", adminOnly, s.saveWebhook},
		{"POST /webhooks/{code}/delete", adminOnly, s.deleteWebhook},
		{"POST /webhooks/{code}/replay", adminOnly, s.replayWebhook},

		{"GET /api-keys", adminOnly, s.listAPIKeys},
		{"POST /api-keys", adminOnly, s.createAPIKey},
		{"POST /api-keys/{id}/revoke", adminOnly, s.revokeAPIKey},

		{"GET /users", adminOnly, s.listUsers},
		{"POST /users", adminOnly, s.createUser},
		{"GET /users/{id}", adminOnly, s.editUser},
		{"POST /users/{id}", adminOnly, s.saveUser},
		{"POST /users/{id}/unlock", adminOnly, s.unlockUser},
		{"POST /users/{id}/delete", adminOnly, s.deleteUser},

		{"GET /settings", adminOnly, s.settingsPage},
		{"POST /settings", adminOnly, s.saveSettings},

		{"/", anyone, s.notFound},
	}
}

// static serves the embedded assets; they change only with envoi itself.
func (s *Server) static(h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	}
}
