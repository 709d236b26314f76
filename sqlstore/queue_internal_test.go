package sqlstore

import (
	"context"
	"testing"
	"time"

	"envoi"
)

// TestMigrationQueueOnMessages: migration 00090 moves the pending goqite
// jobs onto their messages — a queued message due when its job was, a
// parked one later, a sending one when its lease lapses, a message without
// a job now, a final one never — and drops goqite's table; the messages
// are then claimed as they were due.
func TestMigrationQueueOnMessages(t *testing.T) {
	for _, dialect := range []string{DialectSQLite, DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			s, p := mustOpenAt(t, dialect)
			if _, err := p.UpTo(ctx, 80); err != nil {
				t.Fatal(err)
			}
			wall := time.Now().UTC().Truncate(time.Millisecond)
			// goqite's timestamps: text with milliseconds on SQLite.
			gq := func(t time.Time) any {
				if dialect == DialectSQLite {
					return t.Format("2006-01-02T15:04:05.000Z07:00")
				}
				return t
			}
			lease := wall.Add(90 * time.Second)
			for _, m := range []struct {
				id, status string
				job        any // goqite timeout; nil: no job
				lease      any
			}{
				{"msg_queued", envoi.StatusQueued, gq(wall.Add(-time.Minute)), nil},
				{"msg_parked", envoi.StatusConsentRequired, gq(wall.Add(6 * time.Hour)), nil},
				{"msg_sending", envoi.StatusSending, gq(wall.Add(2 * time.Minute)), s.ts(lease)},
				{"msg_nojob", envoi.StatusRetrying, nil, nil},
				{"msg_sent", envoi.StatusSent, nil, nil},
			} {
				if _, err := s.db.ExecContext(ctx, `INSERT INTO messages (id, request, status, lease_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
					m.id, []byte(`{}`), m.status, m.lease, s.ts(wall)); err != nil {
					t.Fatal(err)
				}
				if m.job != nil {
					if _, err := s.db.ExecContext(ctx, `INSERT INTO goqite (queue, body, timeout) VALUES ('send', $1, $2)`, []byte(m.id), m.job); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			due := map[string]time.Time{}
			rows, err := s.db.QueryContext(ctx, `SELECT id, due_at FROM messages`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				var at time.Time
				if err := rows.Scan(&id, scanTime(&at)); err != nil {
					t.Fatal(err)
				}
				due[id] = at
			}
			rows.Close()
			after := time.Now()
			for id, want := range map[string]time.Time{
				"msg_queued": wall.Add(-time.Minute), "msg_parked": wall.Add(6 * time.Hour), "msg_sending": lease, "msg_sent": {},
			} {
				if !due[id].Equal(want) {
					t.Errorf("%s due at %v, want %v", id, due[id], want)
				}
			}
			if d := due["msg_nojob"]; d.Before(wall.Add(-time.Second)) || d.After(after.Add(time.Second)) {
				t.Errorf("msg_nojob due at %v, want the migration's time", d)
			}
			if _, err := s.db.ExecContext(ctx, `SELECT count(*) FROM goqite`); err == nil {
				t.Error("goqite's table is still there")
			}
			// All five share one mailbox, which has one connection busy
			// (msg_sending) of its default two: one claim at a time.
			if _, err := s.db.ExecContext(ctx, `UPDATE auth_flows SET connections = 0`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE messages SET mailbox = id WHERE id <> 'msg_sending'`); err != nil {
				t.Fatal(err)
			}
			claimed, err := s.ClaimDue(ctx, 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, m := range claimed {
				got[m.ID] = true
			}
			if len(got) != 2 || !got["msg_queued"] || !got["msg_nojob"] {
				t.Errorf("claimed %v, want msg_queued and msg_nojob", got)
			}
		})
	}
}
