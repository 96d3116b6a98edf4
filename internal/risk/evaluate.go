package risk

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vigil-auth/vigil"
)

// Input is what an Evaluator may look at besides the action configuration.
type Input struct {
	Track          *vigil.TrackInput      // the validated track request; IdempotencyKey may still be ""
	Authenticators []*vigil.Authenticator // the user's authenticators, oldest first
	Now            time.Time
	TimeZone       *time.Location // the tenant's; nil is UTC
	// Fresh says that the track is decided again because the state its
	// first decision was made on had changed (vigil.ErrStaleState): the
	// state is to be read, not taken from a cache (vigil.RiskQuery.Fresh).
	Fresh bool
}

// Evaluation is what an Evaluator returns.
type Evaluation struct {
	Decision *vigil.Decision
	// Location is where the track's IP address is, if known; it is stored
	// with the action so that a successful challenge can record it.
	Location *vigil.GeoPoint
	// Authenticators are the user's authenticators as an EnrollmentReader
	// read them (Method and IsDefault at least); nil otherwise.
	Authenticators []*vigil.Authenticator
	// StateVersion is vigil.RiskState.Version of the state the decision
	// was made on; the action carries it to CreateAction.
	StateVersion string
}

// EnrollmentReader is implemented by an Evaluator that reads the user's
// authenticators itself, in the same read as the rest of the user's
// history. The pipeline then does not read them: Input.Authenticators is
// nil and the evaluator returns them in Evaluation.Authenticators.
type EnrollmentReader interface {
	ReadsEnrollment() bool
}

// Evaluator decides an action. It runs after the configuration is loaded and
// before the decision is turned into an action state, and must not write
// anything: a replayed track does not evaluate again.
type Evaluator interface {
	// Evaluate returns the decision for in under cfg. The decision's Outcome
	// must be valid; a nil Output is stored as {}. cfg may be shared with
	// concurrent calls (the pipeline caches configurations): Evaluate must
	// not modify it or its slices, nor let the decision's slices be
	// modified.
	Evaluate(ctx context.Context, cfg *vigil.ActionConfig, in *Input) (*Evaluation, error)
}

// DefaultEvaluator decides every action by its configuration's default: no
// rules.
type DefaultEvaluator struct{}

var _ Evaluator = DefaultEvaluator{}

// Evaluate returns the configuration's default outcome and methods.
func (DefaultEvaluator) Evaluate(_ context.Context, cfg *vigil.ActionConfig, _ *Input) (*Evaluation, error) {
	return &Evaluation{Decision: &vigil.Decision{
		Outcome:                   cfg.DefaultOutcome,
		VerificationMethods:       cfg.VerificationMethods,
		DefaultVerificationMethod: cfg.DefaultVerificationMethod,
		PromptToEnrollMethods:     cfg.PromptToEnrollMethods,
		Output:                    json.RawMessage(`{}`),
	}}, nil
}
