package envoi

import (
	"context"
	"strings"
	"time"
)

// Roles of the people who sign in to the admin web UI.
const (
	// RoleAdmin configures everything.
	RoleAdmin = "admin"
	// RoleOperator sees only the e-mail tab of their own operator record
	// (User.Operator) and its Authenticate button.
	RoleOperator = "operator"
)

// User is a person who signs in to the admin web UI. PasswordHash is a
// PHC-format string (argon2id); the password itself is never stored.
// FailedLogins counts the failed sign-ins since the last good one or the
// last lock; LockedUntil, when in the future, refuses every sign-in
// (ELockedOut).
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	Operator     string    `json:"operator,omitempty"`
	Language     string    `json:"language,omitempty"`
	PasswordHash string    `json:"-"`
	FailedLogins int       `json:"failed_logins"`
	LockedUntil  time.Time `json:"locked_until,omitzero"`
	LastLogin    time.Time `json:"last_login,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Validate normalises the address (lower case, no display name) and
// returns EInvalidInput naming the first wrong field.
func (u *User) Validate() error {
	a, err := ParseAddress(strings.TrimSpace(u.Email))
	if err != nil {
		return FieldError(EInvalidInput, "email", "%q is not a valid e-mail address", u.Email)
	}
	u.Email = strings.ToLower(a.Address)
	switch u.Role {
	case RoleAdmin:
		u.Operator = ""
	case RoleOperator:
		if err := checkCode(u.Operator, "operator"); err != nil {
			return err
		}
	default:
		return FieldError(EInvalidInput, "role", "%q is not admin or operator", u.Role)
	}
	if u.Language != "" && !KnownLanguage(u.Language) {
		return FieldError(EInvalidInput, "language", "%q is not one of en, fr, es", u.Language)
	}
	return nil
}

// Session is one signed-in browser. Only the SHA-256 of its token is
// stored: the token lives in the browser's cookie.
type Session struct {
	Hash      []byte    `json:"-"`
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PasswordReset is a pending password recovery: the SHA-256 of the token
// of the link sent by e-mail, single use, short-lived.
type PasswordReset struct {
	Hash      []byte    `json:"-"`
	UserID    string    `json:"user_id"`
	ExpiresAt time.Time `json:"expires_at"`
	CreatedAt time.Time `json:"created_at"`
}

// UserService stores the admin UI's users, their sessions and password
// resets. Lookups return ENotFound (users) or EUnauthorized (sessions,
// resets) when nothing matches.
type UserService interface {
	// CreateUser validates and stores u, setting its ID and timestamps;
	// EConflict when the address is already used.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser writes u's name, role, operator and language.
	UpdateUser(ctx context.Context, u *User) error
	User(ctx context.Context, id string) (*User, error)
	// UserByEmail finds a user by address, whatever its case.
	UserByEmail(ctx context.Context, email string) (*User, error)
	Users(ctx context.Context) ([]*User, error)
	// DeleteUser deletes the user with their sessions and resets.
	DeleteUser(ctx context.Context, id string) error
	// SetPassword stores a new password hash, clears failed sign-ins and
	// any lock, and ends every session and pending reset of the user.
	SetPassword(ctx context.Context, id, hash string) error
	// RecordLoginFailure counts one failed sign-in; at max failures it
	// locks the user until lockUntil and starts counting again. It returns
	// the user as stored afterwards.
	RecordLoginFailure(ctx context.Context, id string, max int, lockUntil time.Time) (*User, error)
	// RecordLogin notes a good sign-in: failures cleared, lock lifted.
	RecordLogin(ctx context.Context, id string) error
	// Unlock clears the failed sign-ins and the lock of a user.
	Unlock(ctx context.Context, id string) error
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with that token hash; EUnauthorized if
	// there is none. Expiry is the caller's to check, by its own clock.
	Session(ctx context.Context, hash []byte) (*Session, error)
	// TouchSession records activity on a session.
	TouchSession(ctx context.Context, hash []byte, lastSeen time.Time) error
	DeleteSession(ctx context.Context, hash []byte) error
	// DeleteExpiredSessions deletes the sessions expired before t, and the
	// password resets too; it returns how many sessions went.
	DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error)
	CreatePasswordReset(ctx context.Context, r *PasswordReset) error
	// TakePasswordReset returns the reset and deletes it (single use);
	// EUnauthorized when unknown or already used. Expiry is the caller's
	// to check.
	TakePasswordReset(ctx context.Context, hash []byte) (*PasswordReset, error)
}

// Settings keys shared by the admin UI and envoi's own mail.
const (
	// SettingSystemSender is the code of the operator envoi sends its own
	// mail as (password recovery, consent alerts). Without it, recovery is
	// refused and alerts are only logged.
	SettingSystemSender = "system_sender"
	// SettingSystemCompany is the company of those mails (optional).
	SettingSystemCompany = "system_company"
)

// SettingService stores the admin UI's few settings by key.
type SettingService interface {
	// Settings returns every setting stored (an empty map when none).
	Settings(ctx context.Context) (map[string]string, error)
	// PutSetting stores value under key; an empty value deletes it.
	PutSetting(ctx context.Context, key, value string) error
}
