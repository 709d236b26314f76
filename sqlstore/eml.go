package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"envoi"
)

// On SQLite the composed message of each send (an .eml of about 140 KB
// for a 100 KB PDF) goes to a spool of append-only segment files under
// DataDir/eml, and the message's row records where (messages.eml_at,
// "segment:offset"). SQLite would write such a blob one 4 KiB page at a
// time — a log frame header and a page, two system calls each — and then
// the same pages again when it checkpoints the log: profiled with envoi
// bench, that was a third of the CPU of accepting a message. A file per
// message was cheaper but not by enough: creating 10,000 files cost about
// 0.5 ms of CPU each on the bench's machine, where one positioned write
// into an open segment costs 0.1 ms. PostgreSQL, which several instances
// share, keeps the bytes in message_emls.
//
// Each store appends to a segment of its own, made on its first write, so
// an envoi send run beside envoi serve never writes where serve does.
// Records start on 4 KiB boundaries and are written directly, around the
// page cache, where the file system allows it: a message is written once
// and seldom read again (the worker takes its bytes from memory), so
// there is no point in the kernel finding a page for each 4 KiB of it.
//
// A record is a header — "EML1", the lengths of the message id and of the
// message, the CRC-32C of the message — then the id and the message. The
// record is written before the transaction that records the message
// commits, so a crashed process never leaves a row pointing at nothing.
// Neither is forced to disk (SQLite runs with synchronous=NORMAL): should
// the machine lose power, a message whose record did not reach the disk
// fails with not_found saying so, rather than going out damaged.

// EMLFolder is the folder of DataDir holding the spool's segments.
const EMLFolder = "eml"

const (
	// spoolBlock is the alignment of records: their address in memory,
	// length and offset, as direct writes require; 4 KiB satisfies every
	// block device's logical block.
	spoolBlock = 4096
	// spoolSegmentMax is the size past which a store starts a new segment.
	spoolSegmentMax = 1 << 30
	// spoolHeader is the size of a record's fixed header.
	spoolHeader = 16
)

