package smtp

import (
	"context"
	"sync"
	"time"

	"envoi"
)

// pool holds the idle authenticated connections of one mailbox and bounds
// how many are open at once: a send holds a slot while it uses (or dials)
// a connection, and dials only when no idle one is left, so open
// connections never outnumber the slots.
type pool struct {
	slots chan struct{}
	idle  []*conn // guarded by mu; most recently used last
	mu    sync.Mutex
}

func (p *pool) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pool) release() { <-p.slots }

// enter returns the pool of key and counts a send under way; it fails
// once the sender is closed.
// A flow's limits.connections, when larger, raises the bound: the queue
// already keeps the mailbox's sends within it, and a send must not wait
// here for a connection while holding a worker.
func (s *Sender) enter(key poolKey, conns int) (*pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		e := envoi.Errorf(envoi.EUnavailable, "smtp: the sender is closed")
		e.Temporary = true
		return nil, e
	}
	if s.pools == nil {
		s.pools = map[poolKey]*pool{}
	}
	p := s.pools[key]
	if p == nil {
		n := s.MaxConnsPerMailbox
		if n <= 0 {
			n = DefaultMaxConnsPerMailbox
		}
		n = max(n, conns)
		p = &pool{slots: make(chan struct{}, n)}
		s.pools[key] = p
	}
	s.inflight.Add(1)
	return p, nil
}

// spent reports whether cn may not carry another message at now: idle
// past IdleTimeout, or past its expiry (MaxConnAge, the token's expiry).
func (s *Sender) spent(cn *conn, now time.Time) bool {
	return now.Sub(cn.lastUsed) >= s.idleTimeout() || !now.Before(cn.expires)
}

// takeIdle returns the most recently used idle connection of p that is
// not spent, closing those that are; nil when none.
func (s *Sender) takeIdle(p *pool) *conn {
	now := s.now()
	p.mu.Lock()
	var expired []*conn
	var cn *conn
	for len(p.idle) > 0 {
		last := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if s.spent(last, now) {
			expired = append(expired, last)
			continue
		}
		cn = last
		break
	}
	p.mu.Unlock()
	for _, old := range expired {
		old.quit()
	}
	return cn
}

// putIdle returns cn to p for the next message of the mailbox, or closes
// it when the sender is closing or cn is past its expiry.
func (s *Sender) putIdle(p *pool, cn *conn) {
	cn.lastUsed = s.now()
	s.mu.Lock()
	closed := s.closed || !cn.lastUsed.Before(cn.expires)
	if !closed && s.sweeper == nil {
		s.sweeper = time.AfterFunc(s.idleTimeout(), s.sweep)
	}
	s.mu.Unlock()
	if closed {
		cn.quit()
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, cn)
	p.mu.Unlock()
}

// sweep closes the spent idle connections, and comes back while some stay
// idle.
func (s *Sender) sweep() {
	s.mu.Lock()
	s.sweeper = nil
	pools := make([]*pool, 0, len(s.pools))
	for _, p := range s.pools {
		pools = append(pools, p)
	}
	s.mu.Unlock()

	now, limit := s.now(), s.idleTimeout()
	var expired []*conn
	left := false
	for _, p := range pools {
		p.mu.Lock()
		kept := p.idle[:0]
		for _, cn := range p.idle {
			if s.spent(cn, now) {
				expired = append(expired, cn)
			} else {
				kept = append(kept, cn)
			}
		}
		clear(p.idle[len(kept):])
		p.idle = kept
		left = left || len(kept) > 0
		p.mu.Unlock()
	}
	for _, cn := range expired {
		cn.quit()
	}
	if left {
		s.mu.Lock()
		if !s.closed && s.sweeper == nil {
			s.sweeper = time.AfterFunc(limit, s.sweep)
		}
		s.mu.Unlock()
	}
}
