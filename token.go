package envoi

import "time"

// Token states.
const (
	TokenValid           = "valid"
	TokenConsentRequired = "consent_required"
)

// Token is an OAuth 2.0 grant for one identity of one flow: the seed's
// "Emails" table. Operator is the operator's code, or "" for the flow's
// generic mailbox (and app-only grants). ClientID, AccessToken and
// RefreshToken are encrypted at rest.
//
// RowVersion is the optimistic lock of the row: UpdateToken succeeds only if
// the stored version is still the one read, so two instances refreshing at
// once cannot both win.
type Token struct {
	Flow         string    `json:"flow"`
	Operator     string    `json:"operator"`
	ClientID     string    `json:"-"`
	Provider     string    `json:"provider"`
	Email        string    `json:"email"`
	Expiry       time.Time `json:"expiry"`
	AccessToken  string    `json:"-"`
	RefreshToken string    `json:"-"`
	RowVersion   int64     `json:"-"`
	Status       string    `json:"status"` // valid or consent_required
	// LastError is the provider's text when the token was refused.
	LastError   string    `json:"last_error,omitempty"`
	ConsentedAt time.Time `json:"consented_at"`
	// RefreshedAt is when the token was last refreshed. A time in the
	// future is an instance's claim to be refreshing it until then (package
	// oauth): other instances wait for its token instead of refreshing too.
	RefreshedAt   time.Time `json:"refreshed_at"`
	StatusChanged time.Time `json:"status_changed_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// TokenKey names the identity a token belongs to.
type TokenKey struct {
	Flow     string
	Operator string // "" for the flow's generic mailbox
}

// OAuthState is a pending consent: random, single-use, short-lived and stored
// in the database so the provider's redirect may land on any instance.
// Verifier is the PKCE code verifier, encrypted at rest.
type OAuthState struct {
	State       string    `json:"-"`
	Flow        string    `json:"flow"`
	Operator    string    `json:"operator"`
	Verifier    string    `json:"-"`
	RedirectURI string    `json:"redirect_uri"`
	ReturnTo    string    `json:"return_to"`
	Language    string    `json:"language"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// OAuthStateTTL is how long a consent link works.
const OAuthStateTTL = 10 * time.Minute

// TokenHealth is the state of one identity's token, for the admin's token
// health screen (oauth.Service.Health lists them).
type TokenHealth struct {
	Flow     string `json:"flow"`
	Operator string `json:"operator"` // "" for the flow's generic mailbox
	Email    string `json:"email"`
	// Status is valid, consent_required or never_consented.
	Status       string `json:"status"`
	NeedsConsent bool   `json:"needs_consent"`
	// Since is when the status last changed (zero for never_consented).
	Since time.Time `json:"since"`
	// LastError is the provider's text when it refused the token.
	LastError   string    `json:"last_error,omitempty"`
	Expiry      time.Time `json:"expiry"`
	RefreshedAt time.Time `json:"refreshed_at"`
	ConsentedAt time.Time `json:"consented_at"`
}
