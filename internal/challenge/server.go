package challenge

import (
	"context"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/otp"
	"github.com/vigil-auth/vigil/internal/token"
)

// Server-side OTP (Server API §2.5): the application's backend sends a code
// to an email address or phone number (POST /v1/challenge), checks the
// user's answer (POST /v1/verify), and then assigns the verified challenge
// to a user (POST /v1/claim), which records a CHALLENGE_SUCCEEDED action
// and returns a token that validateChallenge accepts.

// StartInput is a server-initiated OTP challenge.
type StartInput struct {
	Method         vigil.VerificationMethod // EMAIL_OTP or SMS
	ActionCode     string
	Email          string
	PhoneNumber    string
	UserID         string // optional: the user the challenge is for
	IdempotencyKey string // optional: several challenges for one action
	Locale         string
}

// Started is a sent server-side challenge.
type Started struct {
	ChallengeID    string
	IdempotencyKey string
	ExpiresAt      time.Time
}

// Start sends a code for a server-side challenge.
func (s *Service) Start(ctx context.Context, in *StartInput) (*Started, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if !vigil.ValidActionCode(in.ActionCode) {
		return nil, vigil.Errorf(vigil.EINVALID, "action must match ^[a-zA-Z0-9_-]{1,64}$.")
	}
	dest := in.Email
	switch in.Method {
	case vigil.MethodEmailOTP:
	case vigil.MethodSMS:
		dest = in.PhoneNumber
	default:
		return nil, vigil.Errorf(vigil.EINVALID, "verificationMethod must be EMAIL_OTP or SMS.")
	}
	tenant, err := s.deps.Tenants.FindTenantByID(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	key := in.IdempotencyKey
	if key == "" {
		if key, err = newID(s.deps.Rand); err != nil {
			return nil, err
		}
	}
	sess := &Session{
		Claims: &token.Claims{TenantID: tenantID, UserID: in.UserID, ActionCode: in.ActionCode, IdempotencyKey: key},
		Action: &vigil.Action{Context: vigil.ActionContext{Locale: in.Locale}},
		Tenant: tenant,
	}
	c, err := s.send(ctx, sess, in.Method, vigil.PurposeEnroll, "", dest)
	if err != nil {
		return nil, err
	}
	return &Started{ChallengeID: c.ID, IdempotencyKey: key, ExpiresAt: c.ExpiresAt}, nil
}

// Checked is the answer to a server-side verification.
type Checked struct {
	IsVerified    bool
	FailureReason string
	Challenge     *vigil.Challenge
}

// Check verifies the code of a server-side challenge: on success the
// challenge is verified (and may then be claimed); a wrong code counts
// against its attempts.
func (s *Service) Check(ctx context.Context, challengeID, code string) (*Checked, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.deps.Challenges.FindChallenge(ctx, challengeID)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return &Checked{FailureReason: ReasonInvalid}, nil
	} else if err != nil {
		return nil, err
	}
	_, purpose, ok := kindOf(c.Method)
	if !ok || c.CodeHash == nil || c.State != vigil.ChallengePending || !s.deps.Now().Before(c.ExpiresAt) {
		reason := ReasonInvalid
		if c.State == vigil.ChallengeFailed {
			reason = ReasonMaxAttempts
		}
		return &Checked{FailureReason: reason, Challenge: c}, nil
	}
	norm, valid := otp.NormalizeCode(code, otp.TOTPDigits)
	match := false
	if valid {
		for _, h := range s.deps.Hashers {
			match = match || h.Equal(c.CodeHash, purpose, scope(tenantID, c.ID), norm)
		}
	}
	if !match {
		res, err := s.fail(ctx, c)
		if err != nil {
			return nil, err
		}
		return &Checked{FailureReason: res.FailureReason, Challenge: c}, nil
	}
	if ok, err := s.deps.Challenges.MarkVerified(ctx, c.ID); err != nil {
		return nil, err
	} else if !ok {
		return &Checked{FailureReason: ReasonInvalid, Challenge: c}, nil
	}
	c.State = vigil.ChallengeVerified
	return &Checked{IsVerified: true, Challenge: c}, nil
}

// Claimed is a claimed server-side challenge.
type Claimed struct {
	Token  string
	Method vigil.VerificationMethod
}

// Claim assigns a verified server-side challenge to a user: the action is
// recorded as CHALLENGE_SUCCEEDED with the email address or phone number
// as the user's authenticator, and a token that validateChallenge accepts
// is returned. skipVerification claims a challenge whose code was not
// checked (the application verified the user otherwise). A retried claim
// after a failure is safe: the action is created idempotently by the
// challenge's key.
func (s *Service) Claim(ctx context.Context, challengeID, userID string, skipVerification bool) (*Claimed, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if userID == "" {
		return nil, vigil.Errorf(vigil.EINVALID, "userId is required.")
	}
	c, err := s.deps.Challenges.FindChallenge(ctx, challengeID)
	if err != nil {
		return nil, err
	}
	claimable := c.State == vigil.ChallengeVerified || (skipVerification && c.State == vigil.ChallengePending)
	if c.CodeHash == nil || !claimable || !s.deps.Now().Before(c.ExpiresAt) ||
		(c.Action.UserID != "" && c.Action.UserID != userID) {
		return nil, vigil.Errorf(vigil.EINVALID, "The challenge cannot be claimed: it is not verified, expired, or for another user.")
	}
	tenant, err := s.deps.Tenants.FindTenantByID(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ref := vigil.ActionRef{UserID: userID, ActionCode: c.Action.ActionCode, IdempotencyKey: c.Action.IdempotencyKey}
	a := &vigil.Action{UserID: userID, Code: ref.ActionCode, IdempotencyKey: ref.IdempotencyKey,
		Decision:       vigil.Decision{Outcome: vigil.OutcomeChallenge, VerificationMethods: []vigil.VerificationMethod{c.Method}},
		AllowedMethods: []vigil.VerificationMethod{c.Method}, DefaultMethod: c.Method,
		RequestHash: []byte("server-side challenge " + c.ID)}
	if _, _, err := s.deps.Actions.CreateAction(ctx, a, &vigil.ActionConfig{ActionCode: ref.ActionCode,
		DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		return nil, err
	}
	na := &vigil.Authenticator{Method: c.Method}
	if c.Method == vigil.MethodSMS {
		na.PhoneNumber = c.Destination
	} else {
		na.Email = c.Destination
	}
	if _, _, err := s.deps.Challenges.CompleteChallenge(ctx, &vigil.Completion{ChallengeID: c.ID, Action: ref,
		Method: c.Method, NewAuthenticator: na}); err != nil {
		return nil, err
	}
	sess := &Session{Claims: &token.Claims{TenantID: tenantID, UserID: userID, ActionCode: ref.ActionCode,
		IdempotencyKey: ref.IdempotencyKey}, Tenant: tenant}
	tok, err := s.AccessToken(ctx, sess)
	if err != nil {
		return nil, err
	}
	return &Claimed{Token: tok, Method: c.Method}, nil
}

// Lookup returns a challenge by ID, or the newest live challenge of a user
// and action code (and method, unless m is ""). ENOTFOUND if none.
func (s *Service) Lookup(ctx context.Context, id, userID, actionCode string, m vigil.VerificationMethod) (*vigil.Challenge, error) {
	if id != "" {
		return s.deps.Challenges.FindChallenge(ctx, id)
	}
	return s.deps.Challenges.FindLiveChallenge(ctx, userID, actionCode, m)
}
