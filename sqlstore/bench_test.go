package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"envoi"
	"envoi/sqlstore"
)

// BenchmarkCreateMessage measures accepting a message (row, .eml and send
// job in one transaction), one goroutine and many at once.
func BenchmarkCreateMessage(b *testing.B) {
	for _, dialect := range Dialects {
		b.Run(dialect, func(b *testing.B) {
			s := benchStore(b, dialect)
			eml := make([]byte, 32<<10)
			ctx := context.Background()
			b.Run("Serial", func(b *testing.B) {
				for b.Loop() {
					m := newMessage("jdupont", "", "h")
					m.EML = eml
					if _, err := s.CreateMessage(ctx, m); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Parallel", func(b *testing.B) {
				var n atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						m := newMessage("jdupont", fmt.Sprintf("bench-%d", n.Add(1)), "h")
						m.EML = eml
						if _, err := s.CreateMessage(ctx, m); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkToken measures reading a token with 8 KB access and refresh
// tokens (two AES-GCM opens) and a compare-and-swap update.
func BenchmarkToken(b *testing.B) {
	for _, dialect := range Dialects {
		b.Run(dialect, func(b *testing.B) {
			s := benchStore(b, dialect)
			ctx := context.Background()
			if err := s.PutOperator(ctx, operator("jdupont", "")); err != nil {
				b.Fatal(err)
			}
			if err := s.PutAuthFlow(ctx, m365Flow("M365", "jdupont")); err != nil {
				b.Fatal(err)
			}
			key := envoi.TokenKey{Flow: "M365", Operator: "jdupont"}
			if err := s.SaveToken(ctx, &envoi.Token{Flow: "M365", Operator: "jdupont", AccessToken: randomToken(8192), RefreshToken: randomToken(8192)}); err != nil {
				b.Fatal(err)
			}
			b.Run("Read", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Token(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Update", func(b *testing.B) {
				for b.Loop() {
					t, err := s.Token(ctx, key)
					if err != nil {
						b.Fatal(err)
					}
					if err := s.UpdateToken(ctx, t); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func benchStore(b *testing.B, dialect string) *sqlstore.Store {
	b.Helper()
	if dialect == sqlstore.DialectPostgres && os.Getenv(PostgresURLEnv) == "" {
		b.Skip(PostgresURLEnv + " is not set")
	}
	s, _ := MustOpenStore(b, dialect)
	return s
}
