package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"envoi"
)

// On SQLite the composed message of each send (an .eml of about 140 KB for
// a 100 KB PDF) is a file under DataDir/eml rather than a row of
// message_emls. SQLite writes a blob one 4 KiB page at a time — a log
// frame header and a page, two system calls each, then the same pages
// again when the log is checkpointed into the database: profiled with
// envoi bench, those writes were a third of the CPU of accepting a
// message. A file is one write. PostgreSQL, shared by several instances,
// keeps the rows.
//
// Durability matches the database's: the file is written before the
// transaction that records the message commits, so a crashed process
// never leaves a message without its file. Neither is forced to disk
// (SQLite runs with synchronous=NORMAL); should the machine lose power, a
// message whose file did not reach the disk fails with not_found and a
// message saying so, instead of vanishing. Messages stored in
// message_emls by earlier versions are still read from there.

// EMLFolder is the folder of DataDir holding the composed messages.
const EMLFolder = "eml"

// emlFiles knows which shard folders exist, so a write costs no mkdir,
// and whether files can be written directly.
type emlFiles struct {
	dir    string
	shards sync.Map // shard name → struct{}
	// noDirect is set once the file system refused O_DIRECT (tmpfs, some
	// network file systems). A message is written once and rarely read
	// again (the worker takes its bytes from memory), so writing it
	// around the page cache spares the kernel from finding a new page
	// for each 4 KiB: measured on the 2-core machine of envoi bench, 10,000
	// files of 137 KB cost 110 µs of CPU each that way and 200–950 µs
	// through the cache.
	noDirect atomic.Bool
	// blocks holds block-aligned buffers for direct writes.
	blocks sync.Pool
}

// directBlock is the alignment of direct writes: their address, length
// and offset; 4 KiB satisfies every block device's logical block.
const directBlock = 4096

// emlPath returns the file of message id, in a folder named after its last
// two characters (random: the 1,024 folders fill evenly); ok is false
// when the store keeps .eml rows, or for an id that is not a safe file name
// (the store's ids always are).
func (s *Store) emlPath(id string) (dir, path string, ok bool) {
	if s.eml == nil || len(id) < 6 || len(id) > 100 {
		return "", "", false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", "", false
		}
	}
	dir = filepath.Join(s.eml.dir, id[len(id)-2:])
	return dir, filepath.Join(dir, id+".eml"), true
}

// shard makes sure the folder dir exists.
func (s *Store) shard(dir string) error {
	if _, ok := s.eml.shards.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s.eml.shards.Store(dir, struct{}{})
	return nil
}

// createEMLFile writes the new file of message id; EConflict when it
// exists (the id is taken).
func (s *Store) createEMLFile(dir, path, id string, eml []byte) error {
	if err := s.shard(dir); err != nil {
		return fmt.Errorf("sqlstore: store eml of %s: %w", id, err)
	}
	err := s.writeNew(path, eml)
	if errors.Is(err, fs.ErrExist) {
		return envoi.FieldError(envoi.EConflict, "id", "a message with id %s already exists", id)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: store eml of %s: %w", id, err)
	}
	return nil
}

// writeNew creates the file path holding b: directly when the file
// system allows it, else through the page cache. A file it could not
// write whole is removed.
func (s *Store) writeNew(path string, b []byte) error {
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if oDirect != 0 && !s.eml.noDirect.Load() {
		f, err := os.OpenFile(path, flags|oDirect, 0o600)
		if err == nil {
			err = s.writeDirect(f, b)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if !errors.Is(err, syscall.EINVAL) {
				if err != nil {
					os.Remove(path)
				}
				return err
			}
			os.Remove(path)
		}
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		s.eml.noDirect.Store(true)
		s.log.Info("sqlstore: the file system refuses direct writes; composed messages go through the page cache", "dir", s.eml.dir)
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// writeDirect writes b to f, opened with O_DIRECT, from a block-aligned
// copy padded to whole blocks, then cuts the padding off.
func (s *Store) writeDirect(f *os.File, b []byte) error {
	n := (len(b) + directBlock - 1) / directBlock * directBlock
	var buf []byte
	if p, _ := s.eml.blocks.Get().(*[]byte); p != nil && cap(*p) >= n {
		buf = (*p)[:n]
	} else {
		buf = alignedBlock(n)
	}
	defer s.eml.blocks.Put(&buf)
	copy(buf, b)
	clear(buf[len(b):])
	if _, err := f.Write(buf); err != nil {
		return err
	}
	return f.Truncate(int64(len(b)))
}

// alignedBlock returns n bytes starting at a multiple of directBlock.
func alignedBlock(n int) []byte {
	raw := make([]byte, n+directBlock)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % directBlock); r != 0 {
		off = directBlock - r
	}
	return raw[off : off+n : off+n]
}

// replaceEMLFile writes the file of message id anew, atomically: a reader
// sees the old bytes or the new, never a part.
func (s *Store) replaceEMLFile(dir, path, id string, eml []byte) error {
	if err := s.shard(dir); err != nil {
		return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
	}
	f, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
	}
	_, err = f.Write(eml)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
	}
	return nil
}

// PutEML stores the message as sent (replacing a previous one); ENotFound
// if there is no such message.
func (s *Store) PutEML(ctx context.Context, id string, eml []byte) error {
	if eml == nil {
		eml = []byte{}
	}
	dir, path, file := s.emlPath(id)
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE messages SET eml_size = $1 WHERE id = $2`, int64(len(eml)), id)
		if err := affected(res, err, "message", id); err != nil {
			return err
		}
		if file {
			// Inside the transaction, which holds SQLite's one write
			// lock: two PutEML of a message end with the size of the
			// file that stays.
			if _, err := tx.ExecContext(ctx, `DELETE FROM message_emls WHERE message_id = $1`, id); err != nil {
				return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
			}
			return s.replaceEMLFile(dir, path, id, eml)
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO message_emls (message_id, eml, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (message_id) DO UPDATE SET eml = excluded.eml, created_at = excluded.created_at`,
			id, eml, s.ts(s.nowUTC()))
		if err != nil {
			return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
		}
		return nil
	})
}

// EML returns the message as sent; ENotFound if it was not stored.
func (s *Store) EML(ctx context.Context, id string) ([]byte, error) {
	if _, path, ok := s.emlPath(id); ok {
		eml, err := os.ReadFile(path)
		if err == nil {
			return eml, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlstore: eml of %s: %w", id, err)
		}
		// Stored by an earlier version, or lost: the row tells.
	}
	var eml []byte
	st, err := s.prepared(ctx, s.rdb, selectEMLSQL)
	if err == nil {
		err = st.QueryRowContext(ctx, id).Scan(&eml)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.emlMissing(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: eml of %s: %w", id, err)
	}
	return eml, nil
}

// emlMissing is the error of a message without its .eml: not found, and
// for a message whose file is gone, a message saying where it was.
func (s *Store) emlMissing(ctx context.Context, id string) error {
	_, path, file := s.emlPath(id)
	var size int64
	err := s.reads().QueryRowContext(ctx, `SELECT eml_size FROM messages WHERE id = $1`, id).Scan(&size)
	if !file || err != nil || size == 0 {
		return notFound("message .eml", id)
	}
	return envoi.Errorf(envoi.ENotFound, "the composed message %s (%d bytes) is missing: %s was deleted or, after the machine stopped, never reached the disk; send the document again", id, size, path).
		WithDetail("code", id)
}
