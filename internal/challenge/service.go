package challenge

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/delivery"
	"github.com/vigil-auth/vigil/internal/otp"
	"github.com/vigil-auth/vigil/internal/token"
)

// Defaults of Config.
const (
	DefaultAccessTokenTTL = 10 * time.Minute
	RecoveryCodeCount     = 10
)

// Default send limits (issue 4): email 12 and SMS 6 per 10 minutes, per
// user and per destination.
var (
	DefaultEmailLimit = vigil.SendLimit{Max: 12, Window: 10 * time.Minute}
	DefaultSMSLimit   = vigil.SendLimit{Max: 6, Window: 10 * time.Minute}
)

// Failure reasons of a wrong code (contract R5).
const (
	ReasonInvalid     = "CODE_INVALID_OR_EXPIRED"
	ReasonMaxAttempts = "MAX_ATTEMPTS_EXCEEDED"
)

// Config holds the service's settings.
type Config struct {
	// PublicURL is Vigil's external base URL; magic links point at it.
	PublicURL      string
	AccessTokenTTL time.Duration // 0: DefaultAccessTokenTTL
	EmailLimit     vigil.SendLimit
	SMSLimit       vigil.SendLimit
	MaxAttempts    int // 0: vigil.DefaultMaxAttempts
}

// Deps are the services the challenge service uses. Logger, Now and Rand
// may be nil.
type Deps struct {
	Challenges     vigil.ChallengeService
	Actions        vigil.ActionService
	Authenticators vigil.AuthenticatorService
	Users          vigil.UserService
	Tenants        vigil.TenantService
	Tokens         *token.Issuer
	// Tracker tracks the action of a usernameless passkey sign-in, so that
	// its rules apply.
	Tracker vigil.ActionTracker
	// Hashers key code hashes: the first hashes, every one verifies (for
	// master key rotation).
	Hashers []*otp.Hasher
	Email   delivery.EmailSender
	SMS     delivery.SMSSender
	Logger  *slog.Logger
	Now     func() time.Time
	Rand    io.Reader
}

// Service runs challenges: it sends codes and links, verifies answers,
// enrolls authenticators and completes actions. It is safe for concurrent
// use.
type Service struct {
	cfg  Config
	deps Deps
	rps  rpCache
}

// New returns a Service.
func New(cfg Config, deps Deps) (*Service, error) {
	if len(deps.Hashers) == 0 {
		return nil, errors.New("challenge: no code hasher")
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if cfg.EmailLimit == (vigil.SendLimit{}) {
		cfg.EmailLimit = DefaultEmailLimit
	}
	if cfg.SMSLimit == (vigil.SendLimit{}) {
		cfg.SMSLimit = DefaultSMSLimit
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = vigil.DefaultMaxAttempts
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = rand.Reader
	}
	return &Service{cfg: cfg, deps: deps}, nil
}

// Session is an authenticated Client API caller: a verified track or access
// token and the action it names, in the token's tenant.
type Session struct {
	Claims *token.Claims
	Action *vigil.Action
	Tenant *vigil.Tenant
}

// sessionClaims are the claims of a session for an action tracked by the
// service itself.
func sessionClaims(tenantID string, a *vigil.Action) *token.Claims {
	return &token.Claims{TenantID: tenantID, UserID: a.UserID, ActionCode: a.Code, IdempotencyKey: a.IdempotencyKey,
		Username: a.Context.Username, Kind: token.KindChallenge}
}

// Ref returns the action the session is for.
func (s *Session) Ref() vigil.ActionRef {
	return vigil.ActionRef{UserID: s.Claims.UserID, ActionCode: s.Claims.ActionCode, IdempotencyKey: s.Claims.IdempotencyKey}
}

// HasScope reports whether the token carries scope.
func (s *Session) HasScope(scope vigil.Scope) bool {
	return slices.Contains(strings.Fields(s.Claims.Scope), string(scope))
}

// ErrExpiredToken is returned for an authentic token past its expiry; the
// Client API answers it with errorCode "expired_token".
var ErrExpiredToken = &vigil.Error{Code: vigil.EUNAUTHORIZED, Message: "The token has expired."}

// ErrInvalidToken is returned for any other unusable token.
var ErrInvalidToken = &vigil.Error{Code: vigil.EUNAUTHORIZED, Message: "The token is invalid."}

// Authenticate verifies a Bearer token and returns its session with the
// token's tenant in the returned context.
func (s *Service) Authenticate(ctx context.Context, bearer string) (context.Context, *Session, error) {
	tenantID, ok := token.UnverifiedTenant(bearer)
	if !ok {
		return ctx, nil, ErrInvalidToken
	}
	ctx = vigil.NewContextWithTenant(ctx, tenantID)
	claims, err := s.deps.Tokens.Verify(ctx, bearer)
	switch {
	case errors.Is(err, token.ErrExpired):
		return ctx, nil, ErrExpiredToken
	case vigil.ErrorCode(err) == vigil.EUNAUTHORIZED:
		s.deps.Logger.DebugContext(ctx, "client token rejected", "reason", err.Error())
		return ctx, nil, ErrInvalidToken
	case err != nil:
		return ctx, nil, err
	}
	tenant, err := s.deps.Tenants.FindTenantByID(ctx, tenantID)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return ctx, nil, ErrInvalidToken
	} else if err != nil {
		return ctx, nil, err
	}
	a, err := s.deps.Actions.FindAction(ctx, claims.UserID, claims.ActionCode, claims.IdempotencyKey)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return ctx, nil, ErrInvalidToken
	} else if err != nil {
		return ctx, nil, err
	}
	return ctx, &Session{Claims: claims, Action: a, Tenant: tenant}, nil
}

