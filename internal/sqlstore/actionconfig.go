package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

var _ vigil.ActionConfigService = (*ActionConfigService)(nil)

// ActionConfigService implements vigil.ActionConfigService for the tenant in
// the context.
type ActionConfigService struct {
	db *DB

	find, findAll, insert, insertIfAbsent, update, del string
	findForUpdate, replace                             string
}

const actionConfigCols = `tenant_id, action_code, default_outcome, verification_methods, prompt_to_enroll_methods,
	default_verification_method, messaging_templates, verification_webhook_url, last_action_created_at,
	created_at, updated_at`

const insertActionConfigSQL = `INSERT INTO action_configs (` + actionConfigCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// NewActionConfigService returns an ActionConfigService backed by db.
func NewActionConfigService(db *DB) *ActionConfigService {
	r := db.rebind
	return &ActionConfigService{
		db:             db,
		find:           r(`SELECT ` + actionConfigCols + ` FROM action_configs WHERE tenant_id = ? AND action_code = ?`),
		findAll:        r(`SELECT ` + actionConfigCols + ` FROM action_configs WHERE tenant_id = ? ORDER BY action_code`),
		insert:         r(insertActionConfigSQL),
		insertIfAbsent: r(insertActionConfigSQL + ` ON CONFLICT (tenant_id, action_code) DO NOTHING`),
		update: r(`UPDATE action_configs SET default_outcome = ?, verification_methods = ?,
			prompt_to_enroll_methods = ?, default_verification_method = ?, messaging_templates = ?,
			verification_webhook_url = ?, updated_at = ?
			WHERE tenant_id = ? AND action_code = ? AND (
				default_outcome IS DISTINCT FROM ? OR verification_methods IS DISTINCT FROM ?
				OR prompt_to_enroll_methods IS DISTINCT FROM ? OR default_verification_method IS DISTINCT FROM ?
				OR messaging_templates IS DISTINCT FROM ? OR verification_webhook_url IS DISTINCT FROM ?)`),
		del: r(`DELETE FROM action_configs WHERE tenant_id = ? AND action_code = ?`),
		findForUpdate: r(`SELECT ` + actionConfigCols + ` FROM action_configs WHERE tenant_id = ? AND action_code = ?` +
			db.forUpdate()),
		replace: r(`UPDATE action_configs SET default_outcome = ?, verification_methods = ?,
			prompt_to_enroll_methods = ?, default_verification_method = ?, messaging_templates = ?,
			verification_webhook_url = ?, updated_at = ?
			WHERE tenant_id = ? AND action_code = ?`),
	}
}

// forUpdate is the suffix that locks the rows a read-modify-write reads:
// PostgreSQL may run several write transactions at once; SQLite has one
// writer, so it needs none.
func (db *DB) forUpdate() string {
	if db.dialect.name == "postgres" {
		return " FOR UPDATE"
	}
	return ""
}

