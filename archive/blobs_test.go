package archive_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"envoi"
	"envoi/archive"
	"envoi/internal/pgtest"
	"envoi/secret"
	"envoi/sqlstore"
)

// openPostgres opens a store on url as one instance would, migrated.
func openPostgres(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	key, err := secret.ParseMasterKey("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{DataDir: t.TempDir(), DatabaseURL: url, MasterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func blobRows(t *testing.T, s *sqlstore.Store) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM archive_blobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBlobsAcrossInstances: two instances on one PostgreSQL, each with a
// data directory of its own. What one archives the other reads; the same
// bytes archived by both are stored once; bytes changed in the database
// are refused on read (archive_checksum_mismatch) and repaired by the next
// Put of the right bytes.
func TestBlobsAcrossInstances(t *testing.T) {
	url := pgtest.Database(t, "envoi_archive_")
	s1, s2 := openPostgres(t, url), openPostgres(t, url)
	a := &archive.Store{Root: filepath.Join(t.TempDir(), "archive"), Blobs: s1}
	b := &archive.Store{Root: filepath.Join(t.TempDir(), "archive"), Blobs: s2}
	ctx := context.Background()

	doc := bytes.Repeat([]byte("%PDF-1.7 delivery note 12345\n"), 4000)
	sha, size, err := a.Put(ctx, bytes.NewReader(doc))
	if err != nil || sha != sum(doc) || size != int64(len(doc)) {
		t.Fatalf("Put on a: %s %d %v", sha, size, err)
	}
	got, err := readAll(t, b, sha)
	if err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("read from b: %d bytes, %v; want the %d bytes a archived", len(got), err, len(doc))
	}
	if f := files(t, a.Root); len(f) != 0 {
		t.Errorf("files on a's disk: %v, want none (the bytes are in the database)", f)
	}

	if sha2, _, err := b.Put(ctx, bytes.NewReader(doc)); err != nil || sha2 != sha {
		t.Fatalf("Put of the same bytes on b: %s %v", sha2, err)
	}
	if _, _, err := a.Put(ctx, strings.NewReader("another document")); err != nil {
		t.Fatal(err)
	}
	if n := blobRows(t, s1); n != 2 {
		t.Errorf("archive_blobs has %d rows, want 2 (the same bytes stored once)", n)
	}

	if _, err := s1.DB().Exec(`UPDATE archive_blobs SET content = $1 WHERE sha256 = $2`, []byte("tampered"), sha); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, b, sha); envoi.ErrorCode(err) != envoi.EArchiveChecksumMismatch {
		t.Fatalf("read of changed bytes: %v, want %s", err, envoi.EArchiveChecksumMismatch)
	}
	if err := a.Verify(ctx, sha); envoi.ErrorCode(err) != envoi.EArchiveChecksumMismatch {
		t.Fatalf("Verify of changed bytes: %v", err)
	}
	if _, _, err := a.Put(ctx, bytes.NewReader(doc)); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, b, sha); err != nil || !bytes.Equal(got, doc) {
		t.Fatalf("after Put again: %d bytes, %v; want repaired", len(got), err)
	}
	if _, err := readAll(t, b, sum([]byte("never stored"))); envoi.ErrorCode(err) != envoi.ENotFound {
		t.Errorf("read of unknown bytes: %v, want not_found", err)
	}
}

// TestImportFiles: files archived on disk by an earlier version move into
// the database, readable from another instance, and leave the disk; a
// damaged file stays where it is, named; a second run imports nothing.
func TestImportFiles(t *testing.T) {
	url := pgtest.Database(t, "envoi_archive_")
	s1, s2 := openPostgres(t, url), openPostgres(t, url)
	root := filepath.Join(t.TempDir(), "archive")
	old := &archive.Store{Root: root}
	ctx := context.Background()
	docs := [][]byte{[]byte("first document"), []byte("second document"), []byte("damaged document")}
	var shas []string
	for _, d := range docs {
		sha, _, err := old.Put(ctx, bytes.NewReader(d))
		if err != nil {
			t.Fatal(err)
		}
		shas = append(shas, sha)
	}
	damaged := filepath.Join(root, shas[2][:2], shas[2][2:4], shas[2])
	if err := os.WriteFile(damaged, []byte("changed on disk"), 0o600); err != nil {
		t.Fatal(err)
	}

	a := &archive.Store{Root: root, Blobs: s1}
	got, err := a.ImportFiles(ctx)
	if err != nil || got.Files != 2 || got.Bytes != int64(len(docs[0])+len(docs[1])) || len(got.Damaged) != 1 || got.Damaged[0] != damaged {
		t.Fatalf("ImportFiles: %+v, %v; want 2 files and the damaged one named", got, err)
	}
	b := &archive.Store{Root: filepath.Join(t.TempDir(), "archive"), Blobs: s2}
	for i, sha := range shas[:2] {
		if b, err := readAll(t, b, sha); err != nil || !bytes.Equal(b, docs[i]) {
			t.Errorf("imported %s read from another instance: %q, %v", sha, b, err)
		}
	}
	if f := files(t, root); len(f) != 1 {
		t.Errorf("files left on disk: %v, want only the damaged one", f)
	}
	again, err := a.ImportFiles(ctx)
	if err != nil || again.Files != 0 {
		t.Errorf("second ImportFiles: %+v, %v; want nothing imported", again, err)
	}
	if n := blobRows(t, s1); n != 2 {
		t.Errorf("archive_blobs has %d rows, want 2", n)
	}
}
