package queue

import "sync"

// DefaultHandoffBytes bounds a Handoff whose MaxBytes is zero.
const DefaultHandoffBytes = 64 << 20

// Handoff keeps the composed bytes of messages accepted by this process
// until a worker of the same process sends them, so the worker does not
// read back from the database what acceptance just wrote. It is only a
// shortcut: a message it does not hold (evicted, accepted by another
// instance, or after a restart) is read from the store. Safe for
// concurrent use; the zero value holds up to DefaultHandoffBytes.
type Handoff struct {
	// MaxBytes bounds the bytes held; the oldest entries go first.
	MaxBytes int64

	mu    sync.Mutex
	bytes int64
	items map[string][]byte
	order []string // insertion order; ids already taken are skipped
}

// Put holds eml for the message id.
func (h *Handoff) Put(id string, eml []byte) {
	if h == nil || eml == nil {
		return
	}
	limit := h.MaxBytes
	if limit <= 0 {
		limit = DefaultHandoffBytes
	}
	if int64(len(eml)) > limit {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.items == nil {
		h.items = map[string][]byte{}
	}
	if _, ok := h.items[id]; ok {
		return
	}
	for h.bytes+int64(len(eml)) > limit && len(h.order) > 0 {
		old := h.order[0]
		h.order[0] = ""
		h.order = h.order[1:]
		if b, ok := h.items[old]; ok {
			h.bytes -= int64(len(b))
			delete(h.items, old)
		}
	}
	h.items[id] = eml
	h.order = append(h.order, id)
	h.bytes += int64(len(eml))
	// Ids taken out of order leave holes; compact when they dominate.
	if len(h.order) > 64 && len(h.order) > 4*len(h.items) {
		kept := make([]string, 0, len(h.items))
		for _, x := range h.order {
			if _, ok := h.items[x]; ok {
				kept = append(kept, x)
			}
		}
		h.order = kept
	}
}

// Take returns and forgets the bytes held for id; nil when none are.
func (h *Handoff) Take(id string) []byte {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.items[id]
	if !ok {
		return nil
	}
	delete(h.items, id)
	h.bytes -= int64(len(b))
	return b
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
