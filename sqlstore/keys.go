package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"envoi"
	"envoi/secret"
)

// secretColumn is a column holding sealed values; its associated data is
// "table/column/" + the row's key columns joined by "/".
type secretColumn struct {
	table, column string
	key           []string
}

// secretColumns lists every column sealed with the ring. RotateKeys
// re-encrypts them; the dump test checks none holds a secret in clear.
var secretColumns = []secretColumn{
	{"operators", "smtp_password", []string{"code"}},
	{"auth_flows", "client_secret", []string{"code"}},
	{"auth_flows", "service_account_key", []string{"code"}},
	{"tokens", "client_id", []string{"flow", "operator"}},
	{"tokens", "access_token", []string{"flow", "operator"}},
	{"tokens", "refresh_token", []string{"flow", "operator"}},
	{"oauth_states", "verifier", []string{"state_hash"}},
	{"webhooks", "secret", []string{"code"}},
}

func aad(table, column string, key ...string) string {
	return table + "/" + column + "/" + strings.Join(key, "/")
}

func dataKeyAAD(id uint32) string { return "data_keys/wrapped/" + strconv.FormatUint(uint64(id), 10) }

// seal returns the sealed value of plain for a query, NULL for "".
func (s *Store) seal(plain, aad string) (any, error) {
	if plain == "" {
		return nil, nil
	}
	ct, err := s.ring.Seal([]byte(plain), aad)
	if err != nil {
		return nil, err
	}
	return ct, nil
}

// open returns the plaintext of a sealed column, "" for NULL.
func (s *Store) open(ct []byte, aad string) (string, error) {
	if ct == nil {
		return "", nil
	}
	p, err := s.ring.Open(ct, aad)
	if err != nil {
		return "", err
	}
	return string(p), nil
}

// openAll closes rows, then runs the decryptions of the values read from
// them. Decrypting after the connection is back in the pool matters: a
// value under a key this instance does not know yet reloads the keys, which
// needs a connection of its own.
func openAll(rows *sql.Rows, opens []func() error) error {
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, open := range opens {
		if err := open(); err != nil {
			return err
		}
	}
	return nil
}

// ensureKeys loads the data keys if none is loaded yet, creating the first
// one on a new database. Write methods call it before their transaction:
// on SQLite the transaction holds the one write connection.
func (s *Store) ensureKeys(ctx context.Context) error {
	if s.ring.Primary() != 0 {
		return nil
	}
	return s.loadKeys(ctx, true)
}

// loadKeys reads the data keys, unwraps the new ones into the ring and
// makes the newest primary. With create, an empty table gets its first key.
func (s *Store) loadKeys(ctx context.Context, create bool) error {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	for attempt := 0; ; attempt++ {
		rows, err := s.reads().QueryContext(ctx, `SELECT id, wrapped FROM data_keys ORDER BY id`)
		if err != nil {
			return fmt.Errorf("sqlstore: load data keys (was the database migrated?): %w", err)
		}
		var newest uint32
		for rows.Next() {
			var id int64
			var wrapped []byte
			if err := rows.Scan(&id, &wrapped); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: load data keys: %w", err)
			}
			kid := uint32(id)
			if !s.ring.Has(kid) {
				key, err := secret.Unwrap(s.master, wrapped, dataKeyAAD(kid))
				if err != nil {
					rows.Close()
					if errors.Is(err, secret.ErrDecrypt) {
						return envoi.FieldError(envoi.EInvalidInput, "master_key",
							"the master key does not open data key %d: give the master key this database was set up with (ENVOI_MASTER_KEY or the data directory's master.key)", kid)
					}
					return fmt.Errorf("sqlstore: data key %d: %w", kid, err)
				}
				if err := s.ring.Add(kid, key); err != nil {
					rows.Close()
					return err
				}
			}
			newest = kid
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("sqlstore: load data keys: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: load data keys: %w", err)
		}
		if newest != 0 {
			if newest != s.ring.Primary() {
				s.log.Info("data key loaded", "primary_key_id", newest)
			}
			return s.ring.SetPrimary(newest)
		}
		if !create || attempt > 0 {
			return envoi.Errorf(envoi.EInternal, "no data key in the database")
		}
		if err := s.insertDataKey(ctx, 1); err != nil && !isUniqueViolation(err) {
			return err
		}
	}
}

