package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"reflect"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"envoi"
)

// A PostgreSQL server that stops, restarts or drops its connections makes
// the driver fail with connection errors: refused connections, sessions
// terminated by the administrator, broken pipes. The store turns them into
// a Temporary EUnavailable where they arise, in a thin layer over pgx's
// database/sql driver, so that every method's error carries that code
// however it is wrapped afterwards: the API answers 503 and the queue
// retries, where an internal error would answer 500 and fail a message.

// openPostgresDB opens url as sql.Open("pgx", url) does, through the layer.
func openPostgresDB(url string) (*sql.DB, error) {
	c, err := stdlib.GetDefaultDriver().(driver.DriverContext).OpenConnector(url)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(pgConnector{c}), nil
}

// unavailable returns err as a Temporary EUnavailable when it says the
// database cannot be reached, and unchanged otherwise (database/sql's own
// signals — io.EOF, driver.ErrSkip, driver.ErrBadConn — included).
func unavailable(err error) error {
	if passThrough(err) || !connectionLost(err) {
		return err
	}
	return unavailableError(err, "the database cannot be reached")
}

// passThrough reports the errors returned as they are: none, database/sql's
// signals, and envoi's own.
func passThrough(err error) bool {
	var e *envoi.Error
	return err == nil || err == io.EOF || err == driver.ErrSkip || err == driver.ErrRemoveArgument ||
		errors.Is(err, driver.ErrBadConn) || errors.As(err, &e)
}

func unavailableError(err error, msg string) *envoi.Error {
	e := envoi.Errorf(envoi.EUnavailable, "%s", msg)
	e.Temporary = true
	e.Err = err
	return e
}

// connectionLost reports an error of a connection that could not be made
// or was lost, as opposed to an error of the statement.
func connectionLost(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case len(pg.Code) == 5 && pg.Code[:2] == "08": // connection exception
			return true
		case pg.Code == "57P01", pg.Code == "57P02", pg.Code == "57P03": // admin shutdown, crash shutdown, cannot connect now
			return true
		case pg.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	if pc, ok := cn.(pgDriverConn); ok {
		return pgConn{pc}, nil
	}
	return cn, nil
}

// pgDriverConn is what pgx's connection implements; pgConn implements the
// same, no more, so database/sql uses it as it would pgx's.
type pgDriverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.NamedValueChecker
	driver.SessionResetter
}

var (
	_ pgDriverConn = (*stdlib.Conn)(nil)
	_ pgDriverConn = pgConn{}
)

type pgConn struct{ c pgDriverConn }

// lost maps err as unavailable does, and also when the connection is
// closed after it: pgx closes a connection it can no longer trust, and
// some of its errors then ("conn closed") say no more than that.
func (c pgConn) lost(err error) error {
	if passThrough(err) {
		return err
	}
	if connectionLost(err) {
		return unavailableError(err, "the database cannot be reached")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if pc, ok := c.c.(interface{ Conn() *pgx.Conn }); ok && pc.Conn().IsClosed() {
		return unavailableError(err, "the connection to the database was lost")
	}
	return err
}

func (c pgConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, c.lost(err)
	}
	return pgStmt{st, c}, nil
}

func (c pgConn) Close() error { return c.c.Close() }

func (c pgConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c pgConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.c.BeginTx(ctx, opts)
	if err != nil {
		if pgconn.SafeToRetry(err) {
			// Nothing was sent: database/sql tries another connection,
			// as pgx's driver has it do for queries.
			return nil, driver.ErrBadConn
		}
		return nil, c.lost(err)
	}
	return pgTx{tx, c}, nil
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	res, err := c.c.ExecContext(ctx, query, args)
	return res, c.lost(err)
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.c.QueryContext(ctx, query, args)
	if err != nil {
		return nil, c.lost(err)
	}
	return pgRows{rows, c}, nil
}

func (c pgConn) Ping(ctx context.Context) error { return c.lost(c.c.Ping(ctx)) }

func (c pgConn) CheckNamedValue(v *driver.NamedValue) error { return c.c.CheckNamedValue(v) }

func (c pgConn) ResetSession(ctx context.Context) error { return c.c.ResetSession(ctx) }

type pgTx struct {
	tx driver.Tx
	c  pgConn
}

func (t pgTx) Commit() error   { return t.c.lost(t.tx.Commit()) }
func (t pgTx) Rollback() error { return t.c.lost(t.tx.Rollback()) }

type pgStmt struct {
	st driver.Stmt
	c  pgConn
}

func (s pgStmt) Close() error  { return s.st.Close() }
func (s pgStmt) NumInput() int { return s.st.NumInput() }

func (s pgStmt) Exec(args []driver.Value) (driver.Result, error) {
	res, err := s.st.Exec(args)
	return res, s.c.lost(err)
}

func (s pgStmt) Query(args []driver.Value) (driver.Rows, error) {
	rows, err := s.st.Query(args)
	if err != nil {
		return nil, s.c.lost(err)
	}
	return pgRows{rows, s.c}, nil
}

func (s pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	res, err := s.st.(driver.StmtExecContext).ExecContext(ctx, args)
	return res, s.c.lost(err)
}

func (s pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := s.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, s.c.lost(err)
	}
	return pgRows{rows, s.c}, nil
}

type pgRows struct {
	r driver.Rows
	c pgConn
}

func (r pgRows) Columns() []string              { return r.r.Columns() }
func (r pgRows) Close() error                   { return r.c.lost(r.r.Close()) }
func (r pgRows) Next(dest []driver.Value) error { return r.c.lost(r.r.Next(dest)) }

func (r pgRows) ColumnTypeDatabaseTypeName(i int) string {
	if c, ok := r.r.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return c.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r pgRows) ColumnTypeLength(i int) (int64, bool) {
	if c, ok := r.r.(driver.RowsColumnTypeLength); ok {
		return c.ColumnTypeLength(i)
	}
	return 0, false
}

func (r pgRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if c, ok := r.r.(driver.RowsColumnTypePrecisionScale); ok {
		return c.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r pgRows) ColumnTypeScanType(i int) reflect.Type {
	if c, ok := r.r.(driver.RowsColumnTypeScanType); ok {
		return c.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
