package benchpeer_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"envoi/internal/benchpeer"
)

// postToken posts form to p's token endpoint and returns the access token
// answered, if any, and the status.
func postToken(t *testing.T, p *benchpeer.Provider, form string) (string, int) {
	t.Helper()
	resp, err := http.Post(p.URL+"/token", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.AccessToken != "" && body.ExpiresIn <= 0 {
		t.Errorf("token without expires_in")
	}
	return body.AccessToken, resp.StatusCode
}
