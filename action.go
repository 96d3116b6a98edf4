package vigil

import (
	"context"
	"encoding/json"
	"time"
)

// ValidActionCode reports whether code matches ^[a-zA-Z0-9_-]{1,64}$.
func ValidActionCode(code string) bool {
	// Byte by byte rather than by regexp: every track and validation
	// checks its code, some more than once.
	if len(code) == 0 || len(code) > 64 {
		return false
	}
	for i := 0; i < len(code); i++ {
		switch c := code[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ActionConfig is the per-tenant configuration of one action code: what to
// do when no rule decides, and which verification methods are offered.
type ActionConfig struct {
	TenantID                  string
	ActionCode                string
	DefaultOutcome            Outcome
	VerificationMethods       []VerificationMethod // nil: every method the user has
	PromptToEnrollMethods     []VerificationMethod // nil: none
	DefaultVerificationMethod VerificationMethod   // "": none
	MessagingTemplates        json.RawMessage      // nil: unset; otherwise stored verbatim
	VerificationWebhookURL    string
	LastActionCreatedAt       time.Time // zero: never tracked
	CreatedAt                 time.Time
	UpdatedAt                 time.Time
}

// ActionConfigService manages the action configurations of the tenant in the
// context.
type ActionConfigService interface {
	// FindActionConfig returns one configuration. ENOTFOUND if none.
	FindActionConfig(ctx context.Context, code string) (*ActionConfig, error)

	// FindActionConfigs returns every configuration ordered by action code.
	FindActionConfigs(ctx context.Context) ([]*ActionConfig, error)

	// CreateActionConfig stores a new configuration. ECONFLICT if one exists.
	CreateActionConfig(ctx context.Context, c *ActionConfig) error

	// UpsertActionConfig creates c or replaces every configurable field of
	// the stored one with c's, keeping its timestamps. It reports whether
	// anything changed.
	UpsertActionConfig(ctx context.Context, c *ActionConfig) (bool, error)

	// UpdateActionConfig reads a configuration, lets fn change it and
	// stores the result, all in one transaction, and returns the stored
	// configuration. fn must not change the action code; it may run more
	// than once. An error from fn is returned as is. ENOTFOUND if none.
	UpdateActionConfig(ctx context.Context, code string, fn func(*ActionConfig) error) (*ActionConfig, error)

	// DeleteActionConfig removes a configuration and its rules. ENOTFOUND
	// if none.
	DeleteActionConfig(ctx context.Context, code string) error
}

// RuleSnapshot records a rule as it was when it matched an action.
type RuleSnapshot struct {
	ID          string
	Name        string
	Description string
}

// Decision is what evaluating an action's configuration and rules yields.
type Decision struct {
	Outcome                   Outcome
	RuleIDs                   []string // every matching rule, by priority
	PriorityRuleID            string   // the rule that decided; "" for the default
	Rules                     []RuleSnapshot
	VerificationMethods       []VerificationMethod // methods permitted; nil: any
	DefaultVerificationMethod VerificationMethod
	PromptToEnrollMethods     []VerificationMethod
	Output                    json.RawMessage // explainability data; a JSON object (stored unchecked), never nil once stored
}

// ActionContext is what the application told Vigil about the circumstances
// of an action when it tracked it.
type ActionContext struct {
	IPAddress          string
	UserAgent          string
	DeviceID           string
	Email              string
	PhoneNumber        string
	Username           string
	RedirectURL        string
	RedirectToSettings bool
	Scope              string // space-separated Scope values
	Locale             string
	CountryCode        string
	Custom             json.RawMessage // nil: none
}

// Action is one tracked occurrence of an action code for a user.
type Action struct {
	ID             string
	TenantID       string
	UserID         string
	Code           string
	IdempotencyKey string
	State          ActionState
	StateUpdatedAt time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time

	Decision Decision

	// AllowedMethods are the methods the user may complete a challenge with;
	// DefaultMethod the one offered first.
	AllowedMethods  []VerificationMethod
	DefaultMethod   VerificationMethod
	IsEnrolled      bool                 // whether the user had an authenticator when tracked
	EnrolledMethods []VerificationMethod // the user's methods when tracked

	Context ActionContext
	// Location is where the action's IP address is, when the GeoIP
	// database knows; a successful challenge records it as a verified
	// location.
	Location *GeoPoint

	VerificationMethod        VerificationMethod // the method that completed the challenge
	VerifiedByAuthenticatorID string

	RequestHash    []byte    // fingerprint of the track request, for idempotent replays
	TokenIssuedAt  time.Time // so a replay re-issues the identical token
	TokenExpiresAt time.Time
	ValidatedAt    time.Time // when validateChallenge consumed a successful challenge

	// StateVersion is RiskState.Version of the state the action was
	// decided on, for CreateAction's check ("": none). It is not stored.
	StateVersion string
	// KeyMade says that IdempotencyKey was made for this action by the
	// server (the request named none), so that no other action holds it
	// and CreateAction need not look for a replay. It is not stored.
	KeyMade bool
}

// ActionFilter selects a user's actions, newest first.
type ActionFilter struct {
	UserID   string
	Codes    []string    // empty: any
	State    ActionState // "": any
	FromDate time.Time   // zero: any
	Limit    int         // 0: the store's maximum
}

// ActionService manages the actions of the tenant in the context.
type ActionService interface {
	// CreateAction stores a newly tracked action and fills in its ID and
	// timestamps. If newConfig is not nil and the tenant has no configuration
	// for a.Code, newConfig is created in the same transaction; either way
	// the configuration's LastActionCreatedAt is advanced. The user is
	// created if absent.
	//
	// If an action with a.IdempotencyKey already exists, CreateAction stores
	// nothing and returns the existing action with created=false when its
	// RequestHash equals a.RequestHash, and EUNPROCESSABLE otherwise.
	CreateAction(ctx context.Context, a *Action, newConfig *ActionConfig) (existing *Action, created bool, err error)

	// FindAction returns one action. ENOTFOUND if none.
	FindAction(ctx context.Context, userID, code, idempotencyKey string) (*Action, error)

	// FindActionByKey returns the action with an idempotency key, whatever its
	// user and code. ENOTFOUND if none.
	FindActionByKey(ctx context.Context, idempotencyKey string) (*Action, error)

	// FindActions returns the actions matching f, newest first.
	FindActions(ctx context.Context, f ActionFilter) ([]*Action, error)

	// UpdateActionState sets an action's state (no transition rules: this is
	// the administrative override) and returns the action. ENOTFOUND if none.
	UpdateActionState(ctx context.Context, userID, code, idempotencyKey string, state ActionState) (*Action, error)

	// ConsumeValidation marks a CHALLENGE_SUCCEEDED action as validated if it
	// has not been yet, atomically, and returns the action and whether this
	// call consumed it. ENOTFOUND if the action does not exist.
	ConsumeValidation(ctx context.Context, userID, code, idempotencyKey string) (*Action, bool, error)
}

// ActionStateFinder is an optional fast path of an ActionService for
// validation, which reports an action's state but neither its decision nor
// its context, most of a stored action's bytes: FindActionState is
// FindAction filling only the action's TenantID, ID, UserID, Code,
// IdempotencyKey, State, StateUpdatedAt, CreatedAt, UpdatedAt,
// VerificationMethod and ValidatedAt.
type ActionStateFinder interface {
	FindActionState(ctx context.Context, userID, code, idempotencyKey string) (*Action, error)
}

// ReadValidationConsumer is an optional fast path of an ActionService for
// the common validation: the caller has just read a, CHALLENGE_SUCCEEDED and
// not yet validated, and wants it consumed. ConsumeReadValidation consumes
// it only if the stored action is still the one read (same state, not
// validated, same UpdatedAt), without reading the row back, and returns the
// time it recorded. false means this call consumed nothing, for whatever
// reason (a concurrent change, or a store that takes no fast path): the
// caller then asks ConsumeValidation for the outcome.
type ReadValidationConsumer interface {
	ConsumeReadValidation(ctx context.Context, a *Action) (validatedAt time.Time, consumed bool, err error)
}
