package queue_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"testing"
	"time"

	"envoi"
	"envoi/internal/testmail"
	"envoi/queue"
	"envoi/sqlstore"
)

// TestServiceRetry: a failed message is sent again on demand; a sent one
// is a conflict, an unknown one not found.
func TestServiceRetry(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		w := newWorld(t, dialect)
		in := w.admin
		ctx := context.Background()
		w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt})
		m := in.accept(t, 1)[0]
		must(t, runOnce(in))
		if got := in.message(t, m.ID); got.Status != envoi.StatusFailed {
			t.Fatalf("status %s, want failed", got.Status)
		}
		w.smtp.Heal()

		back, err := in.service.Retry(ctx, m.ID)
		if err != nil || back.Status != envoi.StatusQueued {
			t.Fatalf("Retry = %+v, %v; want queued", back, err)
		}
		must(t, runOnce(in))
		got := in.message(t, m.ID)
		if got.Status != envoi.StatusSent || got.ErrorCode != "" || got.Attempts != 2 {
			t.Errorf("after retry: status %s code %q attempts %d, want sent, no error, 2 attempts", got.Status, got.ErrorCode, got.Attempts)
		}
		if c := receivedBy(w.smtp)[m.MessageID]; c != 1 {
			t.Errorf("received %d times, want once", c)
		}
		if _, err := in.service.Retry(ctx, m.ID); envoi.ErrorCode(err) != envoi.EMessageAlreadySent {
			t.Errorf("Retry of a sent message: %v, want %s", err, envoi.EMessageAlreadySent)
		}
		if _, err := in.service.Retry(ctx, "msg_unknown"); envoi.ErrorCode(err) != envoi.ENotFound {
			t.Errorf("Retry of an unknown message: %v, want %s", err, envoi.ENotFound)
		}
	})
}

func runOnce(in *instance) error {
	_, err := in.worker.RunOnce(context.Background())
	return err
}

