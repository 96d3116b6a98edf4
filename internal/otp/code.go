package otp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Limits on the length of numeric codes for NewCode and NormalizeCode. Six
// digits are the ≥20 bits NIST SP 800-63B §5.1.3.1 and ASVS 5.0 6.5.4 ask
// for; more than ten is no longer a code people type.
const (
	MinDigits = 6
	MaxDigits = 10
)

// maxInput bounds the user input the Normalize functions look at. It is far
// above any well-formed code with separators, and keeps a hostile request
// from costing more than a few dozen byte comparisons.
const maxInput = 64

const decimal = "0123456789"

// NewCode returns a code of the given number of decimal digits, each chosen
// uniformly from r (crypto/rand when r is nil). digits must be between
// MinDigits and MaxDigits. Email and SMS codes use 6.
func NewCode(r io.Reader, digits int) (string, error) {
	if digits < MinDigits || digits > MaxDigits {
		return "", fmt.Errorf("otp: %d digits is outside [%d, %d]", digits, MinDigits, MaxDigits)
	}
	b := make([]byte, digits)
	if err := draw(source(r), b, decimal); err != nil {
		return "", err
	}
	return string(b), nil
}

// NormalizeCode returns the code a user typed in the form NewCode produces:
// ASCII spaces, tabs and hyphens anywhere are dropped, and what is left must
// be exactly digits ASCII digits. Anything else, including non-ASCII digits
// such as full-width "１２３" or Arabic-Indic numerals, and any input longer
// than 64 bytes, is refused, so that one code has one spelling.
func NormalizeCode(s string, digits int) (string, bool) {
	if digits < MinDigits || digits > MaxDigits || len(s) > maxInput {
		return "", false
	}
	var buf [maxInput]byte
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '-':
		case '0' <= c && c <= '9':
			if n == digits {
				return "", false
			}
			buf[n] = c
			n++
		default:
			return "", false
		}
	}
	if n != digits {
		return "", false
	}
	return string(buf[:n]), true
}

// Purpose names what a hashed secret is for. It is part of every MAC
// [Hasher.Sum] computes, so a hash made for one purpose never verifies for
// another. The values are stored implicitly in every hash: changing one
// invalidates what was stored under it.
type Purpose string

// The purposes Vigil hashes secrets for, named after the verification
// methods they serve.
const (
	PurposeEmailOTP  Purpose = "EMAIL_OTP"        // codes sent by email
	PurposeSMS       Purpose = "SMS"              // codes sent by text message
	PurposeMagicLink Purpose = "EMAIL_MAGIC_LINK" // NewToken tokens

	// PurposeRecoveryCode is what HashRecoveryCode uses inside its KDF.
	// Store recovery codes with HashRecoveryCode, never a bare Sum: the
	// 50-bit codes need the salt and the work factor.
	PurposeRecoveryCode Purpose = "RECOVERY_CODE"
)

// MinKeySize is the shortest key NewHasher accepts: 256 bits, the output
// size of HMAC-SHA256.
const MinKeySize = 32

// SumSize is the length in bytes of what [Hasher.Sum] returns.
const SumSize = sha256.Size

// domain starts every MAC input, so that a Hasher key shared by mistake
// with another HMAC user can never produce the same MAC for both.
const domain = "vigil/otp/v1"

// Hasher keys the hashes of one-time secrets with a server-side secret (a
// "pepper"), so a copy of the database alone does not let anyone test
// guesses against them offline. A Hasher is immutable and safe for
// concurrent use.
type Hasher struct {
	key  []byte
	iter int // PBKDF2 iterations for HashRecoveryCode; tests lower it
}

// NewHasher returns a Hasher keyed with a copy of key, which must be at
// least MinKeySize random bytes and should be used for nothing else (derive
// it from a master key with HKDF if there is only one).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeySize {
		return nil, errors.New("otp: hasher key is shorter than 32 bytes")
	}
	return &Hasher{key: append([]byte(nil), key...), iter: recoveryIterations}, nil
}

// Sum returns HMAC-SHA256 under h's key of the purpose, the scope and the
// code, each length-prefixed so no two different triples share an input.
// The scope says which challenge the code belongs to (for example the
// tenant and challenge IDs); the code should already be normalized with
// NormalizeCode, as NewCode's output is.
func (h *Hasher) Sum(p Purpose, scope, code string) []byte {
	return h.sum(make([]byte, 0, SumSize), p, scope, code)
}

// Equal reports whether sum is what Sum returns for p, scope and code. The
// comparison takes the same time wherever sum and the expected value
// differ. An empty code never matches.
func (h *Hasher) Equal(sum []byte, p Purpose, scope, code string) bool {
	if code == "" {
		return false
	}
	var buf [SumSize]byte
	return hmac.Equal(sum, h.sum(buf[:0], p, scope, code))
}

// sum appends the MAC of (domain, p, scope, code) to dst.
func (h *Hasher) sum(dst []byte, p Purpose, scope, code string) []byte {
	m := hmac.New(sha256.New, h.key)
	writeField(m, domain)
	writeField(m, string(p))
	writeField(m, scope)
	writeField(m, code)
	return m.Sum(dst)
}

// writeField writes s to m preceded by its length as 8 big-endian bytes.
func writeField(m hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	m.Write(n[:])
	io.WriteString(m, s)
}
