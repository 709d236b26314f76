package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"envoi"
)

// lastUsedEvery is how stale APIKey.LastUsed may be: APIKeyByHash writes
// it at most this often per key, not on every request.
const lastUsedEvery = time.Minute

// CreateAPIKey stores a key by its hash (the SHA-256 of the key, which the
// caller computes and then forgets), setting k.ID ("key_" + random) and
// k.CreatedAt. Returns EInvalidInput for a missing name or a hash that is
// not 32 bytes, EConflict for a hash already stored.
func (s *Store) CreateAPIKey(ctx context.Context, k *envoi.APIKey) error {
	if strings.TrimSpace(k.Name) == "" {
		return envoi.FieldError(envoi.EInvalidInput, "name", "an API key needs a name")
	}
	if len(k.Hash) != sha256.Size {
		return envoi.FieldError(envoi.EInvalidInput, "hash", "the key's hash is %d bytes; a SHA-256 is %d", len(k.Hash), sha256.Size)
	}
	if k.ID == "" {
		k.ID = envoi.NewID("key_")
	}
	now := s.nowUTC()
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_keys (id, name, prefix, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		k.ID, k.Name, k.Prefix, k.Hash, s.ts(now))
	if isUniqueViolation(err) {
		return envoi.Errorf(envoi.EConflict, "this API key (or its id %s) already exists", k.ID)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create api key: %w", err)
	}
	k.CreatedAt = now
	return nil
}

const apiKeyColumns = `id, name, prefix, hash, created_at, last_used, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*envoi.APIKey, error) {
	var k envoi.APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, scanTime(&k.CreatedAt), scanTime(&k.LastUsed), scanTime(&k.RevokedAt))
	return &k, err
}

// APIKeyByHash returns the live key with that hash and notes its use;
// EUnauthorized if there is none or it was revoked.
func (s *Store) APIKeyByHash(ctx context.Context, hash []byte) (*envoi.APIKey, error) {
	// Cached (cache.go): a key unknown or revoked is an error cached reads
	// do not keep, so a stream of wrong keys fills nothing.
	k, err := cached(ctx, s, cacheAPIKey, string(hash), func() (*envoi.APIKey, error) {
		k, err := scanAPIKey(s.reads().QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1`, hash))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !k.RevokedAt.IsZero()) {
			return nil, envoi.Errorf(envoi.EUnauthorized, "unknown or revoked API key")
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: api key: %w", err)
		}
		return k, nil
	}, cloneAPIKey)
	if err != nil {
		return nil, err
	}
	// Recording the use bumps the configuration's version (00230): the
	// next lookup reads the key again, with its new last use.
	now := s.nowUTC()
	if now.Sub(k.LastUsed) >= lastUsedEvery {
		if _, err := s.db.ExecContext(ctx, `UPDATE api_keys SET last_used = $1 WHERE id = $2`, s.ts(now), k.ID); err != nil {
			s.log.Warn("api key use not recorded", "key_id", k.ID, "error", err)
		} else {
			k.LastUsed = now
		}
	}
	return k, nil
}

// APIKeys returns every key, revoked ones included, oldest first.
func (s *Store) APIKeys(ctx context.Context) ([]*envoi.APIKey, error) {
	rows, err := s.reads().QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: api keys: %w", err)
	}
	defer rows.Close()
	var out []*envoi.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: api keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes the key for good; revoking it again does nothing.
// Returns ENotFound if there is no such key.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2`, s.ts(s.nowUTC()), id)
	return affected(res, err, "API key", id)
}

// cloneAPIKey copies k for a caller of the cache.
func cloneAPIKey(k *envoi.APIKey) *envoi.APIKey {
	c := *k
	c.Hash = bytes.Clone(k.Hash)
	return &c
}
