package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/vigil-auth/vigil"
)

// secretBytes is the entropy of a generated API secret: 256 bits.
const secretBytes = 32

// Prefixes of generated API secrets, so that an operator (or a secret
// scanner) can tell what a leaked string is.
const (
	serverSecretPrefix     = "vigil_sk_"
	managementSecretPrefix = "vigil_mk_"
)

// generateSecret returns a new API secret of the given kind: a prefix and
// 256 random bits in base64url.
func generateSecret(r io.Reader, kind vigil.KeyKind) (string, error) {
	b := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("generate secret: %w", err)
	}
	prefix := serverSecretPrefix
	if kind == vigil.KeyManagement {
		prefix = managementSecretPrefix
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// newAPIKey describes secret as a key of the tenant; only its hash and its
// last four characters are kept.
func newAPIKey(r io.Reader, tenantID string, kind vigil.KeyKind, secret string) (*vigil.APIKey, error) {
	id, err := uuid.NewRandomFromReader(r)
	if err != nil {
		return nil, fmt.Errorf("generate key ID: %w", err)
	}
	hint := secret
	if len(hint) > 4 {
		hint = hint[len(hint)-4:]
	}
	return &vigil.APIKey{
		ID:       id.String(),
		TenantID: tenantID,
		Kind:     kind,
		Hash:     vigil.HashSecret(secret),
		Hint:     hint,
	}, nil
}

// newTenantSecrets is a new tenant with freshly generated secrets.
type newTenantSecrets struct {
	Tenant           *vigil.Tenant
	ServerSecret     string
	ManagementSecret string
}

// createTenantWithSecrets creates a tenant with a generated Server API and
// Management API secret, storing only their hashes. An empty id gets a
// random UUID.
func createTenantWithSecrets(ctx context.Context, tenants vigil.TenantService, r io.Reader, id, name string) (*newTenantSecrets, error) {
	if id == "" {
		u, err := uuid.NewRandomFromReader(r)
		if err != nil {
			return nil, fmt.Errorf("generate tenant ID: %w", err)
		}
		id = u.String()
	}
	res := &newTenantSecrets{Tenant: &vigil.Tenant{ID: id, Name: name}}
	var keys []*vigil.APIKey
	for _, kind := range []vigil.KeyKind{vigil.KeyServer, vigil.KeyManagement} {
		s, err := generateSecret(r, kind)
		if err != nil {
			return nil, err
		}
		k, err := newAPIKey(r, id, kind, s)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
		if kind == vigil.KeyServer {
			res.ServerSecret = s
		} else {
			res.ManagementSecret = s
		}
	}
	if err := tenants.CreateTenant(ctx, res.Tenant, keys); err != nil {
		return nil, err
	}
	return res, nil
}

// printNewTenant writes a new tenant's ID and secrets for the operator, with
// the warning that they are not shown again.
func printNewTenant(w io.Writer, headline string, n *newTenantSecrets) error {
	_, err := fmt.Fprintf(w, `%s
The secrets below are shown only this once: store them now.

  Tenant ID:              %s
  Name:                   %s
  Server API secret:      %s
  Management API secret:  %s
`, headline, n.Tenant.ID, n.Tenant.Name, n.ServerSecret, n.ManagementSecret)
	return err
}
