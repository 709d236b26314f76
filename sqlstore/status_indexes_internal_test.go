package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"envoi"
)

// TestMigrationMessageStatusIndexes: migration 00190 keeps in
// messages_status_idx only the messages not sent and makes
// messages_mailbox_idx (flow, mailbox, sent_at) over the messages sent; on
// both databases the listing by state and the count of a mailbox's sends
// answer as before, and the plans of the queries use the new indexes.
// Going down restores the indexes.
func TestMigrationMessageStatusIndexes(t *testing.T) {
	for _, dialect := range []string{DialectSQLite, DialectPostgres} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			s, p := mustOpenAt(t, dialect)
			if _, err := p.UpTo(ctx, 110); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Millisecond)
			statuses := []string{envoi.StatusSent, envoi.StatusFailed, envoi.StatusQueued, envoi.StatusSent, envoi.StatusConsentRequired}
			for i, st := range statuses {
				var sent any
				if st == envoi.StatusSent {
					sent = s.ts(now.Add(-time.Duration(i) * time.Second))
				}
				if _, err := s.db.ExecContext(ctx, `INSERT INTO messages (id, request, status, flow, mailbox, delivery, sent_at, created_at, updated_at)
					VALUES ($1, $2, $3, 'f365', 'jdupont', '', $4, $5, $5)`, fmt.Sprintf("msg_%d", i), []byte(`{"document_flow":"BL","operator":"jdupont"}`), st, sent, s.ts(now)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for _, st := range []string{envoi.StatusSent, envoi.StatusFailed, envoi.StatusQueued, envoi.StatusRetrying} {
				list, err := s.Messages(ctx, envoi.MessageFilter{Status: st})
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				for _, x := range statuses {
					if x == st {
						want++
					}
				}
				if len(list) != want {
					t.Errorf("listing %s: %d messages, want %d", st, len(list), want)
				}
				for _, m := range list {
					if m.Status != st {
						t.Errorf("listing %s: a message %s", st, m.Status)
					}
				}
			}
			if n, err := s.SentSince(ctx, "f365", "jdupont", now.Add(-time.Minute)); err != nil || n != 2 {
				t.Errorf("SentSince: %d, %v; want 2", n, err)
			}

			// The plans use the new indexes.
			explain := "EXPLAIN QUERY PLAN "
			if dialect == DialectPostgres {
				explain = "EXPLAIN "
				// A table this small is read whole otherwise.
				if _, err := s.db.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range []struct{ sql, index string }{
				{`SELECT id FROM messages WHERE status = 'failed' AND status <> 'sent' ORDER BY seq DESC`, "messages_status_idx"},
				{`SELECT count(*) FROM messages WHERE flow = 'f365' AND mailbox = 'jdupont' AND status = 'sent' AND sent_at >= '2000-01-01'`, "messages_mailbox_idx"},
			} {
				plan := planOf(t, s, explain+q.sql)
				if !strings.Contains(plan, q.index) {
					t.Errorf("%s: the plan does not use %s:\n%s", q.sql, q.index, plan)
				}
			}
			indexes := indexDefinitions(t, s, dialect)
			if !strings.Contains(indexes["messages_status_idx"], "sent") || strings.Contains(indexes["messages_mailbox_idx"], "status") {
				t.Errorf("after 00190: %q", indexes)
			}
			if _, err := p.DownTo(ctx, 110); err != nil {
				t.Fatal(err)
			}
			indexes = indexDefinitions(t, s, dialect)
			if strings.Contains(indexes["messages_status_idx"], "sent") || !strings.Contains(indexes["messages_mailbox_idx"], "status") {
				t.Errorf("after going down: %q", indexes)
			}
		})
	}
}

func planOf(t *testing.T, s *Store, query string) string {
	t.Helper()
	rows, err := s.db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		if err := rows.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			fmt.Fprint(&out, *(v.(*any)), " ")
		}
		out.WriteString("\n")
	}
	return out.String()
}

// indexDefinitions returns the definitions of the messages table's indexes.
func indexDefinitions(t *testing.T, s *Store, dialect string) map[string]string {
	t.Helper()
	q := `SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'`
	if dialect == DialectPostgres {
		q = `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'messages'`
	}
	rows, err := s.db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		out[name] = def
	}
	return out
}
