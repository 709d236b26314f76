package http

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"envoi"
)

// Defaults of the admission of sends (Server.ComposeQueueBytes,
// ComposeWait; see DefaultComposeConcurrency and ComposeQueuePerTurn).
const (
	DefaultComposeQueueBytes = 64 << 20
	DefaultComposeWait       = 5 * time.Second
	// composeRetryAfter is the Retry-After of a send refused at the gate:
	// long enough for the requests at work and waiting to be accepted
	// (at some hundreds a second), short for an ERP's user.
	composeRetryAfter = time.Second
	// ComposeQueuePerTurn is the sends that may wait for each turn when
	// Server.ComposeQueue is 0: the last of them waits about 16 times the
	// time of one acceptance (some 150 ms on 2 cores), and memory holds
	// their bodies alone. On the bench (137 KB bodies, 1,000/s offered
	// where some 800 are accepted), 8 turns and 128 waiting answered 99%
	// within 0.4s at 196 MB; 1,024 waiting, bounded by their 64 MiB of
	// bodies, within 1s at 421-445 MB.
	ComposeQueuePerTurn = 16
)

// DefaultComposeConcurrency is the number of sends composed at once when
// Server.ComposeConcurrency is 0: four a core, and at least 8. A send
// spends much of its acceptance waiting for the commit it shares with
// others and with the workers' outcomes: on 2 cores, 4 at once accepted
// half as many a second as 8 (envoi bench, closed loop), 16 no more.
func DefaultComposeConcurrency() int {
	return max(8, 4*runtime.GOMAXPROCS(0))
}

// admission is the gate in front of composing: a request whose body is
// read waits here for one of a bounded number of turns, in order of
// arrival, before it is decoded, composed and accepted. Only a bounded
// number wait, holding a bounded total of body bytes, each for a bounded
// time; the others are refused at once. A client still sending its body
// is not here: it holds no turn and makes nobody wait.
type admission struct {
	turns    chan struct{}
	queue    int
	maxBytes int64
	wait     time.Duration

	mu      sync.Mutex
	waiting int
	bytes   int64

	full, late atomic.Uint64
}

func newAdmission(concurrency, queue int, maxBytes int64, wait time.Duration) *admission {
	return &admission{turns: make(chan struct{}, concurrency), queue: queue, maxBytes: maxBytes, wait: wait}
}

// admit waits for a turn for a request holding size bytes of body, and
// returns the function that gives it back. It returns EUnavailable when
// the waiting room is full or no turn came within the gate's wait, and
// the context's error when ctx ends first.
func (g *admission) admit(ctx context.Context, size int64) (done func(), err error) {
	select {
	case g.turns <- struct{}{}:
		return g.leave, nil
	default:
	}
	if !g.enter(size) {
		g.full.Add(1)
		return nil, errComposeBusy()
	}
	defer g.exit(size)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	// Waiting senders on a channel are served first come, first served:
	// a turn given back goes to the one that waited longest.
	select {
	case g.turns <- struct{}{}:
		return g.leave, nil
	case <-t.C:
		g.late.Add(1)
		return nil, errComposeBusy()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *admission) leave() { <-g.turns }

// enter counts a request into the waiting room, false when it is full:
// queue requests, or maxBytes of bodies (a request alone may always
// wait, whatever its size, as it could always be sent).
func (g *admission) enter(size int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting >= g.queue || g.waiting > 0 && g.bytes+size > g.maxBytes {
		return false
	}
	g.waiting++
	g.bytes += size
	return true
}

func (g *admission) exit(size int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waiting--
	g.bytes -= size
}

// AdmissionStats is the state of the gate in front of composing, for
// /metrics.
type AdmissionStats struct {
	// Composing is the sends and previews past the gate, being decoded,
	// composed and accepted; Capacity the most there may be.
	Composing, Capacity int
	// Waiting is the requests waiting for their turn, their bodies read,
	// and WaitingBytes the size of those bodies.
	Waiting      int
	WaitingBytes int64
	// RefusedFull counts the requests refused because the waiting room
	// was full, RefusedLate those that waited ComposeWait without a turn.
	RefusedFull, RefusedLate uint64
}

// AdmissionStats returns the state of the gate in front of composing.
func (s *Server) AdmissionStats() AdmissionStats {
	g := s.admission()
	g.mu.Lock()
	defer g.mu.Unlock()
	return AdmissionStats{
		Composing: len(g.turns), Capacity: cap(g.turns),
		Waiting: g.waiting, WaitingBytes: g.bytes,
		RefusedFull: g.full.Load(), RefusedLate: g.late.Load(),
	}
}

// admission returns the server's gate, made on first use from its
// options.
func (s *Server) admission() *admission {
	s.gateOnce.Do(func() {
		n := s.ComposeConcurrency
		if n <= 0 {
			n = DefaultComposeConcurrency()
		}
		queue := s.ComposeQueue
		if queue <= 0 {
			queue = ComposeQueuePerTurn * n
		}
		b := s.ComposeQueueBytes
		if b <= 0 {
			b = DefaultComposeQueueBytes
		}
		s.gate = newAdmission(n, queue, b, orDefault(s.ComposeWait, DefaultComposeWait))
	})
	return s.gate
}

// admit waits for r's turn to compose, its body of size bytes read (see
// admission.admit). A refusal sets Retry-After on w; the body was read,
// so the connection stays open for the client's next request.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, size int64) (done func(), err error) {
	done, err = s.admission().admit(r.Context(), size)
	if envoi.ErrorCode(err) == envoi.EUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(composeRetryAfter/time.Second)))
	}
	return done, err
}

// errComposeBusy is the answer to a send refused at the gate: nothing was
// accepted, and the same request with the same Idempotency-Key is the way
// to go on.
func errComposeBusy() error {
	return envoi.Errorf(envoi.EUnavailable, "envoi is composing as many messages as it can and has no room for this one; nothing was accepted: send the same request again after Retry-After seconds, with the same Idempotency-Key").
		WithDetail("retry_after_seconds", int(composeRetryAfter/time.Second))
}
