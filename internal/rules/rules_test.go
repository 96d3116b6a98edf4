package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/testenv"
)

func newRule(id string, prio int, typ vigil.Outcome, cond string) *vigil.Rule {
	r := &vigil.Rule{ID: id, Name: "rule " + id, IsActive: true, Priority: prio, Type: typ}
	if cond != "" {
		r.Conditions = json.RawMessage(cond)
	}
	return r
}

var testConfig = &vigil.ActionConfig{
	ActionCode:                "signIn",
	DefaultOutcome:            vigil.OutcomeAllow,
	VerificationMethods:       []vigil.VerificationMethod{vigil.MethodSMS, vigil.MethodPasskey},
	DefaultVerificationMethod: vigil.MethodPasskey,
}

func TestCompileErrors(t *testing.T) {
	lists := func(alias string) (*jsonlogic.List, bool) {
		return jsonlogic.NewStringList("x"), alias == "known"
	}
	with := func(f func(r *vigil.Rule)) *vigil.Rule {
		r := newRule("r1", 1, vigil.OutcomeBlock, `{"==":[{"var":"a"},1]}`)
		f(r)
		return r
	}
	ok := newRule("r0", 0, vigil.OutcomeAllow, "")
	tests := []struct {
		name     string
		rules    []*vigil.Rule
		wantPath string
		wantMsg  string // substring
	}{
		{"NilRule", []*vigil.Rule{ok, nil}, "rules[1]", "null"},
		{"NoName", []*vigil.Rule{ok, with(func(r *vigil.Rule) { r.Name = "  " })}, "rules[1].name", "required"},
		{"PriorityNegative", []*vigil.Rule{with(func(r *vigil.Rule) { r.Priority = -1 })}, "rules[0].priority", "between 0 and 99"},
		{"PriorityTooLarge", []*vigil.Rule{with(func(r *vigil.Rule) { r.Priority = 100 })}, "rules[0].priority", "between 0 and 99"},
		{"DuplicatePriority", []*vigil.Rule{ok, with(func(r *vigil.Rule) { r.Priority = 0 })}, "rules[1].priority", "already used by rules[0]"},
		{"DuplicatePriorityInactive", []*vigil.Rule{ok, with(func(r *vigil.Rule) { r.Priority = 0; r.IsActive = false })}, "rules[1].priority", "unique"},
		{"DuplicateID", []*vigil.Rule{ok, with(func(r *vigil.Rule) { r.ID = "r0" })}, "rules[1].ruleId", "already used"},
		{"BadType", []*vigil.Rule{with(func(r *vigil.Rule) { r.Type = "DENY" })}, "rules[0].type", `not "DENY"`},
		{"EmptyType", []*vigil.Rule{with(func(r *vigil.Rule) { r.Type = "" })}, "rules[0].type", "ALLOW, CHALLENGE"},
		{"BadMethod", []*vigil.Rule{with(func(r *vigil.Rule) { r.VerificationMethods = []vigil.VerificationMethod{"SMS", "CARRIER_PIGEON"} })}, "rules[0].verificationMethods[1]", "CARRIER_PIGEON"},
		{"DuplicateMethod", []*vigil.Rule{with(func(r *vigil.Rule) { r.VerificationMethods = []vigil.VerificationMethod{"SMS", "SMS"} })}, "rules[0].verificationMethods[1]", "twice"},
		{"DefaultNotInList", []*vigil.Rule{with(func(r *vigil.Rule) {
			r.VerificationMethods = []vigil.VerificationMethod{"SMS"}
			r.DefaultVerificationMethod = "PASSKEY"
		})}, "rules[0].defaultVerificationMethod", "not one of"},
		{"DefaultNotInEmptyList", []*vigil.Rule{with(func(r *vigil.Rule) {
			r.VerificationMethods = []vigil.VerificationMethod{}
			r.DefaultVerificationMethod = "PASSKEY"
		})}, "rules[0].defaultVerificationMethod", "not one of"},
		{"BadDefault", []*vigil.Rule{with(func(r *vigil.Rule) { r.DefaultVerificationMethod = "FAX" })}, "rules[0].defaultVerificationMethod", "FAX"},
		{"BadPrompt", []*vigil.Rule{with(func(r *vigil.Rule) { r.PromptToEnrollMethods = []vigil.VerificationMethod{"FAX"} })}, "rules[0].promptToEnrollVerificationMethods[0]", "FAX"},
		{"ConditionsNotJSON", []*vigil.Rule{with(func(r *vigil.Rule) { r.Conditions = json.RawMessage(`{"and":[`) })}, "rules[0].conditions", ""},
		{"UnknownOperator", []*vigil.Rule{ok, ok2(), with(func(r *vigil.Rule) {
			r.Priority = 5
			r.Conditions = json.RawMessage(`{"and":[{"==":[1,1]},{"frobnicate":[1]}]}`)
		})}, "rules[2].conditions/and/1", "frobnicate"},
		{"WrongArity", []*vigil.Rule{with(func(r *vigil.Rule) { r.Conditions = json.RawMessage(`{"or":[{"!":[1,2]}]}`) })}, "rules[0].conditions/or/0", ""},
		{"UnknownList", []*vigil.Rule{with(func(r *vigil.Rule) {
			r.Conditions = json.RawMessage(`{"in":[{"var":"user.email"},{"var":"valueLists.deleted"}]}`)
		})}, "rules[0].conditions/in/1", "deleted"},
		{"BadCIDR", []*vigil.Rule{with(func(r *vigil.Rule) { r.Conditions = json.RawMessage(`{"cidr":[{"var":"ip.address"},"10.0.0.0/33"]}`) })}, "rules[0].conditions/cidr/1", ""},
		{"TooDeep", []*vigil.Rule{with(func(r *vigil.Rule) {
			r.Conditions = json.RawMessage(strings.Repeat(`{"!":`, 40) + "true" + strings.Repeat("}", 40))
		})}, "rules[0].conditions", "deep"},
		{"InactiveStillValidated", []*vigil.Rule{with(func(r *vigil.Rule) {
			r.IsActive = false
			r.Conditions = json.RawMessage(`{"nope":1}`)
		})}, "rules[0].conditions", "nope"},
		{"TooManyRules", manyRules(101), "rules[100]", "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.rules, jsonlogic.Options{Lists: lists})
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Compile error = %v, want *Error", err)
			}
			if !strings.HasPrefix(re.Path(), tt.wantPath) {
				t.Errorf("Path() = %q, want prefix %q", re.Path(), tt.wantPath)
			}
			if !strings.Contains(re.Message, tt.wantMsg) {
				t.Errorf("Message = %q, want it to contain %q", re.Message, tt.wantMsg)
			}
			if code := vigil.ErrorCode(err); code != vigil.EINVALID {
				t.Errorf("ErrorCode = %q, want %q", code, vigil.EINVALID)
			}
			if msg := vigil.ErrorMessage(err); !strings.HasPrefix(msg, tt.wantPath) {
				t.Errorf("ErrorMessage = %q, want it to start with the path %q", msg, tt.wantPath)
			}
		})
	}
}

