package otp

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a user is given at a time.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford's base32 in lower case: digits and letters
// without i, l, o and u, so nothing reads as something else. Its 32 symbols
// give each code of recoveryLen characters 50 bits.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

const (
	recoveryLen   = 10  // symbols per code, shown in two groups of five
	maxRecoveries = 100 // most codes NewRecoveryCodes makes in one call
)

// Parameters of HashRecoveryCode. A recovery code has 50 bits, below the
// 112 bits that NIST SP 800-63B §5.1.2.2 lets be stored with a plain hash,
// so it is stored with a salted KDF (ASVS 5.0 6.5.2): PBKDF2-HMAC-SHA256
// over the code's keyed HMAC. With the Hasher key an offline search of one
// code costs 2^50 × 10,000 HMACs; without it, it is hopeless. The iteration
// count is far below the 600,000 OWASP suggests for passwords because the
// code has some 20 bits more entropy than a good password, and because a
// login attempt checks up to RecoveryCodeCount hashes.
const (
	recoveryScheme     = "pbkdf2-sha256"
	recoveryIterations = 10000
	recoverySaltSize   = 16 // NIST asks for ≥32 bits
	recoveryKeySize    = sha256.Size
	minIterations      = 1000    // refuse stored hashes weaker than this
	maxIterations      = 1000000 // or costlier than this to check
)

// b64 encodes salts and keys in stored recovery hashes.
var b64 = base64.RawStdEncoding

// NewRecoveryCodes returns n distinct recovery codes read from r
// (crypto/rand when r is nil), formatted for display as "abcde-fghjk": ten
// lower-case characters of Crockford's base32 alphabet, about 50 bits each.
// n must be between 1 and 100; Vigil uses RecoveryCodeCount. Show the codes
// once and store only HashRecoveryCode of each.
func NewRecoveryCodes(r io.Reader, n int) ([]string, error) {
	if n < 1 || n > maxRecoveries {
		return nil, fmt.Errorf("otp: %d recovery codes is outside [1, %d]", n, maxRecoveries)
	}
	r = source(r)
	codes := make([]string, 0, n)
	seen := make(map[string]bool, n)
	var b [recoveryLen + 1]byte
	for len(codes) < n {
		if err := draw(r, b[:recoveryLen], recoveryAlphabet); err != nil {
			return nil, err
		}
		// A duplicate has a chance of 2^-50 per pair; drawing again keeps
		// "each code is usable once" true even then.
		if seen[string(b[:recoveryLen])] {
			continue
		}
		seen[string(b[:recoveryLen])] = true
		copy(b[6:], b[5:recoveryLen])
		b[5] = '-'
		codes = append(codes, string(b[:]))
	}
	return codes, nil
}

// NormalizeRecoveryCode returns a recovery code as typed by a user in its
// canonical form: ten lower-case characters without the hyphen. Case is
// ignored, ASCII spaces, tabs and hyphens are dropped, and the letters
// Crockford's base32 leaves out because they look like digits are read as
// those digits (i and l as 1, o as 0). Anything else, including input longer
// than 64 bytes, is refused.
func NormalizeRecoveryCode(s string) (string, bool) {
	if len(s) > maxInput {
		return "", false
	}
	var buf [recoveryLen]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		switch c {
		case 'i', 'l':
			c = '1'
		case 'o':
			c = '0'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 || n == recoveryLen {
			return "", false
		}
		buf[n] = c
		n++
	}
	if n != recoveryLen {
		return "", false
	}
	return string(buf[:]), true
}

// HashRecoveryCode returns the value to store for a recovery code: the
// PBKDF2-HMAC-SHA256 of Sum(PurposeRecoveryCode, scope, code) under a fresh
// random salt read from r (crypto/rand when r is nil), as the string
//
//	$pbkdf2-sha256$i=10000$<salt>$<key>
//
// with salt and key in unpadded standard base64. code is normalized with
// NormalizeRecoveryCode first, so the display form is fine; an invalid code
// is an error. The scope binds the hash to its owner (for example the
// tenant and user IDs), so a hash copied to another user never matches.
func (h *Hasher) HashRecoveryCode(r io.Reader, scope, code string) (string, error) {
	norm, ok := NormalizeRecoveryCode(code)
	if !ok {
		return "", errors.New("otp: not a recovery code")
	}
	salt, err := randomBytes(r, recoverySaltSize)
	if err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, string(h.Sum(PurposeRecoveryCode, scope, norm)), salt, h.iter, recoveryKeySize)
	if err != nil {
		return "", fmt.Errorf("otp: pbkdf2: %w", err)
	}
	return "$" + recoveryScheme + "$i=" + strconv.Itoa(h.iter) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key), nil
}

// MatchRecoveryCode reports whether code, as typed by the user, matches one
// of hashes (values HashRecoveryCode returned for the same scope), and
// which. It checks every hash even after a match, so how long it takes
// depends on the stored hashes, not on which of them matched; a malformed
// hash never matches. Using the code once
// is the caller's: consume the matched row with a guarded update
// ("… SET used_at = ? WHERE id = ? AND used_at IS NULL") and refuse the
// code if that updates nothing.
func (h *Hasher) MatchRecoveryCode(hashes []string, scope, code string) (index int, ok bool) {
	norm, valid := NormalizeRecoveryCode(code)
	if !valid {
		return -1, false
	}
	password := string(h.Sum(PurposeRecoveryCode, scope, norm))
	index = -1
	for i, stored := range hashes {
		iter, salt, want, err := parseRecoveryHash(stored)
		if err != nil {
			continue
		}
		got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) && index < 0 {
			index = i
		}
	}
	return index, index >= 0
}

// parseRecoveryHash splits a HashRecoveryCode value into its iteration
// count, salt and key, refusing anything HashRecoveryCode would not write
// except a different iteration count within [minIterations, maxIterations].
func parseRecoveryHash(s string) (iter int, salt, key []byte, err error) {
	bad := errors.New("otp: malformed recovery code hash")
	parts := strings.Split(s, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != recoveryScheme || !strings.HasPrefix(parts[2], "i=") {
		return 0, nil, nil, bad
	}
	digits := parts[2][len("i="):]
	if digits == "" || len(digits) > 7 || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, nil, nil, bad
	}
	iter, _ = strconv.Atoi(digits)
	if iter < minIterations || iter > maxIterations {
		return 0, nil, nil, bad
	}
	if !isBase64(parts[3], false) || !isBase64(parts[4], false) {
		return 0, nil, nil, bad
	}
	if salt, err = b64.Strict().DecodeString(parts[3]); err != nil || len(salt) != recoverySaltSize {
		return 0, nil, nil, bad
	}
	if key, err = b64.Strict().DecodeString(parts[4]); err != nil || len(key) != recoveryKeySize {
		return 0, nil, nil, bad
	}
	return iter, salt, key, nil
}