// TestServiceWait: Wait answers as soon as the message is sent, failed or
// parked, and with the message as it stands at the deadline.
func TestServiceWait(t *testing.T) {
	ctx := context.Background()
	t.Run("Sent", func(t *testing.T) {
		w := newWorld(t, sqlstore.DialectSQLite)
		in := w.admin
		run, stop := context.WithCancel(ctx)
		defer stop()
		go in.worker.Run(run)
		m := in.accept(t, 1)[0]
		got, err := in.service.Wait(ctx, m.ID, 30*time.Second)
		if err != nil || got.Status != envoi.StatusSent {
			t.Fatalf("Wait = %v, %v; want sent", got, err)
		}
	})
	t.Run("Failed", func(t *testing.T) {
		w := newWorld(t, sqlstore.DialectSQLite)
		in := w.admin
		w.smtp.Fail(testmail.SMTPFault{Kind: testmail.SMTPFaultRcpt})
		run, stop := context.WithCancel(ctx)
		defer stop()
		go in.worker.Run(run)
		m := in.accept(t, 1)[0]
		got, err := in.service.Wait(ctx, m.ID, 30*time.Second)
		if err != nil || got.Status != envoi.StatusFailed || got.ErrorCode != envoi.ESMTPRecipientRefused {
			t.Fatalf("Wait = %+v, %v; want failed with smtp_recipient_refused", got, err)
		}
	})
	t.Run("Parked", func(t *testing.T) {
		w := newWorld(t, sqlstore.DialectSQLite)
		w.moveToOAuth(1000)
		in := w.admin
		run, stop := context.WithCancel(ctx)
		defer stop()
		go in.worker.Run(run)
		m := in.accept(t, 1)[0]
		got, err := in.service.Wait(ctx, m.ID, 30*time.Second)
		if err != nil || got.Status != envoi.StatusConsentRequired {
			t.Fatalf("Wait = %+v, %v; want consent_required", got, err)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		w := newWorld(t, sqlstore.DialectSQLite)
		in := w.admin // no worker runs
		m := in.accept(t, 1)[0]
		start := time.Now()
		got, err := in.service.Wait(ctx, m.ID, 150*time.Millisecond)
		if err != nil || got.Status != envoi.StatusQueued {
			t.Fatalf("Wait = %+v, %v; want the message still queued", got, err)
		}
		if time.Since(start) < 150*time.Millisecond {
			t.Errorf("Wait returned before its deadline with a queued message")
		}
	})
}

// TestServiceAccept: acceptance checks before storing, and an
// Idempotency-Key answers the same message for the same request and a
// conflict for another.
func TestServiceAccept(t *testing.T) {
	w := newWorld(t, sqlstore.DialectSQLite)
	in := w.admin
	ctx := context.Background()
	must(t, in.store.PutOperator(ctx, &envoi.Operator{Code: "orphan", Name: "No Flow", Email: "orphan@example.com"}))

	m1, created, err := in.service.Accept(ctx, bl("12345", "client@example.org"), "bl-12345")
	if err != nil || !created {
		t.Fatalf("Accept = %v, %v", created, err)
	}
	// The composed bytes are allocated at their exact size: the handoff
	// holds no slack.
	if eml := in.service.Handoff.Take(m1.ID); eml == nil || cap(eml) != len(eml) || int64(len(eml)) != m1.EMLSize {
		t.Errorf("handoff holds %d bytes in %d (EMLSize %d), want exactly the message", len(eml), cap(eml), m1.EMLSize)
	}
	m2, created, err := in.service.Accept(ctx, bl("12345", "client@example.org"), "bl-12345")
	if err != nil || created || m2.ID != m1.ID || m2.MessageID != m1.MessageID {
		t.Errorf("same key and request: created %v id %s, %v; want the first message %s", created, m2.ID, err, m1.ID)
	}
	if _, _, err := in.service.Accept(ctx, bl("99999", "client@example.org"), "bl-12345"); envoi.ErrorCode(err) != envoi.EIdempotencyConflict {
		t.Errorf("same key, other request: %v, want %s", err, envoi.EIdempotencyConflict)
	}
	withPDF := func(b byte) *envoi.SendRequest {
		r := bl("777", "client@example.org")
		r.Attachments = []envoi.Attachment{{Filename: "BL.pdf", ContentType: "application/pdf", Content: bytes.Repeat([]byte{b}, 1000)}}
		return r
	}
	if queue.RequestHash(withPDF('a')) == queue.RequestHash(withPDF('b')) {
		t.Errorf("two requests differing by an attachment's bytes hash alike")
	}
	if queue.RequestHash(withPDF('a')) != queue.RequestHash(withPDF('a')) {
		t.Errorf("one request hashes two ways")
	}
	// The API keeps a file's base64 (Encoded): the same file hashes alike
	// either way, and a reused key with it replays the message.
	encoded := withPDF('a')
	a := &encoded.Attachments[0]
	a.Encoded, a.Content = []byte(base64.StdEncoding.EncodeToString(a.Content)), nil
	if queue.RequestHash(encoded) != queue.RequestHash(withPDF('a')) {
		t.Errorf("a file in base64 and the same file as bytes hash differently")
	}

	for _, c := range []struct {
		name string
		req  *envoi.SendRequest
		code string
	}{
		{"ErrNoFlow", &envoi.SendRequest{DocumentFlow: "BL", Operator: "orphan", To: []string{"a@example.org"}}, envoi.ENoFlowForOperator},
		{"ErrMailSettingNotFound", &envoi.SendRequest{DocumentFlow: "FACTURE_CLIENT", Operator: "jdupont", To: []string{"a@example.org"}}, envoi.EMailSettingNotFound},
		{"ErrKeywordMissing", &envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"a@example.org"}}, envoi.EKeywordMissing},
		{"ErrBadRecipient", &envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"not an address"}}, envoi.EInvalidInput},
		// The request is validated here, once: compose and the store take it as valid.
		{"ErrNoRecipient", &envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", Company: "FORTERRO", Context: map[string]string{"SOCIETE": "FORTERRO", "ID_BL": "1"}}, envoi.EInvalidInput},
		{"ErrInjectedRecipient", &envoi.SendRequest{DocumentFlow: "BL", Operator: "jdupont", To: []string{"achats@client.test\r\nBcc: victim@evil.test"}}, envoi.EInvalidInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := in.service.Accept(ctx, c.req, ""); envoi.ErrorCode(err) != c.code {
				t.Errorf("Accept: %v, want %s", err, c.code)
			}
		})
	}
	if n, _ := in.worker.RunOnce(ctx); n != 1 {
		t.Errorf("%d jobs queued, want only the one accepted message's", n)
	}
	m3, _, err := in.service.Accept(ctx, withPDF('a'), "bl-777")
	if err != nil {
		t.Fatal(err)
	}
	if m4, created, err := in.service.Accept(ctx, encoded, "bl-777"); err != nil || created || m4.ID != m3.ID {
		t.Errorf("the same file in base64 under the same key: created %v, %v; want the message %s replayed", created, err, m3.ID)
	}
}

