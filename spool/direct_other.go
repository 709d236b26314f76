//go:build !linux

package spool

import "os"

// oDirect is Linux's O_DIRECT; elsewhere the segments are written through
// the page cache.
const oDirect = 0

// punch cannot give a record's blocks back here: the space returns when
// the whole segment is removed.
func punch(*os.File, int64, int64) (bool, error) { return false, nil }
