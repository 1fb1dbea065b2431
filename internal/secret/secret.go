package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/hkdf"
)

// Prefix marks a sealed value; the version lets the format change later.
const Prefix = "enc:v1:"

// MinKeyLen is the shortest key NewBox accepts.
const MinKeyLen = 32

// ErrOpen is returned (wrapped) by Open for a value that is not sealed, was
// altered, or was sealed with another key.
var ErrOpen = errors.New("secret: cannot open sealed value")

// Box seals and opens strings with one AES-256-GCM key. It is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox derives a 256-bit key from key (at least MinKeyLen characters) with
// HKDF-SHA256 and returns a Box using it.
func NewBox(key string) (*Box, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("secret: key must be at least %d characters, got %d", MinKeyLen, len(key))
	}
	k := make([]byte, 32)
	r := hkdf.New(sha256.New, []byte(key), []byte("assethooks"), []byte("assethooks secret box v1"))
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, fmt.Errorf("secret: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain with a random nonce and returns Prefix + base64. The
// empty string stays empty, so that "no secret" needs no special casing.
func (b *Box) Seal(plain string) string {
	if plain == "" {
		return ""
	}
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(Prefix))
	return Prefix + base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts a value made by Seal. "" returns ""; anything else without
// the prefix, altered, or sealed under another key is an error wrapping ErrOpen.
// The error never contains the value.
func (b *Box) Open(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return "", fmt.Errorf("%w: not sealed", ErrOpen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", fmt.Errorf("%w: bad encoding", ErrOpen)
	}
	n := b.aead.NonceSize()
	if len(raw) < n+b.aead.Overhead() {
		return "", fmt.Errorf("%w: too short", ErrOpen)
	}
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(Prefix))
	if err != nil {
		return "", fmt.Errorf("%w: altered or sealed with another key", ErrOpen)
	}
	return string(plain), nil
}

// Sealed reports whether s looks like a value made by Seal.
func Sealed(s string) bool { return strings.HasPrefix(s, Prefix) }

// Generate returns a random key suitable for NewBox (43 characters of
// base64 from 32 random bytes), for the embedded default that has no
// configured key.
func Generate() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
