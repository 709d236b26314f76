package queue_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"envoi"
	"envoi/sqlstore"
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
		other.worker.Transports = map[string]envoi.Transport{envoi.TransportSMTP: transportFunc(func(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
			handed = d
			return in.sender.Deliver(ctx, d)
		})}
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

type transportFunc func(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error)

func (f transportFunc) Deliver(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
	return f(ctx, d)
}

// TestWorkerPicksTheTransport: the worker hands each delivery to the
// transport its record names, and logs the transport's outcome with the
// message; a record naming a transport the worker does not have fails
// the message, as internal, with an error that names it, and nothing is
// sent.
func TestWorkerPicksTheTransport(t *testing.T) {
	w := newWorld(t, sqlstore.DialectSQLite)
	in := w.admin
	ctx := context.Background()
	var logs bytes.Buffer
	in.worker.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	var other int
	in.worker.Transports = map[string]envoi.Transport{
		envoi.TransportSMTP: transportFunc(func(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
			return envoi.Outcome{ProviderMessageID: "Q123", Reply: "250 2.0.0 Ok: queued as Q123"}, nil
		}),
		"graph": transportFunc(func(ctx context.Context, d *envoi.Delivery) (envoi.Outcome, error) {
			other++
			return envoi.Outcome{}, nil
		}),
	}
	m, _, err := in.service.Accept(ctx, bl("1", "client@example.org"), "")
	must(t, err)
	if n, err := in.worker.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if got := in.message(t, m.ID); got.Status != envoi.StatusSent {
		t.Fatalf("status %s (%s), want sent", got.Status, got.Error)
	}
	if other != 0 {
		t.Errorf("the graph transport delivered an SMTP record")
	}
	for _, want := range []string{"level=INFO", "message=" + m.ID, "provider_message_id=Q123", `reply="250 2.0.0 Ok: queued as Q123"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %s", logs.String(), want)
		}
	}

	delete(in.worker.Transports, envoi.TransportSMTP)
	m, _, err = in.service.Accept(ctx, bl("2", "client@example.org"), "")
	must(t, err)
	if n, err := in.worker.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	got := in.message(t, m.ID)
	if got.Status != envoi.StatusFailed || got.ErrorCode != envoi.EInternal || !strings.Contains(got.Error, `"smtp"`) {
		t.Errorf("without its transport: %s %s %q, want failed, internal, naming smtp", got.Status, got.ErrorCode, got.Error)
	}
	if other != 0 {
		t.Errorf("another transport delivered the message")
	}
}
