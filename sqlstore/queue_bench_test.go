//go:build unix

package sqlstore_test

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"envoi"
	"envoi/sqlstore"
)

// BenchmarkQueueCycle measures the queue's own work for one message, after
// acceptance: claimed (ClaimDue, up to 8 at a time, as a worker with free
// slots asks) and its outcome recorded (Finish, sent). Serial is one
// worker; Instances is three store handles with four claimers each on one
// database (three envoi instances on PostgreSQL, three processes on one
// SQLite file). The messages are accepted before the timer starts.
// cpu-ns/op is the CPU time of the test process (on PostgreSQL, not the
// server's).
func BenchmarkQueueCycle(b *testing.B) {
	for _, dialect := range Dialects {
		b.Run(dialect, func(b *testing.B) {
			for _, shape := range []struct {
				name             string
				stores, claimers int
			}{{"Serial", 1, 1}, {"Instances", 3, 4}} {
				b.Run(shape.name, func(b *testing.B) {
					if dialect == sqlstore.DialectPostgres && os.Getenv(PostgresURLEnv) == "" {
						b.Skip("no PostgreSQL")
					}
					o := NewTestOptions(b, dialect)
					var stores []*sqlstore.Store
					for range shape.stores {
						stores = append(stores, MustOpen(b, o))
					}
					ctx := context.Background()
					for range b.N {
						if _, err := stores[0].CreateMessage(ctx, newMessage("jdupont", "", "h")); err != nil {
							b.Fatal(err)
						}
					}
					b.ResetTimer()
					cpu := cpuTime()
					var wg sync.WaitGroup
					var mu sync.Mutex
					done := 0
					for _, s := range stores {
						for range shape.claimers {
							wg.Go(func() {
								for {
									msgs, err := s.ClaimDue(ctx, 8, time.Minute)
									if err != nil {
										b.Error(err)
										return
									}
									if len(msgs) == 0 {
										return
									}
									for _, m := range msgs {
										m.Status, m.SentAt = envoi.StatusSent, time.Now()
										if err := s.Finish(ctx, m, 0); err != nil {
											b.Error(err)
											return
										}
									}
									mu.Lock()
									done += len(msgs)
									mu.Unlock()
								}
							})
						}
					}
					wg.Wait()
					b.StopTimer()
					// Wall time on a busy machine says little; the CPU the
					// process spent (database/sql, the driver, SQLite in
					// process) says what the queue costs.
					b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
					if done != b.N {
						b.Fatalf("%d messages sent, want %d", done, b.N)
					}
				})
			}
		})
	}
}

// cpuTime returns the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
