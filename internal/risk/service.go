package risk

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/token"
)

// DefaultTenantCacheTTL is how long a tenant's token lifetime is cached.
const DefaultTenantCacheTTL = 5 * time.Second

// Config holds the pipeline's settings.
type Config struct {
	// PublicURL is the external base URL of Vigil, without a trailing
	// slash; the hosted challenge page is PublicURL + "/challenge".
	PublicURL string
	// TenantCacheTTL is how long a tenant's settings are cached; 0 means
	// DefaultTenantCacheTTL.
	TenantCacheTTL time.Duration
}

// Deps are the services the pipeline uses. Evaluator, Logger, Now and Rand
// may be nil; the others are required.
type Deps struct {
	Actions        vigil.ActionService
	Configs        vigil.ActionConfigService
	Authenticators vigil.AuthenticatorService
	Tenants        vigil.TenantService
	Tokens         *token.Issuer
	Evaluator      Evaluator        // default DefaultEvaluator
	Logger         *slog.Logger     // default: discard
	Now            func() time.Time // default time.Now
	Rand           io.Reader        // source of generated idempotency keys; default crypto/rand.Reader
}

// Service is the track pipeline. It is safe for concurrent use.
type Service struct {
	publicURL string
	tenantTTL time.Duration

	actions vigil.ActionService
	configs vigil.ActionConfigService
	auths   vigil.AuthenticatorService
	tenants vigil.TenantService
	tokens  *token.Issuer
	eval    Evaluator
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader

	mu          sync.Mutex             // guards tenantCache
	tenantCache map[string]tenantEntry // by tenant ID
}

type tenantEntry struct {
	tokenTTL time.Duration
	until    time.Time
}

var _ vigil.ActionTracker = (*Service)(nil)

