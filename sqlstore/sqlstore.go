// Package sqlstore is envoi's store on database/sql: SQLite by default (a
// file in the data directory, through modernc.org/sqlite) and PostgreSQL
// when a database URL says so (through pgx), for several instances sharing
// one queue and one token store.
//
// The schema is in embedded goose migrations (migrations/sqlite and
// migrations/postgres, numbered alike). Secrets are sealed with a key ring
// of package secret whose data keys, wrapped by the master key, live in the
// data_keys table. The send queue is the messages table itself (queue.go):
// a message is its own send job, with one lease and a claim token.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"envoi"
	"envoi/secret"
	"envoi/spool"
)

// Dialects.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// DatabaseFile is the SQLite file's name in the data directory.
const DatabaseFile = "envoi.db"

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Options configure a Store. The zero value of each field is useful except
// MasterKey, which is required (see secret.LoadMasterKey).
type Options struct {
	// DataDir holds the SQLite file when DatabaseURL is empty.
	DataDir string
	// DatabaseURL selects PostgreSQL with a postgres:// or postgresql://
	// URL; empty means SQLite in DataDir.
	DatabaseURL string
	// MasterKey wraps the data keys (32 bytes).
	MasterKey []byte
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Logger receives the store's few log lines; discarded by default.
	Logger *slog.Logger
	// MaxOpenConns bounds the connections that read (SQLite; writes go
	// through one connection) or all connections (PostgreSQL). Default 8
	// for SQLite, 10 for PostgreSQL.
	MaxOpenConns int
	// MessageIDDomain is the domain of the Message-ID header chosen when a
	// message is accepted: "<msg_...@domain>". Default "envoi.invalid".
	MessageIDDomain string
	// KeyReloadInterval is how often the store looks for data keys another
	// instance added (a rotation). Default one minute; negative disables it
	// (an unknown key id in a ciphertext still triggers a reload).
	KeyReloadInterval time.Duration
	// BusyTimeout is how long SQLite waits for the write lock held by
	// another process (envoi migrate, keys rotate, envoi send) before a
	// write fails with a Temporary EUnavailable. Default ten seconds.
	BusyTimeout time.Duration
	// SanitizeHTML cleans an operator's or a company's signature before
	// PutOperator or PutCompany stores it (and writes the clean value
	// back), so
	// every front-end stores the same thing; cmd/envoi sets it to
	// signature.Sanitize. Nil stores the signature as given.
	SanitizeHTML func(string) string
}