// TestHandoff: the bytes of accepted messages are kept for the workers up
// to a bound, each taken once; when full, new bytes are refused and what
// is held (the oldest, sent next) stays.
func TestHandoff(t *testing.T) {
	h := &queue.Handoff{MaxBytes: 100}
	h.Put("a", make([]byte, 40))
	h.Put("b", make([]byte, 40))
	if got := h.Take("a"); len(got) != 40 {
		t.Fatalf("Take(a) = %d bytes, want 40", len(got))
	}
	if h.Take("a") != nil {
		t.Errorf("Take(a) twice gave bytes twice")
	}
	h.Put("c", make([]byte, 40))
	h.Put("d", make([]byte, 40)) // over the bound: refused
	if h.Take("d") != nil {
		t.Errorf("an entry over the bound was taken in")
	}
	if h.Take("b") == nil || h.Take("c") == nil {
		t.Errorf("the entries held were dropped")
	}
	// Entries no worker took (sent by another instance) go when room is
	// wanted, once older than MaxAge.
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	stale := &queue.Handoff{MaxBytes: 100, MaxAge: time.Minute, Now: func() time.Time { return now }}
	stale.Put("gone elsewhere", make([]byte, 80))
	now = now.Add(30 * time.Second)
	if stale.Put("new", make([]byte, 80)); stale.Take("new") != nil {
		t.Errorf("an entry younger than MaxAge made room")
	}
	now = now.Add(31 * time.Second)
	stale.Put("new", make([]byte, 80))
	if stale.Take("new") == nil || stale.Take("gone elsewhere") != nil {
		t.Errorf("a stale entry kept the room of a new one")
	}
	h.Put("big", make([]byte, 101))
	if h.Take("big") != nil || h.Len() != 0 {
		t.Errorf("an entry bigger than the bound was kept")
	}
	// The bound counts the memory held: a slice's capacity.
	h.Put("slack", make([]byte, 10, 101))
	if h.Take("slack") != nil {
		t.Errorf("10 bytes in a buffer of 101 were taken in under a bound of 100")
	}
	var none *queue.Handoff
	none.Put("x", []byte("x"))
	if none.Take("x") != nil {
		t.Errorf("a nil Handoff holds bytes")
	}
	// Many puts and takes out of order stay bounded in bookkeeping.
	for i := range 10000 {
		id := string(rune('A' + i%50))
		h.Put(id, []byte{1})
		if i%3 == 0 {
			h.Take(id)
		}
	}
	if h.Len() > 50 {
		t.Errorf("Len = %d after churn, want at most 50", h.Len())
	}
}
