package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"envoi"
)

func checkTokenKey(k envoi.TokenKey) error {
	if !envoi.ValidCode(k.Flow) {
		return envoi.FieldError(envoi.EInvalidInput, "flow", "%q is not a valid flow code", k.Flow)
	}
	if k.Operator != "" && !envoi.ValidCode(k.Operator) {
		return envoi.FieldError(envoi.EInvalidInput, "operator", "%q is not a valid operator code", k.Operator)
	}
	return nil
}

func (s *Store) checkToken(t *envoi.Token) error {
	if err := checkTokenKey(envoi.TokenKey{Flow: t.Flow, Operator: t.Operator}); err != nil {
		return err
	}
	if t.Status == "" {
		t.Status = envoi.TokenValid
	}
	if t.Status != envoi.TokenValid && t.Status != envoi.TokenConsentRequired {
		return envoi.FieldError(envoi.EInvalidInput, "status", "%q is not valid or consent_required", t.Status)
	}
	return nil
}

// sealToken returns the sealed client id, access token and refresh token.
func (s *Store) sealToken(t *envoi.Token) (clientID, access, refresh any, err error) {
	if clientID, err = s.seal(t.ClientID, aad("tokens", "client_id", t.Flow, t.Operator)); err != nil {
		return
	}
	if access, err = s.seal(t.AccessToken, aad("tokens", "access_token", t.Flow, t.Operator)); err != nil {
		return
	}
	refresh, err = s.seal(t.RefreshToken, aad("tokens", "refresh_token", t.Flow, t.Operator))
	return
}

