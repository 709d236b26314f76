package spool_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"envoi/spool"
)

// MustOpen returns a spool in a temporary folder, closed when the test
// ends.
func MustOpen(tb testing.TB) *spool.Spool {
	tb.Helper()
	sp := spool.New(filepath.Join(tb.TempDir(), "eml"))
	tb.Cleanup(func() {
		if err := sp.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return sp
}

// TestSpoolsShareFolder: two spools of one folder (envoi serve and envoi
// send) append at once, each to a segment of its own, and read each
// other's records.
func TestSpoolsShareFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "eml")
	a, b := spool.New(dir), spool.New(dir)
	defer a.Close()
	defer b.Close()
	type record struct{ id, at string }
	var mu sync.Mutex
	var records []record
	var wg sync.WaitGroup
	for i, sp := range []*spool.Spool{a, b} {
		wg.Go(func() {
			for j := range 20 {
				id := fmt.Sprintf("msg_%d_%d", i, j)
				at, err := sp.Append(id, bytes.Repeat([]byte(id), j*100))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				records = append(records, record{id, at})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 2 {
		t.Errorf("segments %v, want one per spool", segs)
	}
	for _, r := range records {
		for _, sp := range []*spool.Spool{a, b} {
			got, err := sp.Read(r.id, r.at, 0)
			var j int
			fmt.Sscanf(r.id[len("msg_0_"):], "%d", &j)
			if want := bytes.Repeat([]byte(r.id), j*100); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Read(%s, %s) = %d bytes, %v; want %d", r.id, r.at, len(got), err, len(want))
			}
		}
	}
}

// BenchmarkAppend measures writing the record of a message of 140 KB (an
// .eml with a 100 KB PDF), one goroutine and many at once.
func BenchmarkAppend(b *testing.B) {
	eml := bytes.Repeat([]byte("x"), 140_000)
	b.Run("Serial", func(b *testing.B) {
		sp := MustOpen(b)
		b.SetBytes(int64(len(eml)))
		for b.Loop() {
			if _, err := sp.Append("msg_bench", eml); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		sp := MustOpen(b)
		b.SetBytes(int64(len(eml)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := sp.Append("msg_bench", eml); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRead measures reading back and checking a record of 140 KB.
func BenchmarkRead(b *testing.B) {
	eml := bytes.Repeat([]byte("x"), 140_000)
	sp := MustOpen(b)
	at, err := sp.Append("msg_bench", eml)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(eml)))
	for b.Loop() {
		if _, err := sp.Read("msg_bench", at, int64(len(eml))); err != nil {
			b.Fatal(err)
		}
	}
}
