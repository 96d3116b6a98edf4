package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

var _ vigil.ValueListService = (*ValueListService)(nil)

// ValueListService implements vigil.ValueListService for the tenant in the
// context.
type ValueListService struct {
	db *DB

	find, findLocked, findAll, insert, update, del, ruleConditions string
	versions                                                       string
}

const valueListCols = `tenant_id, alias, name, is_active, item_type, items, created_at, updated_at`

// NewValueListService returns a ValueListService backed by db.
func NewValueListService(db *DB) *ValueListService {
	r := db.rebind
	return &ValueListService{
		db:         db,
		find:       r(`SELECT ` + valueListCols + ` FROM value_lists WHERE tenant_id = ? AND alias = ?`),
		findLocked: r(`SELECT ` + valueListCols + ` FROM value_lists WHERE tenant_id = ? AND alias = ?` + db.forUpdate()),
		findAll:    r(`SELECT ` + valueListCols + ` FROM value_lists WHERE tenant_id = ? ORDER BY alias`),
		insert:     r(`INSERT INTO value_lists (` + valueListCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		update: r(`UPDATE value_lists SET name = ?, is_active = ?, item_type = ?, items = ?, updated_at = ?
			WHERE tenant_id = ? AND alias = ?`),
		del:            r(`DELETE FROM value_lists WHERE tenant_id = ? AND alias = ?`),
		versions:       r(`SELECT alias, updated_at FROM value_lists WHERE tenant_id = ?`),
		ruleConditions: r(`SELECT action_code, id, conditions FROM rules WHERE tenant_id = ? AND conditions IS NOT NULL ORDER BY action_code, priority`),
	}
}

const msgValueListNotFound = "Value list not found."

func scanValueList(s rowScanner) (*vigil.ValueList, error) {
	var l vigil.ValueList
	var items sql.NullString
	var created, updated int64
	if err := s.Scan(&l.TenantID, &l.Alias, &l.Name, &l.IsActive, &l.ItemType, &items, &created, &updated); err != nil {
		return nil, err
	}
	if items.Valid {
		l.Items = json.RawMessage(items.String)
	}
	l.CreatedAt, l.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &l, nil
}

// valueListArgs are l's configurable columns in the order of the update
// statement, after a structural check.
func valueListArgs(l *vigil.ValueList) ([]any, error) {
	if !vigil.ValidValueListAlias(l.Alias) {
		return nil, vigil.Errorf(vigil.EINVALID, "Invalid value list alias.")
	}
	if l.ItemType != vigil.ValueListString && l.ItemType != vigil.ValueListNumber {
		return nil, vigil.Errorf(vigil.EINVALID, "Invalid value list item type.")
	}
	var items any
	if l.Items != nil {
		if !json.Valid(l.Items) {
			return nil, vigil.Errorf(vigil.EINVALID, "Value list items are not valid JSON.")
		}
		items = string(l.Items)
	}
	return []any{l.Name, l.IsActive, l.ItemType, items}, nil
}

// FindValueList returns one list. ENOTFOUND if none.
func (s *ValueListService) FindValueList(ctx context.Context, alias string) (*vigil.ValueList, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	l, err := scanValueList(s.db.readRow(ctx, s.find, tenantID, alias))
	if err != nil {
		return nil, unclean(noRows("find value list", err, msgValueListNotFound))
	}
	return l, nil
}

// FindValueLists returns every list ordered by alias.
func (s *ValueListService) FindValueLists(ctx context.Context) ([]*vigil.ValueList, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.findAll, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find value lists: %w", err)
	}
	defer rows.Close()
	out := []*vigil.ValueList{}
	for rows.Next() {
		l, err := scanValueList(rows)
		if err != nil {
			return nil, fmt.Errorf("find value lists: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find value lists: %w", err)
	}
	return out, nil
}

// ValueListVersions returns the last-update time of every list, by alias,
// without their items: how a cache of lists learns which to reload.
func (s *ValueListService) ValueListVersions(ctx context.Context) (map[string]time.Time, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.versions, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find value list versions: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var alias string
		var updated int64
		if err := rows.Scan(&alias, &updated); err != nil {
			return nil, fmt.Errorf("find value list versions: %w", err)
		}
		out[alias] = fromMicros(updated)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find value list versions: %w", err)
	}
	return out, nil
}

