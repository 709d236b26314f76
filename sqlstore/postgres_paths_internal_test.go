package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"envoi"
)

// TestPostgresOneStatementPaths: on PostgreSQL an acceptance, a claim, an
// outcome and an event are each one statement (createMessagePGSQL,
// claimNextPGSQL, finishEventPGSQL, appendEventPGSQL), and they write
// what the transactions write: the bytes, the recipients counted, the
// event whose data are the message's row as AppendMessageEvent reads it,
// a delivery to each endpoint that wants the event. An outcome whose
// message's request no longer matches its columns goes through the
// transaction, and its event reports the row.
func TestPostgresOneStatementPaths(t *testing.T) {
	ctx := context.Background()
	s, _ := mustOpenAt(t, DialectPostgres)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*envoi.Webhook{
		{Code: "all", URL: "https://erp.example/all", Events: envoi.EventTypes()},
		{Code: "sent", URL: "https://erp.example/sent", Events: []string{envoi.EventMessageSent}},
	} {
		if err := s.PutWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	accept := func(company string) *envoi.Message {
		t.Helper()
		a := &envoi.Accepted{
			Message: &envoi.Message{Flow: "f365", Mailbox: "jdupont", Request: envoi.SendRequest{
				DocumentFlow: "BL", Operator: "jdupont", Company: company,
				To: []string{"client@customer.example"}, Entity: &envoi.Entity{Type: "BL", ID: "12345"},
			}, Delivery: &envoi.Delivery{Transport: envoi.TransportSMTP, Envelope: envoi.Envelope{
				From: "jdupont@forterro.example", Recipients: []string{"client@customer.example", "archive@forterro.example"},
			}}},
			EML: []byte("Subject: BL 12345\r\n\r\nHello.\r\n"),
		}
		created, err := s.CreateMessage(ctx, a)
		if err != nil || !created {
			t.Fatalf("CreateMessage: %v, %v", created, err)
		}
		eml, err := s.EML(ctx, a.Message.ID)
		if err != nil || !bytes.Equal(eml, a.EML) {
			t.Fatalf("EML = %q, %v; want %q", eml, err, a.EML)
		}
		checkEvent(t, s, a.Message.ID, envoi.EventMessageAccepted, 1)
		return a.Message
	}

	m := accept("FORTERRO")
	claims, err := s.ClaimDue(ctx, 1, time.Minute)
	if err != nil || len(claims) != 1 || claims[0].ID != m.ID {
		t.Fatalf("ClaimDue = %v, %v; want %s", claims, err, m.ID)
	}
	var rcpts int
	if err := s.db.QueryRowContext(ctx, `SELECT rcpt_count FROM messages WHERE id = $1`, m.ID).Scan(&rcpts); err != nil || rcpts != 2 {
		t.Errorf("rcpt_count = %d, %v; want 2", rcpts, err)
	}
	c := claims[0]
	// A time finer than the database keeps: the event says what the row
	// holds.
	c.Message.Status, c.Message.SentAt, c.Message.ProviderMessageID = envoi.StatusSent, time.Now().Add(time.Nanosecond), "250 queued as ABC"
	if err := s.Finish(ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	checkEvent(t, s, m.ID, envoi.EventMessageSent, 2)

	// The claim's request names another company than the row: the
	// statement changes nothing, the transaction records the outcome.
	m = accept("ACME")
	if claims, err = s.ClaimDue(ctx, 1, time.Minute); err != nil || len(claims) != 1 {
		t.Fatalf("ClaimDue = %v, %v", claims, err)
	}
	c = claims[0]
	c.Message.Request.Company = "OTHER"
	c.Message.Status, c.Message.ErrorCode, c.Message.Error = envoi.StatusRetrying, envoi.ESMTPUnavailable, "451 try later"
	if err := s.Finish(ctx, c, time.Minute); err != nil {
		t.Fatal(err)
	}
	if d := checkEvent(t, s, m.ID, envoi.EventMessageRetrying, 1); d.Company != "ACME" || d.Error == nil || d.Error.Code != envoi.ESMTPUnavailable {
		t.Errorf("retrying event data = %+v, want the row's company and the error", d)
	}
	// A stale claim records nothing, and says so.
	c.Message.Request.Company = "ACME"
	c.Token = "1"
	if err := s.Finish(ctx, c, 0); envoi.ErrorCode(err) != envoi.EConflict {
		t.Errorf("Finish with a stale claim: %v, want EConflict", err)
	}
}

// checkEvent checks the event typ of the message id: one, with the data
// AppendMessageEvent reads from the row now, fanned out to deliveries
// endpoints. It returns the event's data.
func checkEvent(t *testing.T, s *Store, id, typ string, deliveries int) envoi.EventData {
	t.Helper()
	ctx := context.Background()
	var evID, body string
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT min(id), min(body), count(*) FROM webhook_events WHERE message_id = $1 AND type = $2`, id, typ).Scan(&evID, &body, &n); err != nil || n != 1 {
		t.Fatalf("events %s of %s: %d, %v; want 1", typ, id, n, err)
	}
	var ev envoi.Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatal(err)
	}
	var r messageEventRow
	if err := s.db.QueryRowContext(ctx, messageEventSQL, id).Scan(&r.id, &r.entityType, &r.entityID, &r.documentFlow, &r.operator, &r.company, &r.status, &r.attempts,
		&r.errCode, &r.errMsg, scanTime(&r.sentAt), scanTime(&r.nextTry)); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(ev.Data)
	want, _ := json.Marshal(r.data())
	if ev.ID != evID || ev.Type != typ || !bytes.Equal(got, want) {
		t.Errorf("event %s %s: data %s, want the row's %s", ev.ID, ev.Type, got, want)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries WHERE event_id = $1`, evID).Scan(&n); err != nil || n != deliveries {
		t.Errorf("event %s: %d deliveries, %v; want %d", typ, n, err, deliveries)
	}
	return ev.Data
}

// TestMigrationPostgresQueuePaths: migration 00220 puts seq in
// messages_mailbox_due_idx and drops messages_due_idx on PostgreSQL, and
// the plan of the claim's next message reads the index in order; going
// down restores both indexes, and up again works.
func TestMigrationPostgresQueuePaths(t *testing.T) {
	ctx := context.Background()
	s, p := mustOpenAt(t, DialectPostgres)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	idx := indexDefinitions(t, s, DialectPostgres)
	if _, ok := idx["messages_due_idx"]; ok || !strings.Contains(idx["messages_mailbox_due_idx"], "due_at, seq") {
		t.Errorf("after 00220: %q", idx)
	}
	if _, err := s.db.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, s, `EXPLAIN SELECT seq, delivery FROM messages WHERE flow = 'f365' AND mailbox = 'jdupont' AND due_at <= now()
		AND status NOT IN ('sent', 'failed') ORDER BY due_at, seq LIMIT 1`)
	if !strings.Contains(plan, "messages_mailbox_due_idx") || strings.Contains(plan, "Sort") {
		t.Errorf("the next due message is not read in the index's order:\n%s", plan)
	}
	if _, err := p.DownTo(ctx, 200); err != nil {
		t.Fatal(err)
	}
	idx = indexDefinitions(t, s, DialectPostgres)
	if _, ok := idx["messages_due_idx"]; !ok || strings.Contains(idx["messages_mailbox_due_idx"], "seq") {
		t.Errorf("after going down: %q", idx)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}
