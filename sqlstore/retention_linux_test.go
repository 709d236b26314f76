//go:build linux

package sqlstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"envoi"
	"envoi/sqlstore"
)

// diskUsage is the disk space the files under dir take (their blocks).
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			var st syscall.Stat_t
			if syscall.Stat(p, &st) == nil {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}

// finishAs records message id as ended in status.
func finishAs(t *testing.T, s *sqlstore.Store, id, status string) {
	t.Helper()
	c, ok, err := s.ClaimMessage(context.Background(), id, time.Now().Add(time.Hour))
	if err != nil || !ok {
		t.Fatalf("claim %s: %v %v", id, ok, err)
	}
	c.Message.Status = status
	if status == envoi.StatusSent {
		c.Message.SentAt = time.Now()
	}
	must(t, s.Finish(context.Background(), c, 0))
}

// TestPruneBodies: 40 messages of 100 KB sent or failed ten days ago, a
// few recent ones and one still queued. Two instances prune the bodies
// older than five days at once: each old body is removed once, its
// message keeps its row and outcome, reading it answers
// message_body_pruned, retrying the failed one too; the recent and the
// queued bodies stay. On SQLite the spool's disk space falls by what the
// old bodies took.
func TestPruneBodies(t *testing.T) {
	ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		clk := NewClock()
		o := NewTestOptions(t, dialect)
		o.Now = clk.Now
		s1, s2 := MustOpen(t, o), MustOpen(t, o)

		const old, size = 40, 100_000
		body := func(i int) []byte {
			return append([]byte(fmt.Sprintf("Subject: %d\r\n\r\n", i)), bytes.Repeat([]byte{'a' + byte(i%26)}, size)...)
		}
		create := func(i int, status string) string {
			m := newMessage("jdupont", "", fmt.Sprint(i))
			m.EML = body(i)
			_, err := s1.CreateMessage(ctx, m)
			must(t, err)
			if status != envoi.StatusQueued {
				finishAs(t, s1, m.ID, status)
			}
			return m.ID
		}
		var oldIDs []string
		for i := range old {
			status := envoi.StatusSent
			if i == 0 {
				status = envoi.StatusFailed
			}
			oldIDs = append(oldIDs, create(i, status))
		}
		queued := create(100, envoi.StatusQueued)
		clk.Advance(10 * 24 * time.Hour)
		recent := []string{create(200, envoi.StatusSent), create(201, envoi.StatusFailed)}

		emlDir := filepath.Join(o.DataDir, sqlstore.EMLFolder)
		before := diskUsage(t, emlDir)

		var wg sync.WaitGroup
		results := make([]sqlstore.Pruned, 2)
		for i, s := range []*sqlstore.Store{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				results[i], err = s.PruneBodies(ctx, clk.Now().Add(-5*24*time.Hour))
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := results[0].Messages + results[1].Messages; n != old {
			t.Errorf("pruned %d + %d messages, want %d once each", results[0].Messages, results[1].Messages, old)
		}
		for i, id := range oldIDs {
			_, err := s2.EML(ctx, id)
			wantCode(t, err, envoi.EMessageBodyPruned)
			m, err := s2.Message(ctx, id)
			if err != nil || (i > 0 && m.Status != envoi.StatusSent) || m.EMLSize != int64(len(body(i))) {
				t.Errorf("message %s after pruning: %+v, %v; want its row and outcome kept", id, m, err)
			}
		}
		wantCode(t, s1.RequeueMessage(ctx, oldIDs[0]), envoi.EMessageBodyPruned)
		for i, id := range append([]string{queued}, recent...) {
			if got, err := s1.EML(ctx, id); err != nil || len(got) < size {
				t.Errorf("kept body %d (%s): %d bytes, %v", i, id, len(got), err)
			}
		}
		if again, err := s1.PruneBodies(ctx, clk.Now().Add(-5*24*time.Hour)); err != nil || again.Messages != 0 {
			t.Errorf("second run: %+v, %v; want nothing", again, err)
		}
		var emls int
		must(t, s1.DB().QueryRow(`SELECT count(*) FROM message_emls`).Scan(&emls))
		if dialect == sqlstore.DialectPostgres {
			if emls != 3 {
				t.Errorf("message_emls has %d rows, want the 3 kept", emls)
			}
			return
		}
		after := diskUsage(t, emlDir)
		freed := results[0].Freed + results[1].Freed
		t.Logf("spool: %d bytes on disk before, %d after pruning %d bodies of ~%d bytes (%d reported freed)", before, after, old, size, freed)
		if before-after < old*size {
			t.Errorf("the spool took %d bytes on disk before, %d after: want at least %d given back", before, after, old*size)
		}
	})
}

// TestPruneRemovesDeadSegments: on SQLite, once every message of a spool
// segment is pruned and the segment is old enough that no spool appends
// to it, the file itself is removed.
func TestPruneRemovesDeadSegments(t *testing.T) {
	ctx := context.Background()
	clk := NewClock()
	o := NewTestOptions(t, sqlstore.DialectSQLite)
	o.Now = clk.Now
	s := MustOpen(t, o)
	m := newMessage("jdupont", "", "h")
	m.EML = []byte("Subject: old\r\n\r\nbody\r\n")
	_, err := s.CreateMessage(ctx, m)
	must(t, err)
	finishAs(t, s, m.ID, envoi.StatusSent)
	dir := filepath.Join(o.DataDir, sqlstore.EMLFolder)
	segs, _ := os.ReadDir(dir)
	if len(segs) != 1 {
		t.Fatalf("segments: %d", len(segs))
	}
	seg := filepath.Join(dir, segs[0].Name())
	// The segment was made and last written three days ago (by the file's
	// name and time; the store's clock moves on as far).
	made := time.Now().Add(-3 * 24 * time.Hour)
	renamed := filepath.Join(dir, made.UTC().Format("20060102T150405")+"-00000000.seg")
	must(t, os.Rename(seg, renamed))
	must(t, os.Chtimes(renamed, made, made))
	must(t, s.DB().QueryRowContext(ctx, `UPDATE messages SET eml_at = $1 || substr(eml_at, instr(eml_at, ':')) WHERE id = $2 RETURNING id`,
		filepath.Base(renamed), m.ID).Scan(new(string)))
	if _, err := s.EML(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Since(clk.Now()) + 2*24*time.Hour) // the store's clock at the real time + 2 days
	got, err := s.PruneBodies(ctx, clk.Now().Add(-24*time.Hour))
	if err != nil || got.Messages != 1 || got.Segments != 1 {
		t.Fatalf("PruneBodies: %+v, %v; want 1 message and its segment", got, err)
	}
	if _, err := os.Stat(renamed); !os.IsNotExist(err) {
		t.Errorf("segment still there: %v", err)
	}
}