func scanActionConfig(s rowScanner) (*vigil.ActionConfig, error) {
	var c vigil.ActionConfig
	var outcome, defMethod string
	var methods, prompt, templates sql.NullString
	var last sql.NullInt64
	var created, updated int64
	if err := s.Scan(&c.TenantID, &c.ActionCode, &outcome, &methods, &prompt, &defMethod, &templates,
		&c.VerificationWebhookURL, &last, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	c.DefaultOutcome = vigil.Outcome(outcome)
	c.DefaultVerificationMethod = vigil.VerificationMethod(defMethod)
	if c.VerificationMethods, err = decodeMethods(methods); err != nil {
		return nil, err
	}
	if c.PromptToEnrollMethods, err = decodeMethods(prompt); err != nil {
		return nil, err
	}
	if templates.Valid {
		c.MessagingTemplates = json.RawMessage(templates.String)
	}
	c.LastActionCreatedAt = fromNullMicros(last)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &c, nil
}

// actionConfigRow is an ActionConfig's configurable fields encoded for SQL.
type actionConfigRow struct {
	outcome, defMethod, webhook string
	methods, prompt, templates  any // string or nil
}

func encodeActionConfig(c *vigil.ActionConfig) (*actionConfigRow, error) {
	if !vigil.ValidActionCode(c.ActionCode) {
		return nil, vigil.Errorf(vigil.EINVALID, "Invalid action code.")
	}
	if !c.DefaultOutcome.Valid() {
		return nil, vigil.Errorf(vigil.EINVALID, "Invalid default outcome.")
	}
	r := &actionConfigRow{
		outcome:   string(c.DefaultOutcome),
		defMethod: string(c.DefaultVerificationMethod),
		webhook:   c.VerificationWebhookURL,
		methods:   encodeMethods(c.VerificationMethods),
		prompt:    encodeMethods(c.PromptToEnrollMethods),
	}
	if c.MessagingTemplates != nil {
		if !json.Valid(c.MessagingTemplates) {
			return nil, vigil.Errorf(vigil.EINVALID, "Messaging templates are not valid JSON.")
		}
		r.templates = string(c.MessagingTemplates)
	}
	return r, nil
}

// insertArgs are the arguments of insertActionConfigSQL.
func (r *actionConfigRow) insertArgs(tenantID, code string, last any, now int64) []any {
	return []any{tenantID, code, r.outcome, r.methods, r.prompt, r.defMethod, r.templates, r.webhook, last, now, now}
}

// FindActionConfig returns one configuration. ENOTFOUND if none.
func (s *ActionConfigService) FindActionConfig(ctx context.Context, code string) (*vigil.ActionConfig, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := scanActionConfig(s.db.readRow(ctx, s.find, tenantID, code))
	if err != nil {
		return nil, unclean(noRows("find action config", err, "Action configuration not found."))
	}
	return c, nil
}

// ActionConfigVersion returns a number that changes after every write to an
// action configuration made through this process's DB, other than the
// advance of its last-action time. A cache of configurations may keep an
// entry while the version it was loaded under is current; writes by other
// processes do not change it.
func (s *ActionConfigService) ActionConfigVersion() uint64 { return s.db.configVersion.Load() }

// FindActionConfigs returns every configuration ordered by action code.
func (s *ActionConfigService) FindActionConfigs(ctx context.Context) ([]*vigil.ActionConfig, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.findAll, tenantID)
	if err != nil {
		return nil, fmt.Errorf("find action configs: %w", err)
	}
	defer rows.Close()
	cs := []*vigil.ActionConfig{}
	for rows.Next() {
		c, err := scanActionConfig(rows)
		if err != nil {
			return nil, fmt.Errorf("find action configs: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find action configs: %w", err)
	}
	return cs, nil
}

// CreateActionConfig stores a new configuration and fills in its tenant
// and timestamps. ECONFLICT if one exists; EINVALID for a malformed code,
// outcome or messaging templates.
func (s *ActionConfigService) CreateActionConfig(ctx context.Context, c *vigil.ActionConfig) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	row, err := encodeActionConfig(c)
	if err != nil {
		return err
	}
	code := c.ActionCode
	var now int64
	err = s.db.write(ctx, func(tx *Tx) error {
		now = micros(tx.now)
		tx.changedConfig()
		_, err := tx.exec(s.insert, row.insertArgs(tenantID, code, nil, now)...)
		return s.db.mapErr("insert action config", err, "", "An action configuration with this code already exists.")
	})
	if err != nil {
		return err
	}
	c.TenantID = tenantID
	c.CreatedAt, c.UpdatedAt, c.LastActionCreatedAt = fromMicros(now), fromMicros(now), fromNullMicros(sql.NullInt64{})
	return nil
}