// errNotAllowed is the answer to a method or operation the session may not
// use.
func errNotAllowed(format string, args ...any) error {
	return vigil.Errorf(vigil.EFORBIDDEN, format, args...)
}

// checkLive refuses sessions whose action no challenge can complete.
func checkLive(sess *Session) error {
	switch sess.Action.State {
	case vigil.StateChallengeRequired, vigil.StateAllow, vigil.StateChallengeSucceeded:
		return nil
	}
	return errNotAllowed("This action cannot be completed with a challenge (state %s).", sess.Action.State)
}

// canEnroll reports whether the session may enroll a new authenticator of
// method m: a user without authenticators may enroll one of the action's
// allowed methods (trust on first use); an enrolled user needs the
// add:authenticators scope or a completed challenge (an access token, or
// the action already CHALLENGE_SUCCEEDED).
func (s *Service) canEnroll(ctx context.Context, sess *Session, m vigil.VerificationMethod) error {
	if err := checkLive(sess); err != nil {
		return err
	}
	if sess.HasScope(vigil.ScopeAddAuthenticators) || sess.Claims.Kind == token.KindAccess ||
		sess.Action.State == vigil.StateChallengeSucceeded {
		return nil
	}
	auths, err := s.deps.Authenticators.FindAuthenticators(ctx, sess.Claims.UserID)
	if err != nil {
		return err
	}
	if len(auths) > 0 {
		return errNotAllowed("Adding an authenticator needs a completed challenge or the add:authenticators scope.")
	}
	if !slices.Contains(sess.Action.AllowedMethods, m) {
		return errNotAllowed("%s is not allowed for this action.", m)
	}
	return nil
}

// canVerify checks that the session may verify with method m.
func canVerify(sess *Session, m vigil.VerificationMethod) error {
	if err := checkLive(sess); err != nil {
		return err
	}
	if sess.Claims.Kind == token.KindAccess || sess.Action.State == vigil.StateChallengeSucceeded {
		return nil // re-verifying after a completed challenge (settings)
	}
	if !slices.Contains(sess.Action.AllowedMethods, m) {
		return errNotAllowed("%s is not allowed for this action.", m)
	}
	return nil
}

// Result is the answer to a verification.
type Result struct {
	IsVerified    bool
	FailureReason string
	AccessToken   string
	Action        *vigil.Action
	Authenticator *vigil.Authenticator // the new one, after an enrollment
	RecoveryCodes []string             // shown once, after the first enrollment
}

// EnrollResult is the answer to starting an enrollment.
type EnrollResult struct {
	ChallengeID         string
	UserAuthenticatorID string
	// TOTP only.
	URI    string
	Secret string
}

