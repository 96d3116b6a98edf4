package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

var update = flag.Bool("update", false, "rewrite the want.json section of testdata/*.txtar")

// wireRule is a rule in the Management API's JSON field names.
type wireRule struct {
	RuleID                            string                     `json:"ruleId"`
	Name                              string                     `json:"name"`
	Description                       string                     `json:"description"`
	IsActive                          bool                       `json:"isActive"`
	IsShadow                          bool                       `json:"isShadow"`
	Priority                          int                        `json:"priority"`
	Type                              vigil.Outcome              `json:"type"`
	VerificationMethods               []vigil.VerificationMethod `json:"verificationMethods"`
	DefaultVerificationMethod         vigil.VerificationMethod   `json:"defaultVerificationMethod"`
	PromptToEnrollVerificationMethods []vigil.VerificationMethod `json:"promptToEnrollVerificationMethods"`
	Conditions                        json.RawMessage            `json:"conditions"`
}

func (w *wireRule) rule() *vigil.Rule {
	return &vigil.Rule{
		ID: w.RuleID, Name: w.Name, Description: w.Description, IsActive: w.IsActive, IsShadow: w.IsShadow,
		Priority: w.Priority, Type: w.Type, VerificationMethods: w.VerificationMethods,
		DefaultVerificationMethod: w.DefaultVerificationMethod, PromptToEnrollMethods: w.PromptToEnrollVerificationMethods,
		Conditions: w.Conditions,
	}
}

func parseRules(raw []byte) ([]*vigil.Rule, error) {
	var ws []*wireRule
	if err := json.Unmarshal(raw, &ws); err != nil {
		return nil, err
	}
	rs := make([]*vigil.Rule, len(ws))
	for i, w := range ws {
		if w != nil {
			rs[i] = w.rule()
		}
	}
	return rs, nil
}

// wireConfig is an action configuration in the Management API's names.
type wireConfig struct {
	ActionCode                        string                     `json:"actionCode"`
	DefaultUserActionResult           vigil.Outcome              `json:"defaultUserActionResult"`
	VerificationMethods               []vigil.VerificationMethod `json:"verificationMethods"`
	DefaultVerificationMethod         vigil.VerificationMethod   `json:"defaultVerificationMethod"`
	PromptToEnrollVerificationMethods []vigil.VerificationMethod `json:"promptToEnrollVerificationMethods"`
}

// goldenOptions is the optional -- options.json -- section.
type goldenOptions struct {
	MaxSteps    int           `json:"maxSteps"`
	SafeOutcome vigil.Outcome `json:"safeOutcome"`
}

// goldenWant is the -- want.json -- section.
type goldenWant struct {
	Vars                              []string                   `json:"vars"`
	Outcome                           vigil.Outcome              `json:"outcome"`
	RuleIDs                           []string                   `json:"ruleIds"`
	PriorityRuleID                    string                     `json:"priorityRuleId"`
	VerificationMethods               []vigil.VerificationMethod `json:"verificationMethods"`
	DefaultVerificationMethod         vigil.VerificationMethod   `json:"defaultVerificationMethod"`
	PromptToEnrollVerificationMethods []vigil.VerificationMethod `json:"promptToEnrollVerificationMethods"`
	Output                            json.RawMessage            `json:"output"`
}

// TestGolden runs testdata/*.txtar: rules.json (the rules, Management API
// field names), config.json (the action configuration), input.json (the
// data points: dotted keys and/or nested objects, see Points), optionally
// lists.json ({"alias": [items]}) and options.json ({"maxSteps": n,
// "safeOutcome": "BLOCK"}), against want.json: the Set's Vars, the decision
// and DecideTrace's Output. Decide (untraced) must make the same decision.
// go test -update rewrites want.json.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txtar")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ar := parseArchive(raw)
			got := runGolden(t, ar)
			want, _ := ar.get("want.json")
			if *update {
				ar.set("want.json", got)
				if err := os.WriteFile(file, ar.format(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !jsonEqual(t, got, want) {
				t.Errorf("want.json mismatch (-want +got):\n%s", cmp.Diff(string(want), string(got)))
			}
		})
	}
}