func ok2() *vigil.Rule { return newRule("r2", 2, vigil.OutcomeReview, `{"==":[1,1]}`) }

func manyRules(n int) []*vigil.Rule {
	rs := make([]*vigil.Rule, n)
	for i := range rs {
		rs[i] = newRule(fmt.Sprint("r", i), i%100, vigil.OutcomeAllow, "")
	}
	return rs
}

func TestCompileErrorDetail(t *testing.T) {
	rs := []*vigil.Rule{ok2(), newRule("bad", 7, vigil.OutcomeBlock, `{"and":[true,{"in":[1]}]}`)}
	_, err := Compile(rs, jsonlogic.Options{})
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v", err)
	}
	if re.Index != 1 || re.RuleID != "bad" || re.Field != "conditions" || re.ConditionPath != "/and/1/in" {
		t.Errorf("Error = %+v, want rules[1] \"bad\" conditions /and/1/in", re)
	}
	var ce *jsonlogic.CompileError
	if !errors.As(err, &ce) || ce.Path != "/and/1/in" {
		t.Errorf("errors.As(*jsonlogic.CompileError) = %v", ce)
	}
	if got, want := err.Error(), "rules[1].conditions/and/1/in: "; !strings.HasPrefix(got, want) {
		t.Errorf("Error() = %q, want prefix %q", got, want)
	}
}

