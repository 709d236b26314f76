// Package secret encrypts envoi's secrets at rest: SMTP passwords, OAuth
// client secrets, tokens and PKCE verifiers.
//
// A Ring holds AES-256-GCM keys by id. Every ciphertext names the key that
// sealed it, so keys can be rotated without downtime: new values are sealed
// with the primary key, and old values still open with the retired keys until
// they are re-encrypted. The associated data of each ciphertext is its place
// in the database ("table/column/row"): a ciphertext copied to another row or
// column does not open.
//
// Layout of a ciphertext:
//
//	format (1 byte, 0x01) | key id (4 bytes, big endian) | nonce (12 bytes) | sealed bytes and tag
//
// Envelope encryption: the master key (from ENVOI_MASTER_KEY or the key file)
// only wraps data keys; the data keys, wrapped, live in the database, so
// several instances share them and rotating them needs no new master key.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"envoi"
)

// KeySize is the size of master and data keys: AES-256.
const KeySize = 32

const (
	formatV1   = 0x01
	headerSize = 1 + 4
	nonceSize  = 12
	// Overhead is how many bytes a ciphertext has more than its plaintext.
	Overhead = headerSize + nonceSize + 16
)

// Errors a ciphertext can fail with, wrapped in an *envoi.Error with code
// internal; test them with errors.Is.
var (
	// ErrUnknownKey: the ciphertext names a key the ring does not hold.
	ErrUnknownKey = errors.New("secret: unknown key id")
	// ErrDecrypt: the ciphertext was altered, or belongs to another place
	// (associated data), or was sealed by another key with the same id.
	ErrDecrypt = errors.New("secret: message authentication failed")
	// ErrFormat: the bytes are not a ciphertext of a known format.
	ErrFormat = errors.New("secret: not a ciphertext")
	// ErrNoPrimary: the ring has no key to seal with yet.
	ErrNoPrimary = errors.New("secret: no primary key")
)

var _ envoi.Cipher = (*Ring)(nil)

// Ring is a set of keys by id, one of them primary. It is safe for
// concurrent use. The zero value is an empty ring; use NewRing.
type Ring struct {
	mu      sync.RWMutex
	keys    map[uint32]cipher.AEAD
	primary uint32

	// reloadMu serialises calls to reload so that a burst of Opens on a
	// new key id reloads once.
	reloadMu sync.Mutex
	reload   func() error
}

// NewRing returns an empty ring.
func NewRing() *Ring { return &Ring{keys: map[uint32]cipher.AEAD{}} }

// NewKey returns a random key of KeySize bytes.
func NewKey() []byte {
	k := make([]byte, KeySize)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	_, _ = rand.Read(k)
	return k
}

// OnUnknownKey sets the hook Open calls, once per Open, when a ciphertext
// names a key the ring does not hold: another instance may have rotated, so
// the hook reloads the keys from where they are stored (with Add and
// SetPrimary) and Open tries again.
func (r *Ring) OnUnknownKey(reload func() error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	r.reload = reload
}

// Add puts key under id in the ring. Adding the same key again is a no-op;
// another key under a known id is an error (ids are never reused).
func (r *Ring) Add(id uint32, key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("secret: key %d is %d bytes, want %d", id, len(key), KeySize)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[uint32]cipher.AEAD{}
	}
	if old, ok := r.keys[id]; ok {
		// Same key? A probe sealed by one opens with the other.
		probe := old.Seal(nil, make([]byte, nonceSize), nil, nil)
		if _, err := aead.Open(nil, make([]byte, nonceSize), probe, nil); err != nil {
			return fmt.Errorf("secret: key id %d is already in the ring with another key", id)
		}
		return nil
	}
	r.keys[id] = aead
	return nil
}

// SetPrimary makes the key id the one Seal uses. The key must be in the ring.
func (r *Ring) SetPrimary(id uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.keys[id]; !ok {
		return fmt.Errorf("secret: primary key %d: %w", id, ErrUnknownKey)
	}
	r.primary = id
	return nil
}

// Primary returns the id of the primary key, 0 when there is none.
func (r *Ring) Primary() uint32 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.primary
}

// Has reports whether the ring holds key id.
func (r *Ring) Has(id uint32) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.keys[id]
	return ok
}

