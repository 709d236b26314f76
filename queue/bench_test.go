package queue_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"envoi"
	"envoi/sqlstore"
)

// BenchmarkAcceptAndSend: one message with a 100 KB PDF accepted (composed
// and stored with its job) and sent over SMTP (STARTTLS, PLAIN) by the
// worker, on SQLite. The SMTP server is the test server in the same
// process; envoi bench measures the whole path with HTTP.
func BenchmarkAcceptAndSend(b *testing.B) {
	w := newWorld(b, sqlstore.DialectSQLite)
	in := w.admin
	pdf := make([]byte, 100<<10)
	_, _ = rand.Read(pdf)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(pdf)))
	b.ResetTimer()
	for i := range b.N {
		req := bl(fmt.Sprint(i), "client@example.org")
		req.Attachments = []envoi.Attachment{{Filename: "BL.pdf", ContentType: "application/pdf", Content: pdf}}
		if _, _, err := in.service.Accept(ctx, req, fmt.Sprint("bench-", i)); err != nil {
			b.Fatal(err)
		}
		if n, err := in.worker.RunOnce(ctx); err != nil || n != 1 {
			b.Fatalf("RunOnce = %d, %v", n, err)
		}
	}
	b.StopTimer()
	if got := w.smtp.MessageCount(); got != b.N {
		b.Fatalf("the server received %d messages, want %d", got, b.N)
	}
}
