package vigil

import "context"

// TrackInput is a request to track an action: the user did something that
// may need a challenge.
type TrackInput struct {
	UserID         string
	ActionCode     string
	IdempotencyKey string // "": Vigil generates one
	Context        ActionContext
}

// TrackResult is the decision for a tracked action.
type TrackResult struct {
	Action   *Action
	Token    string // the signed challenge token bound to the action
	URL      string // the hosted challenge page for this action
	Replayed bool   // true when an idempotent replay returned a stored action
}

// ValidateInput asks whether a challenge token proves a completed challenge.
// UserID and ActionCode, when set, must match the token's.
type ValidateInput struct {
	Token      string
	UserID     string
	ActionCode string
}

// ValidateResult reports the state of the action a token refers to. Action
// is nil when the token is not a valid token of this tenant. IsValid is true
// only the first time a CHALLENGE_SUCCEEDED action is validated.
type ValidateResult struct {
	IsValid bool
	// Action is the action the token names; only its identity and state
	// when the store took the ActionStateFinder path.
	Action *Action
}

// ActionTracker is the risk pipeline: it decides tracked actions and
// validates their tokens for the tenant in the context.
type ActionTracker interface {
	// Track evaluates and stores an action. EINVALID for malformed input,
	// EUNPROCESSABLE when an idempotency key is reused with another payload.
	Track(ctx context.Context, in *TrackInput) (*TrackResult, error)

	// Validate checks a token. A malformed, tampered, expired or foreign
	// token is a result with IsValid false and no error.
	Validate(ctx context.Context, in *ValidateInput) (*ValidateResult, error)
}

// Cipher encrypts secrets at rest (authenticator seeds, signing keys). The
// additional data binds a ciphertext to the place it is stored, so that a
// ciphertext copied to another row does not decrypt.
type Cipher interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(ciphertext, additionalData []byte) ([]byte, error)
}
