package ui

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"envoi"
)

// Defaults of the sign-in limits (see Server).
const (
	DefaultHashConcurrency   = 4
	DefaultMaxFailedLogins   = 5
	DefaultMaxClientFailures = 30
	DefaultLockoutDuration   = 15 * time.Minute
	DefaultRecoveryInterval  = 15 * time.Minute
	DefaultReadTimeout       = 30 * time.Second
	DefaultUploadTimeout     = 10 * time.Minute
	DefaultWriteTimeout      = 2 * time.Minute
)

// maxTracked bounds the keys a throttle remembers (client addresses,
// address and account pairs, recovery addresses): about 100 bytes each.
const maxTracked = 50_000

// overflowKey is where a throttle counts the keys it has no room for:
// they share one count rather than go uncounted.
const overflowKey = "\x00overflow"

// throttle counts events per key in fixed windows: the first event of a
// key opens a window of its length; at limit events the key waits until
// the window ends. Memory is bounded: expired windows are dropped when
// the map is full, and past maxTracked live keys new ones share one count.
type throttle struct {
	limit  int
	window time.Duration
	max    int

	mu      sync.Mutex
	entries map[string]*window
}

type window struct {
	n     int
	until time.Time
}

func newThrottle(limit int, d time.Duration) *throttle {
	return &throttle{limit: limit, window: d, max: maxTracked, entries: map[string]*window{}}
}

// wait returns how long key must wait before its next event is allowed,
// 0 when it may go on.
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waitLocked(key, now)
}

// take counts an event of key when key need not wait, and reports
// whether it did.
func (t *throttle) take(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.waitLocked(key, now) > 0 {
		return false
	}
	t.addLocked(key, now)
	return true
}

func (t *throttle) waitLocked(key string, now time.Time) time.Duration {
	w := t.entries[key]
	if w == nil {
		w = t.entries[overflowKey]
		if w == nil || len(t.entries) < t.max {
			return 0
		}
	}
	if w.n < t.limit || !now.Before(w.until) {
		return 0
	}
	return w.until.Sub(now)
}

// add counts an event of key and returns how long key must now wait
// before the next one (0 while under the limit).
func (t *throttle) add(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addLocked(key, now)
}

func (t *throttle) addLocked(key string, now time.Time) time.Duration {
	w := t.entries[key]
	if w == nil && len(t.entries) >= t.max {
		t.sweep(now)
		if len(t.entries) >= t.max {
			key = overflowKey
			w = t.entries[key]
		}
	}
	if w == nil || !now.Before(w.until) {
		w = &window{until: now.Add(t.window)}
		t.entries[key] = w
	}
	w.n++
	if w.n < t.limit {
		return 0
	}
	return w.until.Sub(now)
}

// forget drops key's count (a good sign-in).
func (t *throttle) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

func (t *throttle) sweep(now time.Time) {
	for k, w := range t.entries {
		if !now.Before(w.until) {
			delete(t.entries, k)
		}
	}
}

func (t *throttle) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

// hashSlots bounds the password hashes (argon2id, 19 MiB each) computed
// at once. A request finding every slot taken waits up to hashWait, and
// only when few others already wait; otherwise it is refused at once.
type hashSlots struct {
	ch      chan struct{}
	waiting atomic.Int32
}

// hashWait is the longest a sign-in waits for a free slot.
const hashWait = time.Second

func newHashSlots(n int) *hashSlots {
	return &hashSlots{ch: make(chan struct{}, n)}
}

// acquire takes a slot; false when none came free in time.
func (h *hashSlots) acquire(ctx context.Context) bool {
	select {
	case h.ch <- struct{}{}:
		return true
	default:
	}
	if h.waiting.Add(1) > int32(4*cap(h.ch)) {
		h.waiting.Add(-1)
		return false
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case h.ch <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (h *hashSlots) release() { <-h.ch }

// errBusy is the answer when every password slot is taken.
func errBusy() error {
	return envoi.Errorf(envoi.EUnavailable, "too many sign-ins are being checked at once; try again in a moment")
}

// errThrottled is the answer to a client that failed too often: the same
// whether the account exists or not.
func errThrottled(wait time.Duration) error {
	return envoi.Errorf(envoi.ELockedOut, "too many failed attempts from your network address; try again in %s", wait.Round(time.Second)).
		WithDetail("retry_after_seconds", retrySeconds(wait))
}

func retrySeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// retryAfter sets the Retry-After header of a 429 or 503.
func retryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(d)))
}

// client returns the key of r's client address: the connection's peer,
// or behind a trusted reverse proxy the last address X-Forwarded-For
// names that is not a trusted proxy. IPv6 clients count by /64, the
// block one host usually has.
func (s *Server) client(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if s.trusted(a) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			a = h.Unmap()
			if !s.trusted(a) {
				break
			}
		}
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