// SaveToken inserts or replaces the token of t's key after a consent,
// whatever its stored version, and sets t.RowVersion to the new version.
// Returns ENotFound when the flow or the operator does not exist.
func (s *Store) SaveToken(ctx context.Context, t *envoi.Token) error {
	if err := s.checkToken(t); err != nil {
		return err
	}
	if err := s.ensureKeys(ctx); err != nil {
		return err
	}
	now := s.nowUTC()
	if t.StatusChanged.IsZero() {
		t.StatusChanged = now
	}
	clientID, access, refresh, err := s.sealToken(t)
	if err != nil {
		return err
	}
	var version int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if t.Operator != "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM operators WHERE code = $1`, t.Operator).Scan(&n); err != nil {
				return fmt.Errorf("sqlstore: save token: %w", err)
			}
			if n == 0 {
				return notFound("operator", t.Operator).WithDetail("field", "operator")
			}
		}
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM tokens WHERE flow = $1 AND operator = $2`, t.Flow, t.Operator).Scan(&old); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: save token: %w", err)
		}
		err := tx.QueryRowContext(ctx, `
			INSERT INTO tokens (flow, operator, client_id, provider, email, expiry, access_token, refresh_token,
				row_version, status, last_error, consented_at, refreshed_at, status_changed_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (flow, operator) DO UPDATE SET
				client_id = excluded.client_id, provider = excluded.provider, email = excluded.email,
				expiry = excluded.expiry, access_token = excluded.access_token, refresh_token = excluded.refresh_token,
				row_version = tokens.row_version + 1, status = excluded.status, last_error = excluded.last_error,
				consented_at = excluded.consented_at, refreshed_at = excluded.refreshed_at,
				status_changed_at = excluded.status_changed_at, updated_at = excluded.updated_at
			RETURNING row_version`,
			t.Flow, t.Operator, clientID, t.Provider, t.Email, s.ts(t.Expiry), access, refresh,
			t.Status, t.LastError, s.ts(t.ConsentedAt), s.ts(t.RefreshedAt), s.ts(t.StatusChanged), s.ts(now)).Scan(&version)
		if isForeignKeyViolation(err) {
			return notFound("authentication flow", t.Flow).WithDetail("field", "flow")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: save token %s/%s: %w", t.Flow, t.Operator, err)
		}
		return s.appendTokenEvent(ctx, tx, old, t)
	})
	if err != nil {
		return err
	}
	t.RowVersion, t.UpdatedAt = version, now
	return nil
}

// UpdateToken writes t only if the stored row version is still
// t.RowVersion, then increments t.RowVersion. Returns EConflict when
// another writer changed the token first (re-read it) and ENotFound when
// there is no token.
func (s *Store) UpdateToken(ctx context.Context, t *envoi.Token) error {
	if err := s.checkToken(t); err != nil {
		return err
	}
	if err := s.ensureKeys(ctx); err != nil {
		return err
	}
	now := s.nowUTC()
	if t.StatusChanged.IsZero() {
		t.StatusChanged = now
	}
	clientID, access, refresh, err := s.sealToken(t)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// The status before, for the webhook event of a change; the row
		// version fences the update below, so it is this row's.
		var old string
		var stored int64
		err := tx.QueryRowContext(ctx, `SELECT status, row_version FROM tokens WHERE flow = $1 AND operator = $2`, t.Flow, t.Operator).Scan(&old, &stored)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("token", t.Flow+"/"+t.Operator)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: update token %s/%s: %w", t.Flow, t.Operator, err)
		}
		res, err := tx.ExecContext(ctx, `
			UPDATE tokens SET client_id = $1, provider = $2, email = $3, expiry = $4, access_token = $5,
				refresh_token = $6, status = $7, last_error = $8, consented_at = $9, refreshed_at = $10,
				status_changed_at = $11, updated_at = $12, row_version = row_version + 1
			WHERE flow = $13 AND operator = $14 AND row_version = $15`,
			clientID, t.Provider, t.Email, s.ts(t.Expiry), access, refresh, t.Status, t.LastError,
			s.ts(t.ConsentedAt), s.ts(t.RefreshedAt), s.ts(t.StatusChanged), s.ts(now),
			t.Flow, t.Operator, t.RowVersion)
		if err != nil {
			return fmt.Errorf("sqlstore: update token %s/%s: %w", t.Flow, t.Operator, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlstore: update token %s/%s: %w", t.Flow, t.Operator, err)
		} else if n == 0 {
			return envoi.Errorf(envoi.EConflict, "the token of %s/%s changed meanwhile (version %d, not %d): read it again", t.Flow, t.Operator, stored, t.RowVersion).
				WithDetail("row_version", stored)
		}
		return s.appendTokenEvent(ctx, tx, old, t)
	})
	if err != nil {
		return err
	}
	t.RowVersion++
	t.UpdatedAt = now
	return nil
}

const tokenColumns = `flow, operator, client_id, provider, email, expiry, access_token, refresh_token,
	row_version, status, last_error, consented_at, refreshed_at, status_changed_at, updated_at`

// scanToken scans a row; the returned function decrypts the secrets, to be
// called once the row's connection is released (see openAll).
func (s *Store) scanToken(row interface{ Scan(...any) error }) (*envoi.Token, func() error, error) {
	var t envoi.Token
	var clientID, access, refresh []byte
	err := row.Scan(&t.Flow, &t.Operator, &clientID, &t.Provider, &t.Email, scanTime(&t.Expiry), &access, &refresh,
		&t.RowVersion, &t.Status, &t.LastError, scanTime(&t.ConsentedAt), scanTime(&t.RefreshedAt), scanTime(&t.StatusChanged), scanTime(&t.UpdatedAt))
	if err != nil {
		return nil, nil, err
	}
	return &t, func() (err error) {
		if t.ClientID, err = s.open(clientID, aad("tokens", "client_id", t.Flow, t.Operator)); err != nil {
			return err
		}
		if t.AccessToken, err = s.open(access, aad("tokens", "access_token", t.Flow, t.Operator)); err != nil {
			return err
		}
		t.RefreshToken, err = s.open(refresh, aad("tokens", "refresh_token", t.Flow, t.Operator))
		return err
	}, nil
}

// Token returns the token of key, decrypted; ENotFound if none.
func (s *Store) Token(ctx context.Context, key envoi.TokenKey) (*envoi.Token, error) {
	t, open, err := s.scanToken(s.reads().QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE flow = $1 AND operator = $2`, key.Flow, key.Operator))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token", key.Flow+"/"+key.Operator).WithDetail("flow", key.Flow).WithDetail("operator", key.Operator)
	}
	if err == nil {
		err = open()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: token %s/%s: %w", key.Flow, key.Operator, err)
	}
	return t, nil
}