// CreateValueList stores a new list. ECONFLICT if the alias is taken.
func (s *ValueListService) CreateValueList(ctx context.Context, l *vigil.ValueList) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	args, err := valueListArgs(l)
	if err != nil {
		return err
	}
	var now int64
	err = s.db.write(ctx, func(tx *Tx) error {
		now = micros(tx.now)
		tx.changedConfig()
		full := append([]any{tenantID, l.Alias}, args...)
		_, err := tx.exec(s.insert, append(full, now, now)...)
		return s.db.mapErr("insert value list", err, "", "A value list with this alias already exists.")
	})
	if err != nil {
		return err
	}
	l.TenantID = tenantID
	l.CreatedAt, l.UpdatedAt = fromMicros(now), fromMicros(now)
	return nil
}

// UpdateValueList reads a list, lets fn change it and stores the result in
// one transaction (the row is locked on PostgreSQL).
func (s *ValueListService) UpdateValueList(ctx context.Context, alias string, fn func(*vigil.ValueList) error) (*vigil.ValueList, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	var out *vigil.ValueList
	err = s.db.write(ctx, func(tx *Tx) error {
		out = nil
		l, err := scanValueList(tx.queryRow(s.findLocked, tenantID, alias))
		if err != nil {
			return noRows("find value list", err, msgValueListNotFound)
		}
		if err := fn(l); err != nil {
			return clean(err)
		}
		l.TenantID, l.Alias = tenantID, alias
		args, err := valueListArgs(l)
		if err != nil {
			return clean(err)
		}
		now := micros(tx.now)
		tx.changedConfig()
		if _, err := tx.exec(s.update, append(args, now, tenantID, alias)...); err != nil {
			return fmt.Errorf("update value list: %w", err)
		}
		l.UpdatedAt = fromMicros(now)
		out = l
		return nil
	})
	if err != nil {
		return nil, unclean(err)
	}
	return out, nil
}

// PutValueList creates l or replaces every field of the stored list with
// its alias, and reports whether anything changed.
func (s *ValueListService) PutValueList(ctx context.Context, l *vigil.ValueList) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	args, err := valueListArgs(l)
	if err != nil {
		return false, err
	}
	changed := false
	err = s.db.write(ctx, func(tx *Tx) error {
		changed = false
		old, err := scanValueList(tx.queryRow(s.findLocked, tenantID, l.Alias))
		now := micros(tx.now)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			changed = true
			tx.changedConfig()
			full := append([]any{tenantID, l.Alias}, args...)
			_, err := tx.exec(s.insert, append(full, now, now)...)
			return s.db.mapErr("insert value list", err, "", "A value list with this alias already exists.")
		case err != nil:
			return fmt.Errorf("find value list: %w", err)
		}
		oldArgs, err := valueListArgs(old)
		if err != nil {
			return fmt.Errorf("stored value list %q: %w", old.Alias, err)
		}
		same := true
		for i := range args {
			if args[i] != oldArgs[i] {
				same = false
			}
		}
		if same {
			return nil
		}
		changed = true
		tx.changedConfig()
		if _, err := tx.exec(s.update, append(args, now, tenantID, l.Alias)...); err != nil {
			return fmt.Errorf("update value list: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, unclean(err)
	}
	return changed, nil
}

// DeleteValueList removes a list. ENOTFOUND if none; ECONFLICT, naming
// the rule, while a rule's conditions name it ({"var":"valueLists.<alias>"}),
// because that rule would no longer compile.
func (s *ValueListService) DeleteValueList(ctx context.Context, alias string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	err = s.db.write(ctx, func(tx *Tx) error {
		if err := s.checkUnused(tx, tenantID, alias); err != nil {
			return err
		}
		tx.changedConfig()
		res, err := tx.exec(s.del, tenantID, alias)
		if err != nil {
			return fmt.Errorf("delete value list: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete value list: %w", err)
		} else if n == 0 {
			return clean(vigil.Errorf(vigil.ENOTFOUND, msgValueListNotFound))
		}
		return nil
	})
	return unclean(err)
}

// checkUnused returns ECONFLICT (clean) if a rule of the tenant names the
// list in its conditions. The test is textual, on the stored JSON, so a
// condition that spells the name with JSON escapes is not seen; such a rule
// fails to compile when next saved or loaded, and the rules engine then
// applies its safe outcome.
func (s *ValueListService) checkUnused(tx *Tx, tenantID, alias string) error {
	rows, err := tx.query(s.ruleConditions, tenantID)
	if err != nil {
		return fmt.Errorf("find rules: %w", err)
	}
	defer rows.Close()
	needle := `"` + jsonlogic.ValueListPrefix + alias + `"`
	for rows.Next() {
		var code, id, cond string
		if err := rows.Scan(&code, &id, &cond); err != nil {
			return fmt.Errorf("find rules: %w", err)
		}
		if strings.Contains(cond, needle) {
			return clean(vigil.Errorf(vigil.ECONFLICT, "The value list is used by rule %s of action %s.", id, code))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find rules: %w", err)
	}
	return nil
}
