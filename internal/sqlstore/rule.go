package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.RuleService = (*RuleService)(nil)

// RuleService implements vigil.RuleService for the tenant in the context.
// Every save validates the action's whole resulting rule set with the
// validator given to NewRuleService inside the saving transaction.
type RuleService struct {
	db       *DB
	validate vigil.RuleValidator

	configExists, configLock, find, findAll, findAllLocked, insert, update, del string
	listAliases                                                                 string
}

const ruleCols = `tenant_id, action_code, id, name, description, is_active, is_shadow, priority, type,
	verification_methods, prompt_to_enroll_methods, default_verification_method, conditions, created_at, updated_at`

// NewRuleService returns a RuleService backed by db that validates every
// resulting rule set with validate. validate must not be nil: a store that
// accepted rules unchecked would fail open.
func NewRuleService(db *DB, validate vigil.RuleValidator) *RuleService {
	if validate == nil {
		panic("sqlstore: NewRuleService needs a validator")
	}
	r := db.rebind
	return &RuleService{
		db:           db,
		validate:     validate,
		configExists: r(`SELECT 1 FROM action_configs WHERE tenant_id = ? AND action_code = ?`),
		configLock:   r(`SELECT 1 FROM action_configs WHERE tenant_id = ? AND action_code = ?` + db.forUpdate()),
		find:         r(`SELECT ` + ruleCols + ` FROM rules WHERE tenant_id = ? AND action_code = ? AND id = ?`),
		findAll:      r(`SELECT ` + ruleCols + ` FROM rules WHERE tenant_id = ? AND action_code = ? ORDER BY priority`),
		findAllLocked: r(`SELECT ` + ruleCols + ` FROM rules WHERE tenant_id = ? AND action_code = ? ORDER BY priority` +
			db.forUpdate()),
		insert: r(`INSERT INTO rules (` + ruleCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		update: r(`UPDATE rules SET name = ?, description = ?, is_active = ?, is_shadow = ?, priority = ?, type = ?,
			verification_methods = ?, prompt_to_enroll_methods = ?, default_verification_method = ?, conditions = ?,
			updated_at = ? WHERE tenant_id = ? AND action_code = ? AND id = ?`),
		del:         r(`DELETE FROM rules WHERE tenant_id = ? AND action_code = ? AND id = ?`),
		listAliases: r(`SELECT alias FROM value_lists WHERE tenant_id = ?`),
	}
}

const (
	msgConfigNotFound = "Action configuration not found."
	msgRuleNotFound   = "Rule not found."
)

func scanRule(s rowScanner) (*vigil.Rule, error) {
	var r vigil.Rule
	var typ, defMethod string
	var methods, prompt, conditions sql.NullString
	var created, updated int64
	if err := s.Scan(&r.TenantID, &r.ActionCode, &r.ID, &r.Name, &r.Description, &r.IsActive, &r.IsShadow,
		&r.Priority, &typ, &methods, &prompt, &defMethod, &conditions, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	r.Type = vigil.Outcome(typ)
	r.DefaultVerificationMethod = vigil.VerificationMethod(defMethod)
	if r.VerificationMethods, err = decodeMethods(methods); err != nil {
		return nil, err
	}
	if r.PromptToEnrollMethods, err = decodeMethods(prompt); err != nil {
		return nil, err
	}
	if conditions.Valid {
		r.Conditions = json.RawMessage(conditions.String)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// ruleArgs are r's configurable columns in the order of the update
// statement: name through conditions.
func ruleArgs(r *vigil.Rule) ([]any, error) {
	var conditions any
	if r.Conditions != nil {
		if !json.Valid(r.Conditions) {
			return nil, vigil.Errorf(vigil.EINVALID, "rules[0].conditions: not valid JSON")
		}
		conditions = string(r.Conditions)
	}
	return []any{r.Name, r.Description, r.IsActive, r.IsShadow, r.Priority, string(r.Type),
		encodeMethods(r.VerificationMethods), encodeMethods(r.PromptToEnrollMethods),
		string(r.DefaultVerificationMethod), conditions}, nil
}

// checkConfig returns ENOTFOUND (clean) unless the action configuration
// exists; within a write it also locks it on PostgreSQL, so that the rule
// sets of one action are validated and saved one at a time.
func (s *RuleService) checkConfig(tx *Tx, tenantID, code string) error {
	var one int
	if err := tx.queryRow(s.configLock, tenantID, code).Scan(&one); err != nil {
		return noRows("find action config", err, msgConfigNotFound)
	}
	return nil
}

// rulesLocked returns an action's rules by priority, read in tx.
func (s *RuleService) rulesLocked(tx *Tx, tenantID, code string) ([]*vigil.Rule, error) {
	rows, err := tx.query(s.findAllLocked, tenantID, code)
	if err != nil {
		return nil, fmt.Errorf("find rules: %w", err)
	}
	defer rows.Close()
	var out []*vigil.Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, fmt.Errorf("find rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find rules: %w", err)
	}
	return out, nil
}

// check validates the rule set an action would have with r saved: r first,
// then the other rules by priority, with the tenant's value lists as read
// in tx. A priority already used by another rule is reported first, naming
// that rule.
func (s *RuleService) check(tx *Tx, r *vigil.Rule, others []*vigil.Rule) error {
	set := make([]*vigil.Rule, 0, len(others)+1)
	set = append(set, r)
	for _, o := range others {
		if o.ID == r.ID {
			continue
		}
		if o.Priority == r.Priority {
			return clean(vigil.Errorf(vigil.EINVALID,
				"rules[0].priority: priority %d is already used by rule %s (%q); priorities must be unique per action",
				r.Priority, o.ID, o.Name))
		}
		set = append(set, o)
	}
	sort.SliceStable(set[1:], func(i, j int) bool { return set[1+i].Priority < set[1+j].Priority })
	aliases, err := s.aliases(tx, r.TenantID)
	if err != nil {
		return err
	}
	if err := s.validate(set, func(a string) bool { return aliases[a] }); err != nil {
		return clean(err)
	}
	return nil
}

// aliases returns the tenant's value list aliases, read in tx.
func (s *RuleService) aliases(tx *Tx, tenantID string) (map[string]bool, error) {
	rows, err := tx.query(s.listAliases, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find value lists: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("find value lists: %w", err)
		}
		out[a] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find value lists: %w", err)
	}
	return out, nil
}

// FindRules returns an action's rules ordered by priority; ENOTFOUND if
// the action configuration does not exist.
func (s *RuleService) FindRules(ctx context.Context, code string) ([]*vigil.Rule, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	var one int
	if err := s.db.readRow(ctx, s.configExists, tenantID, code).Scan(&one); err != nil {
		return nil, unclean(noRows("find action config", err, msgConfigNotFound))
	}
	rows, err := s.db.readRows(ctx, s.findAll, tenantID, code)
	if err != nil {
		return nil, fmt.Errorf("find rules: %w", err)
	}
	defer rows.Close()
	out := []*vigil.Rule{}
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, fmt.Errorf("find rules: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find rules: %w", err)
	}
	return out, nil
}

// FindRule returns one rule of an action. ENOTFOUND if none.
func (s *RuleService) FindRule(ctx context.Context, code, id string) (*vigil.Rule, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	r, err := scanRule(s.db.readRow(ctx, s.find, tenantID, code, id))
	if err != nil {
		return nil, unclean(noRows("find rule", err, msgRuleNotFound))
	}
	return r, nil
}

// CreateRule validates and stores a new rule, filling in its ID (a UUIDv7
// when empty), tenant and timestamps.
func (s *RuleService) CreateRule(ctx context.Context, r *vigil.Rule) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	nr := *r
	nr.TenantID = tenantID
	if nr.ID == "" {
		nr.ID = newID()
	}
	var now int64
	err = s.db.write(ctx, func(tx *Tx) error {
		if err := s.checkConfig(tx, tenantID, nr.ActionCode); err != nil {
			return err
		}
		others, err := s.rulesLocked(tx, tenantID, nr.ActionCode)
		if err != nil {
			return err
		}
		if err := s.check(tx, &nr, others); err != nil {
			return err
		}
		return s.insertRule(tx, &nr, &now)
	})
	if err != nil {
		return unclean(err)
	}
	nr.CreatedAt, nr.UpdatedAt = fromMicros(now), fromMicros(now)
	*r = nr
	return nil
}