// kindOf maps a code or link method to its delivery kind and hash purpose.
func kindOf(m vigil.VerificationMethod) (delivery.Kind, otp.Purpose, bool) {
	switch m {
	case vigil.MethodEmailOTP:
		return delivery.EmailOTP, otp.PurposeEmailOTP, true
	case vigil.MethodSMS:
		return delivery.SMSOTP, otp.PurposeSMS, true
	case vigil.MethodEmailMagicLink:
		return delivery.EmailMagicLink, otp.PurposeMagicLink, true
	}
	return 0, "", false
}

// scope binds a code hash to its tenant and challenge.
func scope(tenantID, challengeID string) string { return tenantID + "/" + challengeID }

// Enroll starts enrolling an email address or phone number (EMAIL_OTP,
// EMAIL_MAGIC_LINK, SMS): it sends a code or link to dest.
func (s *Service) Enroll(ctx context.Context, sess *Session, m vigil.VerificationMethod, dest string) (*EnrollResult, error) {
	if _, _, ok := kindOf(m); !ok {
		return nil, vigil.Errorf(vigil.EINVALID, "Unsupported verification method.")
	}
	if err := s.canEnroll(ctx, sess, m); err != nil {
		return nil, err
	}
	c, err := s.send(ctx, sess, m, vigil.PurposeEnroll, "", dest)
	if err != nil {
		return nil, err
	}
	return &EnrollResult{ChallengeID: c.ID, UserAuthenticatorID: c.ID}, nil
}

