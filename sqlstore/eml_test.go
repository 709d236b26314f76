package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/base64"
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

// On PostgreSQL the composed message is stored packed (its base64 lines
// as the bytes they encode) and read back byte for byte: a plain
// message, a sensitive one (packed, then sealed), and one put again.
func TestEMLPackedOnPostgres(t *testing.T) {
	ctx := context.Background()
	o := NewTestOptions(t, sqlstore.DialectPostgres)
	s := MustOpen(t, o)

	raw := make([]byte, 30<<10)
	for i := range raw {
		raw[i] = byte(i * 131 >> 3)
	}
	var b strings.Builder
	b.WriteString("Subject: BL 12345\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	text := base64.StdEncoding.EncodeToString(raw)
	for len(text) > 76 {
		b.WriteString(text[:76] + "\r\n")
		text = text[76:]
	}
	b.WriteString(text + "\r\n--x--\r\n")
	eml := []byte(b.String())

	stored := func(id string) int {
		var n int
		must(t, s.DB().QueryRow(`SELECT octet_length(eml) FROM message_emls WHERE message_id = $1`, id).Scan(&n))
		return n
	}
	for _, sensitive := range []bool{false, true} {
		t.Run(fmt.Sprintf("sensitive=%v", sensitive), func(t *testing.T) {
			m := newMessage("jdupont", "", "h1")
			m.EML = eml
			m.Sensitive = sensitive
			if _, err := s.CreateMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			got, err := s.EMLToSend(ctx, m.ID)
			if err != nil || !bytes.Equal(got, eml) {
				t.Fatalf("EMLToSend = %d bytes, %v; want the %d bytes stored", len(got), err, len(eml))
			}
			if n, most := stored(m.ID), len(eml)*4/5; n > most {
				t.Errorf("message_emls holds %d bytes of a message of %d, want at most %d (packed)", n, len(eml), most)
			}
		})
	}
	t.Run("PutEML", func(t *testing.T) {
		m := newMessage("jdupont", "", "h1")
		m.EML = []byte("Subject: first\r\n\r\n")
		if _, err := s.CreateMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		must(t, s.PutEML(ctx, m.ID, eml))
		if got, err := s.EML(ctx, m.ID); err != nil || !bytes.Equal(got, eml) {
			t.Fatalf("EML after PutEML = %d bytes, %v", len(got), err)
		}
		if n := stored(m.ID); n > len(eml)*4/5 {
			t.Errorf("message_emls holds %d bytes after PutEML of %d", n, len(eml))
		}
	})
	t.Run("Damaged", func(t *testing.T) {
		m := newMessage("jdupont", "", "h1")
		m.EML = eml
		if _, err := s.CreateMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		_, err := s.DB().Exec(`UPDATE message_emls SET eml = substring(eml from 1 for 100) WHERE message_id = $1`, m.ID)
		must(t, err)
		_, err = s.EML(ctx, m.ID)
		wantCode(t, err, envoi.ENotFound)
	})
}
