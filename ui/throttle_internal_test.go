package ui

import (
	"fmt"
	"testing"
	"time"
)

// TestThrottleBounded: a flood of distinct client addresses does not grow
// the throttle's memory past its bound; the addresses it has no room for
// share one count, so they are still limited; expired windows make room.
func TestThrottleBounded(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	th := newThrottle(3, time.Minute)
	th.max = 100
	for i := range 10_000 {
		th.add(fmt.Sprintf("198.51.%d.%d", i/256, i%256), now)
	}
	if got := th.size(); got > th.max+1 {
		t.Fatalf("%d keys kept after 10,000 addresses, want at most %d", got, th.max+1)
	}
	if th.wait("203.0.113.1", now) == 0 {
		t.Errorf("an address beyond the bound is not limited with the overflow")
	}
	if th.wait("198.51.0.1", now) != 0 {
		t.Errorf("an address kept with one failure waits")
	}
	later := now.Add(time.Minute)
	if th.wait("203.0.113.1", later) != 0 {
		t.Errorf("an address still waits once the window is over")
	}
	th.add("203.0.113.1", later)
	if got := th.size(); got != 1 {
		t.Errorf("%d keys after every window expired and one new event, want 1", got)
	}
}

func TestThrottleTake(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	th := newThrottle(1, 10*time.Minute)
	if !th.take("a@example.org", now) {
		t.Fatal("first take refused")
	}
	if th.take("a@example.org", now.Add(9*time.Minute)) {
		t.Error("second take within the window allowed")
	}
	if !th.take("b@example.org", now) {
		t.Error("another key refused")
	}
	if !th.take("a@example.org", now.Add(10*time.Minute)) {
		t.Error("take after the window refused")
	}
}