// Challenge sends a code or link to the user's enrolled authenticator of
// method m (authenticatorID, or the default one, or the first).
func (s *Service) Challenge(ctx context.Context, sess *Session, m vigil.VerificationMethod, authenticatorID string) (string, error) {
	if _, _, ok := kindOf(m); !ok {
		return "", vigil.Errorf(vigil.EINVALID, "Unsupported verification method.")
	}
	if err := canVerify(sess, m); err != nil {
		return "", err
	}
	auths, err := s.deps.Authenticators.FindAuthenticators(ctx, sess.Claims.UserID)
	if err != nil {
		return "", err
	}
	var target *vigil.Authenticator
	for _, a := range auths {
		if a.Method != m || (authenticatorID != "" && a.ID != authenticatorID) {
			continue
		}
		if target == nil || a.IsDefault {
			target = a
		}
	}
	if target == nil {
		return "", errNotAllowed("The user has no %s authenticator.", m)
	}
	dest := target.Email
	if m == vigil.MethodSMS {
		dest = target.PhoneNumber
	}
	c, err := s.send(ctx, sess, m, vigil.PurposeVerify, target.ID, dest)
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// send creates a challenge with a fresh code or link and delivers it. The
// challenge is stored first: a delivery failure is reported, and the user
// can ask again.
func (s *Service) send(ctx context.Context, sess *Session, m vigil.VerificationMethod, purpose vigil.ChallengePurpose, authID, dest string) (*vigil.Challenge, error) {
	kind, hashPurpose, _ := kindOf(m)
	dest = strings.TrimSpace(dest)
	if err := checkDestination(m, dest); err != nil {
		return nil, err
	}
	id, err := newID(s.deps.Rand)
	if err != nil {
		return nil, err
	}
	tenantID := sess.Tenant.ID
	c := &vigil.Challenge{ID: id, Action: sess.Ref(), Method: m, Purpose: purpose, AuthenticatorID: authID, Destination: dest}
	msg := &delivery.Message{Kind: kind, To: dest, Locale: sess.Action.Context.Locale, TenantName: sess.Tenant.Name,
		TenantID: tenantID, ActionCode: sess.Claims.ActionCode, UserID: sess.Claims.UserID,
		IdempotencyKey: sess.Claims.IdempotencyKey, ExpiresIn: vigil.DefaultChallengeTTL}
	if m == vigil.MethodEmailMagicLink {
		tok, err := otp.NewToken(s.deps.Rand)
		if err != nil {
			return nil, err
		}
		c.LinkHash = s.deps.Hashers[0].Sum(hashPurpose, tenantID, tok)
		msg.Link = s.cfg.PublicURL + "/magic-link/" + url.PathEscape(tenantID) + "/" + tok
	} else {
		code, err := otp.NewCode(s.deps.Rand, otp.TOTPDigits)
		if err != nil {
			return nil, err
		}
		c.CodeHash = s.deps.Hashers[0].Sum(hashPurpose, scope(tenantID, id), code)
		msg.Code = code
	}
	limit := s.cfg.EmailLimit
	if m == vigil.MethodSMS {
		limit = s.cfg.SMSLimit
	}
	if err := s.deps.Challenges.CreateChallenge(ctx, c, limit); err != nil {
		return nil, err
	}
	if m == vigil.MethodSMS {
		err = s.deps.SMS.SendSMS(ctx, msg)
	} else {
		err = s.deps.Email.SendEmail(ctx, msg)
	}
	if err != nil {
		s.deps.Logger.WarnContext(ctx, "delivery failed", "method", m, "challenge", c.ID, "error", err)
		return nil, err
	}
	return c, nil
}

// checkDestination validates an email address or E.164 phone number.
func checkDestination(m vigil.VerificationMethod, dest string) error {
	switch m {
	case vigil.MethodSMS:
		if len(dest) < 8 || len(dest) > 16 || dest[0] != '+' || strings.Trim(dest[1:], "0123456789") != "" {
			return vigil.Errorf(vigil.EINVALID, "phoneNumber must be an E.164 number such as +64211234567.")
		}
	default:
		at := strings.LastIndexByte(dest, '@')
		if len(dest) > 254 || at < 1 || at == len(dest)-1 || strings.ContainsAny(dest, " \r\n<>,;\"") {
			return vigil.Errorf(vigil.EINVALID, "email must be an email address.")
		}
	}
	return nil
}

// VerifyCode checks a code sent by email or SMS for the session's action.
// A wrong code is a Result with IsVerified false and a failure reason, not
// an error (contract R5); the fifth wrong code fails the challenge and the
// action.
func (s *Service) VerifyCode(ctx context.Context, sess *Session, m vigil.VerificationMethod, code string) (*Result, error) {
	_, hashPurpose, ok := kindOf(m)
	if !ok || m == vigil.MethodEmailMagicLink {
		return nil, vigil.Errorf(vigil.EINVALID, "Unsupported verification method.")
	}
	if err := checkLive(sess); err != nil {
		return nil, err
	}
	c, err := s.deps.Challenges.FindPendingChallenge(ctx, sess.Ref(), m)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return &Result{FailureReason: ReasonInvalid}, nil
	} else if err != nil {
		return nil, err
	}
	norm, valid := otp.NormalizeCode(code, otp.TOTPDigits)
	match := false
	if valid {
		for _, h := range s.deps.Hashers {
			match = match || h.Equal(c.CodeHash, hashPurpose, scope(sess.Tenant.ID, c.ID), norm)
		}
	}
	if !match {
		attempts, failed, err := s.deps.Challenges.FailChallenge(ctx, c.Action.UserID, c.ID, s.cfg.MaxAttempts)
		if err != nil {
			return nil, err
		}
		s.deps.Logger.InfoContext(ctx, "wrong code", "method", m, "challenge", c.ID, "attempts", attempts)
		if failed {
			return &Result{FailureReason: ReasonMaxAttempts}, nil
		}
		return &Result{FailureReason: ReasonInvalid}, nil
	}
	comp := &vigil.Completion{ChallengeID: c.ID, Action: sess.Ref(), Method: m}
	if c.Purpose == vigil.PurposeEnroll {
		na := &vigil.Authenticator{ID: c.ID, Method: m} // the ID Enroll reported
		if m == vigil.MethodSMS {
			na.PhoneNumber = c.Destination
		} else {
			na.Email = c.Destination
		}
		comp.NewAuthenticator = na
	} else {
		comp.AuthenticatorID = c.AuthenticatorID
	}
	return s.complete(ctx, sess, comp)
}

