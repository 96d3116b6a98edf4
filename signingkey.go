package vigil

import (
	"context"
	"time"
)

// SigningKey is a per-tenant HMAC key that signs challenge tokens. Secret is
// held in memory in the clear and stored encrypted.
type SigningKey struct {
	TenantID  string
	ID        string // the JWT "kid"
	Secret    []byte // 32 random bytes
	CreatedAt time.Time
	RetiredAt time.Time // zero while it is the key that signs; set when a newer key replaces it
}

// SigningKeyService stores token signing keys.
type SigningKeyService interface {
	// FindSigningKeys returns the keys of the tenant in the context, newest
	// first, retired ones included.
	FindSigningKeys(ctx context.Context) ([]*SigningKey, error)

	// CreateSigningKey stores k for the tenant in the context and retires
	// every other key of the tenant, in one transaction.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
}
