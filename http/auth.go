package http

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"envoi"
)

// APIKeyPrefix starts every API key, so a leaked key is recognisable.
const APIKeyPrefix = "envoi_"

// NewAPIKey returns a new random key, shown once, and its record holding
// only the key's SHA-256 hash.
func NewAPIKey(name string) (key string, rec *envoi.APIKey) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, &envoi.APIKey{Name: name, Prefix: key[:len(APIKeyPrefix)+6], Hash: HashAPIKey(key)}
}

// HashAPIKey is how API keys are stored and looked up.
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

type ctxKey int

const apiKeyCtx ctxKey = iota

// requireAPIKey lets a request through only with a valid, unrevoked key in
// "Authorization: Bearer". A missing, malformed, unknown or revoked key all
// answer the same 401, never a hint which.
func (s *Server) requireAPIKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !strings.HasPrefix(key, APIKeyPrefix) || len(key) > 200 {
			s.unauthorized(w, r)
			return
		}
		rec, err := s.Store.APIKeyByHash(r.Context(), HashAPIKey(key))
		if err != nil {
			if envoi.ErrorCode(err) == envoi.EUnauthorized || envoi.ErrorCode(err) == envoi.ENotFound {
				s.unauthorized(w, r)
				return
			}
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), apiKeyCtx, rec)))
	})
}

// unauthorized answers 401 without reading the body: a client without a
// key may not make envoi wait for its upload, and the connection closes.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	refuseBody(w, r)
	w.Header().Set("WWW-Authenticate", `Bearer realm="envoi"`)
	s.writeError(w, r, envoi.Errorf(envoi.EUnauthorized, "a valid API key is required"))
}
