package archive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"envoi"
	"envoi/archive"
)

func MustOpenStore(tb testing.TB) *archive.Store {
	tb.Helper()
	return &archive.Store{Root: filepath.Join(tb.TempDir(), "archive")}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// files lists the regular files under root, relative to it.
func files(tb testing.TB, root string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
	return out
}

func readAll(tb testing.TB, s *archive.Store, sha string) ([]byte, error) {
	tb.Helper()
	rc, err := s.Open(context.Background(), sha)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func TestPutOpen(t *testing.T) {
	s := MustOpenStore(t)
	content := []byte("%PDF-1.4 bon de livraison 12345 — société FORTERRO")
	sha, size, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if want := sum(content); sha != want {
		t.Errorf("sha = %s, want %s", sha, want)
	}
	if size != int64(len(content)) {
		t.Errorf("size = %d, want %d", size, len(content))
	}
	wantPath := filepath.Join(sha[:2], sha[2:4], sha)
	if got := files(t, s.Root); len(got) != 1 || got[0] != wantPath {
		t.Errorf("files = %v, want [%s]", got, wantPath)
	}
	fi, err := os.Stat(filepath.Join(s.Root, wantPath))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("file mode = %v, want no access for group and others", perm)
	}
	got, err := readAll(t, s, sha)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("read %q, want %q", got, content)
	}
	if err := s.Verify(context.Background(), sha); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestPutEmpty(t *testing.T) {
	s := MustOpenStore(t)
	sha, size, err := s.Put(context.Background(), strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if sha != sum(nil) || size != 0 {
		t.Errorf("Put(empty) = %s, %d; want %s, 0", sha, size, sum(nil))
	}
	if err := s.Verify(context.Background(), sha); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestPutDedupe(t *testing.T) {
	s := MustOpenStore(t)
	content := []byte("the same invoice, sent twice")
	sha1, _, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Root, sha1[:2], sha1[2:4], sha1)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sha2, _, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if sha1 != sha2 {
		t.Fatalf("sha %s then %s", sha1, sha2)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the second Put replaced an intact file; want it kept")
	}
	if got := files(t, s.Root); len(got) != 1 {
		t.Errorf("files = %v, want one", got)
	}
	other, _, err := s.Put(context.Background(), strings.NewReader("another document"))
	if err != nil {
		t.Fatal(err)
	}
	if other == sha1 {
		t.Fatal("different bytes, same sha")
	}
	if got := files(t, s.Root); len(got) != 2 {
		t.Errorf("files = %v, want two", got)
	}
}

func TestCorruption(t *testing.T) {
	s := MustOpenStore(t)
	content := bytes.Repeat([]byte("facture 2025-0042 "), 1000)
	sha, _, err := s.Put(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Root, sha[:2], sha[2:4], sha)
	damaged := bytes.Clone(content)
	damaged[len(damaged)/2] ^= 0x01 // one bit, same size
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("Open", func(t *testing.T) {
		got, err := readAll(t, s, sha)
		if code := envoi.ErrorCode(err); code != envoi.EArchiveChecksumMismatch {
			t.Fatalf("read error = %v (code %q), want %s", err, code, envoi.EArchiveChecksumMismatch)
		}
		if len(got) != len(damaged) {
			t.Errorf("read %d bytes before the error, want %d", len(got), len(damaged))
		}
	})
	t.Run("Verify", func(t *testing.T) {
		err := s.Verify(context.Background(), sha)
		if code := envoi.ErrorCode(err); code != envoi.EArchiveChecksumMismatch {
			t.Fatalf("Verify = %v, want %s", err, envoi.EArchiveChecksumMismatch)
		}
		if got := envoi.AsError(err).Details["actual_sha256"]; got != sum(damaged) {
			t.Errorf("actual_sha256 = %v, want %s", got, sum(damaged))
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		if err := os.WriteFile(path, content[:10], 0o600); err != nil {
			t.Fatal(err)
		}
		if code := envoi.ErrorCode(s.Verify(context.Background(), sha)); code != envoi.EArchiveChecksumMismatch {
			t.Fatalf("Verify code = %q, want %s", code, envoi.EArchiveChecksumMismatch)
		}
	})
	t.Run("PutRepairs", func(t *testing.T) {
		if _, _, err := s.Put(context.Background(), bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(context.Background(), sha); err != nil {
			t.Fatalf("Verify after a new Put: %v", err)
		}
		got, err := readAll(t, s, sha)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("read after repair: %d bytes, %v", len(got), err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	s := MustOpenStore(t)
	tests := []struct {
		name string
		sha  string
		code string
	}{
		{"ENotFound", sum([]byte("never stored")), envoi.ENotFound},
		{"Traversal", "../../../../etc/passwd", envoi.EInvalidInput},
		{"Uppercase", strings.ToUpper(sum(nil)), envoi.EInvalidInput},
		{"Short", "abcd", envoi.EInvalidInput},
		{"Empty", "", envoi.EInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Open(context.Background(), tt.sha)
			if got := envoi.ErrorCode(err); got != tt.code {
				t.Errorf("Open(%q) code = %q, want %q (%v)", tt.sha, got, tt.code, err)
			}
			if got := envoi.ErrorCode(s.Verify(context.Background(), tt.sha)); got != tt.code {
				t.Errorf("Verify(%q) code = %q, want %q", tt.sha, got, tt.code)
			}
		})
	}
	var zero archive.Store
	if _, _, err := zero.Put(context.Background(), strings.NewReader("x")); err == nil {
		t.Error("Put on a store without root: no error")
	}
}

// failingReader gives n bytes, then fails: a client that hangs up.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("connection reset")
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func TestPutAtomic(t *testing.T) {
	s := MustOpenStore(t)
	t.Run("ReaderFails", func(t *testing.T) {
		if _, _, err := s.Put(context.Background(), &failingReader{n: 100 << 10}); err == nil {
			t.Fatal("Put of a failing reader: no error")
		}
		if got := files(t, s.Root); len(got) != 0 {
			t.Errorf("files after a failed Put = %v, want none (no partial file, no temporary file)", got)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancelAfter{n: 3, cancel: cancel}
		_, _, err := s.Put(ctx, r)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Put = %v, want context.Canceled", err)
		}
		if got := files(t, s.Root); len(got) != 0 {
			t.Errorf("files after a cancelled Put = %v, want none", got)
		}
	})
	t.Run("StaleTempIgnored", func(t *testing.T) {
		// A crash between write and rename leaves a temporary file: it is
		// never mistaken for a document.
		if err := os.WriteFile(filepath.Join(s.Root, ".put-crashed"), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(context.Background(), sum([]byte("half"))); envoi.ErrorCode(err) != envoi.ENotFound {
			t.Errorf("Open of a half-written file = %v, want not_found", err)
		}
	})
}

// cancelAfter cancels its context after n reads.
type cancelAfter struct {
	n      int
	cancel func()
}

func (r *cancelAfter) Read(p []byte) (int, error) {
	r.n--
	if r.n == 0 {
		r.cancel()
	}
	return copy(p, "chunk"), nil
}

func TestPutConcurrentSameContent(t *testing.T) {
	s := MustOpenStore(t)
	content := bytes.Repeat([]byte("avoir 77 "), 50_000)
	const n = 8
	shas := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { shas[i], _, errs[i] = s.Put(context.Background(), bytes.NewReader(content)) })
	}
	// Readers race the writers: they see the whole file or none.
	for range n {
		wg.Go(func() {
			got, err := readAll(t, s, sum(content))
			if err == nil && !bytes.Equal(got, content) {
				t.Errorf("a concurrent reader saw %d bytes that are not the content", len(got))
			}
			if err != nil && envoi.ErrorCode(err) != envoi.ENotFound {
				t.Errorf("concurrent read: %v", err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Put %d: %v", i, errs[i])
		}
		if shas[i] != sum(content) {
			t.Errorf("Put %d sha = %s, want %s", i, shas[i], sum(content))
		}
	}
	if got := files(t, s.Root); len(got) != 1 {
		t.Errorf("files = %v, want exactly one", got)
	}
	if err := s.Verify(context.Background(), sum(content)); err != nil {
		t.Error(err)
	}
}

// patternReader streams size bytes without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(p)), r.left))
	for i := range p[:k] {
		p[i] = byte(r.left - int64(i))
	}
	r.left -= int64(k)
	return k, nil
}

func TestPutStreams(t *testing.T) {
	s := MustOpenStore(t)
	const size = 32 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sha, n, err := s.Put(context.Background(), &patternReader{left: size})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if n != size {
		t.Errorf("size = %d, want %d", n, size)
	}
	// Put and its dedupe check read through small buffers; holding the
	// document would allocate its size at least.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("Put allocated %d bytes for a %d-byte document; want it streamed", alloc, size)
	}
	if err := s.Verify(context.Background(), sha); err != nil {
		t.Error(err)
	}
}

func BenchmarkPut(b *testing.B) {
	s := MustOpenStore(b)
	content := bytes.Repeat([]byte("x"), 100<<10)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		copy(content, []byte{byte(i), byte(i >> 8), byte(i >> 16)}) // new content each time
		if _, _, err := s.Put(context.Background(), bytes.NewReader(content)); err != nil {
			b.Fatal(err)
		}
	}
}
