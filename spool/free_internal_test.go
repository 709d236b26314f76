//go:build linux

package spool

import (
	"bytes"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// allocated is the disk space a file takes (its blocks), not its size.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestFreeGivesSpaceBack appends 60 messages of 100 KB, frees 50, and
// measures the segment's disk space: it falls by what the 50 took, while
// the 10 others still read back whole and the freed ones no longer read.
func TestFreeGivesSpaceBack(t *testing.T) {
	sp := New(t.TempDir())
	defer sp.Close()
	const n, freed, size = 60, 50, 100_000
	at := make([]string, n)
	for i := range n {
		var err error
		if at[i], err = sp.Append(fmt.Sprintf("msg_%03d", i), bytes.Repeat([]byte{byte('a' + i%26)}, size)); err != nil {
			t.Fatal(err)
		}
	}
	seg := filepath.Join(sp.dir, sp.name)
	before := allocated(t, seg)
	var total int64
	for i := range freed {
		got, err := sp.Free(fmt.Sprintf("msg_%03d", i), at[i])
		if err != nil {
			t.Fatal(err)
		}
		if got == 0 {
			t.Skipf("the file system of %s cannot punch holes", sp.dir)
		}
		total += got
	}
	after := allocated(t, seg)
	t.Logf("segment: %d bytes on disk before, %d after freeing %d records (%d bytes freed)", before, after, freed, total)
	if before-after < freed*size {
		t.Errorf("the segment took %d bytes on disk, %d after freeing %d records of %d bytes: want at least %d back",
			before, after, freed, size, freed*size)
	}
	for i := range n {
		id := fmt.Sprintf("msg_%03d", i)
		got, err := sp.Read(id, at[i], size)
		if i < freed && err == nil {
			t.Errorf("%s reads after Free", id)
		}
		if i >= freed && (err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + i%26)}, size))) {
			t.Errorf("%s kept: %v", id, err)
		}
	}
	// Freeing again, or at another message's record, frees nothing.
	if got, err := sp.Free("msg_000", at[0]); got != 0 || err != nil {
		t.Errorf("Free twice: %d, %v", got, err)
	}
	if got, err := sp.Free("msg_999", at[55]); got != 0 || err == nil {
		t.Errorf("Free of another message's record: %d, %v; want an error", got, err)
	}
}

// TestRollAfter: a spool starts a new segment once its own is older than
// RollAfter; the old one can then be removed, the current one cannot.
func TestRollAfter(t *testing.T) {
	sp := New(t.TempDir())
	defer sp.Close()
	clock := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	sp.now = func() time.Time { return clock }
	first, err := sp.Append("msg_a", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(RollAfter + time.Second)
	second, err := sp.Append("msg_b", []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	segs, err := sp.Segments()
	if err != nil || len(segs) != 2 {
		t.Fatalf("segments: %+v, %v; want 2", segs, err)
	}
	if !segs[0].Created.Equal(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("created %v, want the first's time", segs[0].Created)
	}
	oldName, _, _, _ := sp.locate(first)
	curName, _, _, _ := sp.locate(second)
	if oldName == curName {
		t.Fatalf("one segment after RollAfter: %s", oldName)
	}
	if err := sp.RemoveSegment(curName); err == nil {
		t.Error("RemoveSegment of the segment written now succeeded")
	}
	if err := sp.RemoveSegment(oldName); err != nil {
		t.Fatal(err)
	}
	if segs, _ := sp.Segments(); len(segs) != 1 || segs[0].Name != curName {
		t.Errorf("after removal: %+v", segs)
	}
	if _, err := sp.Read("msg_b", second, 6); err != nil {
		t.Error(err)
	}
}
