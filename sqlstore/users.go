package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"envoi"
)

var (
	_ envoi.UserService    = (*Store)(nil)
	_ envoi.SettingService = (*Store)(nil)
)

// CreateUser validates and stores u, setting u.ID ("usr_" + random) and its
// timestamps. Returns EInvalidInput naming the wrong field, EConflict when
// the address is already used.
func (s *Store) CreateUser(ctx context.Context, u *envoi.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	if u.ID == "" {
		u.ID = envoi.NewID("usr_")
	}
	now := s.nowUTC()
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO ui_users (id, email, name, role, operator, language, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, u.Email, u.Name, u.Role, u.Operator, u.Language, u.PasswordHash, s.ts(now), s.ts(now))
	if isUniqueViolation(err) {
		return envoi.FieldError(envoi.EConflict, "email", "a user with the address %s already exists", u.Email)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = now, now
	return nil
}

// UpdateUser writes u's name, role, operator and language (not its address,
// password or sign-in counters). Returns ENotFound if there is no such user.
func (s *Store) UpdateUser(ctx context.Context, u *envoi.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	now := s.nowUTC()
	res, err := s.db.ExecContext(ctx, `UPDATE ui_users SET name = $1, role = $2, operator = $3, language = $4, updated_at = $5 WHERE id = $6`,
		u.Name, u.Role, u.Operator, u.Language, s.ts(now), u.ID)
	if err := affected(res, err, "user", u.ID); err != nil {
		return err
	}
	u.UpdatedAt = now
	return nil
}

const userColumns = `id, email, name, role, operator, language, password_hash, failed_logins, locked_until, last_login_at, created_at, updated_at`

func scanUser(row interface{ Scan(...any) error }) (*envoi.User, error) {
	var u envoi.User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.Operator, &u.Language, &u.PasswordHash, &u.FailedLogins,
		scanTime(&u.LockedUntil), scanTime(&u.LastLogin), scanTime(&u.CreatedAt), scanTime(&u.UpdatedAt))
	return &u, err
}

// User returns the user of that id; ENotFound if none.
func (s *Store) User(ctx context.Context, id string) (*envoi.User, error) {
	u, err := scanUser(s.reads().QueryRowContext(ctx, `SELECT `+userColumns+` FROM ui_users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user %q: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user with that address, whatever its case;
// ENotFound if none.
func (s *Store) UserByEmail(ctx context.Context, email string) (*envoi.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err := scanUser(s.reads().QueryRowContext(ctx, `SELECT `+userColumns+` FROM ui_users WHERE email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", email)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: user by e-mail: %w", err)
	}
	return u, nil
}

// Users returns every user by address.
func (s *Store) Users(ctx context.Context) ([]*envoi.User, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+userColumns+` FROM ui_users ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: users: %w", err)
	}
	defer rows.Close()
	var out []*envoi.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// DeleteUser deletes the user, their sessions and pending resets; ENotFound
// if none.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// The foreign keys cascade; deleting explicitly does not depend on
		// SQLite's foreign_keys pragma.
		for _, q := range []string{`DELETE FROM ui_sessions WHERE user_id = $1`, `DELETE FROM ui_password_resets WHERE user_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("sqlstore: delete user %q: %w", id, err)
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM ui_users WHERE id = $1`, id)
		return affected(res, err, "user", id)
	})
}

// SetPassword stores a new password hash, clears the failed sign-ins and
// the lock, and ends every session and pending reset of the user, so a
// changed password signs out whoever held the old one. ENotFound if there
// is no such user; EInvalidInput for an empty hash.
func (s *Store) SetPassword(ctx context.Context, id, hash string) error {
	if hash == "" {
		return envoi.FieldError(envoi.EInvalidInput, "password", "the password hash is empty")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE ui_users SET password_hash = $1, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3`,
			hash, s.ts(s.nowUTC()), id)
		if err := affected(res, err, "user", id); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM ui_sessions WHERE user_id = $1`, `DELETE FROM ui_password_resets WHERE user_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("sqlstore: set password of %q: %w", id, err)
			}
		}
		return nil
	})
}

// RecordLoginFailure counts one failed sign-in of the user. When the count
// reaches max, the user is locked until lockUntil and the count starts
// again from zero. The increment is one statement, so concurrent failures
// are all counted. Returns the user as stored afterwards; ENotFound if none.
func (s *Store) RecordLoginFailure(ctx context.Context, id string, max int, lockUntil time.Time) (*envoi.User, error) {
	if max < 1 {
		return nil, envoi.FieldError(envoi.EInvalidInput, "max", "the number of failures before a lock must be at least 1")
	}
	var u *envoi.User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `UPDATE ui_users SET failed_logins = failed_logins + 1 WHERE id = $1 RETURNING failed_logins`, id).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("user", id)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: record failed sign-in: %w", err)
		}
		if n >= max {
			if _, err := tx.ExecContext(ctx, `UPDATE ui_users SET failed_logins = 0, locked_until = $1 WHERE id = $2`, s.ts(lockUntil), id); err != nil {
				return fmt.Errorf("sqlstore: lock user: %w", err)
			}
		}
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM ui_users WHERE id = $1`, id))
		if err != nil {
			return fmt.Errorf("sqlstore: record failed sign-in: %w", err)
		}
		return nil
	})
	return u, err
}

// RecordLogin notes a good sign-in: the failures are cleared, the lock
// lifted and the time kept. ENotFound if there is no such user.
func (s *Store) RecordLogin(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE ui_users SET failed_logins = 0, locked_until = NULL, last_login_at = $1 WHERE id = $2`, s.ts(s.nowUTC()), id)
	return affected(res, err, "user", id)
}

