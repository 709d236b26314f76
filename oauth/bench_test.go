package oauth_test

import (
	"context"
	"testing"
)

// BenchmarkAccessToken measures the send path's token lookup for a valid
// token (a store read, no provider call), from parallel senders.
func BenchmarkAccessToken(b *testing.B) {
	for _, be := range []backend{memoryBackend, sqliteBackend, postgresBackend} {
		b.Run(be.name, func(b *testing.B) {
			e := newEnv(b, envOptions{backend: be})
			e.mustConsent(b, jdupont)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.svc.AccessToken(ctx, jdupontKey, false); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRefresh measures one forced refresh: the claim, the provider's
// token endpoint on loopback, and the compare-and-swap of the new token.
func BenchmarkRefresh(b *testing.B) {
	for _, be := range []backend{memoryBackend, sqliteBackend, postgresBackend} {
		b.Run(be.name, func(b *testing.B) {
			e := newEnv(b, envOptions{backend: be})
			e.mustConsent(b, jdupont)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := e.svc.AccessToken(ctx, jdupontKey, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
