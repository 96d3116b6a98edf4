package otp

import (
	"encoding/base64"
	"io"
)

// TokenSize is the number of random bytes in a magic link token: 256 bits,
// above the 128 ASVS 5.0 7.2.3 asks of reference tokens and the 112 above
// which NIST SP 800-63B §5.1.2.2 lets a secret be stored with a plain keyed
// hash.
const TokenSize = 32

// tokenLen is the length of an encoded token.
const tokenLen = (TokenSize*8 + 5) / 6

// NewToken returns a new magic link token: TokenSize bytes read from r
// (crypto/rand when r is nil) in unpadded base64url, 43 characters that
// need no escaping in a URL. Put it in the link, store only
// Sum(PurposeMagicLink, scope, token), and consume it once.
func NewToken(r io.Reader) (string, error) {
	b, err := randomBytes(r, TokenSize)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ValidToken reports whether s has the exact form NewToken produces, so a
// request carrying anything else can be refused before any lookup.
func ValidToken(s string) bool {
	if len(s) != tokenLen || !isBase64(s, true) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

// isBase64 reports whether s uses only the symbols of the base64url (url) or
// standard alphabet, without padding. encoding/base64 skips CR and LF even
// in strict mode, so without this check they would be accepted anywhere.
func isBase64(s string, url bool) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case url && (c == '-' || c == '_'):
		case !url && (c == '+' || c == '/'):
		default:
			return false
		}
	}
	return true
}