func section(t *testing.T, ar *archive, name string, v any) bool {
	t.Helper()
	raw, ok := ar.get(name)
	if !ok {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return true
}

// loadGolden compiles a golden case's rules and returns the set, the action
// configuration and the data points.
func loadGolden(t *testing.T, ar *archive) (*Set, *vigil.ActionConfig, jsonlogic.Data) {
	t.Helper()
	rawRules, ok := ar.get("rules.json")
	if !ok {
		t.Fatal("no rules.json")
	}
	rs, err := parseRules(rawRules)
	if err != nil {
		t.Fatalf("rules.json: %v", err)
	}
	var cfg wireConfig
	if !section(t, ar, "config.json", &cfg) {
		t.Fatal("no config.json")
	}
	var lists map[string][]jsonlogic.Value
	section(t, ar, "lists.json", &lists)
	var gopts goldenOptions
	section(t, ar, "options.json", &gopts)
	rawInput, _ := ar.get("input.json")
	points, err := ParsePoints(rawInput)
	if err != nil {
		t.Fatalf("input.json: %v", err)
	}

	opts := jsonlogic.Options{MaxSteps: gopts.MaxSteps, Lists: func(alias string) (*jsonlogic.List, bool) {
		items, ok := lists[alias]
		if !ok {
			return nil, false
		}
		return jsonlogic.NewList(items), true
	}}
	var extra []Option
	if gopts.SafeOutcome != "" {
		extra = append(extra, SafeOutcome(gopts.SafeOutcome))
	}
	set, err := Compile(rs, opts, extra...)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	ac := &vigil.ActionConfig{
		ActionCode: cfg.ActionCode, DefaultOutcome: cfg.DefaultUserActionResult,
		VerificationMethods: cfg.VerificationMethods, DefaultVerificationMethod: cfg.DefaultVerificationMethod,
		PromptToEnrollMethods: cfg.PromptToEnrollVerificationMethods,
	}
	return set, ac, set.Data(points)
}

func runGolden(t *testing.T, ar *archive) []byte {
	t.Helper()
	set, ac, data := loadGolden(t, ar)
	traced, err := set.DecideTrace(ac, data)
	if err != nil {
		t.Fatalf("DecideTrace: %v", err)
	}
	fast, err := set.Decide(ac, data)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	checkSameDecision(t, fast, traced)
	checkOutput(t, traced, true)
	checkOutput(t, fast, false)

	vars := set.Vars()
	if vars == nil {
		vars = []string{}
	}
	w := goldenWant{
		Vars:                              vars,
		Outcome:                           traced.Outcome,
		RuleIDs:                           traced.RuleIDs,
		PriorityRuleID:                    traced.PriorityRuleID,
		VerificationMethods:               traced.VerificationMethods,
		DefaultVerificationMethod:         traced.DefaultVerificationMethod,
		PromptToEnrollVerificationMethods: traced.PromptToEnrollMethods,
		Output:                            traced.Output,
	}
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// checkSameDecision asserts that Decide and DecideTrace decided alike and
// that their outputs agree rule by rule.
func checkSameDecision(t *testing.T, fast, traced *vigil.Decision) {
	t.Helper()
	strip := func(d *vigil.Decision) vigil.Decision { c := *d; c.Output = nil; return c }
	if diff := cmp.Diff(strip(traced), strip(fast)); diff != "" {
		t.Errorf("Decide and DecideTrace disagree (-DecideTrace +Decide):\n%s", diff)
	}
	var fo, to Output
	if err := json.Unmarshal(fast.Output, &fo); err != nil {
		t.Fatalf("Decide Output: %v", err)
	}
	if err := json.Unmarshal(traced.Output, &to); err != nil {
		t.Fatalf("DecideTrace Output: %v", err)
	}
	for i := range to.Rules {
		to.Rules[i].Failed = nil
	}
	to.Traced, to.DataPoints = false, nil
	if diff := cmp.Diff(to, fo, cmp.Comparer(func(a, b jsonlogic.Value) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("Decide and DecideTrace outputs disagree (-DecideTrace +Decide):\n%s", diff)
	}
}

// checkOutput asserts the invariants every decision has.
func checkOutput(t *testing.T, d *vigil.Decision, traced bool) {
	t.Helper()
	if !d.Outcome.Valid() {
		t.Errorf("Outcome = %q, not valid", d.Outcome)
	}
	if !bytes.HasPrefix(d.Output, []byte("{")) || !json.Valid(d.Output) {
		t.Fatalf("Output = %s, want a JSON object", d.Output)
	}
	var o Output
	if err := json.Unmarshal(d.Output, &o); err != nil {
		t.Fatal(err)
	}
	if o.Version != OutputVersion || o.Traced != traced || o.Rules == nil || o.ShadowMatches == nil {
		t.Errorf("Output = %s: bad version, traced, rules or shadowMatches", d.Output)
	}
	if traced && o.DataPoints == nil {
		t.Errorf("traced Output has no dataPoints: %s", d.Output)
	}
	if d.PriorityRuleID != "" && (len(d.RuleIDs) == 0 || d.RuleIDs[0] != d.PriorityRuleID) {
		t.Errorf("PriorityRuleID = %q, RuleIDs = %q: want it first", d.PriorityRuleID, d.RuleIDs)
	}
	if len(d.Rules) != len(d.RuleIDs) {
		t.Errorf("len(Rules) = %d, len(RuleIDs) = %d", len(d.Rules), len(d.RuleIDs))
	}
	for _, r := range o.Rules {
		if r.Error != "" && !r.Shadow && d.Outcome == vigil.OutcomeAllow && d.PriorityRuleID == "" {
			t.Errorf("rule %q failed and the outcome is the implicit default ALLOW", r.RuleID)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
