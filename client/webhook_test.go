package client_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"envoi/client"
)

// The Standard Webhooks specification's published test vector (its
// reference libraries' tests, e.g. standard-webhooks/standard-webhooks
// libraries/go/webhook_test.go, TestWebhookSign).
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = "1614265330"
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vectorBody   = `{"test": 2432232314}`
)

func vectorHeaders(sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", vectorTS)
	h.Set("webhook-signature", sig)
	return h
}

func TestVerifyWebhook(t *testing.T) {
	at := func(d time.Duration) func() time.Time {
		return func() time.Time { return time.Unix(1614265330, 0).Add(d) }
	}
	for _, tc := range []struct {
		name string
		v    client.WebhookVerifier
		h    http.Header
		body string
		want error
	}{
		{"OK", client.WebhookVerifier{Secret: vectorSecret, Now: at(0)}, vectorHeaders(vectorSig), vectorBody, nil},
		{"OKAmongOthers", client.WebhookVerifier{Secret: vectorSecret, Now: at(time.Minute)},
			vectorHeaders("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc " + vectorSig), vectorBody, nil},
		{"ErrBody", client.WebhookVerifier{Secret: vectorSecret, Now: at(0)}, vectorHeaders(vectorSig), `{"test": 2432232315}`, client.ErrWebhookSignature},
		{"ErrSecret", client.WebhookVerifier{Secret: "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAA", Now: at(0)}, vectorHeaders(vectorSig), vectorBody, client.ErrWebhookSignature},
		{"ErrNotASecret", client.WebhookVerifier{Secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Now: at(0)}, vectorHeaders(vectorSig), vectorBody, client.ErrWebhookSecret},
		{"ErrOld", client.WebhookVerifier{Secret: vectorSecret, Now: at(6 * time.Minute)}, vectorHeaders(vectorSig), vectorBody, client.ErrWebhookTimestamp},
		{"ErrFuture", client.WebhookVerifier{Secret: vectorSecret, Now: at(-6 * time.Minute)}, vectorHeaders(vectorSig), vectorBody, client.ErrWebhookTimestamp},
		{"OldWithoutTolerance", client.WebhookVerifier{Secret: vectorSecret, Tolerance: -1, Now: at(48 * time.Hour)}, vectorHeaders(vectorSig), vectorBody, nil},
		{"ErrHeaders", client.WebhookVerifier{Secret: vectorSecret, Now: at(0)}, http.Header{}, vectorBody, client.ErrWebhookHeaders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(tc.h, []byte(tc.body))
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	// VerifyWebhook uses the real clock: the vector is years old.
	if _, err := client.VerifyWebhook(vectorSecret, vectorHeaders(vectorSig), []byte(vectorBody)); !errors.Is(err, client.ErrWebhookTimestamp) {
		t.Errorf("VerifyWebhook of a 2021 delivery = %v, want the timestamp refused", err)
	}
}
