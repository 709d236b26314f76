package spool

import "syscall"

// oDirect opens the segments for writes around the page cache.
const oDirect = syscall.O_DIRECT
