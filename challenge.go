package vigil

import (
	"context"
	"time"
)

// ChallengePurpose says whether a challenge proves an enrolled authenticator
// or enrolls a new one.
type ChallengePurpose string

// Challenge purposes.
const (
	PurposeVerify ChallengePurpose = "verify"
	PurposeEnroll ChallengePurpose = "enroll"
)

// ChallengeState is where a challenge is in its life.
type ChallengeState string

// Challenge states. A challenge is pending until it is completed (used),
// fails too often (failed) or a newer challenge of the same action and
// method replaces it (superseded). A magic link that was opened is
// verified until the SDK's polling completes it.
const (
	ChallengePending    ChallengeState = "pending"
	ChallengeVerified   ChallengeState = "verified"
	ChallengeUsed       ChallengeState = "used"
	ChallengeFailed     ChallengeState = "failed"
	ChallengeSuperseded ChallengeState = "superseded"
)

// DefaultChallengeTTL is how long a one-time code, magic link or WebAuthn
// ceremony stays usable.
const DefaultChallengeTTL = 10 * time.Minute

// DefaultMaxAttempts is the number of wrong codes after which a challenge
// fails (and its action moves to CHALLENGE_FAILED).
const DefaultMaxAttempts = 5

// ActionRef names one action.
type ActionRef struct {
	UserID         string
	ActionCode     string
	IdempotencyKey string
}

// Challenge is one attempt at proving a verification method for an action:
// a code sent by email or SMS, a magic link, a WebAuthn ceremony, or a TOTP
// enrollment awaiting its first code. Its secrets are stored hashed (codes,
// links) or sealed (TOTP seed).
type Challenge struct {
	ID       string
	TenantID string
	// Action is the action the challenge completes; UserID may be "" for a
	// usernameless passkey sign-in until the credential names the user.
	Action          ActionRef
	Method          VerificationMethod
	Purpose         ChallengePurpose
	AuthenticatorID string // PurposeVerify: the authenticator challenged, if one
	Destination     string // the email address or phone number a code or link went to
	CodeHash        []byte // HMAC of the one-time code
	LinkHash        []byte // HMAC of the magic link token
	Secret          []byte // PurposeEnroll of AUTHENTICATOR_APP: the new seed (sealed at rest)
	Session         []byte // WebAuthn ceremony state
	Attempts        int
	State           ChallengeState
	CreatedAt       time.Time
	ExpiresAt       time.Time
	VerifiedAt      time.Time
}

// SendLimit bounds how many challenges of a method may be created for one
// user, and for one destination, within a window.
type SendLimit struct {
	Max    int // 0: no limit
	Window time.Duration
}

// Completion is a successful verification to record, atomically: the
// challenge is used, the action moves to CHALLENGE_SUCCEEDED, the
// authenticator is created or marked verified, the device and IP address
// are recorded as verified.
type Completion struct {
	// ChallengeID is the challenge used; "" for a method without one (the
	// TOTP code of an enrolled app, a recovery code).
	ChallengeID string
	Action      ActionRef
	Method      VerificationMethod
	// NewAuthenticator is created, verified (an enrollment); otherwise
	// AuthenticatorID is the authenticator that verified.
	NewAuthenticator *Authenticator
	AuthenticatorID  string
	// TOTPStep, when positive, must be above the authenticator's last used
	// step, and becomes it: a TOTP code is accepted once.
	TOTPStep int64
	// SignCount, when not nil, is the WebAuthn credential's new counter.
	SignCount *uint32
	// RecoveryCodeHash, when not nil, is the recovery code used: it must be
	// unused, and is marked used.
	RecoveryCodeHash []byte
	// NewRecoveryCodes, when not nil, replace the user's recovery codes
	// (hashes).
	NewRecoveryCodes [][]byte
}

// ChallengeService stores the challenges of the tenant in the context.
type ChallengeService interface {
	// CreateChallenge stores c as the pending challenge of its action and
	// method, superseding any earlier pending one, and fills in its ID,
	// tenant and times. ETOOMANY when limit allows no more challenges of
	// c.Method for the user, or for c.Destination, in limit.Window.
	CreateChallenge(ctx context.Context, c *Challenge, limit SendLimit) error

	// FindChallenge returns one challenge. ENOTFOUND if none.
	FindChallenge(ctx context.Context, id string) (*Challenge, error)

	// FindPendingChallenge returns the newest pending (or, for a magic
	// link, verified) unexpired challenge of an action and method.
	// ENOTFOUND if none.
	FindPendingChallenge(ctx context.Context, action ActionRef, method VerificationMethod) (*Challenge, error)

	// FindChallengeByLink returns the challenge of a magic link. ENOTFOUND
	// if none.
	FindChallengeByLink(ctx context.Context, linkHash []byte) (*Challenge, error)

	// UpdateChallenge sets a pending challenge's user (when it had none)
	// and WebAuthn session. ENOTFOUND unless it is pending.
	UpdateChallenge(ctx context.Context, id, userID string, session []byte) error

	// MarkLinkVerified moves a pending magic-link challenge to verified.
	// It reports false if it was not pending and unexpired.
	MarkLinkVerified(ctx context.Context, id string) (bool, error)

	// MarkVerified moves a pending challenge to verified (a server-side
	// code checked before it is claimed). It reports false if it was not
	// pending and unexpired.
	MarkVerified(ctx context.Context, id string) (bool, error)

	// FindLiveChallenge returns the newest pending or verified unexpired
	// challenge of a user and action code with method m (any method when
	// m is ""), whatever its idempotency key. ENOTFOUND if none.
	FindLiveChallenge(ctx context.Context, userID, actionCode string, m VerificationMethod) (*Challenge, error)

	// FailChallenge counts a wrong answer to the challenge id of userID.
	// When the count reaches maxAttempts the challenge fails and its
	// action, if CHALLENGE_REQUIRED, moves to CHALLENGE_FAILED, in the same
	// transaction. It returns the attempts so far and whether the
	// challenge has failed (a challenge that is not pending, or not
	// userID's, counts as failed).
	FailChallenge(ctx context.Context, userID, id string, maxAttempts int) (attempts int, failed bool, err error)

	// CompleteChallenge records c in one transaction and returns the action
	// and the authenticator. EFORBIDDEN when the action is in a state no
	// challenge can complete (BLOCK, REVIEW_*, CHALLENGE_FAILED); EINVALID
	// (with a generic message) when the challenge is not pending, the TOTP
	// step or recovery code was used, or the action does not exist.
	CompleteChallenge(ctx context.Context, c *Completion) (*Action, *Authenticator, error)

	// FindCredential returns the passkey or security key with a WebAuthn
	// credential ID (base64url), whoever's it is. ENOTFOUND if none.
	FindCredential(ctx context.Context, credentialID string) (*Authenticator, error)

	// FindRecoveryCodes returns the hashes of the user's unused recovery
	// codes.
	FindRecoveryCodes(ctx context.Context, userID string) ([][]byte, error)

	// HasRecoveryCodes reports whether the user has unused recovery codes.
	HasRecoveryCodes(ctx context.Context, userID string) (bool, error)
}
