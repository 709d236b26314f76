package smtp_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"envoi/internal/testmail"
)

// benchMessage returns a composed message whose attachment is about size
// bytes of base64 in 76-column lines, as compose writes a PDF.
func benchMessage(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 1024)
	fmt.Fprintf(&b, "From: %s\r\nTo: client@customer.test\r\nSubject: Envoi du BL 12345\r\n", operatorEmail)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVeuillez trouver ci-joint le BL.\r\n")
	b.WriteString("--b1\r\nContent-Type: application/pdf; name=\"BL-12345.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("JVBERi0xLjcKJcfsj6IK", 4)[:76] + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("--b1--\r\n")
	return b.Bytes()
}

// BenchmarkSend100KB sends one ~100 KB message per iteration over the
// pooled, authenticated connection (the server discards bodies). Run with
// -benchtime=1000x for the 1,000 messages. allocs/op counts the
// whole process: the in-process test server's allocations are included.
func BenchmarkSend100KB(b *testing.B) {
	for _, sec := range []testmail.SMTPSecurity{testmail.SMTPSecuritySTARTTLS, testmail.SMTPSecurityNone} {
		b.Run(string(sec), func(b *testing.B) {
			srv := startServer(b, testmail.SMTPOptions{Security: sec, Sink: true})
			s := newSender(b, srv, &tokens{Token: goodToken})
			id := oauthIdentity(srv)
			msg := benchMessage(100 << 10)
			env := envelope(msg)
			ctx := context.Background()
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := s.Send(ctx, id, env, bytes.NewReader(msg)); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if got := srv.MessageCount(); got != b.N {
				b.Fatalf("server got %d messages, want %d", got, b.N)
			}
			if got := srv.Connections(); got != 1 {
				b.Fatalf("connections: got %d, want 1", got)
			}
		})
	}
}

// BenchmarkSend25MB sends one message with a 25 MB attachment per
// iteration and reports the peak heap in use while sending, sampled every
// millisecond: peak-heap/body is that peak (the message's own bytes
// included) over the message's size, extra-MB what sending added to the
// heap measured before it.
func BenchmarkSend25MB(b *testing.B) {
	srv := startServer(b, testmail.SMTPOptions{Security: testmail.SMTPSecuritySTARTTLS, Sink: true})
	s := newSender(b, srv, &tokens{Token: goodToken})
	id := oauthIdentity(srv)
	msg := benchMessage(25 << 20)
	env := envelope(msg)
	ctx := context.Background()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()

	var peak, base uint64
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base = ms.HeapInuse
		stop, done := make(chan struct{}), make(chan uint64)
		go func() {
			var high uint64
			var ms runtime.MemStats
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				runtime.ReadMemStats(&ms)
				high = max(high, ms.HeapInuse)
				select {
				case <-stop:
					done <- high
					return
				case <-t.C:
				}
			}
		}()
		b.StartTimer()
		err := s.Send(ctx, id, env, bytes.NewReader(msg))
		b.StopTimer()
		close(stop)
		high := <-done
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, high)
		b.StartTimer()
	}
	b.StopTimer()
	body := float64(len(msg))
	b.ReportMetric(float64(peak)/body, "peak-heap/body")
	b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "extra-MB")
	if float64(peak) >= 3*body {
		b.Fatalf("peak heap %d bytes is not under 3x the %d-byte message", peak, len(msg))
	}
	if got := srv.BytesReceived(); got != int64(b.N)*int64(len(msg)) {
		b.Fatalf("server received %d bytes, want %d", got, int64(b.N)*int64(len(msg)))
	}
}