// Store implements envoi.Store on SQLite or PostgreSQL.
type Store struct {
	// db runs writes and transactions. On SQLite it has one connection:
	// SQLite has one writer, and waiting for it in Go is fair and never
	// fails with SQLITE_BUSY.
	db *sql.DB
	// rdb runs reads outside transactions: a read-only pool on SQLite (WAL
	// lets readers run beside the writer), db itself on PostgreSQL.
	rdb *sql.DB

	dialect   string
	cache     configCache // configuration reads by version (cache.go)
	now       func() time.Time
	log       *slog.Logger
	master    []byte
	ring      *secret.Ring
	keysMu    sync.Mutex
	reloading bool // the periodic reload runs
	msgDomain string
	reloadInt time.Duration
	sanitize  func(string) string // Options.SanitizeHTML
	// stmts caches the prepared statements of the send path (queue.go):
	// SQLite would otherwise compile each statement at every call.
	stmtMu sync.Mutex
	stmts  map[stmtKey]*sql.Stmt
	// spool holds the composed messages on SQLite (eml.go, package
	// spool); nil on PostgreSQL, which keeps them in message_emls.
	spool emlSpool
	// group gathers the acceptances and outcomes of concurrent callers
	// into one commit (groupcommit.go).
	group groupCommit

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ envoi.Store = (*Store)(nil)

// Open connects to the database Options name and checks it answers. It
// does not migrate: call Migrate (envoi serve and envoi migrate do).
// Returns EInvalidInput for an unknown URL scheme or a missing master key.
func Open(ctx context.Context, o Options) (*Store, error) {
	if len(o.MasterKey) != secret.KeySize {
		return nil, envoi.FieldError(envoi.EInvalidInput, "master_key", "the master key is %d bytes, want %d", len(o.MasterKey), secret.KeySize)
	}
	s := &Store{
		now:       o.Now,
		log:       o.Logger,
		master:    append([]byte(nil), o.MasterKey...),
		ring:      secret.NewRing(),
		msgDomain: o.MessageIDDomain,
		reloadInt: o.KeyReloadInterval,
		sanitize:  o.SanitizeHTML,
		stop:      make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.msgDomain == "" {
		s.msgDomain = "envoi.invalid"
	}
	if s.reloadInt == 0 {
		s.reloadInt = time.Minute
	}

	var err error
	switch {
	case o.DatabaseURL == "":
		err = s.openSQLite(o)
	case strings.HasPrefix(o.DatabaseURL, "postgres://"), strings.HasPrefix(o.DatabaseURL, "postgresql://"):
		err = s.openPostgres(o)
	default:
		scheme := o.DatabaseURL
		if u, perr := url.Parse(o.DatabaseURL); perr == nil && u.Scheme != "" {
			scheme = u.Scheme + "://"
		} else if len(scheme) > 16 {
			scheme = scheme[:16] + "..."
		}
		return nil, envoi.FieldError(envoi.EInvalidInput, "database_url",
			"%q is not a database URL envoi knows: leave it empty for SQLite in the data directory, or give postgres://user@host:5432/db", scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}

	s.ring.OnUnknownKey(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return s.loadKeys(ctx, false)
	})
	return s, nil
}

func (s *Store) openSQLite(o Options) error {
	s.dialect = DialectSQLite
	if o.DataDir == "" {
		return envoi.FieldError(envoi.EInvalidInput, "data_dir", "a data directory is required for SQLite")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("sqlstore: create data directory: %w", err)
	}
	path := filepath.Join(o.DataDir, DatabaseFile)
	if strings.ContainsAny(path, "?#") {
		return envoi.FieldError(envoi.EInvalidInput, "data_dir", "the data directory's path must not contain '?' or '#'")
	}
	if err := privateFile(path); err != nil {
		return err
	}
	// busy_timeout covers other processes (envoi migrate, keys rotate) that
	// write the same file; _txlock=immediate takes the write lock when a
	// transaction begins, so a transaction that read first never fails to
	// upgrade to a writer.
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	common := "_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_time_format=sqlite"
	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate&_pragma=wal_autocheckpoint("+strconv.Itoa(writerAutoCheckpoint)+")")
	if err != nil {
		return fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// Create the file and switch it to WAL before readers open it.
	if err := w.Ping(); err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = 8
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s.db, s.rdb = w, r
	s.spool = spool.New(filepath.Join(o.DataDir, EMLFolder))
	if err := s.startCheckpointer(path, common); err != nil {
		w.Close()
		r.Close()
		return fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	return nil
}

// privateFile creates the database file readable by its owner alone
// (0600), or takes group and other access away from one that exists:
// SQLite gives its -wal and -shm files the database file's mode, and would
// create the database 0644.
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: create %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sqlstore: create %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(st.Mode().Perm() &^ 0o077); err != nil {
			return fmt.Errorf("sqlstore: make %s private: %w", path, err)
		}
	}
	return nil
}

func (s *Store) openPostgres(o Options) error {
	s.dialect = DialectPostgres
	db, err := openPostgresDB(o.DatabaseURL)
	if err != nil {
		return envoi.FieldError(envoi.EInvalidInput, "database_url", "the PostgreSQL URL does not parse: %v", redact(err))
	}
	n := o.MaxOpenConns
	if n <= 0 {
		n = 10
	}
	if n < 2 {
		// A reload of the keys while a transaction holds the only
		// connection would wait forever.
		n = 2
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.db, s.rdb = db, db
	return nil
}

// redact drops a password from an error that quotes a URL.
func redact(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if j := strings.Index(msg[i:], "@"); j > 0 {
			msg = msg[:i+3] + "***" + msg[i+j:]
		}
	}
	return msg
}

// Close stops the key reloader and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		var errs []error
		if s.rdb != nil && s.rdb != s.db {
			errs = append(errs, s.rdb.Close())
		}
		if s.db != nil {
			errs = append(errs, s.db.Close())
		}
		if s.spool != nil {
			errs = append(errs, s.spool.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// Ping checks that the database answers; EUnavailable when it does not.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.db, s.rdb} {
		if err := db.PingContext(ctx); err != nil {
			e := envoi.Errorf(envoi.EUnavailable, "the %s database does not answer: %s", s.dialect, redact(err))
			e.Temporary = true
			return e
		}
	}
	return nil
}

// DB returns the database handle that writes (on SQLite, its one write
// connection). Migrations and code of other packages that need SQL use it;
// a transaction must not query through another handle while it is open.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Cipher returns the key ring sealing the store's secrets. It seals only
// after Migrate (or a first use of a secret) has loaded the data keys.
func (s *Store) Cipher() envoi.Cipher { return s.ring }

// Migrate applies the embedded migrations not yet applied, then loads the
// data keys (creating the first one on a new database) and starts the
// periodic key reload. Several instances may migrate one PostgreSQL database
// at once: a session advisory lock makes them take turns.
func (s *Store) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+s.dialect)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithSlog(s.log)}
	dialect := goose.DialectSQLite3
	if s.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("sqlstore: migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.db, sub, opts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	for _, r := range results {
		s.log.Info("migration applied", "version", r.Source.Version, "file", filepath.Base(r.Source.Path), "duration", r.Duration)
	}
	if err := s.loadKeys(ctx, true); err != nil {
		return err
	}
	if err := s.prepareHot(ctx); err != nil {
		return fmt.Errorf("sqlstore: prepare the webhook outbox: %w", err)
	}
	s.startReloader()
	return nil
}

