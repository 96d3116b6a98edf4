// Package secretbox implements vigil.Cipher with AES-256-GCM, for the secrets
// Vigil stores at rest (token signing keys, authenticator seeds).
//
// A sealed value is
//
//	version (1 byte, 0x01) | key ID (4 bytes) | nonce (12 bytes) | ciphertext | GCM tag (16 bytes)
//
// The key ID is derived from the key itself (the first four bytes of
// SHA-256("vigil secretbox key id" || key)), so no key registry is needed:
// a Box seals with its primary key and opens with whichever of its keys has
// the ID found in the ciphertext. Rotating the master key is therefore:
// start with the new key as primary and the old one in the old list, re-seal
// what is stored, then drop the old key. The version byte and key ID are
// authenticated together with the caller's additional data, so neither can
// be altered without Open failing.
//
// Nonces are 96 random bits from the Box's random source; with random nonces
// a single key must not seal more than about 2^32 values, far beyond what a
// Vigil installation stores before rotation.
package secretbox
