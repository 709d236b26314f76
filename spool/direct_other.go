//go:build !linux

package spool

// oDirect is Linux's O_DIRECT; elsewhere the segments are written through
// the page cache.
const oDirect = 0
