package token

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vigil-auth/vigil"
)

// Kind tells what a token may be used for.
type Kind string

// Token kinds. Verify accepts both and reports which one it saw.
const (
	KindChallenge Kind = "challenge" // returned by track; starts a challenge
	KindAccess    Kind = "access"    // issued after a completed challenge
)

// Valid reports whether k is a defined kind.
func (k Kind) Valid() bool { return k == KindChallenge || k == KindAccess }

// Limits and defaults.
const (
	// MaxTokenSize is the longest token Verify looks at, in bytes.
	MaxTokenSize = 4096
	// MaxClockSkew is how far in the future a token's "iat" may be, to
	// absorb clock differences between Vigil processes.
	MaxClockSkew = 30 * time.Second
	// DefaultRetiredKeyGrace is how long a rotated-out key still verifies.
	DefaultRetiredKeyGrace = 24 * time.Hour
	// DefaultRefreshInterval is how long a tenant's cached keys are used
	// for signing before they are reloaded, so that a rotation done by
	// another process is picked up.
	DefaultRefreshInterval = time.Minute
	// SecretSize is the length of a generated HMAC key (RFC 7518 §3.2
	// requires at least the hash output size).
	SecretSize = 32
)

// Claims is what a token asserts.
type Claims struct {
	TenantID       string // "aud" and other.tenantId; Sign fills it from the context when empty
	UserID         string // "sub" and other.userId
	ActionCode     string // other.actionCode
	IdempotencyKey string // other.idempotencyKey
	Username       string // other.username; optional
	Scope          string // "scope": space-separated vigil.Scope values; optional
	Kind           Kind   // "kind"
	ID             string // "jti"; Sign derives one from the other claims when empty
	IssuedAt       time.Time
	ExpiresAt      time.Time
}

// Options configures an Issuer. Zero fields take their defaults.
type Options struct {
	Now             func() time.Time // default time.Now
	Rand            io.Reader        // source of keys and key IDs; default crypto/rand.Reader
	RetiredKeyGrace time.Duration    // default DefaultRetiredKeyGrace
	RefreshInterval time.Duration    // default DefaultRefreshInterval
}

// Issuer signs and verifies tokens for every tenant. It caches each tenant's
// keys in memory. An Issuer is safe for concurrent use.
type Issuer struct {
	store   vigil.SigningKeyService
	now     func() time.Time
	rand    io.Reader
	grace   time.Duration
	refresh time.Duration

	mu      sync.RWMutex            // guards tenants
	tenants map[string]*tenantState // by tenant ID
}

// tenantState holds one tenant's cached keys.
type tenantState struct {
	mu  sync.Mutex             // serializes loading and creating the tenant's keys
	set atomic.Pointer[keySet] // nil until first loaded
}

// keySet is an immutable snapshot of a tenant's keys.
type keySet struct {
	current  *key            // the key that signs; nil when the tenant has none
	byID     map[string]*key // every key, retired ones included
	loadedAt time.Time
}

type key struct {
	id        string
	secret    []byte
	retiredAt time.Time // zero while current
	header    string    // the encoded JWT header naming this key, with its trailing '.'
	macs      sync.Pool // of keyed HMAC-SHA256 hash.Hash, reset after use
}

// mac returns a keyed HMAC-SHA256 ready to write; give it back with putMAC.
// Pooling saves deriving the inner and outer pads on every token.
func (k *key) mac() hash.Hash {
	if h, ok := k.macs.Get().(hash.Hash); ok {
		return h
	}
	return hmac.New(sha256.New, k.secret)
}

func (k *key) putMAC(h hash.Hash) {
	h.Reset()
	k.macs.Put(h)
}