// complete records a successful verification and issues the access token.
// A first enrollment also generates the user's recovery codes, unless the
// tenant disabled them.
func (s *Service) complete(ctx context.Context, sess *Session, comp *vigil.Completion) (*Result, error) {
	var codes []string
	if comp.NewAuthenticator != nil && !sess.Tenant.Client.DisableRecoveryCodes {
		auths, err := s.deps.Authenticators.FindAuthenticators(ctx, sess.Claims.UserID)
		if err != nil {
			return nil, err
		}
		if len(auths) == 0 {
			comp.NewAuthenticator.IsDefault = true
			if codes, comp.NewRecoveryCodes, err = s.newRecoveryCodes(sess); err != nil {
				return nil, err
			}
		}
	}
	a, au, err := s.deps.Challenges.CompleteChallenge(ctx, comp)
	if vigil.ErrorCode(err) == vigil.EINVALID {
		s.deps.Logger.InfoContext(ctx, "verification not completed", "method", comp.Method, "reason", err.Error())
		return &Result{FailureReason: ReasonInvalid}, nil
	} else if err != nil {
		return nil, err
	}
	tok, err := s.AccessToken(ctx, sess)
	if err != nil {
		return nil, err
	}
	return &Result{IsVerified: true, AccessToken: tok, Action: a, Authenticator: au, RecoveryCodes: codes}, nil
}

// newRecoveryCodes returns fresh recovery codes and their hashes.
func (s *Service) newRecoveryCodes(sess *Session) ([]string, [][]byte, error) {
	codes, err := otp.NewRecoveryCodes(s.deps.Rand, RecoveryCodeCount)
	if err != nil {
		return nil, nil, err
	}
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		h, err := s.deps.Hashers[0].HashRecoveryCode(s.deps.Rand, recoveryScope(sess), c)
		if err != nil {
			return nil, nil, err
		}
		hashes[i] = []byte(h)
	}
	return codes, hashes, nil
}

func recoveryScope(sess *Session) string { return sess.Tenant.ID + "/" + sess.Claims.UserID }

// AccessToken issues the token a completed challenge returns: the same
// action, with the scopes to manage authenticators, valid for the access
// token lifetime.
func (s *Service) AccessToken(ctx context.Context, sess *Session) (string, error) {
	now := s.deps.Now().Truncate(time.Second)
	return s.deps.Tokens.Sign(ctx, &token.Claims{
		TenantID: sess.Tenant.ID, UserID: sess.Claims.UserID, ActionCode: sess.Claims.ActionCode,
		IdempotencyKey: sess.Claims.IdempotencyKey, Username: sess.Claims.Username,
		Scope: strings.Join([]string{string(vigil.ScopeReadAuthenticators), string(vigil.ScopeAddAuthenticators),
			string(vigil.ScopeUpdateAuthenticators), string(vigil.ScopeRemoveAuthenticators)}, " "),
		Kind: token.KindAccess, IssuedAt: now, ExpiresAt: now.Add(s.cfg.AccessTokenTTL),
	})
}

// EnrollTOTP starts enrolling an authenticator app: a new seed, held in a
// challenge until the first code proves it.
func (s *Service) EnrollTOTP(ctx context.Context, sess *Session) (*EnrollResult, error) {
	if err := s.canEnroll(ctx, sess, vigil.MethodAuthenticatorApp); err != nil {
		return nil, err
	}
	secret, err := otp.NewSecret(s.deps.Rand)
	if err != nil {
		return nil, err
	}
	id, err := newID(s.deps.Rand)
	if err != nil {
		return nil, err
	}
	c := &vigil.Challenge{ID: id, Action: sess.Ref(), Method: vigil.MethodAuthenticatorApp, Purpose: vigil.PurposeEnroll, Secret: secret}
	if err := s.deps.Challenges.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
		return nil, err
	}
	account := sess.Claims.Username
	if account == "" {
		account = sess.Claims.UserID
	}
	uri, err := otp.KeyURI(sess.Tenant.Name, account, secret)
	if err != nil {
		return nil, err
	}
	return &EnrollResult{ChallengeID: c.ID, UserAuthenticatorID: c.ID, URI: uri, Secret: otp.EncodeSecret(secret)}, nil
}

