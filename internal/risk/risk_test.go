package risk_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/risk"
	"github.com/vigil-auth/vigil/internal/token"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	clock  *clock
	db     *memDB
	tokens *token.Issuer
	svc    *risk.Service
	evals  atomic.Int32
}

const publicURL = "https://vigil.example.com"

func newFixture(t testing.TB, eval risk.Evaluator) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)}}
	f.db = newMemDB(f.clock.Now)
	f.db.addTenant("tenant-a", 0)
	f.db.addTenant("tenant-b", 0)
	f.tokens = token.New(f.db, token.Options{Now: f.clock.Now, Rand: rand.Reader})
	if eval == nil {
		eval = risk.DefaultEvaluator{}
	}
	counting := evalFunc(func(ctx context.Context, cfg *vigil.ActionConfig, in *risk.Input) (*vigil.Decision, error) {
		f.evals.Add(1)
		ev, err := eval.Evaluate(ctx, cfg, in)
		if err != nil {
			return nil, err
		}
		return ev.Decision, nil
	})
	f.svc = risk.New(risk.Config{PublicURL: publicURL + "/"}, risk.Deps{
		Actions:        f.db,
		Configs:        f.db,
		Authenticators: f.db,
		Tenants:        memTenants{db: f.db},
		Tokens:         f.tokens,
		Evaluator:      counting,
		Now:            f.clock.Now,
		Rand:           rand.Reader,
	})
	return f
}

type evalFunc func(context.Context, *vigil.ActionConfig, *risk.Input) (*vigil.Decision, error)

func (e evalFunc) Evaluate(ctx context.Context, cfg *vigil.ActionConfig, in *risk.Input) (*risk.Evaluation, error) {
	dec, err := e(ctx, cfg, in)
	if err != nil {
		return nil, err
	}
	return &risk.Evaluation{Decision: dec}, nil
}

var (
	ctxA = vigil.NewContextWithTenant(context.Background(), "tenant-a")
	ctxB = vigil.NewContextWithTenant(context.Background(), "tenant-b")
)

