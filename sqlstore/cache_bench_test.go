package sqlstore_test

import (
	"context"
	"testing"

	"envoi/sqlstore"
)

// BenchmarkComposeReads measures the six configuration reads the composer
// makes for every message (compose.Composer.Compose), with the cache of
// cache.go and without it.
func BenchmarkComposeReads(b *testing.B) {
	for _, dialect := range Dialects {
		b.Run(dialect, func(b *testing.B) {
			s := benchStore(b, dialect)
			configFixture(b, s)
			ctx := context.Background()
			reads := func() error {
				if _, err := s.FlowForOperator(ctx, "jdupont"); err != nil {
					return err
				}
				if _, err := s.MailSetting(ctx, "BL"); err != nil {
					return err
				}
				if _, err := s.DocumentFlow(ctx, "BL"); err != nil {
					return err
				}
				if _, err := s.Operator(ctx, "jdupont"); err != nil {
					return err
				}
				if _, err := s.Company(ctx, "FORTERRO"); err != nil {
					return err
				}
				_, err := s.FileNameRule(ctx, "BL")
				return err
			}
			for _, on := range []bool{true, false} {
				name := map[bool]string{true: "Cached", false: "Uncached"}[on]
				b.Run(name, func(b *testing.B) {
					sqlstore.SetConfigCache(s, on)
					defer sqlstore.SetConfigCache(s, true)
					b.Run("Serial", func(b *testing.B) {
						for b.Loop() {
							if err := reads(); err != nil {
								b.Fatal(err)
							}
						}
					})
					b.Run("Parallel", func(b *testing.B) {
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if err := reads(); err != nil {
									b.Error(err)
									return
								}
							}
						})
					})
				})
			}
		})
	}
}
