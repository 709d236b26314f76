package sqlstore

import (
	"context"
	"slices"
	"testing"
	"time"

	"envoi"
)

// TestMigrationDropsEnvelopeColumns: migration 00110 drops envelope_from,
// envelope_to and username from messages (the delivery record holds them);
// a message accepted before reads as it did, and going down fills the
// columns back from the record.
func TestMigrationDropsEnvelopeColumns(t *testing.T) {
	for _, dialect := range []string{DialectSQLite, DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			s, p := mustOpenAt(t, dialect)
			if _, err := p.UpTo(ctx, 100); err != nil {
				t.Fatal(err)
			}
			wall := time.Now().UTC().Truncate(time.Millisecond)
			if _, err := s.db.ExecContext(ctx, `INSERT INTO messages (id, request, status, flow, mailbox, envelope_from, envelope_to, username, delivery, created_at, updated_at)
				VALUES ('msg_old', $1, $2, 'f365', 'jdupont', 'jdupont@forterro.test', '["client@example.test"]', 'jdupont@forterro.test', $3, $4, $4)`,
				[]byte(`{}`), envoi.StatusSent,
				`{"transport":"smtp","envelope":{"from":"jdupont@forterro.test","recipients":["client@example.test"],"size":0},"identity":{"key":{"Flow":"f365","Operator":"jdupont"},"username":"jdupont@forterro.test","operator":"jdupont"},"archive":false,"file_type":""}`,
				s.ts(wall)); err != nil {
				t.Fatal(err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for _, col := range []string{"envelope_from", "envelope_to", "username"} {
				if _, err := s.db.ExecContext(ctx, `SELECT `+col+` FROM messages`); err == nil {
					t.Errorf("messages still has %s", col)
				}
			}
			m, err := s.Message(ctx, "msg_old")
			if err != nil {
				t.Fatal(err)
			}
			if d := m.Delivery; d == nil || d.Envelope.From != "jdupont@forterro.test" || !slices.Equal(d.Envelope.Recipients, []string{"client@example.test"}) || d.Identity.Username != "jdupont@forterro.test" {
				t.Errorf("delivery after the migration: %+v", m.Delivery)
			}
			if _, err := p.DownTo(ctx, 100); err != nil {
				t.Fatal(err)
			}
			var from, to, user string
			if err := s.db.QueryRowContext(ctx, `SELECT envelope_from, envelope_to, username FROM messages WHERE id = 'msg_old'`).Scan(&from, &to, &user); err != nil {
				t.Fatal(err)
			}
			if from != "jdupont@forterro.test" || to != `["client@example.test"]` || user != "jdupont@forterro.test" {
				t.Errorf("after going down: envelope_from %q, envelope_to %q, username %q", from, to, user)
			}
		})
	}
}