func (f *fixture) configure(t testing.TB, ctx context.Context, c *vigil.ActionConfig) {
	t.Helper()
	if err := f.db.CreateActionConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) enroll(t testing.TB, ctx context.Context, userID string, isDefault bool, m vigil.VerificationMethod) {
	t.Helper()
	if err := f.db.CreateAuthenticator(ctx, &vigil.Authenticator{UserID: userID, Method: m, IsDefault: isDefault}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) track(t testing.TB, ctx context.Context, in *vigil.TrackInput) *vigil.TrackResult {
	t.Helper()
	res, err := f.svc.Track(ctx, in)
	if err != nil {
		t.Fatalf("Track(%+v): %v", in, err)
	}
	return res
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := vigil.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

type vm = vigil.VerificationMethod

var firstFactors = []vm{vigil.MethodPasskey, vigil.MethodSecurityKey, vigil.MethodAuthenticatorApp,
	vigil.MethodEmailOTP, vigil.MethodEmailMagicLink, vigil.MethodSMS}

func TestDecision(t *testing.T) {
	type want struct {
		state    vigil.ActionState
		enrolled bool
		allowed  []vm
		def      vm
	}
	tests := []struct {
		name     string
		outcome  vigil.Outcome
		methods  []vm // the configuration's verification methods
		defM     vm   // the configuration's default method
		userHas  []vm // the user's authenticators; the last is the user's default
		want     want
		enrolled []vm
	}{
		{name: "AllowEnrolled", outcome: vigil.OutcomeAllow, userHas: []vm{vigil.MethodEmailOTP, vigil.MethodPasskey},
			want: want{vigil.StateAllow, true, []vm{vigil.MethodEmailOTP, vigil.MethodPasskey}, vigil.MethodPasskey}},
		{name: "AllowUnenrolled", outcome: vigil.OutcomeAllow,
			want: want{vigil.StateAllow, false, firstFactors, vigil.MethodPasskey}},
		{name: "ChallengeEnrolled", outcome: vigil.OutcomeChallenge, userHas: []vm{vigil.MethodEmailOTP, vigil.MethodPasskey},
			want: want{vigil.StateChallengeRequired, true, []vm{vigil.MethodEmailOTP, vigil.MethodPasskey}, vigil.MethodPasskey}},
		{name: "ChallengeUnenrolledTOFU", outcome: vigil.OutcomeChallenge,
			want: want{vigil.StateChallengeRequired, false, firstFactors, vigil.MethodPasskey}},
		{name: "ReviewEnrolled", outcome: vigil.OutcomeReview, userHas: []vm{vigil.MethodSMS},
			want: want{vigil.StateReviewRequired, true, []vm{vigil.MethodSMS}, vigil.MethodSMS}},
		{name: "ReviewUnenrolled", outcome: vigil.OutcomeReview,
			want: want{vigil.StateReviewRequired, false, firstFactors, vigil.MethodPasskey}},
		{name: "BlockEnrolled", outcome: vigil.OutcomeBlock, userHas: []vm{vigil.MethodSMS},
			want: want{vigil.StateBlock, true, []vm{vigil.MethodSMS}, vigil.MethodSMS}},
		{name: "BlockUnenrolled", outcome: vigil.OutcomeBlock,
			want: want{vigil.StateBlock, false, firstFactors, vigil.MethodPasskey}},
		{name: "ConfigRestrictsEnrolled", outcome: vigil.OutcomeChallenge,
			methods: []vm{vigil.MethodSMS, vigil.MethodPasskey}, userHas: []vm{vigil.MethodEmailOTP, vigil.MethodPasskey},
			want: want{vigil.StateChallengeRequired, true, []vm{vigil.MethodPasskey}, vigil.MethodPasskey}},
		{name: "ConfigDefaultWins", outcome: vigil.OutcomeChallenge, defM: vigil.MethodEmailOTP,
			userHas: []vm{vigil.MethodEmailOTP, vigil.MethodPasskey},
			want:    want{vigil.StateChallengeRequired, true, []vm{vigil.MethodEmailOTP, vigil.MethodPasskey}, vigil.MethodEmailOTP}},
		{name: "ConfigDefaultNotAllowed", outcome: vigil.OutcomeChallenge, defM: vigil.MethodSMS,
			userHas: []vm{vigil.MethodEmailOTP, vigil.MethodPasskey},
			want:    want{vigil.StateChallengeRequired, true, []vm{vigil.MethodEmailOTP, vigil.MethodPasskey}, vigil.MethodPasskey}},
		{name: "ConfigOrderUnenrolled", outcome: vigil.OutcomeChallenge, defM: vigil.MethodEmailOTP,
			methods: []vm{vigil.MethodSMS, vigil.MethodPush, vigil.MethodRecoveryCode, vigil.MethodEmailOTP},
			want:    want{vigil.StateChallengeRequired, false, []vm{vigil.MethodSMS, vigil.MethodEmailOTP}, vigil.MethodEmailOTP}},
		{name: "OnlyUnimplementedEnrolled", outcome: vigil.OutcomeChallenge, userHas: []vm{vigil.MethodPush},
			want: want{vigil.StateChallengeRequired, true, nil, ""}},
		{name: "ConfigEmptyListPermitsNone", outcome: vigil.OutcomeChallenge, methods: []vm{}, userHas: []vm{vigil.MethodSMS},
			want: want{vigil.StateChallengeRequired, true, nil, ""}},
		{name: "DuplicateMethods", outcome: vigil.OutcomeChallenge, userHas: []vm{vigil.MethodSMS, vigil.MethodSMS},
			want: want{vigil.StateChallengeRequired, true, []vm{vigil.MethodSMS}, vigil.MethodSMS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.configure(t, ctxA, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: tt.outcome,
				VerificationMethods: tt.methods, DefaultVerificationMethod: tt.defM})
			for i, m := range tt.userHas {
				f.enroll(t, ctxA, "u1", i == len(tt.userHas)-1, m)
			}
			res := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
			a := res.Action
			got := want{a.State, a.IsEnrolled, a.AllowedMethods, a.DefaultMethod}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("decision mismatch (-want +got):\n%s", diff)
			}
			if a.Decision.Outcome != tt.outcome {
				t.Errorf("Decision.Outcome = %s, want %s", a.Decision.Outcome, tt.outcome)
			}
			if string(a.Decision.Output) != "{}" {
				t.Errorf("Decision.Output = %s, want {}", a.Decision.Output)
			}
			// The stored action is what was returned.
			stored, err := f.db.FindAction(ctxA, "u1", "signIn", a.IdempotencyKey)
			if err != nil {
				t.Fatal(err)
			}
			if stored.State != tt.want.state || stored.IsEnrolled != tt.want.enrolled {
				t.Errorf("stored state %s enrolled %v, want %s %v", stored.State, stored.IsEnrolled, tt.want.state, tt.want.enrolled)
			}
		})
	}
}