// Tokens returns every token by flow and operator, decrypted.
func (s *Store) Tokens(ctx context.Context) ([]*envoi.Token, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY flow, operator`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: tokens: %w", err)
	}
	var out []*envoi.Token
	var opens []func() error
	for rows.Next() {
		t, open, err := s.scanToken(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: tokens: %w", err)
		}
		out, opens = append(out, t), append(opens, open)
	}
	if err := openAll(rows, opens); err != nil {
		return nil, fmt.Errorf("sqlstore: tokens: %w", err)
	}
	return out, nil
}

// DeleteToken deletes the token of key; ENotFound if none.
func (s *Store) DeleteToken(ctx context.Context, key envoi.TokenKey) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE flow = $1 AND operator = $2`, key.Flow, key.Operator)
	return affected(res, err, "token", key.Flow+"/"+key.Operator)
}

// stateHash is the key of a pending consent: the state itself is a bearer
// value and is not stored.
func stateHash(state string) string {
	h := sha256.Sum256([]byte(state))
	return hex.EncodeToString(h[:])
}

// MinStateLength bounds the states PutOAuthState accepts: they must be
// unguessable.
const MinStateLength = 16

// PutOAuthState stores a pending consent, its verifier sealed. ExpiresAt
// defaults to now + envoi.OAuthStateTTL. Expired states are purged.
// Returns EInvalidInput for a short state or a bad flow code, EConflict
// for a state already stored.
func (s *Store) PutOAuthState(ctx context.Context, st *envoi.OAuthState) error {
	if len(st.State) < MinStateLength {
		return envoi.FieldError(envoi.EInvalidInput, "state", "the state must be at least %d characters of randomness", MinStateLength)
	}
	if err := checkTokenKey(envoi.TokenKey{Flow: st.Flow, Operator: st.Operator}); err != nil {
		return err
	}
	if err := s.ensureKeys(ctx); err != nil {
		return err
	}
	now := s.nowUTC()
	if st.ExpiresAt.IsZero() {
		st.ExpiresAt = now.Add(envoi.OAuthStateTTL)
	}
	h := stateHash(st.State)
	verifier, err := s.seal(st.Verifier, aad("oauth_states", "verifier", h))
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_states WHERE expires_at < $1`, s.ts(now)); err != nil {
			return fmt.Errorf("sqlstore: purge consents: %w", err)
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO oauth_states (state_hash, flow, operator, verifier, redirect_uri, return_to, language, expires_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			h, st.Flow, st.Operator, verifier, st.RedirectURI, st.ReturnTo, st.Language, s.ts(st.ExpiresAt), s.ts(now))
		if isUniqueViolation(err) {
			return envoi.Errorf(envoi.EConflict, "this consent state is already pending")
		}
		if err != nil {
			return fmt.Errorf("sqlstore: put consent state: %w", err)
		}
		return nil
	})
}

// TakeOAuthState returns the pending consent of state and deletes it: a
// state works once. Returns EOAuthState when it is unknown, already used
// or expired.
func (s *Store) TakeOAuthState(ctx context.Context, state string) (*envoi.OAuthState, error) {
	h := stateHash(state)
	var st envoi.OAuthState
	var verifier []byte
	err := s.db.QueryRowContext(ctx, `
		DELETE FROM oauth_states WHERE state_hash = $1
		RETURNING flow, operator, verifier, redirect_uri, return_to, language, expires_at`, h).
		Scan(&st.Flow, &st.Operator, &verifier, &st.RedirectURI, &st.ReturnTo, &st.Language, scanTime(&st.ExpiresAt))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, envoi.Errorf(envoi.EOAuthState, "the consent link is unknown or was already used")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: take consent state: %w", err)
	}
	if !s.nowUTC().Before(st.ExpiresAt) {
		return nil, envoi.Errorf(envoi.EOAuthState, "the consent link expired at %s", st.ExpiresAt.Format("15:04:05 MST")).WithDetail("expires_at", st.ExpiresAt)
	}
	if st.Verifier, err = s.open(verifier, aad("oauth_states", "verifier", h)); err != nil {
		return nil, err
	}
	st.State = state
	return &st, nil
}
