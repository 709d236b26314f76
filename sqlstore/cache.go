package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"envoi"
)

// The configuration layer. The configuration (flows and their
// assignments, operators and groups, companies, document flows with their
// mail settings and file-name rules, API keys) is read six times for every message
// accepted and again to send it, and changes seldom. configCache keeps the
// decoded values (secrets opened), each with the config_version it was
// read at. A trigger on each table of configTables bumps that version in
// every transaction that changes the table, whichever process or instance
// writes, so a lookup costs one single-row read of the version while
// nothing changes, and never serves a value older than the last committed
// change.
//
// The version is read before the value it tags, in another statement: a
// change committed between the two leaves a newer value under the older
// version, which the next lookup sees as out of date and reads again. The
// other order could tag an old value with the new version for good.
//
// The layer's parts, all in this file: configTables and configTriggers
// (what is configuration), configVersion and ConfigSnapshot (the version a
// read is made at), cached and cachedAt (the reads), configTx and
// configCache.drop (the writes).
//
// A table a cached read comes from without a trigger would be served stale
// for good once read: TestConfigTables fails, on both databases, for a
// table of configTables whose triggers are missing and for a table that is
// in neither configTables nor its list of the tables that are not
// configuration.

// configTables are the tables of the configuration, the only place they
// are listed: the cached reads come from them, and each has the triggers
// configTriggers names (migration 00030). A new one needs its entry here
// and its triggers in a migration.
var configTables = []string{
	"companies",             // Company
	"operator_groups",       // read by none, but operators and auth_flow_groups refer to it
	"operators",             // Operator, FlowForOperator
	"auth_flows",            // AuthFlow, FlowForOperator
	"auth_flow_operators",   // AuthFlow's operators, FlowForOperator
	"auth_flow_groups",      // AuthFlow's groups, FlowForOperator
	"document_flows",        // DocumentFlow
	"mail_settings",         // MailSetting
	"mail_setting_variants", // ChooseMailSetting
	"file_name_rules",       // FileNameRule
	"api_keys",              // APIKeyByHash (00230)
}

// configTriggers returns the names of the triggers that bump
// config_version when a statement writes table: on SQLite one for each of
// INSERT, UPDATE and DELETE, run for each row; on PostgreSQL one for all
// of INSERT, UPDATE, DELETE and TRUNCATE, run before each statement (it
// calls bump_config_version()).
func configTriggers(dialect, table string) []string {
	if dialect == DialectPostgres {
		return []string{table + "_config_version"}
	}
	return []string{table + "_insert_config_version", table + "_update_config_version", table + "_delete_config_version"}
}

// maxCacheEntries bounds the cache; when full it starts again empty.
const maxCacheEntries = 4096

type cacheKind uint8

const (
	cacheAuthFlow cacheKind = iota
	cacheFlowOf             // an operator's flow code
	cacheOperator
	cacheCompany
	cacheDocumentFlow
	cacheMailSetting
	cacheMailSettingChoice
	cacheFileNameRule
	cacheAPIKey // by hash
)

type cacheKey struct {
	kind cacheKind
	code string
}

type cacheEntry struct {
	version int64
	value   any // owned by the cache: callers get copies
}

// configCache is the Store's cache of configuration reads; its zero value
// is empty and on.
type configCache struct {
	off     atomic.Bool // read through, for benchmarks and tests
	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
}

func (c *configCache) get(k cacheKey, version int64) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || e.version != version {
		return nil, false
	}
	return e.value, true
}

func (c *configCache) put(k cacheKey, version int64, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok && e.version > version {
		return // a lookup that read later already stored a newer value
	}
	if c.entries == nil || len(c.entries) >= maxCacheEntries {
		c.entries = make(map[cacheKey]cacheEntry)
	}
	c.entries[k] = cacheEntry{version, v}
}