func TestTrackResult(t *testing.T) {
	f := newFixture(t, nil)
	f.db.addTenant("tenant-a", 2*time.Minute)
	res := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn",
		Context: vigil.ActionContext{Username: "ada", Scope: "add:authenticators  read:authenticators"}})
	a := res.Action
	if res.Replayed {
		t.Error("first track reported Replayed")
	}
	if !strings.HasPrefix(res.URL, publicURL+"/challenge?token=") || res.URL != publicURL+"/challenge?token="+res.Token {
		t.Errorf("URL = %q, want %s/challenge?token=<token>", res.URL, publicURL)
	}
	if len(a.IdempotencyKey) != 36 || a.IdempotencyKey[14] != '7' {
		t.Errorf("generated idempotency key %q is not a UUIDv7", a.IdempotencyKey)
	}
	if want := f.clock.Now().Truncate(time.Second); !a.TokenIssuedAt.Equal(want) {
		t.Errorf("TokenIssuedAt = %v, want %v", a.TokenIssuedAt, want)
	}
	if got := a.TokenExpiresAt.Sub(a.TokenIssuedAt); got != 2*time.Minute {
		t.Errorf("token lifetime = %v, want the tenant's 2m", got)
	}
	c, err := f.tokens.Verify(ctxA, res.Token)
	if err != nil {
		t.Fatalf("Verify(track token): %v", err)
	}
	want := &token.Claims{TenantID: "tenant-a", UserID: "u1", ActionCode: "signIn", IdempotencyKey: a.IdempotencyKey,
		Username: "ada", Scope: "add:authenticators read:authenticators", Kind: token.KindChallenge, ID: a.ID,
		IssuedAt: a.TokenIssuedAt, ExpiresAt: a.TokenExpiresAt}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("token claims (-want +got):\n%s", diff)
	}

	// Default scope.
	res = f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	if c, _ := f.tokens.Verify(ctxA, res.Token); c == nil || c.Scope != "read:authenticators" {
		t.Errorf("default scope claims = %+v, want scope read:authenticators", c)
	}

	// Generated keys are UUIDv7 from the injected clock and randomness
	// (2026-03-01T12:00:00.5Z is 0x019ca9450bf4 ms after the epoch).
	f2 := newFixture(t, nil)
	f2.svc = risk.New(risk.Config{PublicURL: publicURL}, risk.Deps{Actions: f2.db, Configs: f2.db, Authenticators: f2.db,
		Tenants: memTenants{db: f2.db}, Tokens: f2.tokens, Now: f2.clock.Now, Rand: bytes.NewReader(make([]byte, 10))})
	res = f2.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	if got, want := res.Action.IdempotencyKey, "019ca945-0bf4-7000-8000-000000000000"; got != want {
		t.Errorf("idempotency key from zero randomness = %q, want %q", got, want)
	}
	// The store is told which keys were made here (no other action can
	// hold them: PostgreSQL inserts those without ON CONFLICT), and only
	// those.
	given := f2.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn", IdempotencyKey: "key-1"})
	for _, c := range []struct {
		key  string
		want bool
	}{{res.Action.IdempotencyKey, true}, {given.Action.IdempotencyKey, false}} {
		if a := f2.db.stored("tenant-a", c.key); a == nil || a.KeyMade != c.want {
			t.Errorf("stored action of key %q = %+v; want KeyMade %v", c.key, a, c.want)
		}
	}
}

func TestTenantCached(t *testing.T) {
	f := newFixture(t, nil)
	for range 10 {
		f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	}
	if n := f.db.tenantLookups.Load(); n != 1 {
		t.Errorf("10 tracks looked the tenant up %d times, want 1", n)
	}
	f.db.addTenant("tenant-a", time.Minute)
	f.clock.Add(risk.DefaultTenantCacheTTL)
	res := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	if n := f.db.tenantLookups.Load(); n != 2 {
		t.Errorf("after the cache TTL: %d tenant lookups, want 2", n)
	}
	if got := res.Action.TokenExpiresAt.Sub(res.Action.TokenIssuedAt); got != time.Minute {
		t.Errorf("token lifetime after the tenant changed = %v, want 1m", got)
	}
}

// versionedConfigs is the fake's configuration service plus the version
// counter sqlstore keeps, bumped by the test.
type versionedConfigs struct {
	*memDB
	version atomic.Uint64
}