func (s *RuleService) insertRule(tx *Tx, r *vigil.Rule, now *int64) error {
	args, err := ruleArgs(r)
	if err != nil {
		return clean(err)
	}
	*now = micros(tx.now)
	tx.changedConfig()
	full := append([]any{r.TenantID, r.ActionCode, r.ID}, args...)
	full = append(full, *now, *now)
	_, err = tx.exec(s.insert, full...)
	return s.mapWriteErr("insert rule", err, "A rule with this ruleId already exists.")
}

// mapWriteErr wraps a failed insert or update of a rule, mapping a unique
// violation to ECONFLICT with conflict. The priority is checked before every
// write with the action configuration locked, so a violation is in practice
// the rule ID's (a rule of another action with the same ruleId).
func (s *RuleService) mapWriteErr(op string, err error, conflict string) error {
	if err != nil && s.db.dialect.isUniqueViolation(err) {
		return vigil.Errorf(vigil.ECONFLICT, "%s", conflict)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// UpdateRule reads a rule, lets fn change it, validates the action's
// resulting rule set and stores it, in one transaction.
func (s *RuleService) UpdateRule(ctx context.Context, code, id string, fn func(*vigil.Rule) error) (*vigil.Rule, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	var out *vigil.Rule
	err = s.db.write(ctx, func(tx *Tx) error {
		out = nil
		if err := s.checkConfig(tx, tenantID, code); err != nil {
			return err
		}
		all, err := s.rulesLocked(tx, tenantID, code)
		if err != nil {
			return err
		}
		var r *vigil.Rule
		for _, o := range all {
			if o.ID == id {
				cp := *o
				r = &cp
			}
		}
		if r == nil {
			return clean(vigil.Errorf(vigil.ENOTFOUND, msgRuleNotFound))
		}
		if err := fn(r); err != nil {
			return clean(err)
		}
		r.TenantID, r.ActionCode, r.ID = tenantID, code, id
		if err := s.check(tx, r, all); err != nil {
			return err
		}
		if err := s.updateRule(tx, r); err != nil {
			return err
		}
		out = r
		return nil
	})
	if err != nil {
		return nil, unclean(err)
	}
	return out, nil
}

func (s *RuleService) updateRule(tx *Tx, r *vigil.Rule) error {
	args, err := ruleArgs(r)
	if err != nil {
		return clean(err)
	}
	now := micros(tx.now)
	tx.changedConfig()
	args = append(args, now, r.TenantID, r.ActionCode, r.ID)
	if _, err := tx.exec(s.update, args...); err != nil {
		return s.mapWriteErr("update rule", err, "Another rule of this action has this priority.")
	}
	r.UpdatedAt = fromMicros(now)
	return nil
}

// PutRule creates r or replaces every configurable field of the stored
// rule with r.ID, after validating the action's resulting rule set. It
// reports whether anything changed. ECONFLICT if r.ID belongs to a rule of
// another action.
func (s *RuleService) PutRule(ctx context.Context, r *vigil.Rule) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	if r.ID == "" {
		return false, vigil.Errorf(vigil.EINVALID, "rules[0].ruleId: ruleId is required")
	}
	nr := *r
	nr.TenantID = tenantID
	changed := false
	err = s.db.write(ctx, func(tx *Tx) error {
		changed = false
		if err := s.checkConfig(tx, tenantID, nr.ActionCode); err != nil {
			return err
		}
		all, err := s.rulesLocked(tx, tenantID, nr.ActionCode)
		if err != nil {
			return err
		}
		var old *vigil.Rule
		for _, o := range all {
			if o.ID == nr.ID {
				old = o
			}
		}
		if old != nil && sameRule(old, &nr) {
			return nil
		}
		if err := s.check(tx, &nr, all); err != nil {
			return err
		}
		changed = true
		if old == nil {
			var now int64
			return s.insertRule(tx, &nr, &now)
		}
		return s.updateRule(tx, &nr)
	})
	if err != nil {
		return false, unclean(err)
	}
	return changed, nil
}

// sameRule reports whether a and b have the same configurable fields.
func sameRule(a, b *vigil.Rule) bool {
	aa, err1 := ruleArgs(a)
	bb, err2 := ruleArgs(b)
	if err1 != nil || err2 != nil {
		return false
	}
	for i := range aa {
		if aa[i] != bb[i] {
			return false
		}
	}
	return true
}

// DeleteRule removes a rule. ENOTFOUND if none.
func (s *RuleService) DeleteRule(ctx context.Context, code, id string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	err = s.db.write(ctx, func(tx *Tx) error {
		tx.changedConfig()
		res, err := tx.exec(s.del, tenantID, code, id)
		if err != nil {
			return fmt.Errorf("delete rule: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete rule: %w", err)
		} else if n == 0 {
			return clean(vigil.Errorf(vigil.ENOTFOUND, msgRuleNotFound))
		}
		return nil
	})
	return unclean(err)
}