// New returns a pipeline over deps.
func New(cfg Config, deps Deps) *Service {
	s := &Service{
		publicURL:   strings.TrimRight(cfg.PublicURL, "/"),
		tenantTTL:   cfg.TenantCacheTTL,
		actions:     deps.Actions,
		configs:     deps.Configs,
		auths:       deps.Authenticators,
		tenants:     deps.Tenants,
		tokens:      deps.Tokens,
		eval:        deps.Evaluator,
		log:         deps.Logger,
		now:         deps.Now,
		rand:        deps.Rand,
		tenantCache: make(map[string]tenantEntry),
	}
	if s.tenantTTL <= 0 {
		s.tenantTTL = DefaultTenantCacheTTL
	}
	if s.eval == nil {
		s.eval = DefaultEvaluator{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s
}

// Track evaluates and stores an action for the tenant in ctx and returns it
// with its challenge token. EINVALID for malformed input, EUNPROCESSABLE
// when an idempotency key is reused with another payload.
func (s *Service) Track(ctx context.Context, in *vigil.TrackInput) (*vigil.TrackResult, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if in == nil {
		return nil, vigil.Errorf(vigil.EINVALID, "userId is required.")
	}
	tin, err := checkInput(in)
	if err != nil {
		return nil, err
	}
	hash := fingerprint(&tin)

	// Replay before anything else: a replay neither evaluates nor writes.
	if tin.IdempotencyKey != "" {
		a, err := s.actions.FindActionByKey(ctx, tin.IdempotencyKey)
		switch vigil.ErrorCode(err) {
		case "":
			if !hmac.Equal(a.RequestHash, hash[:]) {
				return nil, errKeyReused()
			}
			return s.result(ctx, a, true)
		case vigil.ENOTFOUND:
		default:
			return nil, err
		}
	}

	tokenTTL, err := s.tokenTTL(ctx, tenantID)
	if err != nil {
		return nil, err
	}

	cfg, err := s.configs.FindActionConfig(ctx, tin.ActionCode)
	var newCfg *vigil.ActionConfig
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		// "By default, all actions will be in an ALLOW state": the
		// configuration is created with the action, in its transaction.
		newCfg = &vigil.ActionConfig{TenantID: tenantID, ActionCode: tin.ActionCode, DefaultOutcome: vigil.OutcomeAllow}
		cfg = newCfg
	} else if err != nil {
		return nil, err
	}

	auths, err := s.auths.FindAuthenticators(ctx, tin.UserID)
	if err != nil {
		return nil, err
	}

	now := s.now()
	dec, err := s.eval.Evaluate(ctx, cfg, &Input{Track: &tin, Authenticators: auths, Now: now})
	if err != nil {
		return nil, err
	}
	if dec == nil || !dec.Outcome.Valid() {
		return nil, fmt.Errorf("risk: evaluator returned an invalid decision for action %q", tin.ActionCode)
	}
	if len(dec.Output) == 0 {
		dec.Output = json.RawMessage(`{}`)
	}

	a := &vigil.Action{
		TenantID:       tenantID,
		UserID:         tin.UserID,
		Code:           tin.ActionCode,
		IdempotencyKey: tin.IdempotencyKey,
		Decision:       *dec,
		Context:        tin.Context,
		RequestHash:    hash[:],
	}
	decide(a, auths)
	if a.IdempotencyKey == "" {
		id, err := uuid.NewRandomFromReader(s.rand)
		if err != nil {
			return nil, fmt.Errorf("risk: generate idempotency key: %w", err)
		}
		a.IdempotencyKey = id.String()
	}
	// Whole seconds, so that the stored times re-sign the identical token.
	a.TokenIssuedAt = now.Truncate(time.Second)
	a.TokenExpiresAt = a.TokenIssuedAt.Add(tokenTTL)

	existing, created, err := s.actions.CreateAction(ctx, a, newCfg)
	if err != nil {
		return nil, err
	}
	if !created {
		// A concurrent request with the same key and payload won the race.
		return s.result(ctx, existing, true)
	}
	return s.result(ctx, a, false)
}

func errKeyReused() error {
	return vigil.Errorf(vigil.EUNPROCESSABLE, "idempotencyKey was already used with a different request.")
}

// result signs the action's token and builds the track result. The token
// depends only on stored fields, so a replay gets the original token.
func (s *Service) result(ctx context.Context, a *vigil.Action, replayed bool) (*vigil.TrackResult, error) {
	scope := a.Context.Scope
	if scope == "" {
		scope = string(vigil.ScopeReadAuthenticators)
	}
	tok, err := s.tokens.Sign(ctx, &token.Claims{
		TenantID:       a.TenantID,
		UserID:         a.UserID,
		ActionCode:     a.Code,
		IdempotencyKey: a.IdempotencyKey,
		Username:       a.Context.Username,
		Scope:          scope,
		Kind:           token.KindChallenge,
		ID:             a.ID,
		IssuedAt:       a.TokenIssuedAt,
		ExpiresAt:      a.TokenExpiresAt,
	})
	if err != nil {
		return nil, err
	}
	return &vigil.TrackResult{
		Action:   a,
		Token:    tok,
		URL:      s.publicURL + "/challenge?token=" + tok,
		Replayed: replayed,
	}, nil
}

// decide fills in the action's state and methods from its decision and the
// user's authenticators.
func decide(a *vigil.Action, auths []*vigil.Authenticator) {
	dec := &a.Decision
	a.State = dec.Outcome.State()

	var userDefault vigil.VerificationMethod
	for _, au := range auths {
		if !slices.Contains(a.EnrolledMethods, au.Method) {
			a.EnrolledMethods = append(a.EnrolledMethods, au.Method)
		}
		if au.IsDefault && userDefault == "" {
			userDefault = au.Method
		}
	}
	a.IsEnrolled = len(auths) > 0

	candidates := dec.VerificationMethods
	if a.IsEnrolled {
		if candidates == nil {
			candidates = a.EnrolledMethods
		}
		for _, m := range candidates {
			if m.Implemented() && slices.Contains(a.EnrolledMethods, m) && !slices.Contains(a.AllowedMethods, m) {
				a.AllowedMethods = append(a.AllowedMethods, m)
			}
		}
	} else {
		// Trust on first use: the methods the user may enroll as a first
		// factor. A recovery code is never a first factor.
		if candidates == nil {
			candidates = []vigil.VerificationMethod{
				vigil.MethodPasskey, vigil.MethodSecurityKey, vigil.MethodAuthenticatorApp,
				vigil.MethodEmailOTP, vigil.MethodEmailMagicLink, vigil.MethodSMS,
			}
		}
		for _, m := range candidates {
			if m.Implemented() && m != vigil.MethodRecoveryCode && !slices.Contains(a.AllowedMethods, m) {
				a.AllowedMethods = append(a.AllowedMethods, m)
			}
		}
	}

	switch {
	case dec.DefaultVerificationMethod != "" && slices.Contains(a.AllowedMethods, dec.DefaultVerificationMethod):
		a.DefaultMethod = dec.DefaultVerificationMethod
	case userDefault != "" && slices.Contains(a.AllowedMethods, userDefault):
		a.DefaultMethod = userDefault
	case len(a.AllowedMethods) > 0:
		a.DefaultMethod = a.AllowedMethods[0]
	}
}

// fingerprint returns the SHA-256 of a canonical encoding of everything in a
// track request but its idempotency key: each field length-prefixed, in a
// fixed order, after a version tag.
func fingerprint(in *vigil.TrackInput) [sha256.Size]byte {
	var stack [512]byte
	b := append(stack[:0], "vigil-track-v1"...)
	c := &in.Context
	for _, s := range [...]string{
		in.UserID, in.ActionCode,
		c.IPAddress, c.UserAgent, c.DeviceID, c.Email, c.PhoneNumber, c.Username,
		c.RedirectURL, c.Scope, c.Locale, c.CountryCode,
	} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if c.RedirectToSettings {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Custom)))
	b = append(b, c.Custom...)
	return sha256.Sum256(b)
}

