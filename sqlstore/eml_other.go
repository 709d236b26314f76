//go:build !linux

package sqlstore

// oDirect is Linux's O_DIRECT; elsewhere the spool is written through the
// page cache.
const oDirect = 0
