// Package spool keeps composed messages (an .eml of about 140 KB for a
// 100 KB PDF) in append-only segment files under one folder, each record
// found again by the location Append returns ("segment:offset"). The
// SQLite store keeps its messages here and records the location in the
// message's row.
//
// SQLite would write such a blob one 4 KiB page at a time — a log frame
// header and a page, two system calls each — and then the same pages again
// when it checkpoints the log: profiled with envoi bench, that was a third
// of the CPU of accepting a message. A file per message was cheaper but not
// by enough: creating 10,000 files cost about 0.5 ms of CPU each on the
// bench's machine, where one positioned write into an open segment costs
// 0.1 ms.
//
// Each Spool appends to a segment of its own, made on its first write, so
// an envoi send run beside envoi serve never writes where serve does; any
// Spool reads every segment of the folder. Records start on 4 KiB
// boundaries, so that the blocks of a freed one can be given back, and
// are written through the page cache. Written directly (O_DIRECT), each
// write waited for the disk, and acceptance with it: on the 2-core machine
// of envoi bench, 0.35 ms at the median, 4-5 ms at the 90th percentile
// and 13-16 ms at the 99th, against 0.07-0.08, 0.1 and 0.2-0.25 ms through
// the page cache (5,000 messages, interleaved runs); more so when the disk
// is busy. The CPU a message was no lower for it.
//
// A record is a header — "EML1", the lengths of the message id and of the
// message, the CRC-32C of the message — then the id and the message.
// Nothing is forced to disk: the caller writes the record before it commits
// the row that points at it, so a crashed process never leaves a row
// pointing at nothing, and should the machine lose power, Read of a record
// that did not reach the disk whole fails saying so rather than returning
// damaged bytes.
//
// Records are never moved. The retention of bodies (sqlstore.PruneBodies)
// gives a removed record's disk space back with Free, a hole punched where
// it was, and removes a segment nothing points into with RemoveSegment once
// no Spool appends to it: each Spool starts a new segment after RollAfter.
package spool

import (
	"crypto/rand"
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
	"time"
)

const (
	// blockSize is the alignment of records in a segment: a freed
	// record's blocks are whole, so they can be given back.
	blockSize = 4096
	// segmentMax is the size past which a Spool starts a new segment.
	segmentMax = 1 << 30
	// RollAfter is the age past which a Spool starts a new segment: no
	// Spool appends to a segment made longer ago than this, so once it is
	// that old and no row points into it, it can be removed whole.
	RollAfter = 24 * time.Hour
	// headerSize is the size of a record's fixed header.
	headerSize = 16
)

