package sqlstore_test

import (
	"context"
	"database/sql"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/sqlstore"
)

// TestUnavailable: when the connection to PostgreSQL is lost (the server
// restarts, the network drops), every method answers EUnavailable, marked
// Temporary, instead of an internal error; errors of statements keep their
// own codes; the store works again once the server is back.
func TestUnavailable(t *testing.T) {
	o := NewTestOptions(t, sqlstore.DialectPostgres)
	proxy := startTCPProxy(t, o.DatabaseURL)
	o.DatabaseURL = proxy.url
	s := MustOpen(t, o)
	ctx := context.Background()
	must(t, s.PutOperator(ctx, operator("jdupont", "")))

	proxy.cut()
	calls := map[string]func() error{
		"Operators":   func() error { _, err := s.Operators(ctx); return err },
		"Operator":    func() error { _, err := s.Operator(ctx, "jdupont"); return err },
		"PutOperator": func() error { return s.PutOperator(ctx, operator("mleroy", "")) },
		"Message":     func() error { _, err := s.Message(ctx, "msg_x"); return err },
		"Ping":        func() error { return s.Ping(ctx) },
	}
	for name, call := range calls {
		t.Run("Down/"+name, func(t *testing.T) {
			err := call()
			e := wantCode(t, err, envoi.EUnavailable)
			if !e.Temporary {
				t.Errorf("%v is not Temporary", err)
			}
		})
	}

	proxy.heal()
	t.Run("Back", func(t *testing.T) {
		if _, err := s.Operator(ctx, "jdupont"); err != nil {
			t.Fatalf("after the database came back: %v", err)
		}
		_, err := s.Operator(ctx, "nobody")
		wantCode(t, err, envoi.ENotFound)
	})
}

// tcpProxy forwards loopback connections to a PostgreSQL server; cut
// drops them all and refuses new ones until heal.
type tcpProxy struct {
	url    string
	target string
	ln     net.Listener

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func startTCPProxy(tb testing.TB, dbURL string) *tcpProxy {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &tcpProxy{target: u.Host, ln: ln, conns: map[net.Conn]struct{}{}}
	u.Host = ln.Addr().String()
	p.url = u.String()
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	return p
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestSQLiteLocked: a write that waited past the busy timeout for a lock
// another process holds is a Temporary EUnavailable, not an internal
// error; the write goes through once the lock is released.
func TestSQLiteLocked(t *testing.T) {
	ctx := context.Background()
	o := NewTestOptions(t, sqlstore.DialectSQLite)
	o.BusyTimeout = 50 * time.Millisecond
	s := MustOpen(t, o)

	other, err := sql.Open("sqlite", filepath.Join(o.DataDir, sqlstore.DatabaseFile))
	must(t, err)
	defer other.Close()
	conn, err := other.Conn(ctx)
	must(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `BEGIN IMMEDIATE`)
	must(t, err)

	m := newMessage("jdupont", "", "h")
	m.EML = []byte("Subject: x\r\n\r\nx\r\n")
	_, err = s.CreateMessage(ctx, m)
	if e := wantCode(t, err, envoi.EUnavailable); e != nil && !e.Temporary {
		t.Errorf("%v is not Temporary", err)
	}
	_, err = conn.ExecContext(ctx, `ROLLBACK`)
	must(t, err)
	m = newMessage("jdupont", "", "h")
	if _, err := s.CreateMessage(ctx, m); err != nil {
		t.Errorf("after the lock was released: %v", err)
	}
}
