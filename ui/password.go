package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"envoi"
)

// argon2id parameters: OWASP's minimum for argon2id (19 MiB, two passes,
// one lane). The parameters travel in the hash, so raising them later
// still verifies older hashes.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password the UI accepts.
const MinPasswordLength = 10

// CheckPasswordStrength returns EInvalidInput naming the field "password"
// when p is too short or too long.
func CheckPasswordStrength(p string) error {
	n := utf8.RuneCountInString(p)
	if n < MinPasswordLength {
		return envoi.FieldError(envoi.EInvalidInput, "password", "the password has %d characters; at least %d are needed", n, MinPasswordLength)
	}
	if len(p) > 1024 {
		return envoi.FieldError(envoi.EInvalidInput, "password", "the password is longer than 1024 bytes")
	}
	return nil
}

// HashPassword returns the argon2id hash of p in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash), with a random salt.
func HashPassword(p string) (string, error) {
	if err := CheckPasswordStrength(p); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("ui: password salt: %w", err)
	}
	key := argon2.IDKey([]byte(p), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether p matches hash (from HashPassword). A
// malformed hash matches nothing.
func CheckPassword(hash, p string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var m, t uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &threads); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || threads == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(p), salt, t, m, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when a sign-in names no known user, so the
// answer takes as long as for a known one.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("envoi-timing-equaliser")
	return h
})
