package risk_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/datapoint"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/risk"
	"github.com/vigil-auth/vigil/internal/rules"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
	"github.com/vigil-auth/vigil/internal/testenv"
	"github.com/vigil-auth/vigil/internal/token"
)

// server is one Vigil process over a shared database file: its own store
// handle (and so its own configuration version), evaluator and pipeline.
type server struct {
	db      *sqlstore.DB
	configs *sqlstore.ActionConfigService
	rules   *sqlstore.RuleService
	lists   *sqlstore.ValueListService
	actions *sqlstore.ActionService
	eval    *risk.RulesEvaluator
	svc     *risk.Service
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func validate(rs []*vigil.Rule, listExists func(string) bool) error {
	_, err := rules.Compile(rs, jsonlogic.Options{Lists: func(alias string) (*jsonlogic.List, bool) {
		return jsonlogic.NewList(nil), listExists(alias)
	}})
	return err
}

// openServer opens path (creating and migrating it when new) as one server
// whose clock is clock.
func openServer(t testing.TB, path string, box vigil.Cipher, clock interface{ Now() time.Time }) *server {
	t.Helper()
	return openServerReading(t, path, box, clock, nil)
}

// openServerReading is openServer whose rules evaluator reads the rules
// through wrap(the store's rule service) when wrap is not nil.
func openServerReading(t testing.TB, path string, box vigil.Cipher, clock interface{ Now() time.Time },
	wrap func(vigil.RuleService) vigil.RuleService) *server {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, path, sqlstore.Options{Cipher: box, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s := &server{db: db, configs: sqlstore.NewActionConfigService(db), rules: sqlstore.NewRuleService(db, validate),
		lists: sqlstore.NewValueListService(db), actions: sqlstore.NewActionService(db)}
	var ruleReader vigil.RuleService = s.rules
	if wrap != nil {
		ruleReader = wrap(s.rules)
	}
	s.eval = risk.NewRulesEvaluator(risk.RulesConfig{Sources: &datapoint.Sources{}}, risk.RulesDeps{
		Rules: ruleReader, ValueLists: s.lists, RiskState: sqlstore.NewRiskStateService(db), Versioner: s.configs, Now: clock.Now,
	})
	s.svc = risk.New(risk.Config{PublicURL: publicURL}, risk.Deps{
		Actions: s.actions, Configs: s.configs, Authenticators: sqlstore.NewAuthenticatorService(db),
		Tenants: sqlstore.NewTenantService(db), Tokens: token.New(sqlstore.NewSigningKeyService(db), token.Options{Now: clock.Now}),
		Evaluator: s.eval, Now: clock.Now,
	})
	return s
}

func newBox(t testing.TB) vigil.Cipher {
	key := make([]byte, secretbox.KeySize)
	rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func (s *server) track(t *testing.T, ctx context.Context, in *vigil.TrackInput) *vigil.Action {
	t.Helper()
	res, err := s.svc.Track(ctx, in)
	if err != nil {
		t.Fatalf("Track: %v", err)
	}
	return res.Action
}

func output(t *testing.T, a *vigil.Action) rules.Output {
	t.Helper()
	var out rules.Output
	if err := json.Unmarshal(a.Decision.Output, &out); err != nil {
		t.Fatalf("output %s: %v", a.Decision.Output, err)
	}
	return out
}

// TestRulesOverStore tracks actions through rules that read history data
// points, over the real SQLite store.
func TestRulesOverStore(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	s := openServer(t, filepath.Join(t.TempDir(), "vigil.db"), newBox(t), clock)
	ctx := vigil.NewContextWithTenant(context.Background(), "t1")
	if err := sqlstore.NewTenantService(s.db).CreateTenant(context.Background(), &vigil.Tenant{ID: "t1", Name: "t1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "withdraw", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	if err := s.lists.CreateValueList(ctx, &vigil.ValueList{Alias: "blocked", Name: "Blocked", ItemType: vigil.ValueListString,
		Items: json.RawMessage(`["mallory@example.com"]`)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*vigil.Rule{
		{ID: "blocked", Name: "Blocked email", IsActive: true, Priority: 0, Type: vigil.OutcomeBlock,
			Conditions: json.RawMessage(`{"in":[{"var":"user.email"},{"var":"valueLists.blocked"}]}`)},
		{ID: "new-device", Name: "New device", IsActive: true, Priority: 1, Type: vigil.OutcomeChallenge,
			Conditions: json.RawMessage(`{"and":[{"==":[{"var":"device.isNew"},true]},{"!":{"var":"device.isRemembered"}}]}`)},
		{ID: "velocity", Name: "Velocity", IsActive: true, Priority: 2, Type: vigil.OutcomeReview,
			Conditions: json.RawMessage(`{">=":[{"var":"action.countLastHour"},3]}`)},
		{ID: "big", Name: "Big amount (watching)", IsActive: true, IsShadow: true, Priority: 3, Type: vigil.OutcomeBlock,
			Conditions: json.RawMessage(`{">":[{"var":"custom.amount"},1000]}`)},
	} {
		r.ActionCode = "withdraw"
		if err := s.rules.CreateRule(ctx, r); err != nil {
			t.Fatalf("CreateRule(%s): %v", r.ID, err)
		}
	}
	in := func(device, email string, amount int) *vigil.TrackInput {
		return &vigil.TrackInput{UserID: "alice", ActionCode: "withdraw", Context: vigil.ActionContext{
			DeviceID: device, Email: email, IPAddress: "203.0.113.7", Custom: json.RawMessage(`{"amount":` + itoa(amount) + `}`)}}
	}

	// First time on d1: a new device.
	a := s.track(t, ctx, in("d1", "alice@example.com", 50))
	if a.State != vigil.StateChallengeRequired || a.Decision.PriorityRuleID != "new-device" {
		t.Fatalf("first track: %s by %q", a.State, a.Decision.PriorityRuleID)
	}
	out := output(t, a)
	wantPoints := map[string]string{"user.email": `"alice@example.com"`, "device.isNew": "true", "device.isRemembered": "false",
		"action.countLastHour": "0", "custom.amount": "50"}
	gotPoints := map[string]string{}
	for k, v := range out.DataPoints {
		gotPoints[k] = v.String()
	}
	if diff := cmp.Diff(wantPoints, gotPoints); diff != "" {
		t.Errorf("stored data points (-want +got):\n%s", diff)
	}
	if len(out.Rules) != 4 || out.Rules[0].Matched || len(out.Rules[0].Failed) == 0 || !out.Rules[1].Matched {
		t.Errorf("stored rule results = %+v", out.Rules)
	}

	// The challenge succeeds: d1 is remembered, so the next track is not
	// challenged, and the shadow rule records what it would have done.
	if _, err := s.actions.UpdateActionState(ctx, "alice", "withdraw", a.IdempotencyKey, vigil.StateChallengeSucceeded); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	a = s.track(t, ctx, in("d1", "alice@example.com", 5000))
	if a.State != vigil.StateAllow || a.Decision.PriorityRuleID != "" {
		t.Errorf("on a remembered device: %s by %q, want ALLOW by default", a.State, a.Decision.PriorityRuleID)
	}
	if out := output(t, a); len(out.ShadowMatches) != 1 || out.ShadowMatches[0].RuleID != "big" || !out.ShadowMatches[0].WouldDecide {
		t.Errorf("shadow matches = %+v", out.ShadowMatches)
	}

	// A third action within the hour: velocity.
	a = s.track(t, ctx, in("d1", "alice@example.com", 5))
	if a.State != vigil.StateAllow {
		t.Errorf("state = %s", a.State)
	}
	a = s.track(t, ctx, in("d1", "alice@example.com", 5))
	if a.State != vigil.StateReviewRequired || a.Decision.PriorityRuleID != "velocity" {
		t.Errorf("fourth track in an hour: %s by %q, want REVIEW by velocity", a.State, a.Decision.PriorityRuleID)
	}

	// The value list decides for another user.
	b := s.track(t, ctx, &vigil.TrackInput{UserID: "mallory", ActionCode: "withdraw",
		Context: vigil.ActionContext{Email: "mallory@example.com", DeviceID: "x"}})
	if b.State != vigil.StateBlock || b.Decision.PriorityRuleID != "blocked" {
		t.Errorf("listed email: %s by %q, want BLOCK", b.State, b.Decision.PriorityRuleID)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestRuleChangesReachEveryServer changes rules and a value list through
// one server and checks that another server on the same database applies
// the change once its cache entry is a second old, and the writing server
// at once: two servers on one SQLite file, and on one PostgreSQL database
// (skipped, or failed under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL).
func TestRuleChangesReachEveryServer(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vigil.db")
			if db == "postgres" {
				path = testenv.PostgresSchemaURL(t, "vigil_test")
			}
			testRuleChangesReachEveryServer(t, path)
		})
	}
}

func testRuleChangesReachEveryServer(t *testing.T, path string) {
	clock := &fakeClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	box := newBox(t)
	s1 := openServer(t, path, box, clock)
	s2 := openServer(t, path, box, clock)
	ctx := vigil.NewContextWithTenant(context.Background(), "t1")
	if err := sqlstore.NewTenantService(s1.db).CreateTenant(context.Background(), &vigil.Tenant{ID: "t1", Name: "t1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s1.configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	if err := s1.lists.CreateValueList(ctx, &vigil.ValueList{Alias: "bad-ips", Name: "Bad IPs", ItemType: vigil.ValueListString,
		Items: json.RawMessage(`["192.0.2.1"]`)}); err != nil {
		t.Fatal(err)
	}
	in := &vigil.TrackInput{UserID: "u", ActionCode: "signIn", Context: vigil.ActionContext{IPAddress: "192.0.2.2"}}
	state := func(s *server) vigil.ActionState { return s.track(t, ctx, in).State }

	// Both servers cache the empty rule set.
	if state(s1) != vigil.StateAllow || state(s2) != vigil.StateAllow {
		t.Fatal("not ALLOW before any rule")
	}
	if err := s1.rules.CreateRule(ctx, &vigil.Rule{ActionCode: "signIn", ID: "r", Name: "Bad IP", IsActive: true,
		Type: vigil.OutcomeBlock, Conditions: json.RawMessage(`{"in":[{"var":"ip.address"},{"var":"valueLists.bad-ips"}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.lists.UpdateValueList(ctx, "bad-ips", func(l *vigil.ValueList) error {
		l.Items = json.RawMessage(`["192.0.2.1","192.0.2.2"]`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := state(s1); got != vigil.StateBlock {
		t.Errorf("writing server right after the change: %s, want BLOCK", got)
	}
	if got := state(s2); got != vigil.StateAllow {
		t.Errorf("other server within the cache second: %s (the cache is not in use?)", got)
	}
	clock.Advance(risk.DefaultConfigCacheTTL)
	if got := state(s2); got != vigil.StateBlock {
		t.Errorf("other server a second after the change: %s, want BLOCK", got)
	}

	// A value-list change alone reaches the other server too.
	if _, err := s1.lists.UpdateValueList(ctx, "bad-ips", func(l *vigil.ValueList) error {
		l.Items = json.RawMessage(`["192.0.2.1"]`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(risk.DefaultConfigCacheTTL)
	if got := state(s2); got != vigil.StateAllow {
		t.Errorf("other server a second after the list change: %s, want ALLOW", got)
	}

	// Late in the cache second, a track is answered from the cached set
	// at once and reloads it in the background, so that the change shows
	// before the second is up and no track waits for the reload. (A rule
	// change, not a list change: a reload refills a changed list in place,
	// under the set being answered from.)
	if err := s1.rules.CreateRule(ctx, &vigil.Rule{ActionCode: "signIn", ID: "r2", Name: "Exactly this IP", IsActive: true,
		Priority: 1, Type: vigil.OutcomeBlock, Conditions: json.RawMessage(`{"==":[{"var":"ip.address"},"192.0.2.2"]}`)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(risk.DefaultConfigCacheTTL * 9 / 10)
	if got := state(s2); got != vigil.StateAllow {
		t.Errorf("other server late in the cache second: %s, want ALLOW (from the cached set)", got)
	}
	for deadline := time.Now().Add(10 * time.Second); state(s2) != vigil.StateBlock; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background reload never took effect within the cache second")
		}
	}
}

// slowRules is a rule service whose FindRules takes a while on the fake
// clock, and runs during (after its read) the first time.
type slowRules struct {
	vigil.RuleService
	clock  *fakeClock
	during func()
}

func (r *slowRules) FindRules(ctx context.Context, code string) ([]*vigil.Rule, error) {
	rs, err := r.RuleService.FindRules(ctx, code)
	r.clock.Advance(200 * time.Millisecond)
	if f := r.during; f != nil {
		r.during = nil
		f()
	}
	r.clock.Advance(200 * time.Millisecond)
	return rs, err
}

// TestRuleChangeDuringSlowLoad checks the second bound when another
// server's rule change commits while this server's load of the rules is
// running, after the load read them: the cached set's age counts from the
// load's start, so the change applies at most a second after it was made,
// not a second after the load ended.
func TestRuleChangeDuringSlowLoad(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "vigil.db")
	box := newBox(t)
	s1 := openServer(t, path, box, clock)
	slow := &slowRules{clock: clock}
	s2 := openServerReading(t, path, box, clock, func(rs vigil.RuleService) vigil.RuleService {
		slow.RuleService = rs
		return slow
	})
	ctx := vigil.NewContextWithTenant(context.Background(), "t1")
	if err := sqlstore.NewTenantService(s1.db).CreateTenant(context.Background(), &vigil.Tenant{ID: "t1", Name: "t1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s1.configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	var changed time.Time
	slow.during = func() {
		changed = clock.Now()
		if err := s1.rules.CreateRule(ctx, &vigil.Rule{ActionCode: "signIn", ID: "r", Name: "Block all", IsActive: true,
			Type: vigil.OutcomeBlock, Conditions: json.RawMessage(`{}`)}); err != nil {
			t.Error(err)
		}
	}
	in := &vigil.TrackInput{UserID: "u", ActionCode: "signIn"}
	if got := s2.track(t, ctx, in).State; got != vigil.StateAllow {
		t.Fatalf("the track whose load read the rules before the change: %s, want ALLOW", got)
	}
	clock.Advance(changed.Add(risk.DefaultConfigCacheTTL).Sub(clock.Now()))
	if got := s2.track(t, ctx, in).State; got != vigil.StateBlock {
		t.Errorf("a second after the change: %s, want BLOCK", got)
	}
}

// TestSimulateRules replays drafts over stored actions: the window, the
// limit, samples, removal, missing history data points, shadow matches and
// bad drafts, and checks that nothing is written.
func TestSimulateRules(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	s := openServer(t, filepath.Join(t.TempDir(), "vigil.db"), newBox(t), clock)
	ctx := vigil.NewContextWithTenant(context.Background(), "t1")
	tenants := sqlstore.NewTenantService(s.db)
	if err := tenants.CreateTenant(context.Background(), &vigil.Tenant{ID: "t1", Name: "t1"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "pay", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	if err := s.rules.CreateRule(ctx, &vigil.Rule{ActionCode: "pay", ID: "big", Name: "Big", IsActive: true, Priority: 0,
		Type: vigil.OutcomeReview, Conditions: json.RawMessage(`{">":[{"var":"custom.amount"},1000]}`)}); err != nil {
		t.Fatal(err)
	}
	// Eight days of payments, one a day, amounts 200, 400, ..., 1600.
	for day := range 8 {
		s.track(t, ctx, &vigil.TrackInput{UserID: "u" + itoa(day), ActionCode: "pay", Context: vigil.ActionContext{
			IPAddress: "198.51.100." + itoa(day+1), DeviceID: "d", Custom: json.RawMessage(`{"amount":` + itoa(200*(day+1)) + `}`)}})
		clock.Advance(24 * time.Hour)
	}
	// What the simulations must leave as it is: the stored actions, the
	// rules and the configuration.
	snapshot := func() any {
		t.Helper()
		var all [][]*vigil.Action
		for day := range 8 {
			as, err := s.actions.FindActions(ctx, vigil.ActionFilter{UserID: "u" + itoa(day)})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, as)
		}
		rs, err := s.rules.FindRules(ctx, "pay")
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.configs.FindActionConfig(ctx, "pay")
		if err != nil {
			t.Fatal(err)
		}
		return []any{all, rs, c}
	}
	before := snapshot()
	sim := risk.NewSimulator(risk.SimulatorDeps{Configs: s.configs, Rules: s.rules, Tenants: tenants, Actions: s.actions,
		Evaluator: s.eval, Now: clock.Now})
	run := func(in *vigil.SimulationInput) *vigil.SimulationResult {
		t.Helper()
		in.ActionCode = "pay"
		res, err := sim.SimulateRules(ctx, in)
		if err != nil {
			t.Fatalf("SimulateRules: %v", err)
		}
		return res
	}
	block500 := &vigil.Rule{ID: "b", Name: "Block over 500", IsActive: true, Priority: 1, Type: vigil.OutcomeBlock,
		Conditions: json.RawMessage(`{">":[{"var":"custom.amount"},500]}`)}

	// Adding a rule, default window (7 days: the 7 newest actions, amounts
	// 400..1600): 600 and 800 and 1000 go from ALLOW to BLOCK; the REVIEW
	// ones stay (priority 0 still decides).
	res := run(&vigil.SimulationInput{Rule: block500, Samples: 2})
	if res.Evaluated != 7 || res.Changed != 3 || len(res.Transitions) != 1 || res.Transitions[0].Count != 3 ||
		len(res.Transitions[0].Samples) != 2 || res.Transitions[0].Samples[0].RuleID != "b" || res.Truncated {
		t.Errorf("add rule: %+v", res)
	}
	if diff := cmp.Diff(map[vigil.Outcome]int{vigil.OutcomeAllow: 4, vigil.OutcomeReview: 3}, res.Before); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	// Removing the current rule: the REVIEWs become ALLOWs.
	res = run(&vigil.SimulationInput{RemoveRuleIDs: []string{"big"}, From: clock.Now().Add(-30 * 24 * time.Hour)})
	if res.Evaluated != 8 || res.Changed != 3 || res.Transitions[0].From != vigil.OutcomeReview || res.Transitions[0].To != vigil.OutcomeAllow {
		t.Errorf("remove rule: %+v", res)
	}
	// The limit replays the newest only.
	res = run(&vigil.SimulationInput{RemoveRuleIDs: []string{"big"}, Limit: 2})
	if res.Evaluated != 2 || !res.Truncated || res.Changed != 2 {
		t.Errorf("limit 2: %+v", res)
	}
	// A whole draft reading a history data point: missing on every action;
	// a shadow rule is counted.
	res = run(&vigil.SimulationInput{Rules: []*vigil.Rule{
		{Name: "Velocity", IsActive: true, Priority: 0, Type: vigil.OutcomeBlock, Conditions: json.RawMessage(`{">":[{"var":"action.countLastDay"},3]}`)},
		{ID: "w", Name: "Watch", IsActive: true, IsShadow: true, Priority: 1, Type: vigil.OutcomeBlock, Conditions: json.RawMessage(`{">":[{"var":"custom.amount"},1500]}`)},
	}})
	if res.MissingDataPoints["action.countLastDay"] != 7 || res.ShadowMatches["w"] != 1 {
		t.Errorf("history draft: missing %v, shadow %v", res.MissingDataPoints, res.ShadowMatches)
	}
	// Bad drafts.
	for name, in := range map[string]*vigil.SimulationInput{
		"bad condition":  {Rule: &vigil.Rule{Name: "x", IsActive: true, Priority: 5, Type: vigil.OutcomeBlock, Conditions: json.RawMessage(`{"nope":[]}`)}},
		"taken priority": {Rule: &vigil.Rule{Name: "x", IsActive: true, Priority: 0, Type: vigil.OutcomeBlock}},
		"unknown rule":   {RemoveRuleIDs: []string{"nope"}},
		"from after to":  {From: clock.Now(), To: clock.Now().Add(-time.Hour)},
		"limit too big":  {Limit: vigil.MaxSimulationLimit + 1},
	} {
		in.ActionCode = "pay"
		if _, err := sim.SimulateRules(ctx, in); vigil.ErrorCode(err) != vigil.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	if _, err := sim.SimulateRules(ctx, &vigil.SimulationInput{ActionCode: "nope"}); vigil.ErrorCode(err) != vigil.ENOTFOUND {
		t.Errorf("unknown action: %v, want ENOTFOUND", err)
	}
	// Nothing was written.
	if diff := cmp.Diff(before, snapshot()); diff != "" {
		t.Errorf("actions, rules or configuration changed by simulating (-before +after):\n%s", diff)
	}
	if rs, _ := s.rules.FindRules(ctx, "pay"); len(rs) != 1 {
		t.Errorf("rules after simulating: %d, want 1", len(rs))
	}
}

// openTwoServers opens two servers on one fresh PostgreSQL schema, with
// tenant t1 (ctx); it skips, or fails under VIGIL_TEST_REQUIRE_ALL, without
// PostgreSQL.
func openTwoServers(t *testing.T) (s1, s2 *server, ctx context.Context) {
	t.Helper()
	url := testenv.PostgresSchemaURL(t, "vigil_test")
	clock := &fakeClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	box := newBox(t)
	s1, s2 = openServer(t, url, box, clock), openServer(t, url, box, clock)
	if err := sqlstore.NewTenantService(s1.db).CreateTenant(context.Background(), &vigil.Tenant{ID: "t1", Name: "t1"}, nil); err != nil {
		t.Fatal(err)
	}
	return s1, s2, vigil.NewContextWithTenant(context.Background(), "t1")
}

// TestStaleEnrollmentDecidedAgain runs two servers on one PostgreSQL
// database: server 1 answers a user's tracks from its cached enrollment,
// server 2 enrolls the user, and server 1's next track, decided on the
// cached (stale) enrollment, is refused by the store and decided again, so
// that it reports the new authenticator.
func TestStaleEnrollmentDecidedAgain(t *testing.T) {
	s1, s2, ctx := openTwoServers(t)
	in := &vigil.TrackInput{UserID: "u", ActionCode: "signIn"}
	for i := range 3 { // the user's row, a read that caches, a cached answer
		if a := s1.track(t, ctx, in); a.IsEnrolled {
			t.Fatalf("track %d: enrolled before any authenticator", i)
		}
	}
	if err := sqlstore.NewAuthenticatorService(s2.db).CreateAuthenticator(ctx,
		&vigil.Authenticator{UserID: "u", Method: vigil.MethodAuthenticatorApp}); err != nil {
		t.Fatal(err)
	}
	a := s1.track(t, ctx, in)
	if !a.IsEnrolled || len(a.EnrolledMethods) != 1 || a.EnrolledMethods[0] != vigil.MethodAuthenticatorApp {
		t.Fatalf("track after server 2's enrollment: enrolled %v, methods %v; want [%s]", a.IsEnrolled, a.EnrolledMethods, vigil.MethodAuthenticatorApp)
	}
}

// TestStaleHistoryDecidedAgain is TestStaleEnrollmentDecidedAgain for rules
// that read the user's history: server 1 decides a track of a user whose
// history it holds without reading it, and the action's write checks the
// history's version. When server 2 has tracked the user meanwhile, the
// write is refused and server 1 decides again on the stored history.
func TestStaleHistoryDecidedAgain(t *testing.T) {
	s1, s2, ctx := openTwoServers(t)
	if err := s1.configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "withdraw", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	if err := s1.rules.CreateRule(ctx, &vigil.Rule{ActionCode: "withdraw", ID: "velocity", Name: "Velocity", IsActive: true,
		Type: vigil.OutcomeReview, Conditions: json.RawMessage(`{">=":[{"var":"action.countLastHour"},3]}`)}); err != nil {
		t.Fatal(err)
	}
	in := &vigil.TrackInput{UserID: "alice", ActionCode: "withdraw"}
	check := func(s *server, want vigil.ActionState, count string) {
		t.Helper()
		a := s.track(t, ctx, in)
		if got := output(t, a).DataPoints["action.countLastHour"].String(); a.State != want || got != count {
			t.Fatalf("track: %s with action.countLastHour %s, want %s with %s", a.State, got, want, count)
		}
	}
	check(s1, vigil.StateAllow, "0") // a read: alice is new, and her track watches her
	check(s1, vigil.StateAllow, "1") // a read that server 1 keeps
	check(s2, vigil.StateAllow, "2") // server 2 reads
	hits := s1.db.RiskCacheStats().Hits
	check(s1, vigil.StateReviewRequired, "3") // server 1's entry holds 2: refused, and decided again
	if got := s1.db.RiskCacheStats().Hits; got <= hits {
		t.Fatalf("RiskCacheStats().Hits = %d after the stale track, was %d: server 1 did not answer from its entry", got, hits)
	}
	hits = s1.db.RiskCacheStats().Hits
	check(s1, vigil.StateReviewRequired, "4") // from the entry the fresh read left
	if got := s1.db.RiskCacheStats().Hits; got != hits+1 {
		t.Fatalf("RiskCacheStats().Hits = %d, want %d: the track after the fresh read was not answered from the entry", got, hits+1)
	}

	// Concurrent tracks of one user: those decided on an entry that a
	// batch committed meanwhile made stale are decided again, and none
	// fails.
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for range 24 {
		wg.Go(func() {
			if _, err := s1.svc.Track(ctx, &vigil.TrackInput{UserID: "bob", ActionCode: "withdraw"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent track of one user: %v", err)
	}
	a := s2.track(t, ctx, &vigil.TrackInput{UserID: "bob", ActionCode: "withdraw"})
	if got := output(t, a).DataPoints["action.countLastHour"].String(); got != "24" {
		t.Errorf("after 24 concurrent tracks, action.countLastHour = %s, want 24", got)
	}
}
