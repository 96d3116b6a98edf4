package vigil

import (
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
