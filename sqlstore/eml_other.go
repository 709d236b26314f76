//go:build !linux

package sqlstore

// oDirect is Linux's O_DIRECT; elsewhere files are written through the
// cache.
const oDirect = 0