func (v *versionedConfigs) ActionConfigVersion() uint64 { return v.version.Load() }

func TestConfigCached(t *testing.T) {
	f := newFixture(t, nil)
	configs := &versionedConfigs{memDB: f.db}
	newService := func(ttl time.Duration) *risk.Service {
		return risk.New(risk.Config{PublicURL: publicURL, ConfigCacheTTL: ttl}, risk.Deps{Actions: f.db, Configs: configs,
			Authenticators: f.db, Tenants: memTenants{db: f.db}, Tokens: f.tokens, Now: f.clock.Now})
	}
	f.svc = newService(0)
	cfg := &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}
	f.configure(t, ctxA, cfg)
	state := func() vigil.ActionState {
		t.Helper()
		return f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"}).Action.State
	}
	for range 5 {
		state()
	}
	if n := f.db.configLookups.Load(); n != 1 {
		t.Errorf("5 tracks looked the configuration up %d times, want 1", n)
	}
	// Another tenant's configuration of the same code is its own entry.
	f.track(t, ctxB, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})

	// A change the version does not show (another process's) is seen once
	// the entry is older than the TTL.
	cfg.DefaultOutcome = vigil.OutcomeBlock
	if _, err := f.db.UpsertActionConfig(ctxA, cfg); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != vigil.StateAllow {
		t.Errorf("state within the TTL = %s, want the cached ALLOW", got)
	}
	f.clock.Add(risk.DefaultConfigCacheTTL)
	if got := state(); got != vigil.StateBlock {
		t.Errorf("state after the TTL = %s, want BLOCK", got)
	}

	// A change through this process's store is seen at once.
	cfg.DefaultOutcome = vigil.OutcomeChallenge
	if _, err := f.db.UpsertActionConfig(ctxA, cfg); err != nil {
		t.Fatal(err)
	}
	configs.version.Add(1)
	if got := state(); got != vigil.StateChallengeRequired {
		t.Errorf("state after a local change = %s, want CHALLENGE_REQUIRED", got)
	}

	// A negative TTL turns the cache off.
	f.svc = newService(-1)
	before := f.db.configLookups.Load()
	for range 3 {
		state()
	}
	if n := f.db.configLookups.Load() - before; n != 3 {
		t.Errorf("3 tracks without the cache looked the configuration up %d times, want 3", n)
	}
}

func TestAutoCreatedConfig(t *testing.T) {
	f := newFixture(t, nil)
	f.enroll(t, ctxA, "u1", true, vigil.MethodSMS)
	res := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "newAction"})
	if res.Action.State != vigil.StateAllow {
		t.Errorf("state = %s, want ALLOW", res.Action.State)
	}
	cfg, err := f.db.FindActionConfig(ctxA, "newAction")
	if err != nil {
		t.Fatalf("the configuration was not created: %v", err)
	}
	if cfg.DefaultOutcome != vigil.OutcomeAllow || cfg.TenantID != "tenant-a" {
		t.Errorf("created configuration = %+v, want default outcome ALLOW in tenant-a", cfg)
	}
	if _, err := f.db.FindActionConfig(ctxB, "newAction"); vigil.ErrorCode(err) != vigil.ENOTFOUND {
		t.Errorf("configuration leaked into tenant-b: %v", err)
	}

	// Once it exists, its settings apply and it is not recreated.
	cfg.DefaultOutcome = vigil.OutcomeChallenge
	if _, err := f.db.UpsertActionConfig(ctxA, cfg); err != nil {
		t.Fatal(err)
	}
	res = f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "newAction"})
	if res.Action.State != vigil.StateChallengeRequired {
		t.Errorf("state after configuring CHALLENGE = %s, want CHALLENGE_REQUIRED", res.Action.State)
	}
}

