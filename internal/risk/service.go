package risk

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
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

// DefaultConfigCacheTTL is how long track reuses a loaded action
// configuration. It bounds how long a change made by another process (or
// through a store that is not a ConfigVersioner) goes unseen.
const DefaultConfigCacheTTL = time.Second

// maxCachedConfigs bounds the configuration cache; when it is full the
// cache is emptied and refills with what is in use.
const maxCachedConfigs = 10000

// Config holds the pipeline's settings.
type Config struct {
	// PublicURL is the external base URL of Vigil, without a trailing
	// slash; the hosted challenge page is PublicURL + "/challenge".
	PublicURL string
	// TenantCacheTTL is how long a tenant's settings are cached; 0 means
	// DefaultTenantCacheTTL.
	TenantCacheTTL time.Duration
	// ConfigCacheTTL is how long track reuses an action configuration
	// loaded from Deps.Configs; 0 means DefaultConfigCacheTTL, a negative
	// value turns the cache off. If Deps.Configs is a ConfigVersioner, a
	// write through it drops every cached configuration at once.
	ConfigCacheTTL time.Duration
}

// ConfigVersioner is implemented by a vigil.ActionConfigService that can
// tell when this process has changed a configuration (sqlstore's does).
type ConfigVersioner interface {
	// ActionConfigVersion returns a number that changes after every write
	// to an action configuration made through the service in this process.
	ActionConfigVersion() uint64
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
	Rand           io.Reader        // random bits of generated idempotency keys (UUIDv7); default crypto/rand.Reader
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

	configTTL time.Duration
	versioner ConfigVersioner // Deps.Configs when it is one; else nil

	mu          sync.Mutex             // guards tenantCache and configCache
	tenantCache map[string]tenantEntry // by tenant ID
	configCache map[configKey]configEntry
}

type tenantEntry struct {
	tokenTTL time.Duration
	tz       *time.Location
	until    time.Time
}

type configKey struct{ tenantID, code string }

// configEntry is a cached action configuration, shared read-only by every
// track that uses it.
type configEntry struct {
	cfg     *vigil.ActionConfig
	version uint64 // of versioner when cfg was loaded
	until   time.Time
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
		configTTL:   cfg.ConfigCacheTTL,
		configCache: make(map[configKey]configEntry),
	}
	if s.tenantTTL <= 0 {
		s.tenantTTL = DefaultTenantCacheTTL
	}
	if s.configTTL == 0 {
		s.configTTL = DefaultConfigCacheTTL
	}
	s.versioner, _ = deps.Configs.(ConfigVersioner)
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

	// A decision made on a cached state that turns out stale when the
	// action is stored is made again, on the stored state (Input.Fresh),
	// which no later write refuses.
	res, err := s.track(ctx, tenantID, &tin, hash, false)
	if errors.Is(err, vigil.ErrStaleState) {
		return s.track(ctx, tenantID, &tin, hash, true)
	}
	return res, err
}

// track evaluates and stores an action whose input checkInput accepted and
// whose key is not taken (when it has one).
func (s *Service) track(ctx context.Context, tenantID string, tin *vigil.TrackInput, hash [32]byte, fresh bool) (*vigil.TrackResult, error) {
	tenant, err := s.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}

	cfg, err := s.actionConfig(ctx, tenantID, tin.ActionCode)
	var newCfg *vigil.ActionConfig
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		// "By default, all actions will be in an ALLOW state": the
		// configuration is created with the action, in its transaction.
		newCfg = &vigil.ActionConfig{TenantID: tenantID, ActionCode: tin.ActionCode, DefaultOutcome: vigil.OutcomeAllow}
		cfg = newCfg
	} else if err != nil {
		return nil, err
	}

	// One read of the user's state: the authenticators with the history
	// the rules need, when the evaluator can; else the authenticators here.
	var auths []*vigil.Authenticator
	er, ownRead := s.eval.(EnrollmentReader)
	ownRead = ownRead && er.ReadsEnrollment()
	if !ownRead {
		if auths, err = s.auths.FindAuthenticators(ctx, tin.UserID); err != nil {
			return nil, err
		}
	}

	now := s.now()
	ev, err := s.eval.Evaluate(ctx, cfg, &Input{Track: tin, Authenticators: auths, Now: now, TimeZone: tenant.tz, Fresh: fresh})
	if err != nil {
		return nil, err
	}
	var dec *vigil.Decision
	if ev != nil {
		dec = ev.Decision
		if ownRead {
			auths = ev.Authenticators
		}
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
		Location:       ev.Location,
		StateVersion:   ev.StateVersion,
	}
	decide(a, auths)
	if a.IdempotencyKey == "" {
		key, err := newKey(now, s.rand)
		if err != nil {
			return nil, fmt.Errorf("risk: generate idempotency key: %w", err)
		}
		a.IdempotencyKey, a.KeyMade = key, true
	}
	// Whole seconds, so that the stored times re-sign the identical token.
	a.TokenIssuedAt = now.Truncate(time.Second)
	a.TokenExpiresAt = a.TokenIssuedAt.Add(tenant.tokenTTL)

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