// Unlock clears the failed sign-ins and the lock; ENotFound if no such user.
func (s *Store) Unlock(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE ui_users SET failed_logins = 0, locked_until = NULL WHERE id = $1`, id)
	return affected(res, err, "user", id)
}

func checkHash(h []byte, what string) error {
	if len(h) != sha256.Size {
		return envoi.FieldError(envoi.EInvalidInput, "hash", "the %s token's hash is %d bytes; a SHA-256 is %d", what, len(h), sha256.Size)
	}
	return nil
}

// CreateSession stores a session by its token's hash, setting CreatedAt and
// LastSeen when zero. Returns EInvalidInput for a hash that is not a
// SHA-256 or a session without expiry.
func (s *Store) CreateSession(ctx context.Context, sess *envoi.Session) error {
	if err := checkHash(sess.Hash, "session"); err != nil {
		return err
	}
	if sess.ExpiresAt.IsZero() {
		return envoi.FieldError(envoi.EInvalidInput, "expires_at", "a session needs an expiry")
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = s.nowUTC()
	}
	if sess.LastSeen.IsZero() {
		sess.LastSeen = sess.CreatedAt
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO ui_sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		sess.Hash, sess.UserID, s.ts(sess.CreatedAt), s.ts(sess.LastSeen), s.ts(sess.ExpiresAt))
	switch {
	case isForeignKeyViolation(err):
		return notFound("user", sess.UserID)
	case isUniqueViolation(err):
		return envoi.Errorf(envoi.EConflict, "this session token already exists")
	case err != nil:
		return fmt.Errorf("sqlstore: create session: %w", err)
	}
	return nil
}

// Session returns the session with that token hash, expired or not;
// EUnauthorized when there is none.
func (s *Store) Session(ctx context.Context, hash []byte) (*envoi.Session, error) {
	sess := envoi.Session{Hash: hash}
	err := s.reads().QueryRowContext(ctx, `SELECT user_id, created_at, last_seen_at, expires_at FROM ui_sessions WHERE token_hash = $1`, hash).
		Scan(&sess.UserID, scanTime(&sess.CreatedAt), scanTime(&sess.LastSeen), scanTime(&sess.ExpiresAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, envoi.Errorf(envoi.EUnauthorized, "unknown or ended session")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: session: %w", err)
	}
	return &sess, nil
}

// TouchSession records activity on a session; EUnauthorized if it is gone.
func (s *Store) TouchSession(ctx context.Context, hash []byte, lastSeen time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE ui_sessions SET last_seen_at = $1 WHERE token_hash = $2`, s.ts(lastSeen), hash)
	if err != nil {
		return fmt.Errorf("sqlstore: touch session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return envoi.Errorf(envoi.EUnauthorized, "unknown or ended session")
	}
	return nil
}

// DeleteSession ends a session; ending an unknown one does nothing.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM ui_sessions WHERE token_hash = $1`, hash); err != nil {
		return fmt.Errorf("sqlstore: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions and password resets that
// expired before t and returns how many sessions went.
func (s *Store) DeleteExpiredSessions(ctx context.Context, t time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM ui_sessions WHERE expires_at < $1`, s.ts(t))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM ui_password_resets WHERE expires_at < $1`, s.ts(t)); err != nil {
		return int(n), fmt.Errorf("sqlstore: delete expired password resets: %w", err)
	}
	return int(n), nil
}

// CreatePasswordReset stores a pending reset by its token's hash. Returns
// ENotFound for an unknown user, EInvalidInput for a bad hash or no expiry.
func (s *Store) CreatePasswordReset(ctx context.Context, r *envoi.PasswordReset) error {
	if err := checkHash(r.Hash, "reset"); err != nil {
		return err
	}
	if r.ExpiresAt.IsZero() {
		return envoi.FieldError(envoi.EInvalidInput, "expires_at", "a password reset needs an expiry")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.nowUTC()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO ui_password_resets (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
		r.Hash, r.UserID, s.ts(r.ExpiresAt), s.ts(r.CreatedAt))
	switch {
	case isForeignKeyViolation(err):
		return notFound("user", r.UserID)
	case isUniqueViolation(err):
		return envoi.Errorf(envoi.EConflict, "this reset token already exists")
	case err != nil:
		return fmt.Errorf("sqlstore: create password reset: %w", err)
	}
	return nil
}

// TakePasswordReset returns the pending reset with that hash and deletes
// it in the same transaction, so a link works once even when clicked twice
// at the same time. EUnauthorized when unknown or already used.
func (s *Store) TakePasswordReset(ctx context.Context, hash []byte) (*envoi.PasswordReset, error) {
	r := envoi.PasswordReset{Hash: hash}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM ui_password_resets WHERE token_hash = $1 RETURNING user_id, expires_at, created_at`, hash).
			Scan(&r.UserID, scanTime(&r.ExpiresAt), scanTime(&r.CreatedAt))
		if errors.Is(err, sql.ErrNoRows) {
			return envoi.Errorf(envoi.EUnauthorized, "the password reset link is unknown or was already used")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: take password reset: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Settings returns every setting of the admin UI.
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT key, value FROM ui_settings`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("sqlstore: settings: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// PutSetting stores value under key; an empty value deletes the setting.
// Returns EInvalidInput for an empty or overlong key.
func (s *Store) PutSetting(ctx context.Context, key, value string) error {
	if key == "" || len(key) > 100 {
		return envoi.FieldError(envoi.EInvalidInput, "key", "a setting's key is 1 to 100 characters")
	}
	if value == "" {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM ui_settings WHERE key = $1`, key); err != nil {
			return fmt.Errorf("sqlstore: delete setting %q: %w", key, err)
		}
		return nil
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO ui_settings (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, value, s.ts(s.nowUTC()))
	if err != nil {
		return fmt.Errorf("sqlstore: put setting %q: %w", key, err)
	}
	return nil
}