var (
	spoolMagic = []byte("EML1")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// spool appends records to this store's segment and reads any segment.
type spool struct {
	dir string
	log func(msg string, args ...any)
	max int64 // segment size past which a new one starts

	mu     sync.Mutex
	seg    *os.File // the segment written now; nil until the first write
	name   string   // its file name
	next   int64    // offset of the next record
	direct bool     // seg was opened with O_DIRECT
	// noDirect: the file system refused O_DIRECT (tmpfs, some network
	// file systems): segments go through the page cache.
	noDirect bool
	old      []*os.File

	buffers sync.Pool // *[]byte, block-aligned
}

func newSpool(dir string, log func(string, ...any)) *spool {
	return &spool{dir: dir, log: log, max: spoolSegmentMax}
}

// close closes the segments written.
func (sp *spool) close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	var errs []error
	for _, f := range append(sp.old, sp.seg) {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	sp.seg, sp.old = nil, nil
	return errors.Join(errs...)
}

// reserve returns the segment and offset where a record of n bytes (a
// multiple of spoolBlock) goes, opening a new segment when needed.
func (sp *spool) reserve(n int64) (f *os.File, name string, off int64, direct bool, err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.seg == nil || sp.next+n > sp.max {
		if err := sp.open(); err != nil {
			return nil, "", 0, false, err
		}
	}
	off = sp.next
	sp.next += n
	return sp.seg, sp.name, off, sp.direct, nil
}

// open starts a new segment, named after the time and a random suffix
// so that stores in other processes never pick the same.
func (sp *spool) open() error {
	if err := os.MkdirAll(sp.dir, 0o700); err != nil {
		return err
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	name := time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(r[:]) + ".seg"
	path := filepath.Join(sp.dir, name)
	const flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	direct := oDirect != 0 && !sp.noDirect
	var f *os.File
	var err error
	if direct {
		f, err = os.OpenFile(path, flags|oDirect, 0o600)
		if errors.Is(err, syscall.EINVAL) {
			sp.refuseDirect()
			direct = false
		}
	}
	if !direct {
		f, err = os.OpenFile(path, flags, 0o600)
	}
	if err != nil {
		return err
	}
	if sp.seg != nil {
		// Readers open segments by name; writes in flight finish on the
		// old handle, closed with the store.
		sp.old = append(sp.old, sp.seg)
	}
	sp.seg, sp.name, sp.next, sp.direct = f, name, 0, direct
	return nil
}

// append writes the record of message id and returns where it is:
// "segment:offset".
func (sp *spool) append(id string, eml []byte) (string, error) {
	n := spoolHeader + len(id) + len(eml)
	padded := (n + spoolBlock - 1) / spoolBlock * spoolBlock
	buf := sp.buffer(padded)
	defer sp.buffers.Put(&buf)
	copy(buf[0:4], spoolMagic)
	binary.LittleEndian.PutUint32(buf[4:8], uint32(len(id)))
	binary.LittleEndian.PutUint32(buf[8:12], uint32(len(eml)))
	binary.LittleEndian.PutUint32(buf[12:16], crc32.Checksum(eml, castagnoli))
	copy(buf[spoolHeader:], id)
	copy(buf[spoolHeader+len(id):], eml)
	clear(buf[n:])

	f, name, off, direct, err := sp.reserve(int64(padded))
	if err != nil {
		return "", err
	}
	w := buf
	if !direct {
		w = buf[:n]
	}
	_, err = f.WriteAt(w, off)
	if direct && errors.Is(err, syscall.EINVAL) {
		// Opened directly but refused at the write (some FUSE and
		// network file systems): through the page cache from now on.
		var oerr error
		sp.mu.Lock()
		if sp.seg == f {
			sp.refuseDirect()
			oerr = sp.open()
		}
		sp.mu.Unlock()
		if oerr != nil {
			return "", oerr
		}
		return sp.append(id, eml)
	}
	if err != nil {
		return "", err
	}
	return name + ":" + strconv.FormatInt(off, 10), nil
}

// refuseDirect makes the next segments go through the page cache.
func (sp *spool) refuseDirect() {
	if !sp.noDirect {
		sp.noDirect = true
		sp.log("sqlstore: the file system refuses direct writes; the spool goes through the page cache", "dir", sp.dir)
	}
}

// buffer returns n block-aligned bytes (n a multiple of spoolBlock).
func (sp *spool) buffer(n int) []byte {
	if p, _ := sp.buffers.Get().(*[]byte); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	raw := make([]byte, n+spoolBlock)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % spoolBlock); r != 0 {
		off = spoolBlock - r
	}
	return raw[off : off+n : off+n]
}

// read returns the message of id recorded at "segment:offset", checking
// that the record is whole, is that message's and has the size the row
// says (size; no check when 0).
func (sp *spool) read(id, at string, size int64) ([]byte, error) {
	name, offText, ok := strings.Cut(at, ":")
	off, err := strconv.ParseInt(offText, 10, 64)
	if !ok || err != nil || off < 0 || name != filepath.Base(name) || !strings.HasSuffix(name, ".seg") {
		return nil, fmt.Errorf("the location %q does not parse", at)
	}
	path := filepath.Join(sp.dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var h [spoolHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, fmt.Errorf("%s at %d: the record's header: %w", path, off, err)
	}
	idLen, n := binary.LittleEndian.Uint32(h[4:8]), binary.LittleEndian.Uint32(h[8:12])
	if string(h[0:4]) != string(spoolMagic) || int(idLen) != len(id) {
		return nil, fmt.Errorf("%s at %d: no record of this message there", path, off)
	}
	if size > 0 && int64(n) != size {
		// Checked before allocating what a damaged header says.
		return nil, fmt.Errorf("%s at %d: the record holds %d bytes, the message has %d", path, off, n, size)
	}
	b := make([]byte, int(idLen)+int(n))
	if _, err := f.ReadAt(b, off+spoolHeader); err != nil {
		return nil, fmt.Errorf("%s at %d: the record is cut short: %w", path, off, err)
	}
	if string(b[:idLen]) != id {
		return nil, fmt.Errorf("%s at %d: the record is another message's", path, off)
	}
	eml := b[idLen:]
	if crc32.Checksum(eml, castagnoli) != binary.LittleEndian.Uint32(h[12:16]) {
		return nil, fmt.Errorf("%s at %d: the record's checksum does not match", path, off)
	}
	return eml, nil
}

// PutEML stores the message as sent (replacing a previous one); ENotFound
// if there is no such message.
func (s *Store) PutEML(ctx context.Context, id string, eml []byte) error {
	if eml == nil {
		eml = []byte{}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var at string
		if s.spool != nil {
			var err error
			if at, err = s.spool.append(id, eml); err != nil {
				return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE messages SET eml_size = $1, eml_at = $2 WHERE id = $3`, int64(len(eml)), at, id)
		if err := affected(res, err, "message", id); err != nil {
			return err
		}
		if s.spool != nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM message_emls WHERE message_id = $1`, id)
		} else {
			_, err = tx.ExecContext(ctx, `
				INSERT INTO message_emls (message_id, eml, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (message_id) DO UPDATE SET eml = excluded.eml, created_at = excluded.created_at`,
				id, eml, s.ts(s.nowUTC()))
		}
		if err != nil {
			return fmt.Errorf("sqlstore: put eml of %s: %w", id, err)
		}
		return nil
	})
}

// EML returns the message as sent; ENotFound if it was not stored, or if
// its record in the spool is missing or damaged (saying so). A sensitive
// message's bytes are ENotFound too, as if there were no such message:
// only the worker reads them (EMLToSend).
func (s *Store) EML(ctx context.Context, id string) ([]byte, error) { return s.eml(ctx, id, false) }

// EMLToSend returns the bytes a worker sends for a message it claimed:
// EML's, and also those of a sensitive message, opened. Nothing but the
// send path calls it.
func (s *Store) EMLToSend(ctx context.Context, id string) ([]byte, error) {
	return s.eml(ctx, id, true)
}

func (s *Store) eml(ctx context.Context, id string, toSend bool) ([]byte, error) {
	if s.spool != nil {
		var at string
		var size int64
		var sensitive bool
		st, err := s.prepared(ctx, s.rdb, selectEMLAtSQL)
		if err == nil {
			err = st.QueryRowContext(ctx, id).Scan(&at, &size, &sensitive)
		}
		if errors.Is(err, sql.ErrNoRows) || (err == nil && sensitive && !toSend) {
			return nil, notFound("message", id)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: eml of %s: %w", id, err)
		}
		if at != "" {
			eml, err := s.spool.read(id, at, size)
			if err != nil {
				return nil, envoi.Errorf(envoi.ENotFound, "the composed message %s (%d bytes) is missing or damaged: %v; it was deleted or, after the machine stopped, never reached the disk whole: send the document again", id, size, err).
					WithDetail("code", id)
			}
			return eml, nil
		}
		// In the table: sealed (sensitive), or stored by an earlier version.
	}
	var eml []byte
	var sensitive bool
	st, err := s.prepared(ctx, s.rdb, selectEMLSQL)
	if err == nil {
		err = st.QueryRowContext(ctx, id).Scan(&eml, &sensitive)
	}
	if errors.Is(err, sql.ErrNoRows) || (err == nil && sensitive && !toSend) {
		return nil, notFound("message .eml", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: eml of %s: %w", id, err)
	}
	if sensitive {
		if eml, err = s.ring.Open(eml, emlAAD(id)); err != nil {
			return nil, fmt.Errorf("sqlstore: open eml of %s: %w", id, err)
		}
	}
	return eml, nil
}