// VerifyTOTP checks an authenticator app code: against a pending TOTP
// enrollment of the session's action if there is one, else against the
// user's enrolled apps. A code is accepted once.
func (s *Service) VerifyTOTP(ctx context.Context, sess *Session, code string) (*Result, error) {
	if err := checkLive(sess); err != nil {
		return nil, err
	}
	now := s.deps.Now()
	c, err := s.deps.Challenges.FindPendingChallenge(ctx, sess.Ref(), vigil.MethodAuthenticatorApp)
	switch {
	case err == nil && c.Purpose == vigil.PurposeEnroll:
		step, ok := otp.VerifyTOTP(c.Secret, code, now, 0)
		if !ok {
			return s.fail(ctx, c)
		}
		return s.complete(ctx, sess, &vigil.Completion{ChallengeID: c.ID, Action: sess.Ref(), Method: vigil.MethodAuthenticatorApp,
			NewAuthenticator: &vigil.Authenticator{ID: c.ID, Method: vigil.MethodAuthenticatorApp, OTPSecret: c.Secret}, TOTPStep: step})
	case err == nil, vigil.ErrorCode(err) == vigil.ENOTFOUND:
	default:
		return nil, err
	}
	if err := canVerify(sess, vigil.MethodAuthenticatorApp); err != nil {
		return nil, err
	}
	auths, err := s.deps.Authenticators.FindAuthenticators(ctx, sess.Claims.UserID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(auths, func(a *vigil.Authenticator) bool { return a.Method == vigil.MethodAuthenticatorApp }) {
		return nil, errNotAllowed("The user has no authenticator app.")
	}
	// Wrong codes count against a verify challenge of the action, as for
	// sent codes.
	att, err := s.attempts(ctx, sess, vigil.MethodAuthenticatorApp)
	if err != nil {
		return nil, err
	}
	if att.Purpose == vigil.PurposeVerify {
		for _, a := range auths {
			if a.Method != vigil.MethodAuthenticatorApp || a.OTPSecret == nil {
				continue
			}
			// The store refuses a step at or below the last one used.
			if step, ok := otp.VerifyTOTP(a.OTPSecret, code, now, 0); ok {
				return s.complete(ctx, sess, &vigil.Completion{ChallengeID: att.ID, Action: sess.Ref(),
					Method: vigil.MethodAuthenticatorApp, AuthenticatorID: a.ID, TOTPStep: step})
			}
		}
	}
	s.deps.Logger.InfoContext(ctx, "wrong authenticator app code")
	return s.fail(ctx, att)
}

// attempts returns the live challenge that counts wrong answers of method m
// for the session's action (TOTP codes of an enrolled app, recovery codes),
// creating it on the first attempt.
func (s *Service) attempts(ctx context.Context, sess *Session, m vigil.VerificationMethod) (*vigil.Challenge, error) {
	c, err := s.deps.Challenges.FindPendingChallenge(ctx, sess.Ref(), m)
	if vigil.ErrorCode(err) != vigil.ENOTFOUND {
		return c, err
	}
	id, err := newID(s.deps.Rand)
	if err != nil {
		return nil, err
	}
	c = &vigil.Challenge{ID: id, Action: sess.Ref(), Method: m, Purpose: vigil.PurposeVerify}
	if err := s.deps.Challenges.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
		return nil, err
	}
	return c, nil
}

// fail counts a wrong answer to c.
func (s *Service) fail(ctx context.Context, c *vigil.Challenge) (*Result, error) {
	_, failed, err := s.deps.Challenges.FailChallenge(ctx, c.Action.UserID, c.ID, s.cfg.MaxAttempts)
	if err != nil {
		return nil, err
	}
	if failed {
		return &Result{FailureReason: ReasonMaxAttempts}, nil
	}
	return &Result{FailureReason: ReasonInvalid}, nil
}

