package queue

import (
	"sync"
	"time"
)

// Defaults of a Handoff's zero fields.
const (
	// DefaultHandoffBytes is about 60 messages of a 100 KB PDF: enough for
	// the workers to find in memory what was accepted while they kept up.
	// Measured with envoi bench (3,000 messages, SQLite): 64 MB held a
	// backlog's worth, and the garbage collector let the heap grow to twice
	// that, 261 MB of peak RSS; at 8 MB the peak was 105 MB, 109 MB for
	// 10,000 messages all queued first (--phased), for the same CPU a
	// message (2.1 ms): reading a message back from the spool costs less
	// than the memory the collector gives a held one.
	DefaultHandoffBytes  = 8 << 20
	DefaultHandoffMaxAge = 5 * time.Minute
)

// Handoff keeps the composed bytes of messages accepted by this process
// until a worker of the same process sends them, so the worker does not
// read back from the store what acceptance just wrote. It is only a
// shortcut: a message it does not hold (not taken in, accepted by another
// instance, or after a restart) is read from the store. Safe for
// concurrent use; the zero value holds up to DefaultHandoffBytes.
//
// When full it takes nothing more, rather than dropping what it holds:
// the workers send the oldest messages first, so under a backlog bigger
// than it, dropping the oldest would drop exactly the messages wanted
// next (measured with envoi bench: every message read back once the
// backlog passed 64 MB), where keeping them serves them and makes room
// for newer ones as they go. What no worker here took within MaxAge (sent
// by another instance, say) is dropped when room is wanted.
type Handoff struct {
	// MaxBytes bounds the bytes held.
	MaxBytes int64
	// MaxAge is how long an entry is kept for when room is wanted.
	MaxAge time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu        sync.Mutex
	bytes     int64
	items     map[string]handoffItem
	lastSweep time.Time
}

type handoffItem struct {
	eml []byte
	put time.Time
}

// Put holds eml for the message id, if there is room.
func (h *Handoff) Put(id string, eml []byte) {
	if h == nil || eml == nil {
		return
	}
	limit := h.MaxBytes
	if limit <= 0 {
		limit = DefaultHandoffBytes
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// What is held is the memory kept: the capacity, not the length.
	size := int64(cap(eml))
	if h.bytes+size > limit {
		h.sweep(now)
		if h.bytes+size > limit {
			return
		}
	}
	if h.items == nil {
		h.items = map[string]handoffItem{}
	}
	if _, ok := h.items[id]; ok {
		return
	}
	h.items[id] = handoffItem{eml, now}
	h.bytes += size
}

// sweep drops the entries older than MaxAge, at most once a second.
func (h *Handoff) sweep(now time.Time) {
	if now.Sub(h.lastSweep) < time.Second {
		return
	}
	h.lastSweep = now
	age := h.MaxAge
	if age <= 0 {
		age = DefaultHandoffMaxAge
	}
	for id, it := range h.items {
		if now.Sub(it.put) > age {
			delete(h.items, id)
			h.bytes -= int64(cap(it.eml))
		}
	}
}

// Take returns and forgets the bytes held for id; nil when none are.
func (h *Handoff) Take(id string) []byte {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	it, ok := h.items[id]
	if !ok {
		return nil
	}
	delete(h.items, id)
	h.bytes -= int64(cap(it.eml))
	return it.eml
}

// Len returns the number of messages held.
func (h *Handoff) Len() int {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.items)
}
