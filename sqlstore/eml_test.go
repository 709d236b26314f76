package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"envoi"
	"envoi/sqlstore"
)

// emlAt returns where the spool holds message id's bytes.
func emlAt(tb testing.TB, s *sqlstore.Store, id string) string {
	tb.Helper()
	var at string
	must(tb, s.DB().QueryRow(`SELECT eml_at FROM messages WHERE id = $1`, id).Scan(&at))
	return at
}

func TestEMLSpoolOnSQLite(t *testing.T) {
	ctx := context.Background()
	o := NewTestOptions(t, sqlstore.DialectSQLite)
	s := MustOpen(t, o)

	m := newMessage("jdupont", "key-1", "h1")
	m.EML = []byte("Subject: BL 12345\r\n\r\nhello\r\n")
	if _, err := s.CreateMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, err := s.EML(ctx, m.ID); err != nil || string(got) != string(m.EML) {
		t.Fatalf("EML = %q, %v", got, err)
	}
	var rows int
	must(t, s.DB().QueryRow(`SELECT count(*) FROM message_emls`).Scan(&rows))
	if rows != 0 {
		t.Errorf("%d rows in message_emls, want the bytes in the spool only", rows)
	}
	at := emlAt(t, s, m.ID)
	seg, _, _ := strings.Cut(at, ":")
	if _, err := os.Stat(filepath.Join(o.DataDir, sqlstore.EMLFolder, seg)); err != nil {
		t.Fatalf("eml_at %q: %v", at, err)
	}

	t.Run("Replay", func(t *testing.T) {
		again := newMessage("jdupont", "key-1", "h1")
		again.EML = m.EML
		created, err := s.CreateMessage(ctx, again)
		if err != nil || created || again.ID != m.ID {
			t.Fatalf("replay: created %v id %s err %v", created, again.ID, err)
		}
		conflict := newMessage("jdupont", "key-1", "h2")
		conflict.EML = []byte("other")
		_, err = s.CreateMessage(ctx, conflict)
		wantCode(t, err, envoi.EIdempotencyConflict)
		if got, _ := s.EML(ctx, m.ID); string(got) != string(m.EML) {
			t.Errorf("EML after a replay and a conflict = %q", got)
		}
	})

	t.Run("Put", func(t *testing.T) {
		must(t, s.PutEML(ctx, m.ID, []byte("replaced")))
		if got, _ := s.EML(ctx, m.ID); string(got) != "replaced" {
			t.Errorf("EML = %q", got)
		}
		got, err := s.Message(ctx, m.ID)
		if err != nil || got.EMLSize != 8 {
			t.Errorf("size %d, %v; want 8", got.EMLSize, err)
		}
	})

	t.Run("EarlierRow", func(t *testing.T) {
		// A message stored by a version that kept the bytes in the table.
		old := newMessage("jdupont", "", "h4")
		if _, err := s.CreateMessage(ctx, old); err != nil {
			t.Fatal(err)
		}
		_, err := s.DB().Exec(`INSERT INTO message_emls (message_id, eml, created_at) VALUES ($1, $2, '2026-01-01 00:00:00')`, old.ID, []byte("from the table"))
		must(t, err)
		if got, err := s.EML(ctx, old.ID); err != nil || string(got) != "from the table" {
			t.Errorf("EML = %q, %v", got, err)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		lost := newMessage("jdupont", "", "h5")
		lost.EML = []byte("soon gone")
		if _, err := s.CreateMessage(ctx, lost); err != nil {
			t.Fatal(err)
		}
		// As if the machine had stopped before the record reached the disk.
		_, err := s.DB().Exec(`UPDATE messages SET eml_at = 'gone.seg:0' WHERE id = $1`, lost.ID)
		must(t, err)
		_, err = s.EML(ctx, lost.ID)
		if e := wantCode(t, err, envoi.ENotFound); e != nil && !strings.Contains(e.Message, "missing or damaged") {
			t.Errorf("message %q does not say the bytes are missing", e.Message)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		_, err := s.EML(ctx, "msg_unknown")
		wantCode(t, err, envoi.ENotFound)
	})
}

// TestEMLSpoolTwoHandles: two stores on one SQLite file (envoi serve and
// envoi send) write segments of their own and read each other's.
func TestEMLSpoolTwoHandles(t *testing.T) {
	ctx := context.Background()
	o := NewTestOptions(t, sqlstore.DialectSQLite)
	a, b := MustOpen(t, o), MustOpen(t, o)
	var wg sync.WaitGroup
	ids := make([][]string, 2)
	for i, s := range []*sqlstore.Store{a, b} {
		wg.Go(func() {
			for j := range 50 {
				m := newMessage("jdupont", "", "h")
				m.EML = []byte(fmt.Sprintf("Subject: %d-%d\r\n\r\n%s\r\n", i, j, strings.Repeat("x", j*300)))
				if _, err := s.CreateMessage(ctx, m); err != nil {
					t.Error(err)
					return
				}
				ids[i] = append(ids[i], m.ID)
			}
		})
	}
	wg.Wait()
	segs := map[string]bool{}
	for i := range ids {
		for j, id := range ids[i] {
			at := emlAt(t, a, id)
			seg, _, _ := strings.Cut(at, ":")
			segs[seg] = true
			want := fmt.Sprintf("Subject: %d-%d\r\n", i, j)
			for _, s := range []*sqlstore.Store{a, b} {
				got, err := s.EML(ctx, id)
				if err != nil || !strings.HasPrefix(string(got), want) || len(got) != len(want)+2+j*300+2 {
					t.Fatalf("EML of %s (%s) = %d bytes %.20q, %v", id, at, len(got), got, err)
				}
			}
		}
	}
	if len(segs) != 2 {
		t.Errorf("segments %v, want one per store", segs)
	}
}