var (
	magic      = []byte("EML1")
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// Spool appends records to a segment of its own and reads those of any
// segment in its folder. It is safe for concurrent use.
type Spool struct {
	dir string
	max int64         // segment size past which a new one starts
	age time.Duration // segment age past which a new one starts
	now func() time.Time

	mu     sync.Mutex
	seg    *os.File  // the segment written now; nil until the first write
	name   string    // its file name
	opened time.Time // when it was made (RollAfter)
	next   int64     // offset of the next record
	old    []*os.File
}

// New returns the spool of folder dir, which its first Append creates
// (0700) when missing.
func New(dir string) *Spool {
	return &Spool{dir: dir, max: segmentMax, age: RollAfter, now: time.Now}
}

// Dir returns the spool's folder.
func (sp *Spool) Dir() string { return sp.dir }

// Close closes the segments written. Records appended stay readable by
// other Spools of the folder.
func (sp *Spool) Close() error {
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
// multiple of blockSize) goes, opening a new segment when needed.
func (sp *Spool) reserve(n int64) (f *os.File, name string, off int64, err error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.seg == nil || sp.next+n > sp.max || sp.now().Sub(sp.opened) > sp.age {
		if err := sp.open(); err != nil {
			return nil, "", 0, err
		}
	}
	off = sp.next
	sp.next += n
	return sp.seg, sp.name, off, nil
}

// open starts a new segment, named after the time and a random suffix
// so that Spools in other processes never pick the same.
func (sp *Spool) open() error {
	if err := os.MkdirAll(sp.dir, 0o700); err != nil {
		return err
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	opened := sp.now()
	name := opened.UTC().Format(nameTime) + "-" + hex.EncodeToString(r[:]) + ".seg"
	path := filepath.Join(sp.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if sp.seg != nil {
		// Readers open segments by name; writes in flight finish on the
		// old handle, closed by Close.
		sp.old = append(sp.old, sp.seg)
	}
	sp.seg, sp.name, sp.next, sp.opened = f, name, 0, opened
	return nil
}

// nameTime is the layout of the time that starts a segment's name.
const nameTime = "20060102T150405"

// Append writes the record of message id and returns where it is,
// "segment:offset", for Read. It fails when the folder or a segment cannot
// be created or written.
func (sp *Spool) Append(id string, eml []byte) (string, error) {
	n := headerSize + len(id) + len(eml)
	padded := (n + blockSize - 1) / blockSize * blockSize
	head := make([]byte, headerSize+len(id))
	copy(head[0:4], magic)
	binary.LittleEndian.PutUint32(head[4:8], uint32(len(id)))
	binary.LittleEndian.PutUint32(head[8:12], uint32(len(eml)))
	binary.LittleEndian.PutUint32(head[12:16], crc32.Checksum(eml, castagnoli))
	copy(head[headerSize:], id)

	f, name, off, err := sp.reserve(int64(padded))
	if err != nil {
		return "", err
	}
	// Two writes rather than one of a copy: the message is not copied
	// again. A record cut between them fails Read's checksum, and its row
	// is committed only after Append returns.
	if _, err := f.WriteAt(head, off); err != nil {
		return "", err
	}
	if _, err := f.WriteAt(eml, off+int64(len(head))); err != nil {
		return "", err
	}
	return name + ":" + strconv.FormatInt(off, 10), nil
}

// Read returns the message of id recorded at at ("segment:offset", from
// Append), checking that the record is whole, is that message's and holds
// size bytes (no check when size is 0). It fails, saying why, when the
// location does not parse or the record is missing, cut short, another
// message's or damaged.
func (sp *Spool) Read(id, at string, size int64) ([]byte, error) {
	_, path, off, err := sp.locate(at)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, fmt.Errorf("%s at %d: the record's header: %w", path, off, err)
	}
	idLen, n := binary.LittleEndian.Uint32(h[4:8]), binary.LittleEndian.Uint32(h[8:12])
	if string(h[0:4]) != string(magic) || int(idLen) != len(id) {
		return nil, fmt.Errorf("%s at %d: no record of this message there", path, off)
	}
	if size > 0 && int64(n) != size {
		// Checked before allocating what a damaged header says.
		return nil, fmt.Errorf("%s at %d: the record holds %d bytes, the message has %d", path, off, n, size)
	}
	b := make([]byte, int(idLen)+int(n))
	if _, err := f.ReadAt(b, off+headerSize); err != nil {
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

// locate parses a location "segment:offset" of the folder.
func (sp *Spool) locate(at string) (name, path string, off int64, err error) {
	name, offText, ok := strings.Cut(at, ":")
	off, perr := strconv.ParseInt(offText, 10, 64)
	if !ok || perr != nil || off < 0 || name != filepath.Base(name) || !strings.HasSuffix(name, ".seg") {
		return "", "", 0, fmt.Errorf("the location %q does not parse", at)
	}
	return name, filepath.Join(sp.dir, name), off, nil
}

// Free gives the disk space of the record of message id at at back to the
// file system (a hole punched where it was; the segment keeps its size and
// the other records their places) and returns the bytes freed: the
// record's extent, 0 when the file system cannot punch holes (the space
// then returns when RemoveSegment removes the whole segment). It checks
// first that the record there is id's, so a wrong location frees nothing;
// a record already freed, or a missing segment, frees nothing either.
func (sp *Spool) Free(id, at string) (int64, error) {
	_, path, off, err := sp.locate(at)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return 0, nil // beyond the end: nothing there
	}
	if string(h[0:4]) != string(magic) {
		return 0, nil // freed already (zeros) or never written
	}
	idLen, n := binary.LittleEndian.Uint32(h[4:8]), binary.LittleEndian.Uint32(h[8:12])
	b := make([]byte, idLen)
	if int(idLen) != len(id) {
		return 0, fmt.Errorf("%s at %d: the record is another message's", path, off)
	}
	if _, err := f.ReadAt(b, off+headerSize); err != nil || string(b) != id {
		return 0, fmt.Errorf("%s at %d: the record is another message's", path, off)
	}
	extent := (int64(headerSize) + int64(idLen) + int64(n) + blockSize - 1) / blockSize * blockSize
	ok, err := punch(f, off, extent)
	if err != nil {
		return 0, fmt.Errorf("%s at %d: freeing the record: %w", path, off, err)
	}
	if !ok {
		return 0, nil
	}
	return extent, nil
}

// Segment describes a segment file of the folder.
type Segment struct {
	Name     string
	Created  time.Time // from its name
	Modified time.Time
	Size     int64 // apparent size
}

// Segments lists the segment files of the folder (none when it does not
// exist yet).
func (sp *Spool) Segments() ([]Segment, error) {
	entries, err := os.ReadDir(sp.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Segment
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".seg") || len(name) < len(nameTime) {
			continue
		}
		created, err := time.Parse(nameTime, name[:len(nameTime)])
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Segment{Name: name, Created: created, Modified: info.ModTime(), Size: info.Size()})
	}
	return out, nil
}

// RemoveSegment deletes a segment file whose records are no longer wanted.
// It refuses the segment this Spool appends to; the caller makes sure no
// other Spool still does (a segment made more than RollAfter ago, not
// modified since, is written by nobody).
func (sp *Spool) RemoveSegment(name string) error {
	if name != filepath.Base(name) || !strings.HasSuffix(name, ".seg") {
		return fmt.Errorf("%q is not a segment of the spool", name)
	}
	sp.mu.Lock()
	current := sp.seg != nil && sp.name == name
	sp.mu.Unlock()
	if current {
		return fmt.Errorf("segment %s is the one this spool appends to", name)
	}
	err := os.Remove(filepath.Join(sp.dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