// Seal encrypts plaintext with the primary key, bound to aad.
func (r *Ring) Seal(plaintext []byte, aad string) ([]byte, error) {
	r.mu.RLock()
	id, aead := r.primary, r.keys[r.primary]
	r.mu.RUnlock()
	if aead == nil {
		return nil, wrap(ErrNoPrimary, "no data key is loaded: the store must be migrated first")
	}
	return seal(aead, id, plaintext, aad), nil
}

// Open decrypts a ciphertext of Seal with the key it names, checking aad.
// An unknown key id calls the OnUnknownKey hook once and tries again.
// Errors wrap ErrUnknownKey, ErrDecrypt or ErrFormat.
func (r *Ring) Open(ciphertext []byte, aad string) ([]byte, error) {
	id, err := KeyID(ciphertext)
	if err != nil {
		return nil, err
	}
	aead := r.key(id)
	if aead == nil {
		r.reloadMu.Lock()
		reload := r.reload
		// Another goroutine may have reloaded while this one waited.
		if aead = r.key(id); aead == nil && reload != nil {
			if err := reload(); err != nil {
				r.reloadMu.Unlock()
				return nil, wrap(err, "cannot reload the data keys to open a value sealed with key %d", id)
			}
			aead = r.key(id)
		}
		r.reloadMu.Unlock()
	}
	if aead == nil {
		return nil, wrap(ErrUnknownKey, "the value was sealed with data key %d, which this instance does not have", id)
	}
	body := ciphertext[headerSize:]
	plain, err := aead.Open(nil, body[:nonceSize], body[nonceSize:], associated(ciphertext[:headerSize], aad))
	if err != nil {
		return nil, wrap(ErrDecrypt, "the value of %s does not open: altered, or moved from another place", aad)
	}
	return plain, nil
}

func (r *Ring) key(id uint32) cipher.AEAD {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.keys[id]
}

// KeyID returns the id of the key that sealed ciphertext.
func KeyID(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < Overhead || ciphertext[0] != formatV1 {
		return 0, wrap(ErrFormat, "the stored value is not a ciphertext of format %d", formatV1)
	}
	return binary.BigEndian.Uint32(ciphertext[1:headerSize]), nil
}

// Wrap seals a data key with the master key, bound to aad (the data key's
// place). Unwrap opens it.
func Wrap(masterKey []byte, id uint32, dataKey []byte, aad string) ([]byte, error) {
	if len(masterKey) != KeySize {
		return nil, fmt.Errorf("secret: the master key is %d bytes, want %d", len(masterKey), KeySize)
	}
	aead, err := newAEAD(masterKey)
	if err != nil {
		return nil, err
	}
	return seal(aead, id, dataKey, aad), nil
}

// Unwrap opens a data key sealed by Wrap. A wrong master key fails with
// ErrDecrypt.
func Unwrap(masterKey []byte, wrapped []byte, aad string) ([]byte, error) {
	if len(masterKey) != KeySize {
		return nil, fmt.Errorf("secret: the master key is %d bytes, want %d", len(masterKey), KeySize)
	}
	if _, err := KeyID(wrapped); err != nil {
		return nil, err
	}
	aead, err := newAEAD(masterKey)
	if err != nil {
		return nil, err
	}
	body := wrapped[headerSize:]
	key, err := aead.Open(nil, body[:nonceSize], body[nonceSize:], associated(wrapped[:headerSize], aad))
	if err != nil {
		return nil, wrap(ErrDecrypt, "the master key does not open %s: it is not the master key this database was set up with", aad)
	}
	return key, nil
}

func seal(aead cipher.AEAD, id uint32, plaintext []byte, aad string) []byte {
	out := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plaintext)+aead.Overhead())
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:headerSize], id)
	_, _ = rand.Read(out[headerSize:])
	return aead.Seal(out, out[headerSize:], plaintext, associated(out[:headerSize], aad))
}

// associated binds the header (format and key id) and the caller's place.
func associated(header []byte, aad string) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return cipher.NewGCM(block)
}

func wrap(err error, format string, args ...any) error {
	e := envoi.Errorf(envoi.EInternal, format, args...)
	e.Err = err
	return e
}
