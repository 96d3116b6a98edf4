package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.CustomDataPointService = (*CustomDataPointService)(nil)

// CustomDataPointService implements vigil.CustomDataPointService for the
// tenant in the context.
type CustomDataPointService struct {
	db *DB

	find, findLocked, findByNameLocked, findAll, insert, update, del string
}

const customDataPointCols = `tenant_id, id, name, data_type, model_type, description, is_public, created_at, updated_at`

// NewCustomDataPointService returns a CustomDataPointService backed by db.
func NewCustomDataPointService(db *DB) *CustomDataPointService {
	r := db.rebind
	const sel = `SELECT ` + customDataPointCols + ` FROM custom_data_points WHERE tenant_id = ?`
	return &CustomDataPointService{
		db:               db,
		find:             r(sel + ` AND id = ?`),
		findLocked:       r(sel + ` AND id = ?` + db.forUpdate()),
		findByNameLocked: r(sel + ` AND model_type = ? AND name = ?` + db.forUpdate()),
		findAll:          r(sel + ` ORDER BY name, model_type`),
		insert:           r(`INSERT INTO custom_data_points (` + customDataPointCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		update: r(`UPDATE custom_data_points SET name = ?, data_type = ?, model_type = ?, description = ?, is_public = ?,
			updated_at = ? WHERE tenant_id = ? AND id = ?`),
		del: r(`DELETE FROM custom_data_points WHERE tenant_id = ? AND id = ?`),
	}
}

const (
	msgCustomDataPointNotFound = "Custom data point not found."
	msgCustomDataPointIDTaken  = "A custom data point with this id already exists."
	// msgCustomDataPointTaken is for a unique violation that the reads
	// before a write did not foresee (a concurrent write).
	msgCustomDataPointTaken = "A custom data point with this id, or this model type and name, already exists."
)

// msgCustomDataPointNameTaken is the conflict message for a model type and
// name already used by another point.
func msgCustomDataPointNameTaken(c *vigil.CustomDataPoint) string {
	return fmt.Sprintf("A custom data point named %q already exists for model type %s.", c.Name, c.ModelType)
}

func scanCustomDataPoint(s rowScanner) (*vigil.CustomDataPoint, error) {
	var c vigil.CustomDataPoint
	var created, updated int64
	if err := s.Scan(&c.TenantID, &c.ID, &c.Name, &c.DataType, &c.ModelType, &c.Description, &c.IsPublic,
		&created, &updated); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

// customDataPointArgs are c's configurable columns in the order of the
// update statement.
func customDataPointArgs(c *vigil.CustomDataPoint) []any {
	return []any{c.Name, c.DataType, c.ModelType, c.Description, c.IsPublic}
}

// findIn returns the point with id, or nil, read in tx (and locked on
// PostgreSQL).
func (s *CustomDataPointService) findIn(tx *Tx, tenantID, id string) (*vigil.CustomDataPoint, error) {
	c, err := scanCustomDataPoint(tx.queryRow(s.findLocked, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("find custom data point: %w", err)
	}
	return c, nil
}

// findByNameIn returns the point with the model type and name, or nil,
// read in tx (and locked on PostgreSQL).
func (s *CustomDataPointService) findByNameIn(tx *Tx, tenantID, modelType, name string) (*vigil.CustomDataPoint, error) {
	c, err := scanCustomDataPoint(tx.queryRow(s.findByNameLocked, tenantID, modelType, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("find custom data point: %w", err)
	}
	return c, nil
}

// checkName returns ECONFLICT (clean) if a point other than c has c's
// model type and name. The unique index catches a concurrent insert that
// this read misses.
func (s *CustomDataPointService) checkName(tx *Tx, c *vigil.CustomDataPoint) error {
	o, err := s.findByNameIn(tx, c.TenantID, c.ModelType, c.Name)
	if err != nil {
		return err
	}
	if o != nil && o.ID != c.ID {
		return clean(vigil.Errorf(vigil.ECONFLICT, "%s", msgCustomDataPointNameTaken(c)))
	}
	return nil
}

// insertIn inserts c, checking its ID and name first; it sets c's
// timestamps.
func (s *CustomDataPointService) insertIn(tx *Tx, c *vigil.CustomDataPoint) error {
	if o, err := s.findIn(tx, c.TenantID, c.ID); err != nil {
		return err
	} else if o != nil {
		return clean(vigil.Errorf(vigil.ECONFLICT, msgCustomDataPointIDTaken))
	}
	if err := s.checkName(tx, c); err != nil {
		return err
	}
	now := micros(tx.now)
	// Nothing compiled from configuration depends on custom data points
	// yet; the bump keeps any cache keyed on the version honest if that
	// changes.
	tx.changedConfig()
	args := append([]any{c.TenantID, c.ID}, customDataPointArgs(c)...)
	_, err := tx.exec(s.insert, append(args, now, now)...)
	if err := s.db.mapErr("insert custom data point", err, "", msgCustomDataPointTaken); err != nil {
		return err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(now), fromMicros(now)
	return nil
}

// updateIn stores c's configurable fields over the point with c's ID,
// checking its name first; it sets c.UpdatedAt.
func (s *CustomDataPointService) updateIn(tx *Tx, c *vigil.CustomDataPoint) error {
	if err := s.checkName(tx, c); err != nil {
		return err
	}
	now := micros(tx.now)
	tx.changedConfig()
	args := append(customDataPointArgs(c), now, c.TenantID, c.ID)
	_, err := tx.exec(s.update, args...)
	if err := s.db.mapErr("update custom data point", err, "", msgCustomDataPointNameTaken(c)); err != nil {
		return err
	}
	c.UpdatedAt = fromMicros(now)
	return nil
}

// FindCustomDataPoint returns one point. ENOTFOUND if none.
func (s *CustomDataPointService) FindCustomDataPoint(ctx context.Context, id string) (*vigil.CustomDataPoint, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := scanCustomDataPoint(s.db.readRow(ctx, s.find, tenantID, id))
	if err != nil {
		return nil, unclean(noRows("find custom data point", err, msgCustomDataPointNotFound))
	}
	return c, nil
}

// FindCustomDataPoints returns every point ordered by name (byte order),
// then model type.
func (s *CustomDataPointService) FindCustomDataPoints(ctx context.Context) ([]*vigil.CustomDataPoint, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.findAll, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find custom data points: %w", err)
	}
	defer rows.Close()
	out := []*vigil.CustomDataPoint{}
	for rows.Next() {
		c, err := scanCustomDataPoint(rows)
		if err != nil {
			return nil, fmt.Errorf("find custom data points: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find custom data points: %w", err)
	}
	return out, nil
}

// CreateCustomDataPoint stores a new point, filling in its ID (a UUIDv7
// when empty), tenant and timestamps. ECONFLICT if the ID is taken or
// another point has the same model type and name.
func (s *CustomDataPointService) CreateCustomDataPoint(ctx context.Context, c *vigil.CustomDataPoint) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	nc := *c
	nc.TenantID = tenantID
	if nc.ID == "" {
		nc.ID = newID()
	}
	if err := nc.Validate(); err != nil {
		return err
	}
	var out vigil.CustomDataPoint
	err = s.db.write(ctx, func(tx *Tx) error {
		out = nc
		return s.insertIn(tx, &out)
	})
	if err != nil {
		return err
	}
	*c = out
	return nil
}

// UpdateCustomDataPoint reads a point, lets fn change it and stores the
// result in one transaction (the row is locked on PostgreSQL).
func (s *CustomDataPointService) UpdateCustomDataPoint(ctx context.Context, id string, fn func(*vigil.CustomDataPoint) error) (*vigil.CustomDataPoint, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	var out *vigil.CustomDataPoint
	err = s.db.write(ctx, func(tx *Tx) error {
		out = nil
		c, err := s.findIn(tx, tenantID, id)
		if err != nil {
			return err
		} else if c == nil {
			return clean(vigil.Errorf(vigil.ENOTFOUND, msgCustomDataPointNotFound))
		}
		created := c.CreatedAt
		if err := fn(c); err != nil {
			return clean(err)
		}
		c.TenantID, c.ID, c.CreatedAt = tenantID, id, created
		if err := c.Validate(); err != nil {
			return clean(err)
		}
		if err := s.updateIn(tx, c); err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutCustomDataPoint creates c or replaces every field of the stored point
// it names (by ID, or without one by model type and name), and reports
// whether anything changed. It fills in c's ID and tenant.
func (s *CustomDataPointService) PutCustomDataPoint(ctx context.Context, c *vigil.CustomDataPoint) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	nc := *c
	nc.TenantID = tenantID
	byName := nc.ID == ""
	if byName {
		nc.ID = newID() // the new point's; a stored point keeps its own
	}
	if err := nc.Validate(); err != nil {
		return false, err
	}
	changed := false
	var id string
	err = s.db.write(ctx, func(tx *Tx) error {
		changed, id = false, ""
		p := nc
		var old *vigil.CustomDataPoint
		var err error
		if byName {
			old, err = s.findByNameIn(tx, tenantID, p.ModelType, p.Name)
		} else {
			old, err = s.findIn(tx, tenantID, p.ID)
		}
		if err != nil {
			return err
		}
		if old == nil {
			if err := s.insertIn(tx, &p); err != nil {
				return err
			}
			changed, id = true, p.ID
			return nil
		}
		p.ID, id = old.ID, old.ID
		if p.Name == old.Name && p.DataType == old.DataType && p.ModelType == old.ModelType &&
			p.Description == old.Description && p.IsPublic == old.IsPublic {
			return nil
		}
		if err := s.updateIn(tx, &p); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil {
		return false, err
	}
	c.TenantID, c.ID = tenantID, id
	return changed, nil
}

// DeleteCustomDataPoint removes a point. ENOTFOUND if none.
func (s *CustomDataPointService) DeleteCustomDataPoint(ctx context.Context, id string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	err = s.db.write(ctx, func(tx *Tx) error {
		tx.changedConfig()
		res, err := tx.exec(s.del, tenantID, id)
		if err != nil {
			return fmt.Errorf("delete custom data point: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete custom data point: %w", err)
		} else if n == 0 {
			return clean(vigil.Errorf(vigil.ENOTFOUND, msgCustomDataPointNotFound))
		}
		return nil
	})
	return unclean(err)
}
