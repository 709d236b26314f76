package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"envoi"
)

// TestRecordReports: a report is matched to a message of the mailbox it
// came to, by envoi's id or by its Message-ID; a bounce, a delay and a
// read are recorded once each, and shown by Message and Messages.
func TestRecordReports(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		box := envoi.TokenKey{Flow: "M365", Operator: "jdupont"}
		sent := func(status string) *envoi.Message {
			a := newMessage("jdupont", "", "h")
			a.Message.Flow, a.Message.Mailbox = box.Flow, box.Operator
			a.Message.Status = status
			if status == envoi.StatusSent {
				a.Message.SentAt = clk.Now()
			}
			_, err := s.CreateMessage(ctx, a)
			must(t, err)
			return a.Message
		}
		m, other, queuedMsg := sent(envoi.StatusSent), sent(envoi.StatusSent), sent(envoi.StatusQueued)

		boxes, err := s.ReportMailboxes(ctx, clk.Now().Add(-time.Hour))
		must(t, err)
		if len(boxes) != 1 || boxes[0] != box {
			t.Errorf("ReportMailboxes = %v", boxes)
		}

		// Matching: the private header's id first, then the Message-ID;
		// never a message of another mailbox, nor one not sent.
		if id, err := s.MatchReport(ctx, box, []string{"msg_unknown", m.ID}, nil); err != nil || id != m.ID {
			t.Errorf("MatchReport by id = %q, %v", id, err)
		}
		if id, err := s.MatchReport(ctx, box, nil, []string{"<rewritten@outlook>", other.MessageID}); err != nil || id != other.ID {
			t.Errorf("MatchReport by Message-ID = %q, %v", id, err)
		}
		_, err = s.MatchReport(ctx, envoi.TokenKey{Flow: "M365", Operator: "someone"}, []string{m.ID}, []string{m.MessageID})
		wantCode(t, err, envoi.ENotFound)
		_, err = s.MatchReport(ctx, box, []string{queuedMsg.ID}, nil)
		wantCode(t, err, envoi.ENotFound)

		at := time.Date(2026, 3, 3, 9, 15, 42, 0, time.UTC)
		delay := envoi.Bounce{Recipient: "slow@client.test", Status: "4.4.1", Diagnostic: "timed out", At: at}
		if ok, err := s.RecordDelay(ctx, m.ID, delay); err != nil || !ok {
			t.Fatalf("RecordDelay = %v, %v", ok, err)
		}
		if ok, err := s.RecordDelay(ctx, m.ID, delay); err != nil || ok {
			t.Errorf("RecordDelay again = %v, %v; want false (the same notice)", ok, err)
		}
		got, err := s.Message(ctx, m.ID)
		must(t, err)
		if got.Status != envoi.StatusSent || got.Delay == nil || *got.Delay != delay {
			t.Errorf("after a delay: status %s, delay %+v", got.Status, got.Delay)
		}

		b := envoi.Bounce{Recipient: "achtas@client.test", Status: "5.1.1", Diagnostic: "550 5.1.1 User unknown", At: at}
		if ok, err := s.RecordBounce(ctx, m.ID, b); err != nil || !ok {
			t.Fatalf("RecordBounce = %v, %v", ok, err)
		}
		if ok, err := s.RecordBounce(ctx, m.ID, envoi.Bounce{Recipient: "x@y.test"}); err != nil || ok {
			t.Errorf("RecordBounce again = %v, %v; want false", ok, err)
		}
		if ok, err := s.RecordBounce(ctx, queuedMsg.ID, b); err != nil || ok {
			t.Errorf("RecordBounce of a message not sent = %v, %v; want false", ok, err)
		}
		_, err = s.RecordBounce(ctx, "msg_none", b)
		wantCode(t, err, envoi.ENotFound)
		got, err = s.Message(ctx, m.ID)
		must(t, err)
		if got.Status != envoi.StatusBounced || got.Bounce == nil || *got.Bounce != b {
			t.Errorf("after a bounce: status %s, bounce %+v", got.Status, got.Bounce)
		}

		read := at.Add(time.Hour)
		if ok, err := s.RecordRead(ctx, other.ID, read); err != nil || !ok {
			t.Fatalf("RecordRead = %v, %v", ok, err)
		}
		if ok, err := s.RecordRead(ctx, other.ID, read.Add(time.Hour)); err != nil || ok {
			t.Errorf("RecordRead again = %v, %v; want false (the first counts)", ok, err)
		}
		list, err := s.Messages(ctx, envoi.MessageFilter{})
		must(t, err)
		for _, l := range list {
			switch l.ID {
			case other.ID:
				if !l.ReadAt.Equal(read) || l.Status != envoi.StatusSent {
					t.Errorf("listed read message: read_at %v, status %s", l.ReadAt, l.Status)
				}
			case m.ID:
				if l.Status != envoi.StatusBounced || l.Bounce == nil {
					t.Errorf("listed bounced message: %s %+v", l.Status, l.Bounce)
				}
			}
		}
		bounced, err := s.Messages(ctx, envoi.MessageFilter{Status: envoi.StatusBounced})
		must(t, err)
		if len(bounced) != 1 || bounced[0].ID != m.ID {
			t.Errorf("bounced listing: %d", len(bounced))
		}
	})
}

// TestReportCursorAndLease: the cursor is kept per mailbox and folder; a
// lease goes to one holder until it expires.
func TestReportCursorAndLease(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s, clk := MustOpenStore(t, dialect)
		box := envoi.TokenKey{Flow: "M365", Operator: "jdupont"}
		v, u, err := s.ReportCursor(ctx, box, "INBOX")
		if err != nil || v != 0 || u != 0 {
			t.Fatalf("new cursor = %d %d %v", v, u, err)
		}
		must(t, s.SetReportCursor(ctx, box, "INBOX", 7, 42))
		must(t, s.SetReportCursor(ctx, box, "INBOX", 7, 43))
		must(t, s.SetReportCursor(ctx, envoi.TokenKey{Flow: "M365"}, "INBOX", 9, 1))
		if v, u, err := s.ReportCursor(ctx, box, "INBOX"); err != nil || v != 7 || u != 43 {
			t.Errorf("cursor = %d %d %v", v, u, err)
		}

		until := clk.Now().Add(time.Minute)
		if ok, err := s.TakeReportLease(ctx, box, "a", until); err != nil || !ok {
			t.Fatalf("first lease = %v %v", ok, err)
		}
		if ok, err := s.TakeReportLease(ctx, box, "b", until); err != nil || ok {
			t.Errorf("second holder got the lease: %v %v", ok, err)
		}
		if ok, err := s.TakeReportLease(ctx, box, "a", until.Add(time.Minute)); err != nil || !ok {
			t.Errorf("holder could not extend: %v %v", ok, err)
		}
		clk.Advance(3 * time.Minute)
		if ok, err := s.TakeReportLease(ctx, box, "b", clk.Now().Add(time.Minute)); err != nil || !ok {
			t.Errorf("expired lease not taken over: %v %v", ok, err)
		}
		must(t, s.ReleaseReportLease(ctx, box, "a")) // no longer a's: nothing happens
		if ok, _ := s.TakeReportLease(ctx, box, "a", clk.Now().Add(time.Minute)); ok {
			t.Error("a's release dropped b's lease")
		}
		must(t, s.ReleaseReportLease(ctx, box, "b"))
		if ok, _ := s.TakeReportLease(ctx, box, "a", clk.Now().Add(time.Minute)); !ok {
			t.Error("released lease not free")
		}
	})
}