func TestIdempotentReplay(t *testing.T) {
	f := newFixture(t, nil)
	f.configure(t, ctxA, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeChallenge})
	in := &vigil.TrackInput{UserID: "u1", ActionCode: "signIn", IdempotencyKey: "key-1",
		Context: vigil.ActionContext{IPAddress: "203.0.113.9", Custom: json.RawMessage(`{"amount": 10}`)}}
	first := f.track(t, ctxA, in)
	f.clock.Add(3 * time.Second)
	// A state change between the two calls shows the replay returns the
	// stored action, not a new evaluation.
	if _, err := f.db.UpdateActionState(ctxA, "u1", "signIn", "key-1", vigil.StateReviewRequired); err != nil {
		t.Fatal(err)
	}
	again := *in
	again.Context.Custom = json.RawMessage("{\"amount\":\n10}") // same object, other spacing
	second := f.track(t, ctxA, &again)

	if !second.Replayed {
		t.Error("replay not reported as Replayed")
	}
	if first.Token != second.Token || first.URL != second.URL {
		t.Errorf("replay token differs:\n%s\n%s", first.Token, second.Token)
	}
	if first.Action.ID != second.Action.ID || second.Action.State != vigil.StateReviewRequired {
		t.Errorf("replay action = %s in %s, want %s in REVIEW_REQUIRED", second.Action.ID, second.Action.State, first.Action.ID)
	}
	if n := f.db.actionCount("tenant-a"); n != 1 {
		t.Errorf("%d actions stored, want 1", n)
	}
	if n := f.evals.Load(); n != 1 {
		t.Errorf("evaluated %d times, want 1", n)
	}
	// The key is independent per tenant.
	other := f.track(t, ctxB, in)
	if other.Replayed || other.Action.TenantID != "tenant-b" {
		t.Errorf("the same key in tenant-b replayed tenant-a's action: %+v", other.Action)
	}
}

func TestReplayMismatch(t *testing.T) {
	f := newFixture(t, nil)
	in := vigil.TrackInput{UserID: "u1", ActionCode: "signIn", IdempotencyKey: "key-1",
		Context: vigil.ActionContext{IPAddress: "203.0.113.9"}}
	f.track(t, ctxA, &in)
	mods := map[string]func(*vigil.TrackInput){
		"OtherIP":       func(in *vigil.TrackInput) { in.Context.IPAddress = "203.0.113.10" },
		"OtherUser":     func(in *vigil.TrackInput) { in.UserID = "u2" },
		"OtherAction":   func(in *vigil.TrackInput) { in.ActionCode = "withdraw" },
		"AddedCustom":   func(in *vigil.TrackInput) { in.Context.Custom = json.RawMessage(`{"a":1}`) },
		"RedirectFlag":  func(in *vigil.TrackInput) { in.Context.RedirectToSettings = true },
		"ShiftedFields": func(in *vigil.TrackInput) { in.Context.IPAddress = ""; in.Context.UserAgent = "203.0.113.9" },
	}
	for name, mod := range mods {
		t.Run(name, func(t *testing.T) {
			c := in
			mod(&c)
			_, err := f.svc.Track(ctxA, &c)
			wantCode(t, err, vigil.EUNPROCESSABLE)
		})
	}
	if n := f.db.actionCount("tenant-a"); n != 1 {
		t.Errorf("%d actions stored, want 1", n)
	}
}

