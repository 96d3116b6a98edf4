package vigil

import (
	"context"
	"time"
)

// Simulation bounds.
const (
	DefaultSimulationWindow  = 7 * 24 * time.Hour
	DefaultSimulationLimit   = 10000
	MaxSimulationLimit       = 100000
	DefaultSimulationSamples = 5
	MaxSimulationSamples     = 50
)

// SimulationInput asks how a draft rule set would have decided an action's
// stored actions.
type SimulationInput struct {
	ActionCode string
	// Rules is the draft rule set that replaces the action's rules. When
	// nil, the action's current rules are used, with Rule applied.
	Rules []*Rule
	// Rule, when not nil, replaces the rule with its ID in the rule set
	// (or is added to it when no rule has that ID).
	Rule *Rule
	// RemoveRuleIDs are rules left out of the rule set.
	RemoveRuleIDs []string
	// From and To bound the actions' creation times; zero From means To
	// minus DefaultSimulationWindow, zero To means now.
	From, To time.Time
	// Limit is the most actions replayed, newest first; 0 means
	// DefaultSimulationLimit. At most MaxSimulationLimit.
	Limit int
	// Samples is the most sample actions per transition; 0 means
	// DefaultSimulationSamples. At most MaxSimulationSamples.
	Samples int
}

// SimulationResult is what replaying a draft rule set over stored actions
// found. Nothing is changed by a simulation.
type SimulationResult struct {
	ActionCode string
	From, To   time.Time
	// Evaluated is the number of actions replayed; Truncated is true when
	// the window held more than the limit (the newest were replayed) or
	// the time budget ran out.
	Evaluated int
	Truncated bool
	// Changed is the number of actions whose outcome would differ.
	Changed int
	// Before counts the stored outcomes, After the draft's, by outcome.
	Before, After map[Outcome]int
	// Transitions are the changes, largest first.
	Transitions []SimulationTransition
	// ShadowMatches counts, per rule ID, the replayed actions on which a
	// shadow rule of the draft would have matched.
	ShadowMatches map[string]int
	// MissingDataPoints counts, per data point the draft reads, the
	// actions on which it could be neither read from what was stored at
	// track time nor recomputed from the stored request (history data
	// points a rule did not read then). Var treats them as null.
	MissingDataPoints map[string]int
	// RuleErrors counts the actions on which a draft rule failed to
	// evaluate (decided by the fail-safe rules).
	RuleErrors int
}

// SimulationTransition is one kind of outcome change.
type SimulationTransition struct {
	From, To Outcome
	Count    int
	Samples  []SimulationSample
}

// SimulationSample is one action whose outcome would change.
type SimulationSample struct {
	UserID         string
	IdempotencyKey string
	CreatedAt      time.Time
	// RuleID is the draft rule that would decide ("" for the default).
	RuleID string
	// StoredRuleID is the rule that decided when it was tracked.
	StoredRuleID string
}

// RuleSimulator replays draft rules over stored actions of the tenant in
// the context.
type RuleSimulator interface {
	// SimulateRules reports how in's draft rules would have decided the
	// action's stored actions. EINVALID when the draft does not validate
	// (the error names the rule and field), ENOTFOUND when the action has
	// no configuration.
	SimulateRules(ctx context.Context, in *SimulationInput) (*SimulationResult, error)
}

// ActionScanner reads stored actions for replay.
type ActionScanner interface {
	// ScanActions calls fn with each action of the tenant in the context
	// with the action code, created in [from, to], newest first, at most
	// limit of them, and stops at fn's first error, which it returns.
	ScanActions(ctx context.Context, code string, from, to time.Time, limit int, fn func(*Action) error) error
}
