package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.SigningKeyService = (*SigningKeyService)(nil)

// SigningKeyService implements vigil.SigningKeyService. Secrets are sealed
// with the DB's Cipher, bound to "signing_keys|secret|tenantID/keyID".
type SigningKeyService struct {
	db *DB

	find, retire, insert string
}

// NewSigningKeyService returns a SigningKeyService backed by db.
func NewSigningKeyService(db *DB) *SigningKeyService {
	r := db.rebind
	return &SigningKeyService{
		db: db,
		find: r(`SELECT id, secret, created_at, retired_at FROM signing_keys
			WHERE tenant_id = ? ORDER BY created_at DESC, id DESC`),
		retire: r(`UPDATE signing_keys SET retired_at = ? WHERE tenant_id = ? AND retired_at IS NULL`),
		insert: r(`INSERT INTO signing_keys (tenant_id, id, secret, created_at, retired_at) VALUES (?, ?, ?, ?, ?)`),
	}
}

// FindSigningKeys returns the keys of the tenant in the context, newest
// first, retired ones included, with their secrets decrypted.
func (s *SigningKeyService) FindSigningKeys(ctx context.Context) ([]*vigil.SigningKey, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.find, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find signing keys: %w", err)
	}
	defer rows.Close()
	keys := []*vigil.SigningKey{}
	for rows.Next() {
		k := &vigil.SigningKey{TenantID: tenantID}
		var sealed []byte
		var created int64
		var retired sql.NullInt64
		if err := rows.Scan(&k.ID, &sealed, &created, &retired); err != nil {
			return nil, fmt.Errorf("find signing keys: %w", err)
		}
		if k.Secret, err = s.db.cipher.Open(sealed, aad("signing_keys", "secret", tenantID, k.ID)); err != nil {
			return nil, fmt.Errorf("open signing key %s: %w", k.ID, err)
		}
		k.CreatedAt, k.RetiredAt = fromMicros(created), fromNullMicros(retired)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find signing keys: %w", err)
	}
	return keys, nil
}

// CreateSigningKey stores k for the tenant in the context and retires every
// other key of the tenant, in one transaction. It fills in k.TenantID and,
// when unset, k.CreatedAt. ECONFLICT if the tenant has a key with k.ID.
func (s *SigningKeyService) CreateSigningKey(ctx context.Context, k *vigil.SigningKey) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	if k.ID == "" || len(k.Secret) == 0 {
		return vigil.Errorf(vigil.EINVALID, "Signing key ID and secret are required.")
	}
	sealed, err := s.db.cipher.Seal(k.Secret, aad("signing_keys", "secret", tenantID, k.ID))
	if err != nil {
		return fmt.Errorf("seal signing key: %w", err)
	}
	var created time.Time
	err = s.db.write(ctx, func(tx *Tx) error {
		created = k.CreatedAt
		if created.IsZero() {
			created = tx.now
		}
		if _, err := tx.exec(s.retire, micros(tx.now), tenantID); err != nil {
			return fmt.Errorf("retire signing keys: %w", err)
		}
		_, err := tx.exec(s.insert, tenantID, k.ID, sealed, micros(created), nullMicros(k.RetiredAt))
		return s.db.mapErr("insert signing key", err, "", "A signing key with this ID already exists.")
	})
	if err != nil {
		return err
	}
	k.TenantID = tenantID
	k.CreatedAt = created.UTC().Truncate(time.Microsecond)
	return nil
}
