package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-auth/vigil"
)

// KeySize is the length in bytes of a master key (AES-256).
const KeySize = 32

const (
	version   = 0x01
	idSize    = 4
	nonceSize = 12
	tagSize   = 16
	// headerSize is the length of the version byte, key ID and nonce.
	headerSize = 1 + idSize + nonceSize
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = headerSize + tagSize
)

var _ vigil.Cipher = (*Box)(nil)

// errOpen is the single error Open returns for every authentication failure,
// so that a caller cannot tell a wrong key from a tampered ciphertext.
var errOpen = errors.New("secretbox: message authentication failed")

type boxKey struct {
	id      [idSize]byte
	aead    cipher.AEAD
	derived [sha256.Size]byte // HKDF-SHA256 PRK of the key, for DeriveKeys
}

// Box seals with one primary key and opens with the primary or any old key.
// A Box is safe for concurrent use.
type Box struct {
	primary boxKey
	keys    []boxKey // primary first, then the old keys in the order given
	rand    io.Reader
}

// New returns a Box that seals with primary and opens values sealed with
// primary or any of old. Every key must be KeySize bytes.
func New(primary []byte, old ...[]byte) (*Box, error) {
	return NewWithRand(rand.Reader, primary, old...)
}

// NewWithRand is New with an explicit source of nonces; tests use it to make
// Seal deterministic. r must be a cryptographically secure source in
// production.
func NewWithRand(r io.Reader, primary []byte, old ...[]byte) (*Box, error) {
	if r == nil {
		return nil, errors.New("secretbox: nil random source")
	}
	p, err := newBoxKey(primary)
	if err != nil {
		return nil, fmt.Errorf("secretbox: primary key: %w", err)
	}
	b := &Box{primary: p, keys: []boxKey{p}, rand: r}
	for i, k := range old {
		bk, err := newBoxKey(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: old key %d: %w", i, err)
		}
		b.keys = append(b.keys, bk)
	}
	return b, nil
}

func newBoxKey(key []byte) (boxKey, error) {
	if len(key) != KeySize {
		return boxKey{}, fmt.Errorf("key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return boxKey{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return boxKey{}, err
	}
	prk, err := hkdf.Extract(sha256.New, key, []byte("vigil secretbox derived keys"))
	if err != nil {
		return boxKey{}, err
	}
	bk := boxKey{id: KeyID(key), aead: aead}
	copy(bk.derived[:], prk)
	return bk, nil
}

// KeyID returns the 4-byte identifier that Seal writes for key.
func KeyID(key []byte) [idSize]byte {
	h := sha256.New()
	h.Write([]byte("vigil secretbox key id"))
	h.Write(key)
	var id [idSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// DeriveKeys returns a 32-byte key for purpose derived (HKDF-SHA256) from
// each master key, the primary's first: for secrets that are keyed rather
// than sealed (the pepper of one-time code hashes). A value keyed with an
// old master key is checked with the later keys of the list.
func (b *Box) DeriveKeys(purpose string) [][]byte {
	out := make([][]byte, 0, len(b.keys))
	for _, k := range b.keys {
		key, err := hkdf.Expand(sha256.New, k.derived[:], "vigil/"+purpose, 32)
		if err != nil {
			panic("secretbox: hkdf: " + err.Error()) // only for lengths over 255*32
		}
		out = append(out, key)
	}
	return out
}

// PrimaryKeyID returns the hex ID of the key Seal uses, for logs.
func (b *Box) PrimaryKeyID() string { return hex.EncodeToString(b.primary.id[:]) }

// Seal encrypts and authenticates plaintext, binding it to additionalData.
func (b *Box) Seal(plaintext, additionalData []byte) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = version
	copy(out[1:1+idSize], b.primary.id[:])
	if _, err := io.ReadFull(b.rand, out[1+idSize:headerSize]); err != nil {
		return nil, fmt.Errorf("secretbox: read nonce: %w", err)
	}
	aad := authData(out[:1+idSize], additionalData)
	return b.primary.aead.Seal(out, out[1+idSize:headerSize], plaintext, aad), nil
}

// Open authenticates and decrypts a value produced by Seal with the same
// additionalData and one of the Box's keys. Every failure (truncated input,
// unknown version or key, wrong additional data, tampering) returns the same
// error.
func (b *Box) Open(ciphertext, additionalData []byte) ([]byte, error) {
	if len(ciphertext) < Overhead || ciphertext[0] != version {
		return nil, errOpen
	}
	aad := authData(ciphertext[:1+idSize], additionalData)
	nonce := ciphertext[1+idSize : headerSize]
	body := ciphertext[headerSize:]
	for _, k := range b.keys {
		if [idSize]byte(ciphertext[1:1+idSize]) != k.id {
			continue
		}
		// Two keys may share an ID by chance; try each that matches.
		if pt, err := k.aead.Open(nil, nonce, body, aad); err == nil {
			return pt, nil
		}
	}
	return nil, errOpen
}

// authData returns header || additionalData: the version and key ID are
// authenticated along with the caller's data.
func authData(header, additionalData []byte) []byte {
	aad := make([]byte, 0, len(header)+len(additionalData))
	aad = append(aad, header...)
	return append(aad, additionalData...)
}

// ParseKey decodes a master key written as standard or URL-safe base64 (with
// or without padding) or as 64 hexadecimal characters. Surrounding white
// space is ignored. The decoded key must be KeySize bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		k, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("secretbox: key decodes to %d bytes, want %d", len(k), KeySize)
		}
		return k, nil
	}
	return nil, fmt.Errorf("secretbox: key is neither base64 nor 64 hex characters")
}

// LoadOrCreateKeyFile returns the master key stored in the file at path. When
// the file does not exist it creates it (and its directory, mode 0700) with a
// fresh KeySize-byte key read from r, written as base64 with mode 0600, and
// reports created=true. An existing file whose permissions grant anything to
// group or others is refused, as is a file that does not hold a valid key.
//
// Creation is atomic: the key is written to a temporary file, synced, and
// hard-linked into place, so two processes starting at once agree on one key
// and a crash never leaves a truncated key file.
func LoadOrCreateKeyFile(path string, r io.Reader) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil {
		return key, false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}

	k := make([]byte, KeySize)
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, false, fmt.Errorf("secretbox: generate key: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("secretbox: create key directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".vigil-key-*")
	if err != nil {
		return nil, false, fmt.Errorf("secretbox: create key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	// CreateTemp uses mode 0600 already; Chmod guards against an odd umask.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("secretbox: create key file: %w", err)
	}
	if _, err := tmp.WriteString(base64.StdEncoding.EncodeToString(k) + "\n"); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("secretbox: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("secretbox: sync key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("secretbox: write key file: %w", err)
	}
	if err := os.Link(tmpName, path); errors.Is(err, os.ErrExist) {
		// Another process created it first: use its key.
		key, err := readKeyFile(path)
		return key, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("secretbox: install key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: make the new directory entry durable
		d.Close()
	}
	return k, true, nil
}

// readKeyFile reads and parses a key file, refusing loose permissions. The
// returned error wraps os.ErrNotExist when the file is absent.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secretbox: open key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secretbox: stat key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secretbox: key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secretbox: key file %s has mode %04o; it must not be accessible to group or others (chmod 600)", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secretbox: key file %s: %w", path, err)
	}
	return k, nil
}
