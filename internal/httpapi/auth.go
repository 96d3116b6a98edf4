package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/vigil-auth/vigil"
)

// authCache remembers, for a short TTL, which tenant an API secret
// authenticated as, so that the hot path (track, validate) does not query
// the database for every request. Only successes are cached: a wrong secret
// always reaches the TenantService, so the cache cannot be filled by
// guessing. Entries are keyed by vigil.HashSecret(secret) and kind, never by
// the secret itself. It is safe for concurrent use.
type authCache struct {
	ttl time.Duration // <= 0: caching disabled
	max int
	now func() time.Time

	mu      sync.Mutex // guards entries
	entries map[authKey]authEntry
}

type authKey struct {
	kind vigil.KeyKind
	hash [32]byte
}

type authEntry struct {
	tenantID string
	expires  time.Time
}

func newAuthCache(ttl time.Duration, max int, now func() time.Time) *authCache {
	return &authCache{ttl: ttl, max: max, now: now, entries: make(map[authKey]authEntry)}
}

// authenticate returns the ID of the tenant that owns an active key of the
// given kind for secret. EUNAUTHORIZED if there is none; other errors of
// the TenantService are passed through.
func (c *authCache) authenticate(ctx context.Context, tenants vigil.TenantService, kind vigil.KeyKind, secret string) (string, error) {
	hash := vigil.HashSecret(secret)
	key := authKey{kind: kind}
	copy(key.hash[:], hash)

	if c.ttl > 0 {
		now := c.now()
		c.mu.Lock()
		e, ok := c.entries[key]
		if ok && now.Before(e.expires) {
			c.mu.Unlock()
			return e.tenantID, nil
		}
		if ok {
			delete(c.entries, key)
		}
		c.mu.Unlock()
	}

	t, err := tenants.AuthenticateKey(ctx, kind, hash)
	if err != nil {
		return "", err
	}
	if t == nil || t.ID == "" {
		return "", vigil.Errorf(vigil.EUNAUTHORIZED, unauthorizedMessage)
	}
	if c.ttl > 0 {
		now := c.now()
		c.mu.Lock()
		if len(c.entries) >= c.max {
			c.evictLocked(now)
		}
		c.entries[key] = authEntry{tenantID: t.ID, expires: now.Add(c.ttl)}
		c.mu.Unlock()
	}
	return t.ID, nil
}

// evictLocked makes room for one entry: it drops expired entries and, if
// the cache is still full, arbitrary ones. c.mu must be held.
func (c *authCache) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < c.max {
			break
		}
		delete(c.entries, k)
	}
}

// len returns the number of cached entries.
func (c *authCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