// drop empties the cache. The write methods call it once they are done,
// so that this process does not keep what it replaced; the version alone
// would make the next lookup read again anyway.
func (c *configCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// configVersion returns the configuration's version, -1 when the cache is
// off or the version does not read (an unmigrated database): lookups at -1
// read the database and store nothing.
func (s *Store) configVersion(ctx context.Context) int64 {
	if s.cache.off.Load() {
		return -1
	}
	if v, ok := ctx.Value(snapshotKey{}).(int64); ok {
		return v
	}
	var n int64
	if err := s.reads().QueryRowContext(ctx, `SELECT n FROM config_version`).Scan(&n); err != nil {
		return -1
	}
	return n
}

type snapshotKey struct{}

// ConfigSnapshot returns ctx carrying the configuration's version, read
// once: the cached reads made with it are of that version, without asking
// the database each time. Accepting a message reads the configuration six
// times; with a snapshot it asks for the version once. Hold the context
// for one task only: a change committed meanwhile is seen by the next.
func (s *Store) ConfigSnapshot(ctx context.Context) context.Context {
	v := s.configVersion(ctx)
	if v < 0 {
		return ctx
	}
	return context.WithValue(ctx, snapshotKey{}, v)
}

// cached returns the value of (kind, code), from the cache when it is
// there at the current version, else from read, keeping it. Of errors only
// ENotFound is kept. clone copies what the caller may change.
func cached[T any](ctx context.Context, s *Store, kind cacheKind, code string, read func() (T, error), clone func(T) T) (T, error) {
	return cachedAt(s, s.configVersion(ctx), kind, code, read, clone)
}

// cachedAt is cached with the version already read: a lookup made of two
// (an operator's flow code, then the flow) tags both with one version.
func cachedAt[T any](s *Store, version int64, kind cacheKind, code string, read func() (T, error), clone func(T) T) (T, error) {
	if version < 0 {
		return read()
	}
	k := cacheKey{kind, code}
	if v, ok := s.cache.get(k, version); ok {
		if nf, ok := v.(cachedNotFound); ok {
			var zero T
			return zero, copyError(nf.err)
		}
		return clone(v.(T)), nil
	}
	v, err := read()
	var nf *envoi.Error
	if errors.As(err, &nf) && nf.Code == envoi.ENotFound {
		// What is not there is looked up as often (a document flow
		// without a file-name rule, at each message): kept too.
		s.cache.put(k, version, cachedNotFound{copyError(nf)})
	}
	if err != nil {
		return v, err
	}
	s.cache.put(k, version, v)
	return clone(v), nil
}

// cachedNotFound is a cached ENotFound, kept and handed out as copies:
// callers may add details to the error they get.
type cachedNotFound struct{ err *envoi.Error }

func copyError(e *envoi.Error) *envoi.Error {
	c := *e
	c.Details = maps.Clone(e.Details)
	return &c
}

// configTx runs fn in a transaction that changes the configuration. On
// PostgreSQL it bumps config_version first: its row lock then comes before
// any other lock the transaction takes (tokens and consents deleted with an
// operator, the assignments lock), the order the statement triggers keep
// too, so two writers queue on it instead of deadlocking.
func (s *Store) configTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	defer s.cache.drop()
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == DialectPostgres {
			if _, err := tx.ExecContext(ctx, `UPDATE config_version SET n = n + 1`); err != nil {
				return fmt.Errorf("sqlstore: configuration version: %w", err)
			}
		}
		return fn(tx)
	})
}

// Copies of cached values: callers may change what they get (the UI edits
// a flow it read and puts it back).

func cloneAuthFlow(f *envoi.AuthFlow) *envoi.AuthFlow {
	c := *f
	c.Operators, c.Groups = slices.Clone(f.Operators), slices.Clone(f.Groups)
	return &c
}

func cloneOperator(o *envoi.Operator) *envoi.Operator { c := *o; return &c }

func cloneCompany(co *envoi.Company) *envoi.Company {
	c := *co
	c.Logo = bytes.Clone(co.Logo)
	return &c
}

func cloneDocumentFlow(d *envoi.DocumentFlow) *envoi.DocumentFlow {
	c := *d
	c.Keywords = slices.Clone(d.Keywords)
	return &c
}

func cloneMailSetting(ms *envoi.MailSetting) *envoi.MailSetting { c := *ms; return &c }

func cloneFileNameRule(r *envoi.FileNameRule) *envoi.FileNameRule { c := *r; return &c }

func sameString(s string) string { return s }