// newKey returns a UUIDv7 (RFC 9562 §5.7): the Unix time in milliseconds
// from now, then 74 bits of r. Generated idempotency keys are time-ordered
// so that the unique index on them grows at its right edge instead of
// dirtying a random page per tracked action.
func newKey(now time.Time, r io.Reader) (string, error) {
	var u uuid.UUID
	if _, err := io.ReadFull(r, u[6:]); err != nil {
		return "", err
	}
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // variant 10
	return u.String(), nil
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

// tenant returns the tenant's token lifetime and time zone, cached for
// s.tenantTTL.
func (s *Service) tenant(ctx context.Context, tenantID string) (tenantEntry, error) {
	now := s.now()
	s.mu.Lock()
	e, ok := s.tenantCache[tenantID]
	s.mu.Unlock()
	if ok && now.Before(e.until) {
		return e, nil
	}
	t, err := s.tenants.FindTenantByID(ctx, tenantID)
	if err != nil {
		return tenantEntry{}, err
	}
	e = tenantEntry{tokenTTL: t.EffectiveTokenTTL(), tz: time.UTC, until: now.Add(s.tenantTTL)}
	if t.TimeZone != "" {
		if loc, err := time.LoadLocation(t.TimeZone); err == nil {
			e.tz = loc
		} else {
			s.log.WarnContext(ctx, "unknown tenant time zone; using UTC", "tenant", tenantID, "timeZone", t.TimeZone)
		}
	}
	s.mu.Lock()
	s.tenantCache[tenantID] = e
	s.mu.Unlock()
	return e, nil
}

// actionConfig returns the tenant's configuration for code, from the cache
// while it is fresh: younger than s.configTTL and, with a versioner, loaded
// under the current version. The result is shared and must not be
// modified. A missing configuration (ENOTFOUND) is not cached: track
// creates it.
func (s *Service) actionConfig(ctx context.Context, tenantID, code string) (*vigil.ActionConfig, error) {
	if s.configTTL < 0 {
		return s.configs.FindActionConfig(ctx, code)
	}
	// The version is read before the load, so that a write committed
	// during the load leaves the entry stale rather than current.
	var version uint64
	if s.versioner != nil {
		version = s.versioner.ActionConfigVersion()
	}
	now := s.now()
	k := configKey{tenantID, code}
	s.mu.Lock()
	e, ok := s.configCache[k]
	s.mu.Unlock()
	if ok && e.version == version && now.Before(e.until) {
		return e.cfg, nil
	}
	cfg, err := s.configs.FindActionConfig(ctx, code)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.configCache) >= maxCachedConfigs {
		clear(s.configCache)
	}
	s.configCache[k] = configEntry{cfg: cfg, version: version, until: now.Add(s.configTTL)}
	s.mu.Unlock()
	return cfg, nil
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

	find := s.actions.FindAction
	if sf, ok := s.actions.(vigil.ActionStateFinder); ok {
		find = sf.FindActionState // validation reports neither decision nor context
	}
	a, err := find(ctx, claims.UserID, claims.ActionCode, claims.IdempotencyKey)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return &vigil.ValidateResult{}, nil
	} else if err != nil {
		return nil, err
	}
	if a.State != vigil.StateChallengeSucceeded || !a.ValidatedAt.IsZero() {
		return &vigil.ValidateResult{Action: a}, nil
	}
	if rc, ok := s.actions.(vigil.ReadValidationConsumer); ok {
		at, consumed, err := rc.ConsumeReadValidation(ctx, a)
		if err != nil {
			return nil, err
		}
		if consumed {
			a.ValidatedAt = at
			return &vigil.ValidateResult{IsValid: true, Action: a}, nil
		}
	}
	a, consumed, err := s.actions.ConsumeValidation(ctx, claims.UserID, claims.ActionCode, claims.IdempotencyKey)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return &vigil.ValidateResult{}, nil
	} else if err != nil {
		return nil, err
	}
	return &vigil.ValidateResult{IsValid: consumed, Action: a}, nil
}