// VerifyRecoveryCode checks one of the user's recovery codes; each works
// once. Recovery codes are not authenticators: they stand in for any
// method, unless the deciding rule or configuration lists methods without
// RECOVERY_CODE.
func (s *Service) VerifyRecoveryCode(ctx context.Context, sess *Session, code string) (*Result, error) {
	if err := checkLive(sess); err != nil {
		return nil, err
	}
	if ms := sess.Action.Decision.VerificationMethods; ms != nil && !slices.Contains(ms, vigil.MethodRecoveryCode) {
		return nil, errNotAllowed("%s is not allowed for this action.", vigil.MethodRecoveryCode)
	}
	hashes, err := s.deps.Challenges.FindRecoveryCodes(ctx, sess.Claims.UserID)
	if err != nil {
		return nil, err
	}
	// Each guess costs a slow hash per stored code: wrong ones count
	// against the action's attempts.
	att, err := s.attempts(ctx, sess, vigil.MethodRecoveryCode)
	if err != nil {
		return nil, err
	}
	strs := make([]string, len(hashes))
	for i, h := range hashes {
		strs[i] = string(h)
	}
	for _, h := range s.deps.Hashers {
		if i, ok := h.MatchRecoveryCode(strs, recoveryScope(sess), code); ok {
			return s.complete(ctx, sess, &vigil.Completion{ChallengeID: att.ID, Action: sess.Ref(),
				Method: vigil.MethodRecoveryCode, RecoveryCodeHash: hashes[i]})
		}
	}
	s.deps.Logger.InfoContext(ctx, "wrong recovery code")
	return s.fail(ctx, att)
}

// RegenerateRecoveryCodes replaces the user's recovery codes; it needs a
// completed challenge (an access token) or the add:authenticators scope.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, sess *Session) ([]string, error) {
	if sess.Claims.Kind != token.KindAccess && !sess.HasScope(vigil.ScopeAddAuthenticators) &&
		sess.Action.State != vigil.StateChallengeSucceeded {
		return nil, errNotAllowed("Regenerating recovery codes needs a completed challenge.")
	}
	if sess.Tenant.Client.DisableRecoveryCodes {
		return nil, errNotAllowed("Recovery codes are disabled.")
	}
	codes, hashes, err := s.newRecoveryCodes(sess)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.deps.Challenges.CompleteChallenge(ctx, &vigil.Completion{Action: sess.Ref(),
		Method: vigil.MethodRecoveryCode, NewRecoveryCodes: hashes}); err != nil {
		return nil, err
	}
	return codes, nil
}

// OpenMagicLink marks the challenge of a magic link verified; the SDK's
// finalize polling then completes it. It reports whether the link was
// live.
func (s *Service) OpenMagicLink(ctx context.Context, linkToken string) (bool, error) {
	if !otp.ValidToken(linkToken) {
		return false, nil
	}
	tenantID := vigil.TenantIDFromContext(ctx)
	c, err := s.deps.Challenges.FindChallengeByLink(ctx, s.deps.Hashers[0].Sum(otp.PurposeMagicLink, tenantID, linkToken))
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return s.deps.Challenges.MarkLinkVerified(ctx, c.ID)
}

// FinalizeMagicLink completes the session's magic-link challenge once its
// link was opened: IsVerified false until then.
func (s *Service) FinalizeMagicLink(ctx context.Context, sess *Session) (*Result, error) {
	if err := checkLive(sess); err != nil {
		return nil, err
	}
	c, err := s.deps.Challenges.FindPendingChallenge(ctx, sess.Ref(), vigil.MethodEmailMagicLink)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		if sess.Action.State == vigil.StateChallengeSucceeded && sess.Action.VerificationMethod == vigil.MethodEmailMagicLink {
			// Completed by an earlier poll: hand out a token again.
			tok, err := s.AccessToken(ctx, sess)
			if err != nil {
				return nil, err
			}
			return &Result{IsVerified: true, AccessToken: tok, Action: sess.Action}, nil
		}
		return &Result{}, nil
	} else if err != nil {
		return nil, err
	}
	if c.State != vigil.ChallengeVerified {
		return &Result{}, nil
	}
	comp := &vigil.Completion{ChallengeID: c.ID, Action: sess.Ref(), Method: vigil.MethodEmailMagicLink}
	if c.Purpose == vigil.PurposeEnroll {
		comp.NewAuthenticator = &vigil.Authenticator{ID: c.ID, Method: vigil.MethodEmailMagicLink, Email: c.Destination}
	} else {
		comp.AuthenticatorID = c.AuthenticatorID
	}
	return s.complete(ctx, sess, comp)
}

// newID returns a random UUID (version 4) from r.
func newID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("challenge: random: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}
