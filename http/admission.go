package http

import (
	"context"
	"errors"
	"math"
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
	// maxRetryAfter bounds the Retry-After of a send refused at the gate
	// (see admission.retryAfter).
	maxRetryAfter = time.Minute
	// ComposeQueuePerTurn is the sends that may wait for each turn when
	// Server.ComposeQueue is 0 (128 on 2 cores): the last of them waits
	// about 4 times the time of one acceptance, and memory holds their
	// bodies alone. On the loaded bench (137 KB bodies, 1,000/s offered
	// where some 800 were accepted, 8 turns), 128 waiting answered 99%
	// within 0.4s at a peak of 196 MB; 1,024 waiting, bounded by their
	// 64 MiB of bodies, within 1s at 421-445 MB.
	ComposeQueuePerTurn = 4
)

// DefaultComposeConcurrency is the number of sends composed at once when
// Server.ComposeConcurrency is 0: sixteen a core, and at least 32. A
// send spends much of its acceptance waiting for the commit it shares
// with others and with the workers' outcomes, and more acceptances at
// once make larger commits: on 2 cores (envoi bench, 137 KB bodies), 4
// at once accepted 455-491 msg/s closed loop where 8 accepted 902; open
// loop at 1,000/s (single runs, load average 1.6-2.9), 8 and 16 at once
// refused 760-1,473 sends and accepted 512-593 a second, 32 refused none
// and kept up (996 a second, p99 202 ms), as the process does without
// the gate.
func DefaultComposeConcurrency() int {
	return max(32, 16*runtime.GOMAXPROCS(0))
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
	// The turns given back and the refusals in the second that began at
	// window, and in the second before it (retryAfter).
	window                 time.Time
	given, refused         int
	lastGiven, lastRefused int

	full, late atomic.Uint64
}

func newAdmission(concurrency, queue int, maxBytes int64, wait time.Duration) *admission {
	return &admission{turns: make(chan struct{}, concurrency), queue: queue, maxBytes: maxBytes, wait: wait}
}

// errNoTurn is admit's error when the waiting room is full or no turn
// came within the gate's wait.
var errNoTurn = errors.New("http: no turn to compose")

// admit waits for a turn for a request holding size bytes of body, and
// returns the function that gives it back. It returns errNoTurn when the
// waiting room is full or no turn came within the gate's wait, and the
// context's error when ctx ends first.
func (g *admission) admit(ctx context.Context, size int64) (done func(), err error) {
	select {
	case g.turns <- struct{}{}:
		return g.leave, nil
	default:
	}
	if !g.enter(size) {
		g.full.Add(1)
		return nil, errNoTurn
	}
	defer g.exit(size)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	// Go's runtime serves the senders waiting on a channel first come,
	// first served: a turn given back goes to the one that waited longest.
	select {
	case g.turns <- struct{}{}:
		return g.leave, nil
	case <-t.C:
		g.late.Add(1)
		return nil, errNoTurn
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *admission) leave() {
	<-g.turns
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tick(time.Now())
	g.given++
}

// tick moves the counting window on when its second is over.
func (g *admission) tick(now time.Time) {
	switch d := now.Sub(g.window); {
	case d < time.Second:
		return
	case d < 2*time.Second:
		g.lastGiven, g.lastRefused = g.given, g.refused
	default:
		g.lastGiven, g.lastRefused = 0, 0
	}
	g.given, g.refused, g.window = 0, 0, now
}

// retryAfter counts a refusal and returns when the refused client should
// come back: the time the gate takes, at the rate it gave turns back in
// the last second, to serve those waiting and those refused lately, who
// come back too; at least a second, at most maxRetryAfter, and the
// longest wait when no turn came back lately. A fixed second brought the
// refused back all together while the overload lasted: on the bench,
// loaded, each refusal's body read again cost acceptances, 7,581
// refusals for 3,000 messages.
func (g *admission) retryAfter(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tick(now)
	g.refused++
	// Turns a second: those of the last second, or of this one so far
	// when it says more (a burst after a quiet time).
	rate := float64(g.lastGiven)
	if elapsed := max(now.Sub(g.window), 50*time.Millisecond); g.given > 0 {
		rate = max(rate, float64(g.given)/elapsed.Seconds())
	}
	if rate == 0 {
		return min(max(g.wait.Round(time.Second), time.Second), maxRetryAfter)
	}
	backlog := float64(g.waiting + g.refused + g.lastRefused)
	d := time.Duration(math.Ceil(backlog/rate)) * time.Second
	return min(max(d, time.Second), maxRetryAfter)
}

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
	// Composing is the requests past the gate: sends and previews being
	// decoded, composed and accepted, report previews being rendered,
	// documents being archived; Capacity the most there may be.
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
	return s.admitAs(w, r, size, errComposeBusy)
}

// admitWork is admit for the other routes that render or store a document
// the client sent (a report's preview, a document to archive), once their
// body is decoded: they take the sends' turns, so that together they do
// no more at once than the gate allows. A refusal says nothing was done.
func (s *Server) admitWork(w http.ResponseWriter, r *http.Request) (done func(), err error) {
	return s.admitAs(w, r, max(r.ContentLength, 0), errWorkBusy)
}

// admitAs waits for a turn as admit does; a request refused at the gate
// gets Retry-After and the error busy makes of its seconds.
func (s *Server) admitAs(w http.ResponseWriter, r *http.Request, size int64, busy func(int) error) (done func(), err error) {
	g := s.admission()
	done, err = g.admit(r.Context(), size)
	if err == errNoTurn {
		secs := int(g.retryAfter(time.Now()) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		err = busy(secs)
	}
	return done, err
}

// errWorkBusy is the answer to a report preview or an archive refused at
// the gate.
func errWorkBusy(retryAfter int) error {
	return envoi.Errorf(envoi.EUnavailable, "envoi is composing and rendering as much as it can and has no room for this request; nothing was done: send it again after Retry-After seconds (%d)", retryAfter).
		WithDetail("retry_after_seconds", retryAfter)
}

// errComposeBusy is the answer to a send refused at the gate: nothing was
// accepted, and the same request with the same Idempotency-Key is the way
// to go on.
func errComposeBusy(retryAfter int) error {
	return envoi.Errorf(envoi.EUnavailable, "envoi is composing as many messages as it can and has no room for this one; nothing was accepted: send the same request again after Retry-After seconds (%d), with the same Idempotency-Key", retryAfter).
		WithDetail("retry_after_seconds", retryAfter)
}
