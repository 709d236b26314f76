package queue_test

import (
	"bytes"
	"context"
	"testing"

	"envoi"
)

// TestWorkerHandsOverTheDelivery: what acceptance decided (envelope,
// identity, transport, document, archive) is stored with the message and
// handed to the transport as it was decided; the sent hook gets the
// document out of the bytes sent where the record says it is, with no
// parse of the message. Also from another instance, which reads it all
// back from the store.
func TestWorkerHandsOverTheDelivery(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin
		ctx := context.Background()
		must(t, in.store.PutFileNameRule(ctx, &envoi.FileNameRule{DocumentFlow: "BL", Archive: true, FileType: "BL"}))
		pdf := bytes.Repeat([]byte("%PDF-1.4 delivery note\n"), 2000)
		req := bl("12345", "client@example.org")
		req.Attachments = []envoi.Attachment{{Filename: "BL 12345.pdf", ContentType: "application/pdf", Content: pdf}}
		req.Entity = &envoi.Entity{Type: "BL", ID: "12345"}
		m, _, err := in.service.Accept(ctx, req, "")
		must(t, err)

		other := w.instance() // no handoff: everything comes from the store
		var handed, sent *envoi.Delivery
		other.worker.Transport = transportFunc(func(ctx context.Context, d *envoi.Delivery) error {
			handed = d
			return in.sender.Deliver(ctx, d)
		})
		other.worker.OnSent = func(_ context.Context, _ *envoi.Message, d *envoi.Delivery) { sent = d }
		if n, err := other.worker.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce = %d, %v", n, err)
		}
		if handed == nil || sent != handed {
			t.Fatalf("handed %v, sent hook %v: want the one delivery", handed, sent)
		}
		if handed.Transport != envoi.TransportSMTP || !handed.Archive || handed.FileType != "BL" ||
			handed.Identity.Key != (envoi.TokenKey{Flow: m.Flow, Operator: "jdupont"}) || handed.Identity.Flow == nil ||
			handed.Envelope.Size != int64(len(handed.Content)) || len(handed.Envelope.Recipients) != 1 {
			t.Errorf("delivery = %+v", handed)
		}
		if handed.Document == nil || handed.Document.Name != "BL 12345.pdf" {
			t.Fatalf("Document = %+v", handed.Document)
		}
		got, err := handed.Document.Bytes(handed.Content)
		if err != nil || !bytes.Equal(got, pdf) {
			t.Errorf("document from the bytes sent: %d bytes, %v; want the %d bytes attached", len(got), err, len(pdf))
		}
		if c := receivedBy(w.smtp)[m.MessageID]; c != 1 {
			t.Errorf("received %d times", c)
		}
	})
}

type transportFunc func(ctx context.Context, d *envoi.Delivery) error

func (f transportFunc) Deliver(ctx context.Context, d *envoi.Delivery) error { return f(ctx, d) }
