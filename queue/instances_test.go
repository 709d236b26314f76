package queue_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"envoi"
	"envoi/sqlstore"
)

// TestClaimDueInstances: three instances with four receivers each claim
// messages at once from one PostgreSQL queue; every message is handed to
// one receiver only, and no claim fails (claims are serialised by an
// advisory lock: no serialization failure to retry).
func TestClaimDueInstances(t *testing.T) {
	w := newWorld(t, sqlstore.DialectPostgres)
	const jobs = 240
	instances := []*instance{w.instance(), w.instance(), w.instance()}
	instances[0].accept(t, jobs)

	var mu sync.Mutex
	claims := map[string]int{}
	var wg sync.WaitGroup
	for _, in := range instances {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					msgs, err := in.store.ClaimDue(context.Background(), 3, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(msgs) == 0 {
						return
					}
					mu.Lock()
					for _, m := range msgs {
						claims[m.ID]++
					}
					mu.Unlock()
					// Recorded sent: the mailbox's connections free again.
					for _, m := range msgs {
						m.Status, m.SentAt = envoi.StatusSent, time.Now()
						if err := in.store.Finish(context.Background(), m, 0); err != nil {
							t.Error(err)
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	if len(claims) != jobs {
		t.Errorf("%d messages claimed, want %d", len(claims), jobs)
	}
	for id, n := range claims {
		if n != 1 {
			t.Errorf("message %s claimed %d times", id, n)
		}
	}

}