func TestSafeOutcomeOption(t *testing.T) {
	for _, o := range []vigil.Outcome{vigil.OutcomeAllow, "", "MAYBE"} {
		if _, err := Compile(nil, jsonlogic.Options{}, SafeOutcome(o)); vigil.ErrorCode(err) != vigil.EINVALID {
			t.Errorf("SafeOutcome(%q): err = %v, want EINVALID", o, err)
		}
	}
	s, err := Compile(nil, jsonlogic.Options{}, SafeOutcome(vigil.OutcomeReview))
	if err != nil || s.SafeOutcome() != vigil.OutcomeReview {
		t.Errorf("SafeOutcome(REVIEW): %v, %v", s.SafeOutcome(), err)
	}
}

func TestVarsSharedTable(t *testing.T) {
	table := jsonlogic.NewVarTable()
	rs := []*vigil.Rule{
		newRule("a", 3, vigil.OutcomeBlock, `{"and":[{"==":[{"var":"device.isNew"},true]},{">":[{"var":"custom.amount"},5]}]}`),
		newRule("b", 1, vigil.OutcomeReview, `{"==":[{"var":"device.isNew"},{"var":"ip.isAnonymous"}]}`),
		newRule("off", 2, vigil.OutcomeBlock, `{"==":[{"var":"user.email"},"x"]}`),
	}
	rs[2].IsActive = false
	s, err := Compile(rs, jsonlogic.Options{Vars: table})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"device.isNew", "ip.isAnonymous", "custom.amount"}, s.Vars()); diff != "" {
		t.Errorf("Vars() (-want +got):\n%s", diff)
	}
	if s.VarTable() != table || s.Len() != 2 || s.UsesLookup() {
		t.Errorf("VarTable/Len/UsesLookup = %p/%d/%v", s.VarTable(), s.Len(), s.UsesLookup())
	}
	// The inactive rule's variable is not in the table: data points are
	// planned from it.
	if slices.Contains(table.Names(), "user.email") {
		t.Errorf("table %q holds the inactive rule's variable", table.Names())
	}
	// One index per variable across rules: device.isNew read by both rules
	// is asked for once per index.
	names := table.Names()
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("variable %q interned %d times", n, c)
		}
	}
	dyn, err := Compile([]*vigil.Rule{newRule("d", 0, vigil.OutcomeBlock, `{"var":{"cat":["custom.","x"]}}`)}, jsonlogic.Options{})
	if err != nil || !dyn.UsesLookup() {
		t.Errorf("computed var: UsesLookup = %v, %v", dyn.UsesLookup(), err)
	}
}