// New returns an Issuer that keeps its keys in keys.
func New(keys vigil.SigningKeyService, opts Options) *Issuer {
	i := &Issuer{
		store:   keys,
		now:     opts.Now,
		rand:    opts.Rand,
		grace:   opts.RetiredKeyGrace,
		refresh: opts.RefreshInterval,
		tenants: make(map[string]*tenantState),
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.rand == nil {
		i.rand = rand.Reader
	}
	if i.grace <= 0 {
		i.grace = DefaultRetiredKeyGrace
	}
	if i.refresh <= 0 {
		i.refresh = DefaultRefreshInterval
	}
	return i
}

var b64 = base64.RawURLEncoding

// headerPrefix and headerSuffix surround the kid in the only header Sign
// writes and Verify accepts.
const (
	headerPrefix = `{"alg":"HS256","typ":"JWT","kid":"`
	headerSuffix = `"}`
	sigLen       = 43 // base64url length of a 32-byte HMAC-SHA256
	maxKIDLen    = 64
	// maxHeaderLen is the encoded length of the longest header Verify accepts.
	maxHeaderLen = (len(headerPrefix) + maxKIDLen + len(headerSuffix) + 2) / 3 * 4
)

// Sign returns the token for c, signed with the current key of the tenant in
// ctx; the tenant's first key is created and stored on first use. Sign is
// deterministic: identical claims signed with the same key give the same
// token, which is how an idempotent replay re-issues its original token.
// Times are truncated to whole seconds.
func (i *Issuer) Sign(ctx context.Context, c *Claims) (string, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return "", err
	}
	if err := checkClaims(tenantID, c); err != nil {
		return "", err
	}
	k, err := i.signingKey(ctx, tenantID)
	if err != nil {
		return "", err
	}

	var pbuf [512]byte
	payload := appendPayload(pbuf[:0], tenantID, c)

	n := len(k.header) + b64.EncodedLen(len(payload)) + 1 + sigLen
	out := make([]byte, 0, n)
	out = append(out, k.header...)
	out = b64.AppendEncode(out, payload)
	mac := k.mac()
	mac.Write(out)
	var sum [sha256.Size]byte
	out = append(out, '.')
	out = b64.AppendEncode(out, mac.Sum(sum[:0]))
	k.putMAC(mac)
	return string(out), nil
}

// checkClaims rejects claims Sign cannot faithfully encode. These are
// programming errors, not client errors.
func checkClaims(tenantID string, c *Claims) error {
	switch {
	case c == nil:
		return errors.New("token: nil claims")
	case c.TenantID != "" && c.TenantID != tenantID:
		return fmt.Errorf("token: claims of tenant %q signed for tenant %q", c.TenantID, tenantID)
	case c.UserID == "" || c.ActionCode == "" || c.IdempotencyKey == "":
		return errors.New("token: user ID, action code and idempotency key are required")
	case !c.Kind.Valid():
		return fmt.Errorf("token: invalid kind %q", c.Kind)
	case c.IssuedAt.Unix() <= 0:
		return errors.New("token: issued-at is required")
	case c.ExpiresAt.Unix() <= c.IssuedAt.Unix():
		return errors.New("token: expiry must be at least a second after issued-at")
	}
	for _, s := range [...]string{tenantID, c.UserID, c.ActionCode, c.IdempotencyKey, c.Username, c.Scope, c.ID} {
		if !utf8.ValidString(s) {
			return errors.New("token: claims must be valid UTF-8")
		}
	}
	return nil
}