// TestConcurrentReplay sends one keyed request many times at once: the
// store's CreateAction settles the race and every caller gets one answer.
func TestConcurrentReplay(t *testing.T) {
	f := newFixture(t, nil)
	in := &vigil.TrackInput{UserID: "u1", ActionCode: "signIn", IdempotencyKey: "key-1"}
	var wg sync.WaitGroup
	results := make([]*vigil.TrackResult, 32)
	for i := range results {
		wg.Go(func() {
			res, err := f.svc.Track(ctxA, in)
			if err != nil {
				t.Errorf("Track: %v", err)
				return
			}
			results[i] = res
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	created := 0
	for _, r := range results {
		if !r.Replayed {
			created++
		}
		if r.Token != results[0].Token || r.Action.ID != results[0].Action.ID {
			t.Fatalf("concurrent replays disagree: %s vs %s", r.Action.ID, results[0].Action.ID)
		}
	}
	if created != 1 || f.db.actionCount("tenant-a") != 1 {
		t.Errorf("%d results not replayed and %d actions stored, want 1 and 1", created, f.db.actionCount("tenant-a"))
	}
}

func TestInputValidation(t *testing.T) {
	f := newFixture(t, nil)
	long := strings.Repeat("x", 256)
	tests := []struct {
		name  string
		in    vigil.TrackInput
		field string
	}{
		{"NoUser", vigil.TrackInput{ActionCode: "signIn"}, "userId"},
		{"LongUser", vigil.TrackInput{UserID: long, ActionCode: "signIn"}, "userId"},
		{"ControlInUser", vigil.TrackInput{UserID: "a\x00b", ActionCode: "signIn"}, "userId"},
		{"NewlineInUser", vigil.TrackInput{UserID: "a\nb", ActionCode: "signIn"}, "userId"},
		{"C1InUser", vigil.TrackInput{UserID: "a\u0085b", ActionCode: "signIn"}, "userId"},
		{"BadUTF8User", vigil.TrackInput{UserID: "a\xffb", ActionCode: "signIn"}, "userId"},
		{"NoAction", vigil.TrackInput{UserID: "u1"}, "action"},
		{"BadAction", vigil.TrackInput{UserID: "u1", ActionCode: "sign in"}, "action"},
		{"LongAction", vigil.TrackInput{UserID: "u1", ActionCode: strings.Repeat("a", 65)}, "action"},
		{"LongKey", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", IdempotencyKey: long}, "idempotencyKey"},
		{"ControlInKey", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", IdempotencyKey: "k\x7f"}, "idempotencyKey"},
		{"RelativeRedirect", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{RedirectURL: "/home"}}, "redirectUrl"},
		{"JavascriptRedirect", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{RedirectURL: "javascript:alert(1)"}}, "redirectUrl"},
		{"SchemeRelativeRedirect", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{RedirectURL: "//evil.example"}}, "redirectUrl"},
		{"CredentialsRedirect", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{RedirectURL: "https://good.example@evil.example/"}}, "redirectUrl"},
		{"BadScope", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{Scope: "read:authenticators admin"}}, "scope"},
		{"CustomArray", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{Custom: json.RawMessage(`[1]`)}}, "custom"},
		{"CustomString", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{Custom: json.RawMessage(`"x"`)}}, "custom"},
		{"CustomMalformed", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{Custom: json.RawMessage(`{"a":}`)}}, "custom"},
		{"CustomTrailing", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{Custom: json.RawMessage(`{} {}`)}}, "custom"},
		{"CustomHuge", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{
			Custom: json.RawMessage(`{"a":"` + strings.Repeat("x", risk.MaxCustomSize) + `"}`)}}, "custom"},
		{"LongUserAgent", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{UserAgent: strings.Repeat("x", risk.MaxAttributeLength+1)}}, "userAgent"},
		{"ControlInEmail", vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{Email: "a@b.c\r\nBcc: x"}}, "email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Track(ctxA, &tt.in)
			wantCode(t, err, vigil.EINVALID)
			if msg := vigil.ErrorMessage(err); !strings.HasPrefix(msg, tt.field+" ") {
				t.Errorf("message %q does not name %s", msg, tt.field)
			}
		})
	}
	if n := f.db.actionCount("tenant-a"); n != 0 {
		t.Errorf("%d actions stored after invalid input, want 0", n)
	}

	// Accepted edge cases.
	ok := []vigil.TrackInput{
		{UserID: strings.Repeat("x", 255), ActionCode: strings.Repeat("a", 64), IdempotencyKey: strings.Repeat("k", 255)},
		{UserID: "用户 1", ActionCode: "sign-in_2", Context: vigil.ActionContext{RedirectURL: "HTTPS://app.example/x?y=1",
			Scope:  "read:authenticators add:authenticators remove:authenticators update:authenticators",
			Custom: json.RawMessage(` null `)}},
		{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{Custom: json.RawMessage(` {"nested":{"a":[1,2]}} `)}},
	}
	for _, in := range ok {
		if _, err := f.svc.Track(ctxA, &in); err != nil {
			t.Errorf("Track(%+v): %v", in, err)
		}
	}
	if _, err := f.svc.Track(context.Background(), &ok[0]); vigil.ErrorCode(err) != vigil.EUNAUTHORIZED {
		t.Errorf("Track without a tenant: %v, want EUNAUTHORIZED", err)
	}
}

