package vigil

import (
	"context"
	"encoding/json"
	"time"
)

// MaxRulePriority is the largest rule priority; 0 is evaluated first.
const MaxRulePriority = 99

// Rule is a condition on a tracked action's context that, when it holds,
// overrides the action configuration's default outcome and verification
// methods. Conditions are a JSONLogic object; an empty condition always
// holds.
type Rule struct {
	TenantID    string
	ActionCode  string
	ID          string
	Name        string
	Description string
	IsActive    bool // inactive rules are not evaluated at all
	// IsShadow marks a rule under observation: it is evaluated and recorded
	// as "would have matched", but never decides the outcome.
	IsShadow                  bool
	Priority                  int // 0..MaxRulePriority, unique per action; lower is evaluated first and wins
	Type                      Outcome
	VerificationMethods       []VerificationMethod // nil: the action configuration's
	DefaultVerificationMethod VerificationMethod
	PromptToEnrollMethods     []VerificationMethod
	Conditions                json.RawMessage // JSONLogic, stored as given; nil or {}: always holds
	CreatedAt                 time.Time
	UpdatedAt                 time.Time
}

// RuleValidator checks the whole rule set an action would have after a save
// (the rule being saved first, then the others by priority). listExists
// reports whether the tenant has a value list with an alias, for conditions
// that name one ({"var":"valueLists.<alias>"}). It returns a client-safe
// error (code EINVALID) naming the offending rule and field. The store
// calls it inside the saving transaction, so that what is stored is exactly
// what was validated.
type RuleValidator func(rules []*Rule, listExists func(alias string) bool) error

// RuleService manages the rules of the tenant in the context. Every method
// returns ENOTFOUND when the action configuration does not exist: rules
// belong to one, and are deleted with it.
type RuleService interface {
	// FindRules returns an action's rules ordered by priority.
	FindRules(ctx context.Context, actionCode string) ([]*Rule, error)

	// FindRule returns one rule of an action. ENOTFOUND if none.
	FindRule(ctx context.Context, actionCode, id string) (*Rule, error)

	// CreateRule validates and stores a new rule for r.ActionCode, filling
	// in its ID (when empty), tenant and timestamps. EINVALID if the
	// resulting rule set does not validate (a priority already used
	// included); ECONFLICT if the ID is taken.
	CreateRule(ctx context.Context, r *Rule) error

	// UpdateRule reads a rule, lets fn change it, validates the resulting
	// rule set and stores it, all in one transaction, and returns the stored
	// rule. fn must not change the ID or action code; it may run more than
	// once. An error from fn is returned as is. ENOTFOUND if none.
	UpdateRule(ctx context.Context, actionCode, id string, fn func(*Rule) error) (*Rule, error)

	// PutRule creates r, or replaces every configurable field of the
	// stored rule with r.ID (which must be set and belong to r.ActionCode)
	// after validating the resulting rule set. It reports whether anything
	// changed.
	PutRule(ctx context.Context, r *Rule) (bool, error)

	// DeleteRule removes a rule. ENOTFOUND if none.
	DeleteRule(ctx context.Context, actionCode, id string) error
}
