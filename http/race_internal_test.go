//go:build race

package http

// raceEnabled: the race detector's sync.Pool drops what is put back at
// random, on purpose, so allocation counts say nothing under it.
const raceEnabled = true
