//go:build !linux

package compose_test

// peakRSS is measured on Linux only.
func peakRSS() (int64, bool) { return 0, false }