func TestEvaluatorSeam(t *testing.T) {
	t.Run("RuleDecides", func(t *testing.T) {
		var seen *risk.Input
		f := newFixture(t, evalFunc(func(_ context.Context, cfg *vigil.ActionConfig, in *risk.Input) (*vigil.Decision, error) {
			seen = in
			return &vigil.Decision{Outcome: vigil.OutcomeBlock, RuleIDs: []string{"r1"}, PriorityRuleID: "r1"}, nil
		}))
		f.enroll(t, ctxA, "u1", true, vigil.MethodSMS)
		res := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{IPAddress: "198.51.100.1"}})
		if res.Action.State != vigil.StateBlock || res.Action.Decision.PriorityRuleID != "r1" {
			t.Errorf("action = %s with rule %q, want BLOCK by r1", res.Action.State, res.Action.Decision.PriorityRuleID)
		}
		if string(res.Action.Decision.Output) != "{}" {
			t.Errorf("nil output stored as %q, want {}", res.Action.Decision.Output)
		}
		if seen == nil || seen.Track.Context.IPAddress != "198.51.100.1" || len(seen.Authenticators) != 1 || !seen.Now.Equal(f.clock.Now()) {
			t.Errorf("evaluator input = %+v", seen)
		}
	})
	t.Run("Error", func(t *testing.T) {
		boom := errors.New("rules unavailable")
		f := newFixture(t, evalFunc(func(context.Context, *vigil.ActionConfig, *risk.Input) (*vigil.Decision, error) {
			return nil, boom
		}))
		if _, err := f.svc.Track(ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"}); !errors.Is(err, boom) {
			t.Errorf("Track error = %v, want %v", err, boom)
		}
		if n := f.db.actionCount("tenant-a"); n != 0 {
			t.Errorf("%d actions stored after an evaluation error", n)
		}
	})
	t.Run("InvalidOutcome", func(t *testing.T) {
		f := newFixture(t, evalFunc(func(context.Context, *vigil.ActionConfig, *risk.Input) (*vigil.Decision, error) {
			return &vigil.Decision{Outcome: "MAYBE"}, nil
		}))
		_, err := f.svc.Track(ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
		wantCode(t, err, vigil.EINTERNAL)
	})
}

func TestDefaultEvaluator(t *testing.T) {
	cfg := &vigil.ActionConfig{DefaultOutcome: vigil.OutcomeReview, VerificationMethods: []vm{vigil.MethodSMS},
		DefaultVerificationMethod: vigil.MethodSMS, PromptToEnrollMethods: []vm{vigil.MethodPasskey}}
	ev, err := risk.DefaultEvaluator{}.Evaluate(ctxA, cfg, &risk.Input{})
	if err != nil {
		t.Fatal(err)
	}
	got := ev.Decision
	want := &vigil.Decision{Outcome: vigil.OutcomeReview, VerificationMethods: []vm{vigil.MethodSMS},
		DefaultVerificationMethod: vigil.MethodSMS, PromptToEnrollMethods: []vm{vigil.MethodPasskey}, Output: json.RawMessage(`{}`)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DefaultEvaluator (-want +got):\n%s", diff)
	}
}

func (f *fixture) validate(t testing.TB, ctx context.Context, in *vigil.ValidateInput) *vigil.ValidateResult {
	t.Helper()
	res, err := f.svc.Validate(ctx, in)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return res
}

func TestValidate(t *testing.T) {
	f := newFixture(t, nil)
	f.configure(t, ctxA, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeChallenge})
	f.enroll(t, ctxA, "u1", true, vigil.MethodEmailOTP)
	tr := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	key := tr.Action.IdempotencyKey

	t.Run("ChallengeRequired", func(t *testing.T) {
		res := f.validate(t, ctxA, &vigil.ValidateInput{Token: tr.Token})
		if res.IsValid || res.Action == nil || res.Action.State != vigil.StateChallengeRequired || res.Action.UserID != "u1" ||
			res.Action.Code != "signIn" || res.Action.IdempotencyKey != key {
			t.Errorf("Validate(CHALLENGE_REQUIRED) = %+v, want isValid false with the action", res)
		}
		if n := f.db.consumeCalls.Load(); n != 0 {
			t.Errorf("ConsumeValidation called %d times for an unfinished challenge", n)
		}
	})

	for _, tc := range []struct {
		name string
		ctx  context.Context
		in   vigil.ValidateInput
	}{
		{"WrongUser", ctxA, vigil.ValidateInput{Token: tr.Token, UserID: "u2"}},
		{"WrongAction", ctxA, vigil.ValidateInput{Token: tr.Token, ActionCode: "withdraw"}},
		{"Tampered", ctxA, vigil.ValidateInput{Token: tamperSignature(tr.Token)}},
		{"OtherTenant", ctxB, vigil.ValidateInput{Token: tr.Token}},
		{"Garbage", ctxA, vigil.ValidateInput{Token: "invalid-token"}},
		{"Empty", ctxA, vigil.ValidateInput{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.validate(t, tc.ctx, &tc.in)
			if res.IsValid || res.Action != nil {
				t.Errorf("Validate = %+v, want isValid false and no action", res)
			}
		})
	}
	if _, err := f.svc.Validate(context.Background(), &vigil.ValidateInput{Token: tr.Token}); vigil.ErrorCode(err) != vigil.EUNAUTHORIZED {
		t.Errorf("Validate without a tenant: %v, want EUNAUTHORIZED", err)
	}

	t.Run("SucceededOnce", func(t *testing.T) {
		if _, err := f.db.UpdateActionState(ctxA, "u1", "signIn", key, vigil.StateChallengeSucceeded); err != nil {
			t.Fatal(err)
		}
		res := f.validate(t, ctxA, &vigil.ValidateInput{Token: tr.Token, UserID: "u1", ActionCode: "signIn"})
		if !res.IsValid || res.Action == nil || res.Action.State != vigil.StateChallengeSucceeded {
			t.Fatalf("first Validate = %+v, want isValid true and CHALLENGE_SUCCEEDED", res)
		}
		res = f.validate(t, ctxA, &vigil.ValidateInput{Token: tr.Token})
		if res.IsValid || res.Action == nil || res.Action.State != vigil.StateChallengeSucceeded {
			t.Fatalf("second Validate = %+v, want isValid false with the action", res)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		f.clock.Add(vigil.DefaultTokenTTL)
		res := f.validate(t, ctxA, &vigil.ValidateInput{Token: tr.Token})
		if res.IsValid || res.Action != nil {
			t.Errorf("Validate(expired) = %+v, want isValid false and no action", res)
		}
	})
}

