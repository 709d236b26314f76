package compose_test

import (
	"context"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"envoi"
)

func randomBytes(n int) []byte {
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// BenchmarkCompose100KBPDF composes and writes (to io.Discard) a message
// whose report is a 100 KB PDF, with footer, signature and inline logo.
//
//	go test ./compose -run '^$' -bench Compose100KB -benchmem
func BenchmarkCompose100KBPDF(b *testing.B) {
	pdf := randomBytes(100 << 10)
	s, m := newStore(b), newMessage()
	m.Request.Report = &envoi.ReportRequest{Data: map[string]any{"lines": 1}}
	c := newComposer(s)
	c.Reports = renderFunc(func(context.Context, *envoi.DocumentFlow, *envoi.Company, *envoi.ReportRequest) ([]byte, error) {
		return pdf, nil
	})
	ctx := context.Background()
	b.ReportAllocs()
	var size int64
	for b.Loop() {
		mail, err := c.Compose(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		if size, err = mail.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
}

// BenchmarkCompose25MB composes and writes (to io.Discard) a message with
// one 25 MB attachment. Besides B/op it reports the process's peak resident
// memory (maxRSS-MB, which includes the attachment itself and the Go
// runtime) and that peak divided by the attachment's size: run it alone so
// no other benchmark's memory counts.
//
//	go test ./compose -run '^$' -bench Compose25MB -benchmem
func BenchmarkCompose25MB(b *testing.B) {
	const size = 25 << 20
	s, m := newStore(b), newMessage()
	s.flows["m365"].MaxAttachmentsMB = 30
	m.Request.Attachments = []envoi.Attachment{{Filename: "scan.pdf", ContentType: "application/pdf", Content: randomBytes(size)}}
	c := newComposer(s)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(size)
	for b.Loop() {
		mail, err := c.Compose(ctx, m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := mail.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if peak, ok := peakRSS(); ok {
		b.ReportMetric(float64(peak)/(1<<20), "maxRSS-MB")
		b.ReportMetric(float64(peak)/size, "maxRSS/attachment")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heapSys-MB")
}

// BenchmarkComposeAttachment composes and writes a message with the ERP's
// 100 KB PDF, given as bytes (decoded: the JSON's base64 decoded at
// acceptance, then encoded here) or as its base64 text (encoded: checked at
// acceptance, cut into lines here), each with what acceptance does to it
// first: decode it, or check it (envoi.CanonicalBase64).
//
//	go test ./compose -run '^$' -bench ComposeAttachment -benchmem
func BenchmarkComposeAttachment(b *testing.B) {
	pdf := randomBytes(100 << 10)
	text := []byte(base64.StdEncoding.EncodeToString(pdf))
	for _, encoded := range []bool{false, true} {
		name := "decoded"
		if encoded {
			name = "encoded"
		}
		b.Run(name, func(b *testing.B) {
			s, m := newStore(b), newMessage()
			c := newComposer(s)
			ctx := context.Background()
			buf := make([]byte, len(pdf))
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				a := envoi.Attachment{Filename: "BL.pdf", ContentType: "application/pdf"}
				if encoded {
					if !envoi.CanonicalBase64(text) {
						b.Fatal("not canonical")
					}
					a.Encoded = text
				} else {
					n, err := base64.StdEncoding.Decode(buf, text)
					if err != nil {
						b.Fatal(err)
					}
					a.Content = buf[:n]
				}
				m.Request.Attachments = []envoi.Attachment{a}
				mail, err := c.Compose(ctx, m)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := mail.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
