package sqlstore

import (
	"context"
	"database/sql"
)

// maxPreparedReads bounds the cache of prepared reads: queries built from
// filters come in a few shapes, but a bound keeps a surprise from growing
// it without end (beyond it, queries run unprepared).
const maxPreparedReads = 256

// reads runs the store's reads outside transactions (on rdb) through
// prepared statements cached by their text. SQLite compiles a statement on
// every unprepared call: profiled with envoi bench, that compiling was a
// tenth of the CPU of accepting a message (the composer reads the flow, the
// operator, the company and the settings of each).
type reads struct{ s *Store }

func (s *Store) reads() reads { return reads{s} }

// QueryRowContext runs a prepared query returning one row.
func (r reads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.s.rdb.QueryRowContext(ctx, query, args...)
}

// QueryContext runs a prepared query returning rows.
func (r reads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.s.rdb.QueryContext(ctx, query, args...)
}

// stmt returns the prepared statement of query, or nil when the cache is
// full or preparing failed (the plain query then reports the error).
func (r reads) stmt(ctx context.Context, query string) *sql.Stmt {
	r.s.stmtMu.Lock()
	st, n := r.s.stmts[stmtKey{r.s.rdb, query}], len(r.s.stmts)
	r.s.stmtMu.Unlock()
	if st != nil {
		return st
	}
	if n >= maxPreparedReads {
		return nil
	}
	st, err := r.s.prepared(ctx, r.s.rdb, query)
	if err != nil {
		return nil
	}
	return st
}
