package otp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The TOTP parameters Vigil uses: the defaults of RFC 6238 and the only ones
// every authenticator app honours. They appear in every KeyURI, so changing
// them would break enrolled authenticators.
const (
	TOTPDigits = 6                // code length
	TOTPPeriod = 30 * time.Second // the time step X of RFC 6238 §4.1
	TOTPSkew   = 1                // steps accepted either side of the current one (RFC 6238 §5.2)
)

// TOTP secret sizes in bytes. NewSecret makes 160-bit secrets, the length
// RFC 4226 §4 R6 recommends; DecodeSecret accepts 128 bits (R6's minimum)
// up to 1024.
const (
	SecretSize    = 20
	MinSecretSize = 16
	MaxSecretSize = 128
)

// maxSecretInput bounds what DecodeSecret reads: MaxSecretSize bytes are
// 205 base32 characters, and a person may have added a space every four.
const maxSecretInput = 512

// b32 is the secret encoding of the Key Uri Format: RFC 4648 base32,
// upper case, without padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// pow10 holds 10^d for the HOTP digit counts.
var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// NewSecret returns a new SecretSize-byte TOTP secret read from r
// (crypto/rand when r is nil). Store it encrypted; show it to the user only
// during enrollment, through KeyURI and EncodeSecret.
func NewSecret(r io.Reader) ([]byte, error) {
	return randomBytes(r, SecretSize)
}

// EncodeSecret returns secret in base32 without padding, the form
// authenticator apps accept for manual entry and KeyURI embeds.
func EncodeSecret(secret []byte) string {
	return b32.EncodeToString(secret)
}

// DecodeSecret parses a base32 TOTP secret as a person or another system
// might write it: case is ignored, as are spaces and trailing "=" padding.
// It refuses any other character, a non-canonical encoding (stray bits in
// the last character), input over 512 bytes, and secrets shorter than
// MinSecretSize or longer than MaxSecretSize bytes.
func DecodeSecret(s string) ([]byte, error) {
	if len(s) > maxSecretInput {
		return nil, errors.New("otp: secret is too long")
	}
	s = strings.TrimRight(strings.ReplaceAll(s, " ", ""), "=")
	var buf [maxSecretInput]byte
	enc := buf[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '2' <= c && c <= '7':
		default:
			return nil, errors.New("otp: secret is not base32")
		}
		enc = append(enc, c)
	}
	secret := make([]byte, b32.DecodedLen(len(enc)))
	n, err := b32.Decode(secret, enc)
	if err != nil {
		return nil, errors.New("otp: secret is not base32")
	}
	secret = secret[:n]
	if b32.EncodeToString(secret) != string(enc) {
		return nil, errors.New("otp: secret is not canonical base32")
	}
	if len(secret) < MinSecretSize || len(secret) > MaxSecretSize {
		return nil, fmt.Errorf("otp: secret is %d bytes, want %d to %d", len(secret), MinSecretSize, MaxSecretSize)
	}
	return secret, nil
}

// KeyURI returns the otpauth:// URI that enrolls secret in an authenticator
// app, in Google Authenticator's Key Uri Format:
//
//	otpauth://totp/Issuer:account?secret=…&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// The issuer (the product or tenant name) and the account (the user's email
// address or name) are percent-encoded, spaces as %20 rather than "+", which
// some apps show literally. Both must be non-empty valid UTF-8 without
// control characters, and neither may contain a colon, which the format
// reserves to separate them.
func KeyURI(issuer, account string, secret []byte) (string, error) {
	if err := checkLabel("issuer", issuer); err != nil {
		return "", err
	}
	if err := checkLabel("account", account); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	escape(&b, issuer)
	b.WriteByte(':')
	escape(&b, account)
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(secret))
	b.WriteString("&issuer=")
	escape(&b, issuer)
	b.WriteString("&algorithm=SHA1&digits=")
	b.WriteString(strconv.Itoa(TOTPDigits))
	b.WriteString("&period=")
	b.WriteString(strconv.Itoa(int(TOTPPeriod / time.Second)))
	return b.String(), nil
}

