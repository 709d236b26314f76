package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// Imported is what ImportFiles did: files moved into the database, and
// the paths of files left in place because their bytes no longer hash to
// their name.
type Imported struct {
	Files   int
	Bytes   int64
	Damaged []string
}

// ImportFiles moves the files an earlier version archived under Root into
// Blobs: each file whose bytes hash to its name is stored in the database
// and then removed from the disk, and the folders it leaves empty with it.
// A damaged file is left where it is and named in the result. Running it
// again imports nothing twice; with no Blobs or no Root folder it does
// nothing. envoi serve and envoi migrate run it on PostgreSQL.
func (s *Store) ImportFiles(ctx context.Context) (Imported, error) {
	var out Imported
	if s == nil || s.Blobs == nil || s.Root == "" {
		return out, nil
	}
	var dirs []string
	err := filepath.WalkDir(s.Root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if path == s.Root {
					return fs.SkipAll
				}
				return nil // removed meanwhile by another instance
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if path != s.Root {
				dirs = append(dirs, path)
			}
			return nil
		}
		name := d.Name()
		if !d.Type().IsRegular() || !validSHA(name) {
			return nil // a leftover temporary file, or not ours
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // another instance on this directory took it
		}
		if err != nil {
			return fmt.Errorf("archive: import %s: %w", path, err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != name {
			out.Damaged = append(out.Damaged, path)
			return nil
		}
		if err := s.Blobs.PutArchiveBlob(ctx, name, b); err != nil {
			return fmt.Errorf("archive: import %s: %w", path, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("archive: import %s: %w", path, err)
		}
		out.Files++
		out.Bytes += int64(len(b))
		return nil
	})
	// Deepest first: a folder emptied of its files, then its parent.
	slices.Reverse(dirs)
	for _, d := range dirs {
		_ = os.Remove(d) // fails, as it should, while something is left
	}
	return out, err
}