// tokenTTL returns the tenant's token lifetime, cached for s.tenantTTL.
func (s *Service) tokenTTL(ctx context.Context, tenantID string) (time.Duration, error) {
	now := s.now()
	s.mu.Lock()
	e, ok := s.tenantCache[tenantID]
	s.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.tokenTTL, nil
	}
	t, err := s.tenants.FindTenantByID(ctx, tenantID)
	if err != nil {
		return 0, err
	}
	e = tenantEntry{tokenTTL: t.EffectiveTokenTTL(), until: now.Add(s.tenantTTL)}
	s.mu.Lock()
	s.tenantCache[tenantID] = e
	s.mu.Unlock()
	return e.tokenTTL, nil
}

// Validate reports the state of the action a token refers to. A malformed,
// tampered, expired or foreign token, a token that does not match in's
// UserID or ActionCode, and a token whose action no longer exists give
// IsValid false and no Action. IsValid is true only for the call that
// consumes a CHALLENGE_SUCCEEDED action. Errors are storage failures only.
func (s *Service) Validate(ctx context.Context, in *vigil.ValidateInput) (*vigil.ValidateResult, error) {
	if _, err := vigil.RequireTenant(ctx); err != nil {
		return nil, err
	}
	if in == nil || in.Token == "" {
		return &vigil.ValidateResult{}, nil
	}
	claims, err := s.tokens.Verify(ctx, in.Token)
	if vigil.ErrorCode(err) == vigil.EUNAUTHORIZED {
		s.log.DebugContext(ctx, "token rejected", "reason", err.Error())
		return &vigil.ValidateResult{}, nil
	} else if err != nil {
		return nil, err
	}
	if (in.UserID != "" && in.UserID != claims.UserID) || (in.ActionCode != "" && in.ActionCode != claims.ActionCode) {
		return &vigil.ValidateResult{}, nil
	}

	a, err := s.actions.FindAction(ctx, claims.UserID, claims.ActionCode, claims.IdempotencyKey)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return &vigil.ValidateResult{}, nil
	} else if err != nil {
		return nil, err
	}
	if a.State != vigil.StateChallengeSucceeded || !a.ValidatedAt.IsZero() {
		return &vigil.ValidateResult{Action: a}, nil
	}
	a, consumed, err := s.actions.ConsumeValidation(ctx, claims.UserID, claims.ActionCode, claims.IdempotencyKey)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return &vigil.ValidateResult{}, nil
	} else if err != nil {
		return nil, err
	}
	return &vigil.ValidateResult{IsValid: consumed, Action: a}, nil
}
