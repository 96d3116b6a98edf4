package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Cookie names. The application and Vigil may share a host name (localhost
// in the demo), and cookies are not isolated by port, so both names carry
// the application's prefix.
const (
	sessionCookie = "signin_session"
	deviceCookie  = "signin_device"
)

// Lifetimes.
const (
	sessionTTL = 12 * time.Hour       // a session, signed in or not
	pendingTTL = 15 * time.Minute     // a login waiting for its challenge (tokens live 10 minutes by default)
	deviceTTL  = 365 * 24 * time.Hour // the device cookie
)

// session is the state of one browser, kept in the signed sessionCookie:
// the CSRF token of its forms, the signed-in user, and the login that
// waits for a challenge. Nothing in it is secret from its own browser;
// the signature only stops the browser from changing it.
//
// A cookie session cannot be revoked on the server: signing out clears
// the cookie in this browser, and a copy taken earlier stays valid until
// Expires. That is the price of keeping this example stateless; a real
// application keeps sessions in its database and puts only their ID here.
type session struct {
	CSRF    string        `json:"csrf"`
	UserID  string        `json:"uid,omitempty"` // signed in as; empty when signed out
	Pending *pendingLogin `json:"pending,omitempty"`
	Expires int64         `json:"exp"` // Unix seconds
}

// pendingLogin is a login whose password was right and whose track call
// answered CHALLENGE_REQUIRED. Only a challenge token of exactly this
// action (user, action code and idempotency key) completes it.
type pendingLogin struct {
	UserID         string `json:"uid"`
	IdempotencyKey string `json:"key"`
	Expires        int64  `json:"exp"` // Unix seconds
}

// cookieSigner signs and verifies cookie values with HMAC-SHA256. It is
// safe for concurrent use.
type cookieSigner struct {
	key []byte
}

// sign returns base64url(JSON of v) "." base64url(MAC), where the MAC also
// covers the cookie's name, so that a value signed for one cookie is not
// accepted for another.
func (s *cookieSigner) sign(name string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(name, payload)), nil
}

// verify decodes a value made by sign for the cookie name into v. It
// reports false for anything else.
func (s *cookieSigner) verify(name, value string, v any) bool {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(name, payload)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

func (s *cookieSigner) mac(name, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// randomBytes returns n bytes from crypto/rand, which never fails on a
// supported platform.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// validDeviceID reports whether id has the shape of a device ID this
// application issues, [A-Za-z0-9_-]{16,64}, so that an arbitrary cookie
// value is never forwarded to Vigil.
func validDeviceID(id string) bool {
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// newCookie returns a cookie of this application: host-only, path /,
// HttpOnly, SameSite=Lax, Secure when the application is served over
// HTTPS. maxAge 0 makes a browser-session cookie; a negative one deletes
// the cookie.
func newCookie(name, value string, maxAge int, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}
