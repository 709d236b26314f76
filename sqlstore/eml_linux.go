package sqlstore

import "syscall"

// oDirect opens the spool's segments for writes around the page cache
// (eml.go).
const oDirect = syscall.O_DIRECT
