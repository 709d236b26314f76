package queue_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"envoi"
)

// TestServiceReleaseParked: the service's ReleaseParked, which the web
// consent and "envoi auth login" both call, makes the messages parked on
// an identity due again, counts them and logs it; another identity's
// release touches none.
func TestServiceReleaseParked(t *testing.T) {
	forEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		w := newWorld(t, dialect)
		w.moveToOAuth(1000)
		in := w.admin
		msgs := in.accept(t, 2)
		if _, err := in.worker.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if got := in.message(t, m.ID); got.Status != envoi.StatusConsentRequired {
				t.Fatalf("%s: status %s, want consent_required", m.ID, got.Status)
			}
		}

		other := w.instance()
		var logs bytes.Buffer
		other.service.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		if n, err := other.service.ReleaseParked(ctx, envoi.TokenKey{Flow: "OAUTH", Operator: "someone"}); err != nil || n != 0 {
			t.Fatalf("ReleaseParked of another identity = %d, %v; want 0, nil", n, err)
		}
		w.consent(other)
		n, err := other.service.ReleaseParked(ctx, envoi.TokenKey{Flow: "OAUTH", Operator: "jdupont"})
		if err != nil || n != 2 {
			t.Fatalf("ReleaseParked = %d, %v; want 2, nil", n, err)
		}
		if !strings.Contains(logs.String(), "parked messages released") || !strings.Contains(logs.String(), "messages=2") {
			t.Errorf("log lacks the release:\n%s", logs.String())
		}
		if n, err := in.worker.RunOnce(ctx); err != nil || n != 2 {
			t.Fatalf("after the release RunOnce = %d, %v; want 2", n, err)
		}
		for _, m := range msgs {
			if got := in.message(t, m.ID); got.Status != envoi.StatusSent {
				t.Errorf("%s: status %s, want sent", m.ID, got.Status)
			}
		}
	})
}
