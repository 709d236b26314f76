package http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"envoi"
	envoihttp "envoi/http"
)

// refusingConsent is a Consent whose callback always fails with err.
type refusingConsent struct{ err error }

func (c refusingConsent) StartConsent(context.Context, string, string, string) (string, error) {
	return "", c.err
}

func (c refusingConsent) Callback(context.Context, string, string, string, string) (*envoi.Token, string, error) {
	return nil, "", c.err
}

// TestAcceptLanguageWeights checks that the API's errors and the OAuth
// callback page follow Accept-Language's weights, not its order.
func TestAcceptLanguageWeights(t *testing.T) {
	h := (&envoihttp.Server{Consent: refusingConsent{envoi.Errorf(envoi.EOAuthState, "unknown state")}}).Handler()
	get := func(path, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Accept-Language", accept)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	t.Run("APIError", func(t *testing.T) {
		w := get("/nowhere", "fr;q=0.1, es;q=0.9")
		var body struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%d %s: %v", w.Code, w.Body, err)
		}
		if want := envoi.Describe(envoi.ENotFound, "es").Message; w.Code != http.StatusNotFound || body.Error.Message != want {
			t.Errorf("got %d %q, want 404 %q", w.Code, body.Error.Message, want)
		}
	})
	t.Run("QueryWins", func(t *testing.T) {
		w := get("/nowhere?lang=fr", "es")
		if want := envoi.Describe(envoi.ENotFound, "fr").Message; !strings.Contains(w.Body.String(), want) {
			t.Errorf("got %s, want %q", w.Body, want)
		}
	})
	t.Run("CallbackPage", func(t *testing.T) {
		w := get("/oauth/callback?state=x&code=y", "fr;q=0.1, es;q=0.9")
		body := w.Body.String()
		if w.Code != http.StatusBadRequest || !strings.Contains(body, `<html lang="es">`) || !strings.Contains(body, envoi.Describe(envoi.EOAuthState, "es").Message) {
			t.Errorf("got %d %s, want 400 in Spanish", w.Code, body)
		}
	})
}
