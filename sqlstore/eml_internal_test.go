package sqlstore

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteNew writes files of awkward sizes directly and through the
// cache, and reads back exactly what was written.
func TestWriteNew(t *testing.T) {
	for _, direct := range []bool{true, false} {
		s := &Store{log: slog.New(slog.DiscardHandler), eml: &emlFiles{dir: t.TempDir()}}
		s.eml.noDirect.Store(!direct)
		for i, n := range []int{0, 1, directBlock - 1, directBlock, directBlock + 1, 3*directBlock + 17, 140_000} {
			b := bytes.Repeat([]byte{byte('a' + i)}, n)
			path := filepath.Join(s.eml.dir, string(rune('a'+i))+".eml")
			if err := s.writeNew(path, b); err != nil {
				t.Fatalf("direct %v, %d bytes: %v", direct, n, err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("direct %v: read %d bytes (%v), want %d", direct, len(got), err, n)
			}
			if err := s.writeNew(path, []byte("again")); !errors.Is(err, fs.ErrExist) {
				t.Errorf("direct %v: second write = %v, want ErrExist", direct, err)
			}
		}
	}
}
