package engine

import "crypto/sha256"

// hashID is a short, URL-safe digest of s (26 characters of base32).
func hashID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return b32.EncodeToString(sum[:16])
}