func TestValidateDeletedAction(t *testing.T) {
	f := newFixture(t, nil)
	tr := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	f.db.deleteAction("tenant-a", tr.Action.ID)
	if res := f.validate(t, ctxA, &vigil.ValidateInput{Token: tr.Token}); res.IsValid || res.Action != nil {
		t.Errorf("Validate(deleted action) = %+v, want isValid false and no action", res)
	}
}

func TestValidateRace(t *testing.T) {
	f := newFixture(t, nil)
	tr := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	if _, err := f.db.UpdateActionState(ctxA, "u1", "signIn", tr.Action.IdempotencyKey, vigil.StateChallengeSucceeded); err != nil {
		t.Fatal(err)
	}
	var valid atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			res, err := f.svc.Validate(ctxA, &vigil.ValidateInput{Token: tr.Token})
			if err != nil {
				t.Errorf("Validate: %v", err)
			} else if res.IsValid {
				valid.Add(1)
			}
		})
	}
	wg.Wait()
	if n := valid.Load(); n != 1 {
		t.Errorf("%d of 100 concurrent validations succeeded, want exactly 1", n)
	}
}

// TestValidateStoreError: a storage failure is an error, not isValid false.
func TestValidateStoreError(t *testing.T) {
	f := newFixture(t, nil)
	tr := f.track(t, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	failing := risk.New(risk.Config{PublicURL: publicURL}, risk.Deps{
		Actions: failingActions{f.db}, Configs: f.db, Authenticators: f.db, Tenants: memTenants{db: f.db},
		Tokens: f.tokens, Now: f.clock.Now,
	})
	if _, err := failing.Validate(ctxA, &vigil.ValidateInput{Token: tr.Token}); vigil.ErrorCode(err) != vigil.EUNAVAILABLE {
		t.Errorf("Validate with a failing store: err = %v, want code %s", err, vigil.EUNAVAILABLE)
	}
}

type failingActions struct{ *memDB }

func (failingActions) FindAction(context.Context, string, string, string) (*vigil.Action, error) {
	return nil, vigil.Errorf(vigil.EUNAVAILABLE, "database down")
}

func BenchmarkTrack(b *testing.B) {
	f := newFixture(b, nil)
	f.configure(b, ctxA, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeChallenge})
	f.enroll(b, ctxA, "u1", true, vigil.MethodEmailOTP)
	in := &vigil.TrackInput{UserID: "u1", ActionCode: "signIn", Context: vigil.ActionContext{IPAddress: "203.0.113.9", UserAgent: "Mozilla/5.0"}}
	f.track(b, ctxA, in)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.Track(ctxA, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	f := newFixture(b, nil)
	tr := f.track(b, ctxA, &vigil.TrackInput{UserID: "u1", ActionCode: "signIn"})
	in := &vigil.ValidateInput{Token: tr.Token}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.svc.Validate(ctxA, in); err != nil {
			b.Fatal(err)
		}
	}
}

// tamperSignature changes the first character of tok's signature to a
// different one. (Changing the last character can alter only base64 padding
// bits, and a fixed replacement sometimes equals the original.)
func tamperSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
