package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"envoi"
	"envoi/sqlstore"
)

// emlFiles returns the .eml files under the data directory, by name.
func emlFiles(tb testing.TB, dataDir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	root := filepath.Join(dataDir, sqlstore.EMLFolder)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[strings.TrimPrefix(path, root+string(filepath.Separator))] = string(b)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	return out
}

func TestEMLFilesOnSQLite(t *testing.T) {
	ctx := context.Background()
	o := NewTestOptions(t, sqlstore.DialectSQLite)
	s := MustOpen(t, o)

	m := newMessage("jdupont", "key-1", "h1")
	m.EML = []byte("Subject: BL 12345\r\n\r\nhello\r\n")
	if _, err := s.CreateMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(m.ID[len(m.ID)-2:], m.ID+".eml")
	if files := emlFiles(t, o.DataDir); len(files) != 1 || files[name] != string(m.EML) {
		t.Fatalf("files = %q, want only %s holding the message", files, name)
	}
	var rows int
	must(t, s.DB().QueryRow(`SELECT count(*) FROM message_emls`).Scan(&rows))
	if rows != 0 {
		t.Errorf("%d rows in message_emls, want the bytes in the file only", rows)
	}

	t.Run("ReplayLeavesNoFile", func(t *testing.T) {
		again := newMessage("jdupont", "key-1", "h1")
		again.EML = m.EML
		created, err := s.CreateMessage(ctx, again)
		if err != nil || created || again.ID != m.ID {
			t.Fatalf("replay: created %v id %s err %v", created, again.ID, err)
		}
		conflict := newMessage("jdupont", "key-1", "h2")
		conflict.EML = []byte("other")
		wantCode(t, func() error { _, err := s.CreateMessage(ctx, conflict); return err }(), envoi.EIdempotencyConflict)
		if files := emlFiles(t, o.DataDir); len(files) != 1 {
			t.Errorf("files = %q, want the first message's alone", files)
		}
	})

	t.Run("TakenID", func(t *testing.T) {
		dup := newMessage("jdupont", "", "h3")
		dup.ID, dup.EML = m.ID, []byte("intruder")
		wantCode(t, func() error { _, err := s.CreateMessage(ctx, dup); return err }(), envoi.EConflict)
		if got, _ := s.EML(ctx, m.ID); string(got) != string(m.EML) {
			t.Errorf("EML after a conflicting create = %q", got)
		}
	})

	t.Run("Put", func(t *testing.T) {
		must(t, s.PutEML(ctx, m.ID, []byte("replaced")))
		if got, _ := s.EML(ctx, m.ID); string(got) != "replaced" {
			t.Errorf("EML = %q", got)
		}
		if files := emlFiles(t, o.DataDir); len(files) != 1 || files[name] != "replaced" {
			t.Errorf("files = %q, want %s replaced and no temporary file left", files, name)
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

	t.Run("Lost", func(t *testing.T) {
		lost := newMessage("jdupont", "", "h5")
		lost.EML = []byte("soon gone")
		if _, err := s.CreateMessage(ctx, lost); err != nil {
			t.Fatal(err)
		}
		must(t, os.Remove(filepath.Join(o.DataDir, sqlstore.EMLFolder, lost.ID[len(lost.ID)-2:], lost.ID+".eml")))
		_, err := s.EML(ctx, lost.ID)
		if e := wantCode(t, err, envoi.ENotFound); e != nil && !strings.Contains(e.Message, "is missing") {
			t.Errorf("message %q does not say the file is missing", e.Message)
		}
	})

	t.Run("UnsafeID", func(t *testing.T) {
		// An id that is no file name is kept in the table.
		odd := newMessage("jdupont", "", "h6")
		odd.ID, odd.EML = "msg_../../x", []byte("odd")
		if _, err := s.CreateMessage(ctx, odd); err != nil {
			t.Fatal(err)
		}
		if got, err := s.EML(ctx, odd.ID); err != nil || string(got) != "odd" {
			t.Errorf("EML = %q, %v", got, err)
		}
		if _, err := os.Stat(filepath.Join(o.DataDir, "x.eml")); !os.IsNotExist(err) {
			t.Errorf("a file was written outside the eml folder: %v", err)
		}
	})
}
