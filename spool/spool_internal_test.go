package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpool appends records of awkward sizes across segments and reads
// back exactly what was written.
func TestSpool(t *testing.T) {
	sp := New(t.TempDir())
	sp.max = 3 * blockSize
	at := map[string]string{}
	msgs := map[string][]byte{}
	for i, n := range []int{0, 1, blockSize - headerSize - 6, blockSize, blockSize + 1, 3*blockSize + 17, 140_000} {
		id := "msg_" + strings.Repeat(string(rune('a'+i)), 2)
		msgs[id] = bytes.Repeat([]byte{byte('A' + i)}, n)
		var err error
		if at[id], err = sp.Append(id, msgs[id]); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	for id, want := range msgs {
		got, err := sp.Read(id, at[id], int64(len(want)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s read %d bytes (%v), want %d", id, len(got), err, len(want))
		}
	}
	if segs, _ := filepath.Glob(filepath.Join(sp.dir, "*.seg")); len(segs) < 3 {
		t.Errorf("%d segments, want a new one each time one is full", len(segs))
	}
	if _, err := sp.Read("msg_bb", at["msg_aa"], 0); err == nil {
		t.Error("read the record of msg_aa as msg_bb's")
	}
	if _, err := sp.Read("msg_gg", at["msg_gg"], int64(len(msgs["msg_gg"]))+1); err == nil {
		t.Error("read a record of another size than the row says")
	}
	for _, bad := range []string{"", "x", "../x.seg:0", at["msg_aa"] + "1", "missing.seg:0"} {
		if _, err := sp.Read("msg_aa", bad, 0); err == nil {
			t.Errorf("read at %q did not fail", bad)
		}
	}
	if err := sp.Close(); err != nil {
		t.Error(err)
	}
}

// TestSpoolDamage finds a record changed on disk.
func TestSpoolDamage(t *testing.T) {
	sp := New(t.TempDir())
	defer sp.Close()
	at, err := sp.Append("msg_damaged", []byte("Subject: x\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(at, ":")
	path := filepath.Join(sp.dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[headerSize+len("msg_damaged")+2] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Read("msg_damaged", at, 0); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("read of a damaged record: %v, want a checksum error", err)
	}
}

// testLogger logs to t.
