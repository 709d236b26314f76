package ui

import (
	"net/http"
	"strconv"
	"strings"

	"envoi"
)

// fieldErr is one wrong field of a form as the page shows it next to the
// field: the input's id, what is wrong, and how to put it right.
type fieldErr struct {
	Field  string // the error's field, e.g. smtp.host
	Input  string // the id of its input on the page
	Reason string
	Fix    string
}

// inputIDs are the inputs of the error fields whose id is not the field's
// name with '.' made '_'.
var inputIDs = map[string]string{
	"generic_mailbox.email": "generic_email",
	"generic_mailbox":       "generic_enabled",
}

func errField(err error) string {
	if err == nil {
		return ""
	}
	f, _ := envoi.AsError(err).Details["field"].(string)
	return f
}

// fieldErrs are errs that name a field, in the page's language: the
// reason, and the catalogue's fix.<field> (fix.default when it has none).
func (s *Server) fieldErrs(lang string, errs []error) []fieldErr {
	var out []fieldErr
	for _, err := range errs {
		field := errField(err)
		if field == "" {
			continue
		}
		l := envoi.AsError(err).Localize(lang)
		reason, _ := l.Details["reason"].(string)
		if reason == "" {
			reason = l.Message
		}
		// The page names the field by its label.
		reason = strings.TrimPrefix(reason, field+": ")
		fix, ok := s.cat.lookup(lang, "fix."+field)
		if !ok {
			fix, _ = s.cat.lookup(lang, "fix.default")
		}
		input := inputIDs[field]
		if input == "" {
			input = strings.ReplaceAll(field, ".", "_")
		}
		out = append(out, fieldErr{Field: field, Input: input, Reason: reason, Fix: fix})
	}
	return out
}

// flowErrors returns every field error of the flow's form, first the one
// that stopped the save: the store's checks stop at the first, so each
// wrong field is set to a plausible value in a copy and the copy checked
// again, until it passes or a field is wrong twice. The numbers the form
// could not read are added.
func flowErrors(r *http.Request, f *envoi.AuthFlow, first error) []error {
	errs := []error{first}
	seen := map[string]bool{errField(first): true}
	if errField(first) == "" {
		return errs
	}
	for _, n := range []string{"smtp_port", "max_attachments_mb", "rate_per_minute"} {
		field := strings.Replace(n, "smtp_", "smtp.", 1)
		raw := strings.TrimSpace(r.PostFormValue(n))
		if _, err := strconv.Atoi(raw); raw != "" && err != nil && !seen[field] {
			seen[field] = true
			errs = append(errs, envoi.FieldError(envoi.EInvalidFlowData, field, "%q is not a whole number", raw))
		}
	}
	c := *f
	c.Operators, c.Groups = nil, nil
	for field := range seen {
		patchFlow(&c, field)
	}
	c.ClearOAuth()
	for range 16 {
		err := c.ApplyPreset()
		if err == nil {
			err = c.Validate()
		}
		field := errField(err)
		if err == nil || field == "" || seen[field] {
			break
		}
		seen[field] = true
		errs = append(errs, err)
		if !patchFlow(&c, field) {
			break
		}
	}
	return errs
}

// patchFlow sets field of c to a value its checks accept, so that the
// next check finds the next wrong field; false for a field it cannot set.
func patchFlow(c *envoi.AuthFlow, field string) bool {
	switch field {
	case "code":
		c.Code = "X"
	case "kind":
		c.Kind = envoi.KindSMTPBasic
	case "preset":
		c.Preset = envoi.PresetGeneric
	case "client_id":
		c.ClientID = "client"
	case "client_secret":
		c.ClientSecret = "secret"
	case "tenant":
		c.Tenant = "tenant"
	case "scope":
		c.Scope = envoi.Presets()[c.Preset].Scope
		if c.Scope == "" {
			c.Scope = "mail"
		}
	case "auth_url":
		c.AuthURL = "https://auth.example/authorize"
	case "token_url":
		c.TokenURL = "https://auth.example/token"
	case "redirect_url":
		c.RedirectURL = ""
	case "grant", "service_account_key":
		c.Grant = ""
	case "token_auth_method":
		c.TokenAuthMethod = envoi.TokenAuthAuto
	case "smtp.host":
		c.SMTP.Host = "smtp.example"
	case "smtp.port":
		c.SMTP.Port = 587
	case "smtp.security":
		c.SMTP.Security = envoi.SecuritySTARTTLS
	case "generic_mailbox.email":
		c.GenericMailbox.Email = "mailbox@example.com"
	case "generic_mailbox":
		c.GenericMailbox.Enabled = false
	case "max_attachments_mb":
		c.MaxAttachmentsMB = 25
	case "rate_per_minute":
		c.RatePerMinute = 0
	default:
		return false
	}
	return true
}
