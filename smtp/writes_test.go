package smtp_test

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"

	"envoi/internal/testmail"
)

// countingConn counts the writes made to a connection and their bytes.
type countingConn struct {
	net.Conn
	writes, bytes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	c.bytes.Add(int64(len(p)))
	return c.Conn.Write(p)
}

// TestWritesPerMessage: a ~141 KB message goes to the socket in a few
// large writes (a server's cost grows with the number of writes): the
// envelope's commands in one, the body in 64 KB runs, over the pooled
// connection; over STARTTLS too, though TLS cuts each run into records of
// 16 KB at most (12 writes a message when each record was one). The counts
// come from Sender.WrapConn, as envoi bench shows them.
func TestWritesPerMessage(t *testing.T) {
	for _, c := range []struct {
		sec testmail.SMTPSecurity
		max float64
	}{
		// The pipelined envelope, 3 runs of the body, the last bytes and
		// the final dot: 5.
		{testmail.SMTPSecurityNone, 5},
		// The same: the records of a run go in one write.
		{testmail.SMTPSecuritySTARTTLS, 5},
	} {
		t.Run(string(c.sec), func(t *testing.T) {
			srv := startServer(t, testmail.SMTPOptions{Security: c.sec, Sink: true})
			s := newSender(t, srv, &tokens{Token: goodToken})
			var writes, written atomic.Int64
			s.WrapConn = func(cn net.Conn) net.Conn { return countingConn{cn, &writes, &written} }
			id := oauthIdentity(srv)
			msg := benchMessage(141 << 10)
			ctx := context.Background()
			// The first message pays for the connection.
			if err := s.Send(ctx, id, envelope(msg), bytes.NewReader(msg)); err != nil {
				t.Fatal(err)
			}
			w0, b0 := writes.Load(), written.Load()
			const n = 20
			for range n {
				if err := s.Send(ctx, id, envelope(msg), bytes.NewReader(msg)); err != nil {
					t.Fatal(err)
				}
			}
			perMessage := float64(writes.Load()-w0) / n
			t.Logf("%s: %.1f writes a message, %.0f bytes each", c.sec, perMessage, float64(written.Load()-b0)/float64(writes.Load()-w0))
			if perMessage > c.max {
				t.Errorf("%.1f writes a message of %d bytes, want at most %.0f", perMessage, len(msg), c.max)
			}
			if srv.Connections() != 1 {
				t.Errorf("%d connections, want 1", srv.Connections())
			}
		})
	}
}
