package queue_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"maragu.dev/goqite"

	"envoi/sqlstore"
)

// TestClaimDueInstances: three instances with four receivers each take
// jobs at once from one PostgreSQL queue; every job is handed to one
// receiver only, and no receive fails. goqite's own receive, measured in
// the same race, runs its UPDATE ... WHERE id = (SELECT ... LIMIT 1) in a
// SERIALIZABLE transaction: receivers racing for the same first job fail
// with serialization errors and must try again (envoi's worker used to
// wait a second after each) — wasted work that ClaimDue's FOR UPDATE SKIP
// LOCKED avoids.
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

	// The same race through goqite's Receive, for the record.
	instances[0].accept(t, jobs)
	received := map[goqite.ID]int{}
	failures := 0
	for _, in := range instances {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					job, err := in.store.Queue().Receive(context.Background())
					if err != nil {
						if !strings.Contains(err.Error(), "40001") {
							t.Error(err)
							return
						}
						mu.Lock()
						failures++
						mu.Unlock()
						continue
					}
					if job == nil {
						return
					}
					mu.Lock()
					received[job.ID]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	twice := 0
	for _, n := range received {
		if n > 1 {
			twice += n - 1
		}
	}
	t.Logf("goqite Receive, 12 receivers on 3 instances: %d jobs, %d extra receipts of a job another receiver held, %d receives failed with a serialization failure (40001) to be retried; ClaimDue: none of either", len(received), twice, failures)
}