// checkLabel reports why s cannot be the issuer or account of a KeyURI.
func checkLabel(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("otp: %s is empty", what)
	case !utf8.ValidString(s):
		return fmt.Errorf("otp: %s is not valid UTF-8", what)
	case strings.ContainsRune(s, ':'):
		return fmt.Errorf("otp: %s contains a colon", what)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("otp: %s contains a control character", what)
	}
	return nil
}

// escape writes s to b with every byte outside RFC 3986's unreserved set
// and "@" percent-encoded, which is safe in both the path and the query.
func escape(b *strings.Builder, s string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '@' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
}

// HOTP returns the RFC 4226 §5.3 HOTP value of secret and counter with
// HMAC-SHA1, as digits decimal digits. digits must be 6, 7 or 8 (RFC 4226
// §5.3 R4); HOTP panics otherwise, as that is a programming error.
func HOTP(secret []byte, counter uint64, digits int) string {
	return hotp(sha1.New, secret, counter, digits)
}

// TOTP returns the RFC 6238 code of secret at time t: the 6-digit HOTP of
// the number of 30-second steps since the Unix epoch.
func TOTP(secret []byte, t time.Time) string {
	return HOTP(secret, uint64(stepAt(t)), TOTPDigits)
}

// VerifyTOTP reports whether code is the TOTP of secret at a step within
// TOTPSkew steps of now, and returns that step. now must be the server's
// clock. code is normalized with NormalizeCode first, so "123 456" is fine.
//
// Only steps after lastUsedStep are accepted: the caller stores the step
// returned on success, in the same transaction that checks it is still
// greater than the stored one, and passes the stored value here next time
// (0 for an authenticator that has never been used). That refuses both a
// second use of the same code and the use of an earlier code after a later
// one (RFC 6238 §5.2). If code happens to match two steps of the window, the
// later one is returned, so the same code cannot be accepted twice.
//
// The codes of every step in the window are computed and compared in
// constant time whatever the outcome. Secrets shorter than MinSecretSize or
// longer than MaxSecretSize never verify.
func VerifyTOTP(secret []byte, code string, now time.Time, lastUsedStep int64) (step int64, ok bool) {
	if len(secret) < MinSecretSize || len(secret) > MaxSecretSize {
		return 0, false
	}
	norm, valid := NormalizeCode(code, TOTPDigits)
	if !valid {
		return 0, false
	}
	var want uint32
	for i := 0; i < len(norm); i++ {
		want = want*10 + uint32(norm[i]-'0')
	}
	m := hmac.New(sha1.New, secret)
	var buf [sha1.Size]byte
	cur := stepAt(now)
	match := int64(-1)
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		m.Reset()
		v := truncate(m, buf[:0], uint64(s)) % pow10[TOTPDigits]
		if subtle.ConstantTimeEq(int32(v), int32(want)) == 1 && s >= 0 {
			match = s
		}
	}
	if match < 0 || match <= lastUsedStep {
		return 0, false
	}
	return match, true
}

// stepAt is the RFC 6238 §4.2 time step T of t, rounded towards minus
// infinity so times before 1970 do not share step 0.
func stepAt(t time.Time) int64 {
	const x = int64(TOTPPeriod / time.Second)
	s := t.Unix()
	q := s / x
	if s%x < 0 {
		q--
	}
	return q
}

// hotp is HOTP with any HMAC hash, for RFC 6238's SHA-256 and SHA-512 test
// vectors.
func hotp(newHash func() hash.Hash, secret []byte, counter uint64, digits int) string {
	if digits < 6 || digits > 8 {
		panic("otp: HOTP digits must be 6, 7 or 8, not " + strconv.Itoa(digits))
	}
	var buf [64]byte
	v := truncate(hmac.New(newHash, secret), buf[:0], counter) % pow10[digits]
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// truncate returns the 31-bit dynamic truncation (RFC 4226 §5.3) of the
// HMAC of the 8-byte big-endian counter, using m (freshly created or reset)
// and buf as scratch space for the MAC.
func truncate(m hash.Hash, buf []byte, counter uint64) uint32 {
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	sum := m.Sum(buf)
	off := sum[len(sum)-1] & 0xf
	return binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
}
