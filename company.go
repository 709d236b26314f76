package envoi

import (
	"regexp"
	"strings"
	"time"
)

// Company is a company of the ERP [Société]: the footer text that follows
// the operator's in every mail sent for it, its signature (HTML, used when
// the operator has none) and the logo sent inline. Language and Currency
// drive the reports rendered for it.
type Company struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	FooterText string `json:"footer_text"`
	// SignatureHTML is sanitized like an operator's (package signature)
	// when saved and when sent.
	SignatureHTML string    `json:"signature_html"`
	Logo          []byte    `json:"-"`
	LogoType      string    `json:"logo_type,omitempty"` // image/png or image/jpeg
	Language      string    `json:"language,omitempty"`  // en, fr or es; fr by default
	Currency      string    `json:"currency,omitempty"`  // ISO 4217; EUR by default
	Address       string    `json:"address,omitempty"`   // postal block printed on reports
	UpdatedAt     time.Time `json:"updated_at"`
}

// DocumentLanguage is the language of the reports rendered for c: its
// Language, French when it has none.
func (c *Company) DocumentLanguage() string { return NegotiateLanguage(c.Language, "fr") }

// Group is a set of operators; a flow may be assigned to a group.
type Group struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Operator is a user of the ERP who sends mail [opérateur, fiche personnel].
//
// SMTPPassword is write-only: the store keeps it encrypted, fills it on read
// for the send path, and the API shows only SMTPPasswordSet. An empty
// SMTPPassword on save keeps the stored one; ClearSMTPPassword removes it
// (a basic flow's operator then sends without AUTH, through a relay that
// accepts by address).
type Operator struct {
	Code            string    `json:"code"`
	Name            string    `json:"name"`
	Email           string    `json:"email"`
	Group           string    `json:"group"`
	FooterText      string    `json:"footer_text"`
	SignatureHTML   string    `json:"signature_html"`
	OAuthEnabled    bool      `json:"oauth_enabled"`
	Language        string    `json:"language,omitempty"`
	SMTPPassword    string    `json:"-"`
	SMTPPasswordSet bool      `json:"smtp_password_set"`
	UpdatedAt       time.Time `json:"updated_at"`
	// ClearSMTPPassword asks PutOperator to remove the stored password.
	ClearSMTPPassword bool `json:"-"`
}

var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)

// ValidCode reports whether s can be the code of a configuration object:
// 1 to 64 letters, digits, '_', '-' or '.', not starting with a symbol.
func ValidCode(s string) bool { return codePattern.MatchString(s) }

func checkCode(code, field string) error {
	if !ValidCode(code) {
		return FieldError(EInvalidInput, field, "%q is not a valid code (1 to 64 letters, digits, '_', '-' or '.')", code)
	}
	return nil
}

// Validate returns EInvalidInput naming the first wrong field.
func (c *Company) Validate() error {
	if err := checkCode(c.Code, "code"); err != nil {
		return err
	}
	if c.Language != "" && !KnownLanguage(c.Language) {
		return FieldError(EInvalidInput, "language", "%q is not one of en, fr, es", c.Language)
	}
	if len(c.Logo) > 0 {
		typ, err := CheckLogo(c.Logo)
		if err != nil {
			return err
		}
		if c.LogoType != typ {
			return FieldError(EInvalidInput, "logo", "the logo is %s, not %s as declared", typ, c.LogoType)
		}
	}
	if strings.TrimSpace(c.Name) == "" {
		return FieldError(EInvalidInput, "name", "a company needs a name (it is the [SOCIETE] of mails and reports)")
	}
	return nil
}

// Validate returns EInvalidInput naming the first wrong field.
func (g *Group) Validate() error { return checkCode(g.Code, "code") }

// Validate returns EInvalidInput naming the first wrong field.
func (o *Operator) Validate() error {
	if err := checkCode(o.Code, "code"); err != nil {
		return err
	}
	if o.Email != "" {
		if _, err := ParseAddress(o.Email); err != nil {
			return FieldError(EInvalidInput, "email", "%q is not a valid e-mail address", o.Email)
		}
	}
	if o.Group != "" {
		if err := checkCode(o.Group, "group"); err != nil {
			return err
		}
	}
	if o.Language != "" && !KnownLanguage(o.Language) {
		return FieldError(EInvalidInput, "language", "%q is not one of en, fr, es", o.Language)
	}
	if o.ClearSMTPPassword && o.SMTPPassword != "" {
		return FieldError(EInvalidInput, "clear_smtp_password", "give a new SMTP password or clear the stored one, not both")
	}
	return nil
}