// insertDataKey stores a new random data key under id, wrapped.
func (s *Store) insertDataKey(ctx context.Context, id uint32) error {
	wrapped, err := secret.Wrap(s.master, id, secret.NewKey(), dataKeyAAD(id))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO data_keys (id, wrapped, created_at) VALUES ($1, $2, $3)`, int64(id), wrapped, s.ts(s.nowUTC()))
	if err != nil {
		return fmt.Errorf("sqlstore: create data key %d: %w", id, err)
	}
	return nil
}

// ReloadKeys loads data keys another instance added since the last load.
// The store calls it every KeyReloadInterval after Migrate, and when a
// ciphertext names a key it does not hold.
func (s *Store) ReloadKeys(ctx context.Context) error { return s.loadKeys(ctx, false) }

func (s *Store) startReloader() {
	if s.reloadInt < 0 {
		return
	}
	s.keysMu.Lock()
	started := s.reloading
	s.reloading = true
	s.keysMu.Unlock()
	if started {
		return
	}
	s.wg.Go(func() {
		t := time.NewTicker(s.reloadInt)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var newest sql.NullInt64
				err := s.reads().QueryRowContext(ctx, `SELECT max(id) FROM data_keys`).Scan(&newest)
				if err == nil && newest.Valid && uint32(newest.Int64) != s.ring.Primary() {
					err = s.loadKeys(ctx, false)
				}
				cancel()
				if err != nil {
					s.log.Warn("data keys not reloaded", "error", err)
				}
			}
		}
	})
}

// RotateKeys creates a new data key, makes it primary, and re-encrypts
// every sealed value under it, row by row: each row is one short UPDATE
// that writes only if the row still holds the ciphertext read (a value
// written meanwhile is not clobbered; a later pass picks it up if it is
// under an old key). Old keys stay in data_keys, retired, so values sealed
// with them still open: instances keep running during the rotation and
// load the new key on their next reload. progress, if not nil, is called
// with the rows visited and the total. It returns how many values were
// re-encrypted.
func (s *Store) RotateKeys(ctx context.Context, progress func(done, total int)) (int, error) {
	defer s.cache.drop() // re-sealed flows and operators are read again
	if err := s.loadKeys(ctx, true); err != nil {
		return 0, err
	}
	var newest int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM data_keys`).Scan(&newest); err != nil {
		return 0, fmt.Errorf("sqlstore: rotate keys: %w", err)
	}
	id := uint32(newest) + 1
	if err := s.insertDataKey(ctx, id); err != nil {
		if isUniqueViolation(err) {
			return 0, envoi.Errorf(envoi.EConflict, "another key rotation is running")
		}
		return 0, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE data_keys SET retired_at = $1 WHERE id < $2 AND retired_at IS NULL`, s.ts(s.nowUTC()), int64(id)); err != nil {
		return 0, fmt.Errorf("sqlstore: rotate keys: %w", err)
	}
	if err := s.loadKeys(ctx, false); err != nil {
		return 0, err
	}
	if s.ring.Primary() != id {
		return 0, envoi.Errorf(envoi.EConflict, "another key rotation made key %d primary", s.ring.Primary())
	}
	s.log.Info("key rotation started", "primary_key_id", id)

	total := 0
	for _, c := range secretColumns {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s IS NOT NULL`, c.table, c.column)
		if err := s.reads().QueryRowContext(ctx, q).Scan(&n); err != nil {
			return 0, fmt.Errorf("sqlstore: rotate keys: count %s.%s: %w", c.table, c.column, err)
		}
		total += n
	}
	done, rewritten := 0, 0
	report := func() {
		if progress != nil {
			progress(min(done, total), total)
		}
	}
	report()
	// A value written under an old key during a pass (by an instance that
	// had not reloaded yet) is taken by the next pass.
	for pass := 0; pass < 3; pass++ {
		n := 0
		for _, c := range secretColumns {
			m, err := s.rotateColumn(ctx, c, id, func() { done++; report() })
			n += m
			if err != nil {
				return rewritten + n, err
			}
		}
		rewritten += n
		if n == 0 {
			break
		}
	}
	s.log.Info("key rotation done", "primary_key_id", id, "values", rewritten)
	return rewritten, nil
}

// rotateColumn re-encrypts the values of c not sealed with key id, paging
// through the table by its key.
func (s *Store) rotateColumn(ctx context.Context, c secretColumn, id uint32, visited func()) (int, error) {
	const page = 200
	keyCols := strings.Join(c.key, ", ")
	var after []string
	rewritten := 0
	for {
		var a args
		where := c.column + " IS NOT NULL"
		if after != nil {
			ps := make([]string, len(after))
			for i, v := range after {
				ps[i] = a.add(v)
			}
			where += fmt.Sprintf(" AND (%s) > (%s)", keyCols, strings.Join(ps, ", "))
		}
		q := fmt.Sprintf(`SELECT %s, %s FROM %s WHERE %s ORDER BY %s LIMIT %d`, keyCols, c.column, c.table, where, keyCols, page)
		type row struct {
			key []string
			ct  []byte
		}
		var batch []row
		rows, err := s.reads().QueryContext(ctx, q, a...)
		if err != nil {
			return rewritten, fmt.Errorf("sqlstore: rotate %s.%s: %w", c.table, c.column, err)
		}
		for rows.Next() {
			r := row{key: make([]string, len(c.key))}
			dest := make([]any, 0, len(c.key)+1)
			for i := range r.key {
				dest = append(dest, &r.key[i])
			}
			dest = append(dest, &r.ct)
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return rewritten, fmt.Errorf("sqlstore: rotate %s.%s: %w", c.table, c.column, err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rewritten, fmt.Errorf("sqlstore: rotate %s.%s: %w", c.table, c.column, err)
		}
		for _, r := range batch {
			visited()
			if kid, err := secret.KeyID(r.ct); err == nil && kid == id {
				continue
			}
			place := aad(c.table, c.column, r.key...)
			plain, err := s.ring.Open(r.ct, place)
			if err != nil {
				return rewritten, fmt.Errorf("sqlstore: rotate %s: %w", place, err)
			}
			ct, err := s.ring.Seal(plain, place)
			if err != nil {
				return rewritten, err
			}
			var u args
			set := u.add(ct)
			conds := []string{c.column + " = " + u.add(r.ct)}
			for i, k := range c.key {
				conds = append(conds, k+" = "+u.add(r.key[i]))
			}
			res, err := s.db.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = %s WHERE %s`, c.table, c.column, set, strings.Join(conds, " AND ")), u...)
			if err != nil {
				return rewritten, fmt.Errorf("sqlstore: rotate %s: %w", place, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				rewritten++
			}
			clear(plain)
		}
		if len(batch) < page {
			return rewritten, nil
		}
		after = batch[len(batch)-1].key
	}
}
