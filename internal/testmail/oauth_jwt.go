package testmail

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// oauthSignHS256 makes a compact JWT signed with HMAC-SHA256 (no signature
// when key is empty: alg "none").
func oauthSignHS256(claims map[string]any, key []byte) string {
	alg := "HS256"
	if len(key) == 0 {
		alg = "none"
	}
	h, _ := json.Marshal(map[string]string{"alg": alg, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if len(key) == 0 {
		return in + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// RegisterOAuthServiceAccount registers a service account's public key for
// the JWT bearer grant (RFC 7523): assertions issued by email and signed
// with the matching private key are accepted, and the token is for the
// assertion's sub (the mailbox, with domain-wide delegation).
func (p *OAuthProvider) RegisterOAuthServiceAccount(email string, pub *rsa.PublicKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accounts[strings.ToLower(email)] = pub
}

// NewOAuthServiceAccount makes an RSA key, registers it for email and
// returns the service account's JSON key as Google hands it out
// (type, client_email, private_key, private_key_id, token_uri).
func (p *OAuthProvider) NewOAuthServiceAccount(tb testing.TB, email string) []byte {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("testmail: service account key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("testmail: service account key: %v", err)
	}
	p.RegisterOAuthServiceAccount(email, &key.PublicKey)
	js, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "envoi-test",
		"private_key_id": oauthRandom("kid-"),
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1234567890",
		"token_uri":      p.TokenURL(),
	})
	return js
}

// grantJWT checks an RS256 assertion against the registered key of its
// issuer: audience the token URL, a short lifetime around now, a subject.
func (p *OAuthProvider) grantJWT(w http.ResponseWriter, r *http.Request) {
	bad := func(code, desc string) {
		p.tokenError(w, http.StatusBadRequest, code, "AADSTS50027: JWT token is invalid or malformed. "+desc, desc)
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		bad("invalid_grant", "Invalid JWT: malformed assertion.")
		return
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Sub   string `json:"sub"`
		Aud   string `json:"aud"`
		Scope string `json:"scope"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		bad("invalid_grant", "Invalid JWT: malformed assertion.")
		return
	}
	if header.Alg != "RS256" {
		bad("invalid_grant", fmt.Sprintf("Invalid JWT: algorithm %q is not RS256.", header.Alg))
		return
	}
	p.mu.Lock()
	pub := p.accounts[strings.ToLower(claims.Iss)]
	p.mu.Unlock()
	if pub == nil {
		bad("invalid_grant", "Invalid JWT Signature.")
		return
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		bad("invalid_grant", "Invalid JWT Signature.")
		return
	}
	if claims.Aud != p.TokenURL() {
		bad("invalid_grant", fmt.Sprintf("Invalid JWT: the audience %q is not the token URL.", claims.Aud))
		return
	}
	// The signer stamps iat and exp from the wall clock, not the test's.
	now := time.Now().Unix()
	if claims.Exp <= now || claims.Iat > now+300 || claims.Exp-claims.Iat > int64(time.Hour/time.Second) {
		bad("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	if claims.Sub == "" {
		p.tokenError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS50027: the assertion has no subject.", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		return
	}
	p.mu.Lock()
	resp := p.issueLocked(claims.Sub, claims.Iss, claims.Scope, false, false)
	p.mu.Unlock()
	oauthWriteJSON(w, resp)
}
