package vigil

import (
	"context"
	"crypto/sha256"
	"time"
)

// DefaultTokenTTL is the lifetime of a challenge token when the tenant does
// not set one.
const DefaultTokenTTL = 10 * time.Minute

// DefaultKeyOverlap is how long a rotated-out API secret stays valid.
const DefaultKeyOverlap = 24 * time.Hour

// Tenant is one isolated customer of a Vigil installation: its users, actions
// and keys are invisible to every other tenant.
type Tenant struct {
	ID        string
	Name      string
	TokenTTL  time.Duration // lifetime of challenge tokens; 0 means DefaultTokenTTL
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EffectiveTokenTTL returns the tenant's token lifetime, or DefaultTokenTTL.
func (t *Tenant) EffectiveTokenTTL() time.Duration {
	if t.TokenTTL <= 0 {
		return DefaultTokenTTL
	}
	return t.TokenTTL
}

// TenantUpdate lists the tenant fields to change; nil fields stay unchanged.
type TenantUpdate struct {
	Name     *string
	TokenTTL *time.Duration
}

// KeyKind says which API an API secret opens.
type KeyKind string

// API key kinds.
const (
	KeyServer     KeyKind = "server"     // the Server API under /v1
	KeyManagement KeyKind = "management" // the Management API under /v1/management
)

// APIKey describes a stored API secret. The secret itself is never stored:
// only HashSecret of it.
type APIKey struct {
	ID        string
	TenantID  string
	Kind      KeyKind
	Hash      []byte // HashSecret(secret)
	Hint      string // the last four characters of the secret, for operators
	CreatedAt time.Time
	ExpiresAt time.Time // zero: does not expire
}

// Active reports whether k is usable at time now.
func (k *APIKey) Active(now time.Time) bool {
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}

// HashSecret returns the digest under which an API secret is stored and
// looked up. API secrets are generated with at least 256 bits of entropy, so
// a fast unsalted hash is enough to make a leaked table useless while keeping
// lookup an index probe.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// TenantService manages tenants and their API secrets. Unlike the other
// services it is not scoped by the tenant in the context: it is the operator's
// and the authenticator's view of all tenants.
type TenantService interface {
	// CreateTenant creates t together with keys in one transaction and fills
	// in t's timestamps. ECONFLICT if a tenant with t.ID exists.
	CreateTenant(ctx context.Context, t *Tenant, keys []*APIKey) error

	// FindTenantByID returns a tenant. ENOTFOUND if none.
	FindTenantByID(ctx context.Context, id string) (*Tenant, error)

	// FindTenants returns all tenants ordered by creation time.
	FindTenants(ctx context.Context) ([]*Tenant, error)

	// UpdateTenant changes a tenant. ENOTFOUND if none.
	UpdateTenant(ctx context.Context, id string, upd TenantUpdate) (*Tenant, error)

	// AuthenticateKey returns the tenant owning an active key of the given
	// kind whose hash is hash. EUNAUTHORIZED if there is none.
	AuthenticateKey(ctx context.Context, kind KeyKind, hash []byte) (*Tenant, error)

	// FindAPIKeys returns a tenant's keys (active and expired) newest first.
	FindAPIKeys(ctx context.Context, tenantID string) ([]*APIKey, error)

	// RotateKey adds key and makes every other key of key.Kind of the tenant
	// that would outlive overlapUntil expire at overlapUntil, in one
	// transaction. ENOTFOUND if the tenant does not exist.
	RotateKey(ctx context.Context, key *APIKey, overlapUntil time.Time) error

	// EnsureKey makes key an active key of its tenant: if an active key with
	// the same kind and hash exists nothing changes; otherwise it behaves like
	// RotateKey. It reports whether it changed anything. It is what declarative
	// configuration uses at every start.
	EnsureKey(ctx context.Context, key *APIKey, overlapUntil time.Time) (bool, error)
}
