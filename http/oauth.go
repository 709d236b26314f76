package http

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"

	"envoi"
)

// Consent runs OAuth consent (the oauth package implements it).
type Consent interface {
	StartConsent(ctx context.Context, flow, operator, returnTo string) (string, error)
	Callback(ctx context.Context, state, code, errParam, errDesc string) (*envoi.Token, string, error)
}

// Tester runs a flow's Test action for one operator.
type Tester interface {
	Test(ctx context.Context, flow, operator string) (envoi.TestResult, error)
}

// startConsent redirects the browser to the provider's consent page.
func (s *Server) startConsent(w http.ResponseWriter, r *http.Request) {
	returnTo := r.URL.Query().Get("return_to")
	u, err := s.Consent.StartConsent(r.Context(), r.PathValue("code"), r.URL.Query().Get("operator"), returnTo)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// consentStyle is the callback page's own style element, for an instance
// without the admin UI; with it, the UI's style sheet (/static/style.css)
// makes the page look like the rest of the console. The page's
// Content-Security-Policy allows the element by its hash, envoi's own
// style sheet and icon, and nothing else.
const consentStyle = `body{font-family:system-ui,sans-serif}.card{max-width:36rem;margin:4rem auto;padding:0 1rem}`

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}} · envoi</title>
<style>` + consentStyle + `</style><link rel="stylesheet" href="/static/style.css"><link rel="icon" href="/static/favicon.svg" type="image/svg+xml"></head>
<body class="bare"><main class="main" id="main">
<section class="card narrow" id="consent-result">
<div class="brandline"><img src="/static/favicon.svg" alt="" width="28" height="28"> envoi</div>
<div class="flash {{if .OK}}ok{{else}}error{{end}}" role="{{if .OK}}status{{else}}alert{{end}}">
<h1 class="msg">{{.Title}}</h1>
<p>{{.Text}}</p>{{if .Remedy}}<p class="remedy">{{.Remedy}}</p>{{end}}
</div>
<p><a class="button primary" id="consent-back" href="{{.Back}}">{{.BackLabel}}</a></p>
</section>
</main></body></html>`))

// consentCSP lets the callback page show its text and style, and nothing
// else: no script, no form, no frame around it.
var consentCSP = func() string {
	h := sha256.Sum256([]byte(consentStyle))
	return "default-src 'none'; style-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// consentTexts are the callback page's words, by key then language;
// envoi.InLanguage looks them up.
var consentTexts = map[string]map[string]string{
	"ok_title":   {"en": "Authentication succeeded", "fr": "Authentification réussie", "es": "Autenticación correcta"},
	"ok_text":    {"en": "envoi can now send mail as %s. You can close this page.", "fr": "envoi peut maintenant envoyer des e-mails en tant que %s. Vous pouvez fermer cette page.", "es": "envoi ya puede enviar correos como %s. Puede cerrar esta página."},
	"fail_title": {"en": "Authentication failed", "fr": "Échec de l'authentification", "es": "Falló la autenticación"},
	"back":       {"en": "Back", "fr": "Retour", "es": "Volver"},
	"home":       {"en": "Back to envoi", "fr": "Retour à envoi", "es": "Volver a envoi"},
}

func consentText(key, lang string) string {
	t, _ := envoi.InLanguage(consentTexts[key], lang)
	return t
}

// oauthCallback is the provider's redirect target: it stores the token and
// says, in the operator's language, that it worked or why not.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lang := Language(r)
	tok, returnTo, err := s.Consent.Callback(r.Context(), q.Get("state"), q.Get("code"), q.Get("error"), q.Get("error_description"))
	// The way back: the page the consent started from, else envoi's home.
	data := map[string]any{"Lang": lang, "BackLabel": consentText("home", lang), "Back": "/"}
	status := http.StatusOK
	if err != nil {
		e := envoi.AsError(err)
		if e.Code == envoi.EInternal {
			s.logger().Error("http: oauth callback", "err", err)
		}
		l := e.Localize(lang)
		data["Title"], data["Text"], data["Remedy"] = consentText("fail_title", lang), l.Message+reason(l), l.Remedy
		status = envoi.HTTPStatus(e.Code)
		if e.Code == envoi.EOAuthProvider && !e.Temporary {
			// The provider answered and refused this sign-in (consent
			// denied, a code forged or used twice): the browser's request
			// is at fault, not a gateway.
			status = http.StatusBadRequest
		}
	} else {
		data["OK"] = true
		data["Title"], data["Text"] = consentText("ok_title", lang), strings.Replace(consentText("ok_text", lang), "%s", tok.Email, 1)
		if strings.HasPrefix(returnTo, "/") && !strings.HasPrefix(returnTo, "//") {
			data["Back"], data["BackLabel"] = returnTo, consentText("back", lang)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", consentCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	// The address holds the authorization code and the state.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = consentPage.Execute(w, data)
}

func reason(e *envoi.Error) string {
	if r, ok := e.Details["reason"].(string); ok && r != "" {
		return " (" + r + ")"
	}
	return ""
}

type testInput struct {
	Operator string `json:"operator"`
}

type testOutput struct {
	OK    bool             `json:"ok"`
	Steps []envoi.TestStep `json:"steps"`
	Error *errorFields     `json:"error"`
}

// testAuthFlow runs the flow's Test action; the outcome is in the body
// (200), a failed test is not an HTTP error.
func (s *Server) testAuthFlow(w http.ResponseWriter, r *http.Request) {
	var in testInput
	if err := s.decode(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.Store.AuthFlow(r.Context(), r.PathValue("code")); envoi.ErrorCode(err) == envoi.ENotFound {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Tester.Test(r.Context(), r.PathValue("code"), in.Operator)
	if err != nil && res.Error == nil {
		if envoi.ErrorCode(err) == envoi.EInternal {
			s.writeError(w, r, err)
			return
		}
		res.Error = envoi.AsError(err)
	}
	out := testOutput{OK: res.OK && res.Error == nil, Steps: res.Steps}
	if out.Steps == nil {
		out.Steps = []envoi.TestStep{}
	}
	if res.Error != nil {
		l := res.Error.Localize(Language(r))
		out.Error = &errorFields{Code: l.Code, Message: l.Message, Remedy: l.Remedy, Details: l.Details}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Tokens(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}