func TestNilSetAndConfig(t *testing.T) {
	var s *Set
	d, err := s.Decide(testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != vigil.OutcomeAllow || d.DefaultVerificationMethod != vigil.MethodPasskey || len(d.RuleIDs) != 0 {
		t.Errorf("nil Set Decide = %+v", d)
	}
	if _, err := s.DecideTrace(testConfig, nil); err != nil {
		t.Error(err)
	}
	if s.Vars() != nil || s.Len() != 0 || s.SafeOutcome() != DefaultSafeOutcome {
		t.Error("nil Set accessors")
	}
	s2, _ := Compile(nil, jsonlogic.Options{})
	for _, cfg := range []*vigil.ActionConfig{nil, {ActionCode: "x"}, {DefaultOutcome: "SOMETIMES"}} {
		if _, err := s2.Decide(cfg, nil); !errors.Is(err, ErrNilConfig) {
			t.Errorf("Decide(%+v) err = %v, want ErrNilConfig", cfg, err)
		}
		if _, err := s2.DecideTrace(cfg, nil); !errors.Is(err, ErrNilConfig) {
			t.Errorf("DecideTrace(%+v) err = %v, want ErrNilConfig", cfg, err)
		}
	}
}

// panicData panics on every read: a broken data point layer.
type panicData struct{}

func (panicData) Var(int) (jsonlogic.Value, bool)       { panic("data point exploded") }
func (panicData) Lookup(string) (jsonlogic.Value, bool) { panic("data point exploded") }

// TestFailSafeData checks that a failure of the data layer (a panic) is a
// rule error that never ALLOWs. (Nil data is not a failure: no data points.)
func TestFailSafeData(t *testing.T) {
	rs := []*vigil.Rule{
		newRule("allow-known", 0, vigil.OutcomeAllow, `{"==":[{"var":"device.isNew"},false]}`),
		newRule("empty", 9, vigil.OutcomeAllow, ""),
	}
	s, err := Compile(rs, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]jsonlogic.Data{"Panic": panicData{}} {
		t.Run(name, func(t *testing.T) {
			for _, decide := range []func(*vigil.ActionConfig, jsonlogic.Data) (*vigil.Decision, error){s.Decide, s.DecideTrace} {
				d, err := decide(testConfig, data)
				if err != nil {
					t.Fatal(err)
				}
				if d.Outcome != vigil.OutcomeChallenge || d.PriorityRuleID != "allow-known" {
					t.Errorf("Outcome, PriorityRuleID = %v, %q; want CHALLENGE, allow-known", d.Outcome, d.PriorityRuleID)
				}
				var o Output
				if err := json.Unmarshal(d.Output, &o); err != nil {
					t.Fatal(err)
				}
				if o.DecidedBy != DecidedByRuleError || o.Rules[0].Error == "" || !o.Rules[0].Matched {
					t.Errorf("Output = %s", d.Output)
				}
			}
		})
	}
}

// TestFailSafeDefaultBudget checks a hostile rule against the default step
// budget: a quadratic reduce over a large input is stopped and decided
// safely.
func TestFailSafeDefaultBudget(t *testing.T) {
	rs := []*vigil.Rule{newRule("hostile", 0, vigil.OutcomeAllow,
		`{"reduce":[{"var":"custom.items"},{"merge":[{"var":"accumulator"},[{"var":"current"}]]},[]]}`)}
	s, err := Compile(rs, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]jsonlogic.Value, 5000)
	for i := range items {
		items[i] = jsonlogic.Number(float64(i))
	}
	data := s.Data(Points{"custom.items": jsonlogic.Array(items)})
	d, err := s.Decide(testConfig, data)
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != vigil.OutcomeChallenge {
		t.Errorf("Outcome = %v, want the safe CHALLENGE", d.Outcome)
	}
	if !strings.Contains(string(d.Output), "step budget") {
		t.Errorf("Output = %.300s, want the step budget error", d.Output)
	}
}

// TestDecideAllocs checks the hot path's budget: one allocation per
// decision once the explanation for the set of matches is cached.
func TestDecideAllocs(t *testing.T) {
	s, data := benchSet(t)
	if _, err := s.Decide(testConfig, data); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Decide(testConfig, data); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Decide allocates %.1f times per decision, want <= 1", allocs)
	}
}

// TestDecideTraceAllocs checks the traced path's budget: the Decision and
// its Output, whatever the number of rules explained (the traces reuse
// pooled storage).
func TestDecideTraceAllocs(t *testing.T) {
	s, data := benchSet(t)
	if _, err := s.DecideTrace(testConfig, data); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.DecideTrace(testConfig, data); err != nil {
			t.Fatal(err)
		}
	})
	if testenv.RaceDetector {
		t.Logf("%.1f allocations per decision; not checked under the race detector, whose sync.Pool drops items", allocs)
		return
	}
	// 2, plus a fraction should a collection empty the pool during the
	// runs; a trace allocated per rule explained would make it 20 or more.
	if allocs >= 3 {
		t.Errorf("DecideTrace allocates %.1f times per decision, want 2", allocs)
	}
}

// TestDecideConcurrent exercises the decision cache from many goroutines
// (run with -race) over every combination of matches of four rules.
func TestDecideConcurrent(t *testing.T) {
	var rs []*vigil.Rule
	for i := range 4 {
		rs = append(rs, newRule(fmt.Sprint("r", i), i, vigil.OutcomeReview, fmt.Sprintf(`{"==":[{"var":"b%d"},true]}`, i)))
	}
	s, err := Compile(rs, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range 16 {
				m = (m + g) % 16
				p := Points{}
				for i := range 4 {
					p[fmt.Sprint("b", i)] = jsonlogic.Bool(m&(1<<i) != 0)
				}
				d, err := s.Decide(testConfig, s.Data(p))
				if err != nil {
					t.Error(err)
					return
				}
				var want []string
				for i := range 4 {
					if m&(1<<i) != 0 {
						want = append(want, fmt.Sprint("r", i))
					}
				}
				if !cmp.Equal(d.RuleIDs, want) {
					t.Errorf("mask %04b: RuleIDs = %q, want %q", m, d.RuleIDs, want)
				}
			}
		}()
	}
	wg.Wait()
}

