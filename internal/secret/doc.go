// Package secret encrypts the secrets assethooks stores (passwords, tokens,
// client secrets, secret header values, signing secrets) so that a Redis dump
// never holds them in clear.
//
// A Box is made once per process from ASSETHOOKS_SECRET_KEY (every process on
// one Redis uses the same key). Seal turns a plain string into
// "enc:v1:<base64(nonce|ciphertext)>" with AES-256-GCM; Open reverses it and
// detects tampering and a wrong key.
package secret
