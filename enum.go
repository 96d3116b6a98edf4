package vigil

// ActionState is the state of a tracked action (Authsignal UserActionState).
type ActionState string

// Action states.
const (
	StateAllow              ActionState = "ALLOW"
	StateBlock              ActionState = "BLOCK"
	StateChallengeRequired  ActionState = "CHALLENGE_REQUIRED"
	StateChallengeSucceeded ActionState = "CHALLENGE_SUCCEEDED"
	StateChallengeFailed    ActionState = "CHALLENGE_FAILED"
	StateReviewRequired     ActionState = "REVIEW_REQUIRED"
	StateReviewSucceeded    ActionState = "REVIEW_SUCCEEDED"
	StateReviewFailed       ActionState = "REVIEW_FAILED"
)

// Valid reports whether s is one of the defined action states.
func (s ActionState) Valid() bool {
	switch s {
	case StateAllow, StateBlock, StateChallengeRequired, StateChallengeSucceeded,
		StateChallengeFailed, StateReviewRequired, StateReviewSucceeded, StateReviewFailed:
		return true
	}
	return false
}

// Outcome is what the rules (or an action's default) decide for an action.
type Outcome string

// Outcomes.
const (
	OutcomeAllow     Outcome = "ALLOW"
	OutcomeChallenge Outcome = "CHALLENGE"
	OutcomeReview    Outcome = "REVIEW"
	OutcomeBlock     Outcome = "BLOCK"
)

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case OutcomeAllow, OutcomeChallenge, OutcomeReview, OutcomeBlock:
		return true
	}
	return false
}

// State returns the initial action state that outcome o leads to.
func (o Outcome) State() ActionState {
	switch o {
	case OutcomeChallenge:
		return StateChallengeRequired
	case OutcomeReview:
		return StateReviewRequired
	case OutcomeBlock:
		return StateBlock
	default:
		return StateAllow
	}
}

// VerificationMethod is a way a user proves who they are.
type VerificationMethod string

// Verification methods. The set is the one the official Node SDK knows;
// Vigil implements a subset of them as challenges (see Implemented).
const (
	MethodSMS              VerificationMethod = "SMS"
	MethodEmailOTP         VerificationMethod = "EMAIL_OTP"
	MethodEmailMagicLink   VerificationMethod = "EMAIL_MAGIC_LINK"
	MethodAuthenticatorApp VerificationMethod = "AUTHENTICATOR_APP"
	MethodPasskey          VerificationMethod = "PASSKEY"
	MethodSecurityKey      VerificationMethod = "SECURITY_KEY"
	MethodPush             VerificationMethod = "PUSH"
	MethodVeriff           VerificationMethod = "VERIFF"
	MethodIProov           VerificationMethod = "IPROOV"
	MethodIDVerse          VerificationMethod = "IDVERSE"
	MethodPalmBiometricsRR VerificationMethod = "PALM_BIOMETRICS_RR"
	MethodRecoveryCode     VerificationMethod = "RECOVERY_CODE"
	MethodDevice           VerificationMethod = "DEVICE"
	MethodWhatsApp         VerificationMethod = "WHATSAPP"
)

// Valid reports whether m is a verification method known to the Authsignal
// wire protocol.
func (m VerificationMethod) Valid() bool {
	switch m {
	case MethodSMS, MethodEmailOTP, MethodEmailMagicLink, MethodAuthenticatorApp,
		MethodPasskey, MethodSecurityKey, MethodPush, MethodVeriff, MethodIProov,
		MethodIDVerse, MethodPalmBiometricsRR, MethodRecoveryCode, MethodDevice, MethodWhatsApp:
		return true
	}
	return false
}

// Implemented reports whether Vigil can run a challenge with method m.
func (m VerificationMethod) Implemented() bool {
	switch m {
	case MethodSMS, MethodEmailOTP, MethodEmailMagicLink, MethodAuthenticatorApp,
		MethodPasskey, MethodSecurityKey, MethodRecoveryCode:
		return true
	}
	return false
}

// Scope is a permission carried by a client token (Authsignal AuthScope).
type Scope string

// Scopes.
const (
	ScopeReadAuthenticators   Scope = "read:authenticators"
	ScopeAddAuthenticators    Scope = "add:authenticators"
	ScopeRemoveAuthenticators Scope = "remove:authenticators"
	ScopeUpdateAuthenticators Scope = "update:authenticators"
)

// Valid reports whether s is a defined scope.
func (s Scope) Valid() bool {
	switch s {
	case ScopeReadAuthenticators, ScopeAddAuthenticators, ScopeRemoveAuthenticators, ScopeUpdateAuthenticators:
		return true
	}
	return false
}