// UpsertActionConfig creates c or replaces every configurable field of the
// stored one with c's, keeping its creation and last-action times (its
// update time changes only when a field does). It reports whether anything
// changed.
func (s *ActionConfigService) UpsertActionConfig(ctx context.Context, c *vigil.ActionConfig) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	row, err := encodeActionConfig(c)
	if err != nil {
		return false, err
	}
	code := c.ActionCode
	changed := false
	err = s.db.write(ctx, func(tx *Tx) error {
		changed = false
		now := micros(tx.now)
		tx.changedConfig()
		res, err := tx.exec(s.insertIfAbsent, row.insertArgs(tenantID, code, nil, now)...)
		if err != nil {
			return fmt.Errorf("insert action config: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("insert action config: %w", err)
		} else if n == 1 {
			changed = true
			return nil
		}
		res, err = tx.exec(s.update, row.outcome, row.methods, row.prompt, row.defMethod, row.templates, row.webhook, now,
			tenantID, code, row.outcome, row.methods, row.prompt, row.defMethod, row.templates, row.webhook)
		if err != nil {
			return fmt.Errorf("update action config: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("update action config: %w", err)
		}
		changed = n == 1
		return nil
	})
	if err != nil {
		return false, err
	}
	c.TenantID = tenantID
	return changed, nil
}

// UpdateActionConfig reads a configuration, lets fn change it and stores
// the result in one transaction (the row is locked on PostgreSQL), and
// returns the stored configuration. ENOTFOUND if none; fn's error as is;
// EINVALID if the result is malformed.
func (s *ActionConfigService) UpdateActionConfig(ctx context.Context, code string, fn func(*vigil.ActionConfig) error) (*vigil.ActionConfig, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	var out *vigil.ActionConfig
	err = s.db.write(ctx, func(tx *Tx) error {
		out = nil
		c, err := scanActionConfig(tx.queryRow(s.findForUpdate, tenantID, code))
		if err != nil {
			return noRows("find action config", err, "Action configuration not found.")
		}
		if err := fn(c); err != nil {
			return clean(err)
		}
		c.TenantID, c.ActionCode = tenantID, code
		row, err := encodeActionConfig(c)
		if err != nil {
			return clean(err)
		}
		now := tx.now
		tx.changedConfig()
		if _, err := tx.exec(s.replace, row.outcome, row.methods, row.prompt, row.defMethod, row.templates, row.webhook,
			micros(now), tenantID, code); err != nil {
			return fmt.Errorf("update action config: %w", err)
		}
		c.UpdatedAt = fromMicros(micros(now))
		out = c
		return nil
	})
	if err != nil {
		return nil, unclean(err)
	}
	return out, nil
}

// DeleteActionConfig removes a configuration and, through the foreign key,
// its rules. ENOTFOUND if none.
func (s *ActionConfigService) DeleteActionConfig(ctx context.Context, code string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	return s.db.write(ctx, func(tx *Tx) error {
		tx.changedConfig()
		res, err := tx.exec(s.del, tenantID, code)
		if err != nil {
			return fmt.Errorf("delete action config: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete action config: %w", err)
		} else if n == 0 {
			return clean(vigil.Errorf(vigil.ENOTFOUND, "Action configuration not found."))
		}
		return nil
	})
}

// encodeMethods encodes a method list as a JSON array, nil as NULL.
func encodeMethods(ms []vigil.VerificationMethod) any {
	if ms == nil {
		return nil
	}
	return string(jsonlogic.AppendStrings(make([]byte, 0, 16*len(ms)+2), ms)) // as json.Marshal(ms)
}

func decodeMethods(s sql.NullString) ([]vigil.VerificationMethod, error) {
	if !s.Valid {
		return nil, nil
	}
	var ms []vigil.VerificationMethod
	if err := json.Unmarshal([]byte(s.String), &ms); err != nil {
		return nil, fmt.Errorf("decode methods: %w", err)
	}
	if ms == nil {
		ms = []vigil.VerificationMethod{}
	}
	return ms, nil
}
