// Package archive keeps the bytes of archived documents [stockage GED],
// content-addressed by their SHA-256: the same document stored twice takes
// the place of one, and bytes that changed since are caught when read
// (archive_checksum_mismatch). Where the bytes live depends on the store:
// in files under a root directory (ab/cd/<hex>), as on SQLite, or in the
// database shared by every instance (Blobs, as on PostgreSQL), so that a
// document archived by one instance is read from any other. The metadata
// (entity, flow, file name) lives in the database through
// envoi.ArchiveService.
package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"envoi"
)

// Store keeps files under Root (the data directory's archive/), or, when
// Blobs is set, in the database behind it (Root is then only where
// ImportFiles finds the files of an earlier version). Its zero value is
// unusable: Root or Blobs must be set. A Store is safe for concurrent use,
// by several goroutines and several processes sharing Root or the database.
type Store struct {
	Root string
	// Blobs, when set, holds the bytes instead of files: sqlstore's
	// PostgreSQL store (ArchiveBlobs).
	Blobs Blobs
}

// Blobs keeps archived bytes by their SHA-256 in a database that every
// instance shares. PutArchiveBlob stores b under sha (the caller computed
// it) once: storing the same sha again keeps one copy, repairing it when
// its stored bytes no longer hash to sha. ArchiveBlob returns the bytes
// stored under sha, unverified, or an ENotFound error.
type Blobs interface {
	PutArchiveBlob(ctx context.Context, sha string, b []byte) error
	ArchiveBlob(ctx context.Context, sha string) ([]byte, error)
}

// Put stores the bytes of r and returns their SHA-256 in lowercase hex and
// their size. It streams r to a temporary file under Root while hashing,
// fsyncs it, and renames it to its content address, then fsyncs the
// directory, so a crash leaves either the whole file or none. Storing bytes
// already present writes nothing new: the file in place is kept when it is
// intact, replaced when its bytes had changed.
func (s *Store) Put(ctx context.Context, r io.Reader) (sha string, size int64, err error) {
	if err := s.check(); err != nil {
		return "", 0, err
	}
	if s.Blobs != nil {
		return s.putBlob(ctx, r)
	}
	if err := os.MkdirAll(s.Root, 0o700); err != nil {
		return "", 0, fmt.Errorf("archive: create root: %w", err)
	}
	tmp, err := os.CreateTemp(s.Root, ".put-*")
	if err != nil {
		return "", 0, fmt.Errorf("archive: create temporary file: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return "", 0, fmt.Errorf("archive: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("archive: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("archive: close: %w", err)
	}
	sha = hex.EncodeToString(h.Sum(nil))

	final := s.path(sha)
	if s.Verify(ctx, sha) == nil {
		return sha, size, nil // deduplicated: the deferred func drops tmp
	}
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	if err := s.mkdirs(filepath.Dir(final)); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", 0, fmt.Errorf("archive: rename into place: %w", err)
	}
	tmp = nil
	if err := syncDir(filepath.Dir(final)); err != nil {
		return "", 0, err
	}
	return sha, size, nil
}

// Open returns the stored bytes of sha. The reader hashes what it reads and,
// at the end, returns an EArchiveChecksumMismatch error instead of io.EOF if
// the bytes are not those stored. Returns ENotFound when nothing is stored
// under sha, EInvalidInput when sha is not a SHA-256 in lowercase hex.
func (s *Store) Open(ctx context.Context, sha string) (io.ReadCloser, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if !validSHA(sha) {
		return nil, envoi.FieldError(envoi.EInvalidInput, "sha256", "%q is not a SHA-256 in lowercase hex", sha)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.Blobs != nil {
		b, err := s.Blobs.ArchiveBlob(ctx, sha)
		if err != nil {
			return nil, err
		}
		return &verifier{f: io.NopCloser(bytes.NewReader(b)), want: sha, h: sha256.New()}, nil
	}
	f, err := os.Open(s.path(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, envoi.Errorf(envoi.ENotFound, "no archived file %s", sha).WithDetail("sha256", sha)
	}
	if err != nil {
		return nil, fmt.Errorf("archive: open %s: %w", sha, err)
	}
	return &verifier{f: f, want: sha, h: sha256.New()}, nil
}

// Verify reads the stored bytes of sha through and returns nil when they
// match it; EArchiveChecksumMismatch when they do not, ENotFound when
// nothing is stored under sha.
func (s *Store) Verify(ctx context.Context, sha string) error {
	rc, err := s.Open(ctx, sha)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, ctxReader{ctx, rc})
	return err
}

func (s *Store) check() error {
	if s == nil || s.Root == "" && s.Blobs == nil {
		return envoi.Errorf(envoi.EInternal, "archive: the store has no root directory and no database")
	}
	return nil
}

// putBlob reads r whole (a document is at most the 64 MiB of a request's
// body), hashes it and stores it in Blobs.
func (s *Store) putBlob(ctx context.Context, r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(ctxReader{ctx, r})
	if err != nil {
		return "", 0, fmt.Errorf("archive: read: %w", err)
	}
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	if err := s.Blobs.PutArchiveBlob(ctx, sha, b); err != nil {
		return "", 0, err
	}
	return sha, int64(len(b)), nil
}

// path is where the bytes of sha live: two levels of 256 directories keep
// any one directory small.
func (s *Store) path(sha string) string {
	return filepath.Join(s.Root, sha[:2], sha[2:4], sha)
}

// mkdirs creates dir and its parents under Root, fsyncing each parent that
// got a new entry so the new directories survive a crash too.
func (s *Store) mkdirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != s.Root && parent != dir {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("archive: create directory: %w", err)
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("archive: open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("archive: sync directory: %w", err)
	}
	return nil
}

func validSHA(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// verifier reads a stored file and checks its hash when the file ends.
type verifier struct {
	f    io.ReadCloser
	want string
	h    hash.Hash
	done error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.done != nil {
		return 0, v.done
	}
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			v.done = envoi.Errorf(envoi.EArchiveChecksumMismatch, "archived file %s now hashes to %s", v.want, got).
				WithDetail("sha256", v.want).WithDetail("actual_sha256", got)
		} else {
			v.done = io.EOF
		}
		return n, v.done
	}
	return n, err
}

func (v *verifier) Close() error { return v.f.Close() }

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