// TestDecisionSlicesClipped checks that appending to a decision's slices
// cannot write into another decision's.
func TestDecisionSlicesClipped(t *testing.T) {
	s, err := Compile([]*vigil.Rule{newRule("a", 0, vigil.OutcomeBlock, ""), newRule("b", 1, vigil.OutcomeBlock, "")}, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := s.Decide(testConfig, nil)
	_ = append(d1.RuleIDs, "x")
	_ = append(d1.Output, 'x')
	d2, _ := s.Decide(testConfig, nil)
	if !cmp.Equal(d2.RuleIDs, []string{"a", "b"}) || !json.Valid(d2.Output) {
		t.Errorf("second decision changed: %q %s", d2.RuleIDs, d2.Output)
	}
}

func TestPointsLookup(t *testing.T) {
	p, err := ParsePoints([]byte(`{"device.isNew": true, "ip": {"location": {"country": {"countryCode": "NZ"}}, "countryCode": "NZ"},
		"ip.countryCode": "AU", "ip.location": {"city": "Wellington"}, "list": [1, 2, 3]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"device.isNew", "true", true},
		{"device", "null", false},
		{"ip.countryCode", `"AU"`, true},                   // exact key beats nested
		{"ip.location.city", `"Wellington"`, true},         // longer prefix first
		{"ip.location.country.countryCode", "null", false}, // shadowed by the longer prefix
		{"list.1", "2", true},
		{"list.length", "3", true},
		{"nope.x", "null", false},
	}
	for _, tt := range tests {
		v, ok := p.Lookup(tt.path)
		if v.String() != tt.want || ok != tt.ok {
			t.Errorf("Lookup(%q) = %s, %v; want %s, %v", tt.path, v, ok, tt.want, tt.ok)
		}
	}
	if v, ok := p.Lookup(""); !ok || v.Kind() != jsonlogic.KindObject {
		t.Errorf(`Lookup("") = %v, %v`, v, ok)
	}
	for _, in := range []string{"", "null", " "} {
		if p, err := ParsePoints([]byte(in)); err != nil || len(p) != 0 {
			t.Errorf("ParsePoints(%q) = %v, %v", in, p, err)
		}
	}
	if _, err := ParsePoints([]byte(`[1]`)); err == nil {
		t.Error("ParsePoints([1]) succeeded")
	}
}

// TestReplayStoredOutput decides, stores the traced output, and replays its
// dataPoints through a draft rule set, as simulation will.
func TestReplayStoredOutput(t *testing.T) {
	live, err := Compile([]*vigil.Rule{
		newRule("new", 0, vigil.OutcomeChallenge, `{"and":[{"==":[{"var":"device.isNew"},true]},{">":[{"var":"custom.amount"},100]}]}`),
	}, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// device.isNew is false, so the and short-circuits; custom.amount is
	// still recorded because DecideTrace reads every variable.
	d, err := live.DecideTrace(testConfig, live.Data(Points{"device": jsonlogic.MustParseJSON(`{"isNew": false}`), "custom.amount": jsonlogic.Number(500)}))
	if err != nil {
		t.Fatal(err)
	}
	var stored Output
	if err := json.Unmarshal(d.Output, &stored); err != nil {
		t.Fatal(err)
	}
	draft, err := Compile([]*vigil.Rule{
		newRule("big", 0, vigil.OutcomeReview, `{">":[{"var":"custom.amount"},100]}`),
	}, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := draft.Decide(testConfig, draft.Data(stored.DataPoints))
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != vigil.OutcomeAllow || r.Outcome != vigil.OutcomeReview {
		t.Errorf("live %v, replayed draft %v; want ALLOW then REVIEW", d.Outcome, r.Outcome)
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 300)
	if got := clip(jsonlogic.String(long)).AsString(); len(got) > maxArgJSON+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("clip(long string) = %d bytes", len(got))
	}
	items := make([]jsonlogic.Value, 200)
	for i := range items {
		items[i] = jsonlogic.String("item")
	}
	if got := clip(jsonlogic.Array(items)).String(); got != `{"kind":"array","length":200,"truncated":true}` {
		t.Errorf("clip(array) = %s", got)
	}
	if got := clip(jsonlogic.Strings("a", "b")).String(); got != `["a","b"]` {
		t.Errorf("clip(small array) = %s", got)
	}
}