// Version returns the schema version applied (the highest migration).
func (s *Store) Version(ctx context.Context) (int64, error) {
	sub, _ := fs.Sub(migrations, "migrations/"+s.dialect)
	dialect := goose.DialectSQLite3
	if s.dialect == DialectPostgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, s.db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	return p.GetDBVersion(ctx)
}

// tx runs fn in a transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return locked(fmt.Errorf("sqlstore: begin: %w", err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return locked(err)
	}
	if err := tx.Commit(); err != nil {
		return locked(fmt.Errorf("sqlstore: commit: %w", err))
	}
	return nil
}

// locked returns err as a Temporary EUnavailable when SQLite gave up
// waiting for a lock another process held past the busy timeout: the API
// answers 503 and the queue tries again, where an internal error would
// answer 500.
func locked(err error) error {
	var lite *sqlite.Error
	if !errors.As(err, &lite) {
		return err
	}
	if c := lite.Code() & 0xff; c != sqlite3.SQLITE_BUSY && c != sqlite3.SQLITE_LOCKED {
		return err
	}
	return unavailableError(err, "the SQLite database is locked by another process (envoi migrate, keys rotate, a backup tool?); try again")
}

// lockAssignments serialises the transactions that change who is in which
// flow, so that the rule "one flow per operator" checked across tables
// holds with concurrent writers. SQLite transactions already take the one
// write lock when they begin.
func (s *Store) lockAssignments(ctx context.Context, tx *sql.Tx) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	// An arbitrary constant naming the lock; goose uses another.
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7265312008)`)
	if err != nil {
		return fmt.Errorf("sqlstore: lock flow assignments: %w", err)
	}
	return nil
}

// Time values: UTC with microseconds (PostgreSQL's precision); on SQLite
// written as fixed-width text that sorts in time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

func (s *Store) nowUTC() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// ts is the value of t for a query: NULL for the zero time.
func (s *Store) ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == DialectSQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// timeScan scans a timestamp column (text on SQLite, timestamptz on
// PostgreSQL, NULL for the zero time) into *t.
type timeScan struct{ t *time.Time }

func (ts timeScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*ts.t = time.Time{}
	case time.Time:
		*ts.t = v.UTC()
	case string:
		return ts.parse(v)
	case []byte:
		return ts.parse(string(v))
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

func (ts timeScan) parse(v string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			*ts.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("sqlstore: %q is not a time", v)
}

func scanTime(t *time.Time) sql.Scanner { return timeScan{t} }

// Errors of the database worth telling apart.

func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || lite.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func isForeignKeyViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23503"
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		return lite.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

// notFound is the error of a lookup that found nothing.
func notFound(what, code string) *envoi.Error {
	return envoi.Errorf(envoi.ENotFound, "%s %q not found", what, code).WithDetail("code", code)
}

// affected returns ENotFound when res changed no row.
func affected(res sql.Result, err error, what, code string) error {
	if err != nil {
		return fmt.Errorf("sqlstore: %s %q: %w", what, code, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: %s %q: %w", what, code, err)
	}
	if n == 0 {
		return notFound(what, code)
	}
	return nil
}

// args numbers query arguments: a.add(v) returns "$n". SQLite and
// PostgreSQL both read $n.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}