// appendPayload appends the JSON claims set. The field order is fixed, so the
// encoding is deterministic.
func appendPayload(b []byte, tenantID string, c *Claims) []byte {
	iat, exp := c.IssuedAt.Unix(), c.ExpiresAt.Unix()
	b = append(b, `{"aud":`...)
	b = appendString(b, tenantID)
	b = append(b, `,"sub":`...)
	b = appendString(b, c.UserID)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"jti":`...)
	if c.ID != "" {
		b = appendString(b, c.ID)
	} else {
		b = appendString(b, deriveID(tenantID, c))
	}
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendString(b, c.Scope)
	}
	b = append(b, `,"kind":`...)
	b = appendString(b, string(c.Kind))
	b = append(b, `,"other":{"tenantId":`...)
	b = appendString(b, tenantID)
	b = append(b, `,"userId":`...)
	b = appendString(b, c.UserID)
	b = append(b, `,"actionCode":`...)
	b = appendString(b, c.ActionCode)
	b = append(b, `,"idempotencyKey":`...)
	b = appendString(b, c.IdempotencyKey)
	if c.Username != "" {
		b = append(b, `,"username":`...)
		b = appendString(b, c.Username)
	}
	return append(b, "}}"...)
}

// deriveID returns a token ID determined by the claims that identify the
// token, so that it is unique per action and kind yet deterministic.
func deriveID(tenantID string, c *Claims) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range [...]string{string(c.Kind), tenantID, c.UserID, c.ActionCode, c.IdempotencyKey} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], uint64(c.IssuedAt.Unix()))
	h.Write(n[:])
	var sum [sha256.Size]byte
	return b64.EncodeToString(h.Sum(sum[:0])[:16])
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 is replaced by
// U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// invalid returns the error every verification failure gives; reason is
// for logs only.
// ErrExpired is in the chain of Verify's error for a token that is
// authentic but past its expiry: the Client API answers it with
// "expired_token" so that the SDK calls the application's onTokenExpired.
var ErrExpired = errors.New("token: expired")

func invalid(reason string) error {
	return fmt.Errorf("token: %s: %w", reason, &vigil.Error{Code: vigil.EUNAUTHORIZED, Message: "Invalid token."})
}

// Verify checks that token was signed by a key of the tenant in ctx and is
// well-formed, unexpired and addressed to that tenant, and returns its
// claims. Any failure is an EUNAUTHORIZED error ("Invalid token."), except a
// storage failure while loading the tenant's keys, which is returned as is.
func (i *Issuer) Verify(ctx context.Context, token string) (*Claims, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, invalid("no tenant")
	}
	if len(token) > MaxTokenSize {
		return nil, invalid("too large")
	}
	d1 := indexByte(token, '.', 0)
	if d1 < 0 {
		return nil, invalid("malformed")
	}
	d2 := indexByte(token, '.', d1+1)
	if d2 < 0 || indexByte(token, '.', d2+1) >= 0 {
		return nil, invalid("malformed")
	}

	// Header: exactly what Sign writes, so alg is HS256 and nothing else
	// (jku, x5u, jwk, crit, ...) is present.
	if d1 > maxHeaderLen {
		return nil, invalid("header too long")
	}
	var hbuf [maxHeaderLen]byte
	hdr, err := b64.Strict().AppendDecode(hbuf[:0], []byte(token[:d1]))
	if err != nil {
		return nil, invalid("header encoding")
	}
	if !bytes.HasPrefix(hdr, []byte(headerPrefix)) || !bytes.HasSuffix(hdr, []byte(headerSuffix)) ||
		len(hdr) < len(headerPrefix)+len(headerSuffix)+1 {
		return nil, invalid("unsupported header")
	}
	kidBytes := hdr[len(headerPrefix) : len(hdr)-len(headerSuffix)]
	if !validKID(kidBytes) {
		return nil, invalid("malformed kid")
	}

	k, err := i.verifyingKey(ctx, tenantID, string(kidBytes))
	if err != nil {
		return nil, err
	}
	now := i.now()
	if !k.retiredAt.IsZero() && !now.Before(k.retiredAt.Add(i.grace)) {
		return nil, invalid("key retired")
	}

	// Signature: RFC 7515 §5.2 over the ASCII of header.payload.
	if len(token)-d2-1 != sigLen {
		return nil, invalid("signature length")
	}
	var sbuf, want [sha256.Size]byte
	sig, err := b64.Strict().AppendDecode(sbuf[:0], []byte(token[d2+1:]))
	if err != nil || len(sig) != sha256.Size {
		return nil, invalid("signature encoding")
	}
	mac := k.mac()
	mac.Write([]byte(token[:d2]))
	ok := hmac.Equal(mac.Sum(want[:0]), sig)
	k.putMAC(mac)
	if !ok {
		return nil, invalid("signature mismatch")
	}

	// Claims, parsed only once authenticated.
	raw, err := b64.Strict().DecodeString(token[d1+1 : d2])
	if err != nil {
		return nil, invalid("payload encoding")
	}
	var p payload
	if !parsePayload(raw, &p) {
		return nil, invalid("payload syntax")
	}
	switch {
	case p.Aud != tenantID || p.Other.TenantID != tenantID:
		return nil, invalid("audience")
	case p.Sub == "" || p.Other.UserID != p.Sub:
		return nil, invalid("subject")
	case p.Other.ActionCode == "" || p.Other.IdempotencyKey == "" || p.Jti == "":
		return nil, invalid("missing claim")
	case !p.Kind.Valid():
		return nil, invalid("kind")
	case p.Iat <= 0 || p.Exp <= p.Iat:
		return nil, invalid("times")
	case !now.Before(time.Unix(p.Exp, 0)):
		return nil, fmt.Errorf("%w: %w", ErrExpired, &vigil.Error{Code: vigil.EUNAUTHORIZED, Message: "Invalid token."})
	case time.Unix(p.Iat, 0).After(now.Add(MaxClockSkew)):
		return nil, invalid("issued in the future")
	}
	return &Claims{
		TenantID:       p.Aud,
		UserID:         p.Sub,
		ActionCode:     p.Other.ActionCode,
		IdempotencyKey: p.Other.IdempotencyKey,
		Username:       p.Other.Username,
		Scope:          p.Scope,
		Kind:           p.Kind,
		ID:             p.Jti,
		IssuedAt:       time.Unix(p.Iat, 0).UTC(),
		ExpiresAt:      time.Unix(p.Exp, 0).UTC(),
	}, nil
}

// UnverifiedTenant returns the tenant a token claims to be for ("aud"),
// without verifying anything: for choosing the tenant whose keys Verify
// must then check the token with. It never trusts the token.
func UnverifiedTenant(token string) (string, bool) {
	if len(token) > MaxTokenSize {
		return "", false
	}
	d1 := indexByte(token, '.', 0)
	if d1 < 0 {
		return "", false
	}
	d2 := indexByte(token, '.', d1+1)
	if d2 < 0 {
		return "", false
	}
	raw, err := b64.Strict().DecodeString(token[d1+1 : d2])
	if err != nil {
		return "", false
	}
	var p payload
	if !parsePayload(raw, &p) || p.Aud == "" {
		return "", false
	}
	return p.Aud, true
}

func indexByte(s string, c byte, from int) int {
	for j := from; j < len(s); j++ {
		if s[j] == c {
			return j
		}
	}
	return -1
}

// validKID reports whether kid has the shape of a key ID Vigil generates
// (base64url characters), so garbage never reaches the store.
func validKID(kid []byte) bool {
	if len(kid) == 0 || len(kid) > maxKIDLen {
		return false
	}
	for _, c := range kid {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Rotate creates a new signing key for the tenant in ctx and returns its
// kid. The previous key retires: it no longer signs but verifies the tokens
// it signed for RetiredKeyGrace.
func (i *Issuer) Rotate(ctx context.Context) (string, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return "", err
	}
	ts := i.tenant(tenantID)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	set, err := i.createKey(ctx, tenantID)
	if err != nil {
		return "", err
	}
	ts.set.Store(set)
	return set.current.id, nil
}

// tenant returns the cache entry of a tenant, creating it when absent.
func (i *Issuer) tenant(id string) *tenantState {
	i.mu.RLock()
	ts := i.tenants[id]
	i.mu.RUnlock()
	if ts != nil {
		return ts
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if ts = i.tenants[id]; ts == nil {
		ts = new(tenantState)
		i.tenants[id] = ts
	}
	return ts
}

// signingKey returns the tenant's current key, loading the tenant's keys
// when they are not cached or are older than the refresh interval, and
// creating the tenant's first key when it has none. At most one goroutine
// per tenant loads or creates at a time; while a refresh is under way,
// other signers keep using the cached key.
func (i *Issuer) signingKey(ctx context.Context, tenantID string) (*key, error) {
	ts := i.tenant(tenantID)
	set := ts.set.Load()
	if set != nil && set.current != nil {
		if i.now().Sub(set.loadedAt) < i.refresh {
			return set.current, nil
		}
		if !ts.mu.TryLock() {
			return set.current, nil // someone else is refreshing
		}
	} else {
		ts.mu.Lock()
	}
	defer ts.mu.Unlock()

	if s := ts.set.Load(); s != set && s != nil && s.current != nil {
		return s.current, nil // loaded while we waited
	}
	set, err := i.load(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if set.current == nil {
		if set, err = i.createKey(ctx, tenantID); err != nil {
			return nil, err
		}
	}
	ts.set.Store(set)
	return set.current, nil
}

// verifyingKey returns the tenant's key kid. On a miss it reloads the
// tenant's keys once (concurrent misses share one reload), so that a key
// created by another process is found.
func (i *Issuer) verifyingKey(ctx context.Context, tenantID, kid string) (*key, error) {
	ts := i.tenant(tenantID)
	seen := ts.set.Load()
	if seen != nil {
		if k := seen.byID[kid]; k != nil {
			return k, nil
		}
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	set := ts.set.Load()
	if set == seen {
		var err error
		if set, err = i.load(ctx, tenantID); err != nil {
			return nil, err
		}
		ts.set.Store(set)
	}
	if k := set.byID[kid]; k != nil {
		return k, nil
	}
	return nil, invalid("unknown kid")
}

// load reads the tenant's keys from the store. The caller holds ts.mu.
func (i *Issuer) load(ctx context.Context, tenantID string) (*keySet, error) {
	keys, err := i.store.FindSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: load signing keys: %w", err)
	}
	set := &keySet{byID: make(map[string]*key, len(keys)), loadedAt: i.now()}
	for _, sk := range keys { // newest first
		if sk.TenantID != "" && sk.TenantID != tenantID {
			continue // fail closed should a store ever leak another tenant's key
		}
		k := &key{
			id:        sk.ID,
			secret:    sk.Secret,
			retiredAt: sk.RetiredAt,
			header:    b64.EncodeToString([]byte(headerPrefix+sk.ID+headerSuffix)) + ".",
		}
		if _, dup := set.byID[k.id]; dup {
			continue
		}
		set.byID[k.id] = k
		if set.current == nil && k.retiredAt.IsZero() && len(k.secret) >= SecretSize {
			set.current = k
		}
	}
	return set, nil
}

// createKey generates and stores a new current key for the tenant and
// returns the reloaded key set. The caller holds ts.mu.
func (i *Issuer) createKey(ctx context.Context, tenantID string) (*keySet, error) {
	var buf [SecretSize + 16]byte
	if _, err := io.ReadFull(i.rand, buf[:]); err != nil {
		return nil, fmt.Errorf("token: generate key: %w", err)
	}
	sk := &vigil.SigningKey{
		TenantID:  tenantID,
		ID:        b64.EncodeToString(buf[SecretSize:]),
		Secret:    bytes.Clone(buf[:SecretSize]),
		CreatedAt: i.now(),
	}
	if err := i.store.CreateSigningKey(ctx, sk); err != nil {
		return nil, fmt.Errorf("token: store signing key: %w", err)
	}
	set, err := i.load(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	// Another process may have created a key at the same moment; ours is
	// the one this process signs with either way, and both verify.
	if k := set.byID[sk.ID]; k != nil {
		set.current = k
	} else {
		return nil, fmt.Errorf("token: signing key %s not found after storing it", sk.ID)
	}
	return set, nil
}
