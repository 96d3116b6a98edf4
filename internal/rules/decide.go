package rules

import (
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// OutputVersion is the version of the Output shape; it changes only with an
// incompatible change.
const OutputVersion = 1

// Values of Output.DecidedBy.
const (
	DecidedByRule      = "rule"      // a rule matched and decided
	DecidedByRuleError = "ruleError" // the deciding rule failed to evaluate (fail safe)
	DecidedByDefault   = "default"   // no rule matched: the configuration's defaults
)

// Output is the explanation Decide and DecideTrace store in
// Decision.Output, as JSON. The shape is documented in the package
// documentation; fields are only ever added.
type Output struct {
	// Version is OutputVersion.
	Version int `json:"version"`
	// Traced tells DecideTrace's output (with DataPoints and Failed) from
	// Decide's.
	Traced bool `json:"traced"`
	// DecidedBy is DecidedByRule, DecidedByRuleError or DecidedByDefault.
	DecidedBy string `json:"decidedBy"`
	// DataPoints maps each variable the active rules read (dotted path) to
	// its value, null when unavailable. Traced output only.
	DataPoints map[string]jsonlogic.Value `json:"dataPoints,omitzero"`
	// Rules has one entry per evaluated (active) rule, by priority.
	Rules []RuleResult `json:"rules"`
	// ShadowMatches lists the shadow rules that would have matched, by
	// priority.
	ShadowMatches []ShadowMatch `json:"shadowMatches"`
}

// RuleResult is how one rule evaluated.
type RuleResult struct {
	RuleID   string        `json:"ruleId"`
	Name     string        `json:"name"`
	Priority int           `json:"priority"`
	Type     vigil.Outcome `json:"type"`
	// Shadow marks a shadow rule: recorded, never deciding.
	Shadow bool `json:"shadow,omitempty"`
	// Matched is whether the decision counted the rule as matching. A rule
	// whose evaluation failed counts as matching (see Error).
	Matched bool `json:"matched"`
	// Error is the evaluation error, if any.
	Error string `json:"error,omitempty"`
	// Failed lists, for a rule that did not match (traced output only), the
	// sub-conditions that made it false.
	Failed []Condition `json:"failed,omitempty"`
}

// Condition is one sub-condition of a rule and what it evaluated to.
type Condition struct {
	// Path is the JSON Pointer of the operation inside the rule's
	// conditions ("/and/1"; "" for the root).
	Path string `json:"path"`
	// Op is the operator ("==", "in", "cidr", "!", ...); "" when the root
	// is not a logical operation or comparison.
	Op string `json:"op,omitempty"`
	// Args are the evaluated operands of a comparison, in or cidr test.
	// Values larger than 256 bytes of JSON are summarized as
	// {"truncated":true,"kind":...,"length":...}.
	Args []jsonlogic.Value `json:"args,omitempty"`
	// List is the value-list alias of an in-list test (its only Arg is the
	// value looked up).
	List string `json:"list,omitempty"`
	// Value is what the sub-condition evaluated to.
	Value jsonlogic.Value `json:"value"`
}

// ShadowMatch is a shadow rule that would have matched.
type ShadowMatch struct {
	RuleID   string `json:"ruleId"`
	Name     string `json:"name"`
	Priority int    `json:"priority"`
	// Outcome is the rule's type: the outcome it would produce if it decided.
	Outcome vigil.Outcome `json:"outcome"`
	// WouldDecide is whether enforcing the rule would have changed the
	// deciding rule: it has a lower priority number than the rule that
	// decided, or no rule decided.
	WouldDecide bool `json:"wouldDecide"`
}

// result is one rule's evaluation.
type result struct {
	matched bool
	err     string
	trace   *jsonlogic.Trace // DecideTrace only
}

// template is the part of a decision that depends only on the rules'
// results, not on the configuration. Templates are shared read-only.
type template struct {
	ruleIDs    []string
	snaps      []vigil.RuleSnapshot
	decider    *rule // nil: the configuration's default
	deciderErr bool
	output     json.RawMessage // untraced
}

// matchKey is the set of matching rules (bit i: s.rules[i]).
type matchKey [(MaxRules + 63) / 64]uint64

func (k *matchKey) set(i int)      { k[i/64] |= 1 << (i % 64) }
func (k *matchKey) has(i int) bool { return k[i/64]&(1<<(i%64)) != 0 }

// maxMemo bounds the decisions a Set caches: 2^10 covers every outcome of
// 10 rules.
const maxMemo = 1024

var emptySet = &Set{safe: DefaultSafeOutcome}

// Decide evaluates the active rules against data and returns the decision
// under cfg, with an untraced Output (no data points, no failed
// sub-conditions). It is the fast path: when no rule errors it allocates
// only the returned Decision, whose slices and Output are shared with other
// decisions and with cfg and must not be modified.
//
// A rule whose evaluation fails never leads to an implicit ALLOW: see the
// package documentation. The error is ErrNilConfig when cfg is nil or its
// default outcome is invalid; evaluation errors are not returned, they are
// decided on and recorded in Output. Decide is safe for concurrent use.
func (s *Set) Decide(cfg *vigil.ActionConfig, data jsonlogic.Data) (*vigil.Decision, error) {
	if cfg == nil || !cfg.DefaultOutcome.Valid() {
		return nil, ErrNilConfig
	}
	if s == nil {
		s = emptySet
	}
	var key matchKey
	var errs []ruleError
	for i, r := range s.rules {
		ok, err := r.prog.Match(data)
		if err != nil {
			errs = append(errs, ruleError{i, err.Error()})
		} else if ok {
			key.set(i)
		}
	}
	if errs != nil {
		res := s.results(key)
		for _, e := range errs {
			res[e.i].err = e.msg
		}
		t := s.build(res)
		return s.decision(t, t.output, cfg), nil
	}
	t := s.cached(key)
	return s.decision(t, t.output, cfg), nil
}

type ruleError struct {
	i   int
	msg string
}

// DecideTrace is Decide with a traced Output: the values of every data point
// the active rules read (Vars, plus any path computed at run time) and, per
// rule that did not match, the sub-conditions that failed. It reads every
// variable in Vars through data, even those a short-circuit skipped, so
// that the stored data points can replay any rule over the same variables.
// It allocates the Decision and its Output only: the traces of the rules
// that did not match are built in storage pooled with the Set, and the
// slices other than Output are shared as Decide's are.
//
// It decides exactly as Decide does: the rules are evaluated with Match,
// and only those that did not match are evaluated again with Explain to
// explain why (a trace that itself fails, say on the step budget, which
// tracing spends differently, leaves the rule without "failed").
// DecideTrace is safe for concurrent use.
func (s *Set) DecideTrace(cfg *vigil.ActionConfig, data jsonlogic.Data) (*vigil.Decision, error) {
	if cfg == nil || !cfg.DefaultOutcome.Valid() {
		return nil, ErrNilConfig
	}
	if s == nil {
		s = emptySet
	}
	var rec *lookupRecorder
	if s.usesLookup && data != nil {
		rec = &lookupRecorder{inner: data, points: map[string]jsonlogic.Value{}}
		data = rec
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	res := sc.results(len(s.rules))
	var key matchKey
	anyErr := false
	for i, r := range s.rules {
		ok, err := r.prog.Match(data)
		switch {
		case err != nil:
			res[i].err = err.Error()
			anyErr = true
		case ok:
			res[i].matched = true
			key.set(i)
		default:
			_, res[i].trace = r.prog.ExplainInto(data, sc.trace(i, len(s.rules)))
		}
	}
	pts := s.dataPoints(sc, data, rec)
	var t *template
	if anyErr {
		t = s.decide(res)
	} else {
		t = s.cached(key) // the same decision, shared with Decide
	}
	sc.buf = s.appendOutput(sc.buf[:0], res, t, &pts)
	out := make(json.RawMessage, len(sc.buf))
	copy(out, sc.buf)
	return s.decision(t, out, cfg), nil
}

// lookupRecorder records the paths read through Lookup (computed at run
// time, so not in Vars) for the traced data points.
type lookupRecorder struct {
	inner  jsonlogic.Data
	points map[string]jsonlogic.Value
}

func (r *lookupRecorder) Var(i int) (jsonlogic.Value, bool) { return r.inner.Var(i) }

func (r *lookupRecorder) Lookup(path string) (jsonlogic.Value, bool) {
	v, ok := r.inner.Lookup(path)
	if path != "" { // "" is the whole data, not a data point
		r.points[path] = v
	}
	return v, ok
}

// points are a traced output's data points: the set's variables (vals, in
// the order of s.vars) and the paths read through Lookup that are not among
// them (extra, sorted by path).
type points struct {
	vals  []jsonlogic.Value
	extra []point
}

type point struct {
	path string
	val  jsonlogic.Value
}

// dataPoints reads every variable of the set and collects the paths rec
// recorded that are not variables.
func (s *Set) dataPoints(sc *scratch, data jsonlogic.Data, rec *lookupRecorder) points {
	for j := range s.vars {
		sc.vals = append(sc.vals, readVar(data, s.varIDs[j]))
	}
	if rec != nil {
		for p, v := range rec.points {
			if !s.isVar(p) {
				sc.extra = append(sc.extra, point{p, v})
			}
		}
		slices.SortFunc(sc.extra, func(a, b point) int { return strings.Compare(a.path, b.path) })
	}
	return points{vals: sc.vals, extra: sc.extra}
}

// isVar reports whether path is one of s.vars.
func (s *Set) isVar(path string) bool {
	_, ok := slices.BinarySearchFunc(s.sortedVars, path, func(j int, p string) int { return strings.Compare(s.vars[j], p) })
	return ok
}

// readVar reads variable i, as null if data lacks it, is nil or panics.
func readVar(data jsonlogic.Data, i int) (v jsonlogic.Value) {
	if data == nil {
		return jsonlogic.Null()
	}
	defer func() {
		if recover() != nil {
			v = jsonlogic.Null()
		}
	}()
	v, ok := data.Var(i)
	if !ok {
		return jsonlogic.Null()
	}
	return v
}

// results returns untraced results for the matches in key.
func (s *Set) results(key matchKey) []result {
	res := make([]result, len(s.rules))
	for i := range res {
		res[i].matched = key.has(i)
	}
	return res
}

// cached returns the untraced template for key, building and caching it on
// first use. Reads are lock-free; writers copy the map.
func (s *Set) cached(key matchKey) *template {
	if m := s.memo.Load(); m != nil {
		if t, ok := (*m)[key]; ok {
			return t
		}
	}
	t := s.build(s.results(key))
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	old := s.memo.Load()
	if old == nil {
		m := map[matchKey]*template{key: t}
		s.memo.Store(&m)
	} else if _, ok := (*old)[key]; !ok && len(*old) < maxMemo {
		m := make(map[matchKey]*template, len(*old)+1)
		for k, v := range *old {
			m[k] = v
		}
		m[key] = t
		s.memo.Store(&m)
	}
	return t
}

// build returns the template for the rules' results with its untraced
// output.
func (s *Set) build(res []result) *template {
	t := s.decide(res)
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.buf = s.appendOutput(sc.buf[:0], res, t, nil)
	t.output = append(make(json.RawMessage, 0, len(sc.buf)), sc.buf...)
	return t
}

// decide applies the rule semantics to the rules' results: every non-shadow
// rule that matched or failed is recorded, the first one (lowest priority
// number) decides. The template it returns has no output.
func (s *Set) decide(res []result) *template {
	t := &template{}
	for i, r := range s.rules {
		if r.shadow || !res[i].counted(r) {
			continue
		}
		t.ruleIDs = append(t.ruleIDs, r.id)
		t.snaps = append(t.snaps, r.snap)
		if t.decider == nil {
			t.decider, t.deciderErr = r, res[i].err != ""
		}
	}
	t.ruleIDs, t.snaps = t.ruleIDs[:len(t.ruleIDs):len(t.ruleIDs)], t.snaps[:len(t.snaps):len(t.snaps)]
	return t
}

// counted reports whether the decision counts r's result as matching: a
// non-shadow rule that failed does (fail safe).
func (res *result) counted(r *rule) bool {
	return res.matched || res.err != "" && !r.shadow
}

// decision fills a Decision from a template, an output and the
// configuration.
func (s *Set) decision(t *template, output json.RawMessage, cfg *vigil.ActionConfig) *vigil.Decision {
	d := &vigil.Decision{RuleIDs: t.ruleIDs, Rules: t.snaps, Output: output}
	r := t.decider
	if r == nil {
		d.Outcome = cfg.DefaultOutcome
		d.VerificationMethods = cfg.VerificationMethods
		d.DefaultVerificationMethod = cfg.DefaultVerificationMethod
		d.PromptToEnrollMethods = cfg.PromptToEnrollMethods
		return d
	}
	d.PriorityRuleID = r.id
	d.Outcome = r.typ
	if t.deciderErr && r.typ == vigil.OutcomeAllow {
		d.Outcome = s.safe
	}
	d.VerificationMethods, d.DefaultVerificationMethod = r.methods, r.defMethod
	if r.methods == nil {
		d.VerificationMethods = cfg.VerificationMethods
		if r.defMethod == "" {
			d.DefaultVerificationMethod = cfg.DefaultVerificationMethod
		}
	}
	d.PromptToEnrollMethods = r.prompt
	return d
}

// maxArgJSON is the largest operand, in bytes of JSON, recorded verbatim.
const maxArgJSON = 256

// clip summarizes values too large to store per failed condition.
func clip(v jsonlogic.Value) jsonlogic.Value {
	switch v.Kind() {
	case jsonlogic.KindString:
		s := v.AsString()
		if len(s) <= maxArgJSON {
			return v
		}
		cut := maxArgJSON
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return jsonlogic.String(s[:cut] + "…")
	case jsonlogic.KindArray, jsonlogic.KindObject:
		if b, _ := v.MarshalJSON(); len(b) <= maxArgJSON {
			return v
		}
		return jsonlogic.Object(map[string]jsonlogic.Value{
			"truncated": jsonlogic.Bool(true),
			"kind":      jsonlogic.String(v.Kind().String()),
			"length":    jsonlogic.Number(float64(v.Len())),
		})
	}
	return v
}
