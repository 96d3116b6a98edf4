package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.TenantService = (*TenantService)(nil)

// TenantService implements vigil.TenantService. It is not scoped by the
// tenant in the context.
type TenantService struct {
	db *DB

	insertTenant, findTenant, findTenants, updateTenant string
	insertKey, authenticate, findKeys, tenantExists     string
	expireKeys, activeKey                               string
}

const tenantCols = `id, name, token_ttl, created_at, updated_at, time_zone, client_settings, theme`

const apiKeyCols = `id, tenant_id, kind, hash, hint, created_at, expires_at`

// NewTenantService returns a TenantService backed by db.
func NewTenantService(db *DB) *TenantService {
	r := db.rebind
	return &TenantService{
		db:           db,
		insertTenant: r(`INSERT INTO tenants (` + tenantCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		findTenant:   r(`SELECT ` + tenantCols + ` FROM tenants WHERE id = ?`),
		findTenants:  r(`SELECT ` + tenantCols + ` FROM tenants ORDER BY created_at, id`),
		updateTenant: r(`UPDATE tenants SET name = COALESCE(?, name), token_ttl = COALESCE(?, token_ttl),
			time_zone = COALESCE(?, time_zone),
			client_settings = COALESCE(?, client_settings),
			theme = CASE WHEN ? THEN ? ELSE theme END, updated_at = ?
			WHERE id = ? AND (? = 0 OR updated_at = ?) RETURNING ` + tenantCols),
		insertKey: r(`INSERT INTO api_keys (` + apiKeyCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		authenticate: r(`SELECT t.id, t.name, t.token_ttl, t.created_at, t.updated_at, t.time_zone, t.client_settings, t.theme
			FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
			WHERE k.hash = ? AND k.kind = ? AND (k.expires_at IS NULL OR k.expires_at > ?)
			LIMIT 1`),
		findKeys:     r(`SELECT ` + apiKeyCols + ` FROM api_keys WHERE tenant_id = ? ORDER BY created_at DESC, id DESC`),
		tenantExists: r(`SELECT 1 FROM tenants WHERE id = ?`),
		expireKeys: r(`UPDATE api_keys SET expires_at = ?
			WHERE tenant_id = ? AND kind = ? AND (expires_at IS NULL OR expires_at > ?)`),
		activeKey: r(`SELECT 1 FROM api_keys
			WHERE tenant_id = ? AND kind = ? AND hash = ? AND (expires_at IS NULL OR expires_at > ?)`),
	}
}

func scanTenant(s rowScanner) (*vigil.Tenant, error) {
	var t vigil.Tenant
	var ttl, created, updated int64
	var client, theme sql.NullString
	if err := s.Scan(&t.ID, &t.Name, &ttl, &created, &updated, &t.TimeZone, &client, &theme); err != nil {
		return nil, err
	}
	if client.Valid {
		if err := json.Unmarshal([]byte(client.String), &t.Client); err != nil {
			return nil, fmt.Errorf("decode client settings of tenant %s: %w", t.ID, err)
		}
	}
	if theme.Valid {
		t.Theme = &vigil.Theme{}
		if err := json.Unmarshal([]byte(theme.String), t.Theme); err != nil {
			return nil, fmt.Errorf("decode theme of tenant %s: %w", t.ID, err)
		}
	}
	t.TokenTTL = time.Duration(ttl) * time.Millisecond
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &t, nil
}

// CreateTenant creates t together with keys in one transaction and fills in
// the timestamps of t and the IDs, tenant and timestamps of keys. ECONFLICT
// if a tenant with t.ID exists; EINVALID if a setting, the theme included,
// fails its check.
func (s *TenantService) CreateTenant(ctx context.Context, t *vigil.Tenant, keys []*vigil.APIKey) error {
	if t.ID == "" {
		return vigil.Errorf(vigil.EINVALID, "Tenant ID is required.")
	}
	if err := vigil.CheckTimeZone(t.TimeZone); err != nil {
		return err
	}
	if err := vigil.CheckClientSettings(&t.Client); err != nil {
		return err
	}
	client, err := encodeClientSettings(&t.Client)
	if err != nil {
		return err
	}
	if err := vigil.CheckTheme(t.Theme); err != nil {
		return err
	}
	theme, err := encodeTheme(t.Theme)
	if err != nil {
		return err
	}
	var now time.Time
	ids := make([]string, len(keys))
	for i, k := range keys {
		if err := checkKey(k); err != nil {
			return err
		}
		ids[i] = k.ID
		if ids[i] == "" {
			ids[i] = uuid.NewString()
		}
	}
	err = s.db.write(ctx, func(tx *Tx) error {
		now = tx.now
		if _, err := tx.exec(s.insertTenant, t.ID, t.Name, t.TokenTTL.Milliseconds(), micros(now), micros(now), t.TimeZone, client, theme); err != nil {
			return s.db.mapErr("insert tenant", err, "", "A tenant with this ID already exists.")
		}
		for i, k := range keys {
			if err := s.insertAPIKey(tx, k, ids[i], t.ID, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	now = now.UTC().Truncate(time.Microsecond)
	t.CreatedAt, t.UpdatedAt = now, now
	for i, k := range keys {
		k.ID, k.TenantID = ids[i], t.ID
		if k.CreatedAt.IsZero() {
			k.CreatedAt = now
		}
	}
	return nil
}

func (s *TenantService) insertAPIKey(tx *Tx, k *vigil.APIKey, id, tenantID string, now time.Time) error {
	created := k.CreatedAt
	if created.IsZero() {
		created = now
	}
	_, err := tx.exec(s.insertKey, id, tenantID, string(k.Kind), k.Hash, k.Hint, micros(created), nullMicros(k.ExpiresAt))
	return s.db.mapErr("insert api key", err, "", "An API key with this ID already exists.")
}

// FindTenantByID returns a tenant. ENOTFOUND if none.
func (s *TenantService) FindTenantByID(ctx context.Context, id string) (*vigil.Tenant, error) {
	t, err := scanTenant(s.db.readRow(ctx, s.findTenant, id))
	if err != nil {
		return nil, s.db.mapErr("find tenant", err, "Tenant not found.", "")
	}
	return t, nil
}

// FindTenants returns all tenants ordered by creation time.
func (s *TenantService) FindTenants(ctx context.Context) ([]*vigil.Tenant, error) {
	rows, err := s.db.readRows(ctx, s.findTenants)
	if err != nil {
		return nil, fmt.Errorf("find tenants: %w", err)
	}
	defer rows.Close()
	ts := []*vigil.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("find tenants: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find tenants: %w", err)
	}
	return ts, nil
}

// UpdateTenant changes a tenant. A non-nil upd.Theme replaces the stored
// theme (without its empty parts; one with nothing set stores NULL). EINVALID
// if a setting fails its check, ENOTFOUND if there is no such tenant.
func (s *TenantService) UpdateTenant(ctx context.Context, id string, upd vigil.TenantUpdate) (*vigil.Tenant, error) {
	if upd.TimeZone != nil {
		if err := vigil.CheckTimeZone(*upd.TimeZone); err != nil {
			return nil, err
		}
	}
	var client any
	if upd.Client != nil {
		if err := vigil.CheckClientSettings(upd.Client); err != nil {
			return nil, err
		}
		enc, err := encodeClientSettings(upd.Client)
		if err != nil {
			return nil, err
		}
		if client = enc; enc == nil {
			client = "{}" // COALESCE keeps NULL as "unchanged"; {} is the defaults
		}
	}
	setTheme, theme := false, any(nil)
	if upd.Theme != nil {
		if err := vigil.CheckTheme(upd.Theme); err != nil {
			return nil, err
		}
		enc, err := encodeTheme(upd.Theme)
		if err != nil {
			return nil, err
		}
		setTheme, theme = true, enc
	}
	var ttl *int64
	if upd.TokenTTL != nil {
		v := upd.TokenTTL.Milliseconds()
		ttl = &v
	}
	var out *vigil.Tenant
	err := s.db.write(ctx, func(tx *Tx) error {
		var ifUpdated int64
		if !upd.IfUpdatedAt.IsZero() {
			ifUpdated = micros(upd.IfUpdatedAt)
		}
		t, err := scanTenant(tx.queryRow(s.updateTenant, upd.Name, ttl, upd.TimeZone, client, setTheme, theme, micros(tx.now), id,
			ifUpdated, ifUpdated))
		if errors.Is(err, sql.ErrNoRows) && ifUpdated != 0 {
			var one int
			if tx.queryRow(s.tenantExists, id).Scan(&one) == nil {
				return vigil.Errorf(vigil.ECONFLICT, "The tenant changed concurrently; retry.")
			}
		}
		if err != nil {
			return noRows("update tenant", err, "Tenant not found.")
		}
		out = t
		return nil
	})
	return out, err
}

// AuthenticateKey returns the tenant owning an active key of the given kind
// whose hash is hash. EUNAUTHORIZED if there is none.
func (s *TenantService) AuthenticateKey(ctx context.Context, kind vigil.KeyKind, hash []byte) (*vigil.Tenant, error) {
	if len(hash) == 0 {
		return nil, vigil.Errorf(vigil.EUNAUTHORIZED, "Invalid API key.")
	}
	t, err := scanTenant(s.db.readRow(ctx, s.authenticate, hash, string(kind), micros(s.db.now())))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, vigil.Errorf(vigil.EUNAUTHORIZED, "Invalid API key.")
	} else if err != nil {
		return nil, fmt.Errorf("authenticate key: %w", err)
	}
	return t, nil
}

// FindAPIKeys returns a tenant's keys (active and expired) newest first.
func (s *TenantService) FindAPIKeys(ctx context.Context, tenantID string) ([]*vigil.APIKey, error) {
	rows, err := s.db.readRows(ctx, s.findKeys, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find api keys: %w", err)
	}
	defer rows.Close()
	keys := []*vigil.APIKey{}
	for rows.Next() {
		var k vigil.APIKey
		var kind string
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&k.ID, &k.TenantID, &kind, &k.Hash, &k.Hint, &created, &expires); err != nil {
			return nil, fmt.Errorf("find api keys: %w", err)
		}
		k.Kind = vigil.KeyKind(kind)
		k.CreatedAt, k.ExpiresAt = fromMicros(created), fromNullMicros(expires)
		keys = append(keys, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find api keys: %w", err)
	}
	return keys, nil
}

// RotateKey adds key and makes every other key of key.Kind of the tenant
// that would outlive overlapUntil expire at overlapUntil, in one
// transaction. It fills in key.ID and key.CreatedAt when unset. ENOTFOUND if
// the tenant does not exist.
func (s *TenantService) RotateKey(ctx context.Context, key *vigil.APIKey, overlapUntil time.Time) error {
	_, err := s.rotate(ctx, key, overlapUntil, false)
	return err
}

// EnsureKey makes key an active key of its tenant: if an active key with the
// same kind and hash exists nothing changes; otherwise it behaves like
// RotateKey. It reports whether it changed anything.
func (s *TenantService) EnsureKey(ctx context.Context, key *vigil.APIKey, overlapUntil time.Time) (bool, error) {
	return s.rotate(ctx, key, overlapUntil, true)
}

func (s *TenantService) rotate(ctx context.Context, key *vigil.APIKey, overlapUntil time.Time, ensure bool) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	id := key.ID
	if id == "" {
		id = uuid.NewString()
	}
	var now time.Time
	changed := false
	err := s.db.write(ctx, func(tx *Tx) error {
		now, changed = tx.now, false
		var one int
		if err := tx.queryRow(s.tenantExists, key.TenantID).Scan(&one); err != nil {
			return noRows("find tenant", err, "Tenant not found.")
		}
		if ensure {
			err := tx.queryRow(s.activeKey, key.TenantID, string(key.Kind), key.Hash, micros(now)).Scan(&one)
			if err == nil {
				return nil
			} else if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("find active key: %w", err)
			}
		}
		until := micros(overlapUntil)
		if _, err := tx.exec(s.expireKeys, until, key.TenantID, string(key.Kind), until); err != nil {
			return fmt.Errorf("expire api keys: %w", err)
		}
		if err := s.insertAPIKey(tx, key, id, key.TenantID, now); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil || !changed {
		return false, err
	}
	key.ID = id
	if key.CreatedAt.IsZero() {
		key.CreatedAt = now.UTC().Truncate(time.Microsecond)
	}
	return true, nil
}

func checkKey(k *vigil.APIKey) error {
	if len(k.Hash) == 0 {
		return vigil.Errorf(vigil.EINVALID, "API key hash is required.")
	}
	if k.Kind != vigil.KeyServer && k.Kind != vigil.KeyManagement {
		return vigil.Errorf(vigil.EINVALID, "Unknown API key kind.")
	}
	return nil
}

// encodeClientSettings returns c as JSON, or nil for the defaults.
func encodeClientSettings(c *vigil.ClientSettings) (any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode client settings: %w", err)
	}
	if string(b) == "{}" {
		return nil, nil
	}
	return string(b), nil
}

// encodeTheme returns t without its empty parts as JSON, or nil (NULL) when
// nothing is set.
func encodeTheme(t *vigil.Theme) (any, error) {
	t = vigil.CompactTheme(t)
	if t == nil {
		return nil, nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode theme: %w", err)
	}
	return string(b), nil
}
