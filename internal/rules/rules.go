package rules

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// MaxRules is the largest number of rules one action can have: priorities
// are 0..vigil.MaxRulePriority and unique.
const MaxRules = vigil.MaxRulePriority + 1

// DefaultSafeOutcome is the outcome a rule that fails to evaluate leads to
// when it cannot decide by its own type (see the package documentation).
const DefaultSafeOutcome = vigil.OutcomeChallenge

// Error reports a rule that fails validation. Its message is safe to show to
// a Management API client: it is a *vigil.Error with code vigil.EINVALID in
// the chain, so vigil.ErrorCode returns EINVALID (a 400).
type Error struct {
	// Index is the rule's position in the slice given to Compile.
	Index int
	// RuleID is the rule's ID ("" for a rule not yet stored).
	RuleID string
	// Field is the offending field, by its Management API name:
	// "name", "priority", "type", "verificationMethods[1]",
	// "defaultVerificationMethod", "promptToEnrollVerificationMethods[0]",
	// "conditions", "ruleId", or "" for the rule as a whole.
	Field string
	// ConditionPath is, for a condition that does not compile, the JSON
	// Pointer of the offending node inside the conditions ("/and/1"; "" for
	// the root).
	ConditionPath string
	// Message says what is wrong.
	Message string
	// Err is the underlying error: a *jsonlogic.CompileError for conditions.
	Err error
}

// Path locates the error in the rule list: "rules[2].conditions/and/1",
// "rules[0].priority", "rules[3]".
func (e *Error) Path() string {
	p := "rules[" + strconv.Itoa(e.Index) + "]"
	if e.Field != "" {
		p += "." + e.Field
	}
	return p + e.ConditionPath
}

// Error implements error.
func (e *Error) Error() string { return e.Path() + ": " + e.Message }

// Unwrap returns the client-safe *vigil.Error (EINVALID) and the underlying
// error, if any.
func (e *Error) Unwrap() []error {
	errs := []error{&vigil.Error{Code: vigil.EINVALID, Message: e.Error()}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Option configures Compile beyond the condition compiler's options.
type Option func(*settings)

type settings struct {
	safe vigil.Outcome
}

// SafeOutcome sets the outcome that an ALLOW rule whose conditions fail to
// evaluate leads to (see the package documentation). It must be CHALLENGE,
// REVIEW or BLOCK; the default is DefaultSafeOutcome.
func SafeOutcome(o vigil.Outcome) Option { return func(s *settings) { s.safe = o } }

// ErrNilConfig is returned by Decide and DecideTrace when the action
// configuration is nil or its default outcome is not valid: the caller must
// not turn that into an ALLOW.
var ErrNilConfig = errors.New("rules: no valid action configuration")

// rule is a validated, compiled rule.
type rule struct {
	id        string
	name      string
	priority  int
	typ       vigil.Outcome
	shadow    bool
	methods   []vigil.VerificationMethod // nil: the configuration's
	defMethod vigil.VerificationMethod
	prompt    []vigil.VerificationMethod
	snap      vigil.RuleSnapshot
	prog      *jsonlogic.Program
	// resultJSON and shadowJSON are the constant beginnings of the rule's
	// entries in Output.rules and Output.shadowMatches (see encodeRule).
	resultJSON, shadowJSON string
}

// Set is a compiled, validated rule set for one action: the active rules in
// priority order. It is immutable (apart from internal caches) and safe
// for concurrent use. A nil *Set has no rules: it decides every action by
// the configuration's defaults.
type Set struct {
	rules      []*rule // active rules, by priority
	table      *jsonlogic.VarTable
	names      []string // table.Names() when compiled; indexes never change
	vars       []string // union of the active rules' variables
	varIDs     []int    // table index of each of vars
	usesLookup bool
	safe       vigil.Outcome
	sortedVars []int    // indexes into vars, by path: dataPoints' key order
	varKeys    []string // JSON key (with the colon) of each of vars

	pool sync.Pool // *scratch, for DecideTrace and build

	memo   atomic.Pointer[map[matchKey]*template] // copy-on-write
	memoMu sync.Mutex                             // serializes memo writers
}

// Compile validates every rule and compiles the conditions of the active
// ones into a Set. Every rule is validated, active or not: a name, a
// priority in 0..99 unique among rules, a valid type, valid verification
// methods (each at most once) with the default among them when both are
// set, no duplicate non-empty rule IDs, and conditions that compile with
// opts. Inactive rules are then left out of evaluation.
//
// All the conditions share one variable table, opts.Vars (a new one if nil),
// so each variable has one index for the Data given to Decide.
//
// The error is a *Error for the first offending rule (in slice order) or,
// for an invalid SafeOutcome option, a *vigil.Error with code EINVALID.
func Compile(rules []*vigil.Rule, opts jsonlogic.Options, options ...Option) (*Set, error) {
	st := settings{safe: DefaultSafeOutcome}
	for _, o := range options {
		o(&st)
	}
	if !st.safe.Valid() || st.safe == vigil.OutcomeAllow {
		return nil, vigil.Errorf(vigil.EINVALID, "The safe outcome must be CHALLENGE, REVIEW or BLOCK, not %q.", st.safe)
	}
	if len(rules) > MaxRules {
		return nil, &Error{Index: MaxRules, Message: fmt.Sprintf("an action can have at most %d rules", MaxRules)}
	}
	if opts.Vars == nil {
		opts.Vars = jsonlogic.NewVarTable()
	}
	s := &Set{table: opts.Vars, safe: st.safe}
	priorities := make(map[int]int, len(rules))
	ids := make(map[string]int, len(rules))
	// An inactive rule is compiled to be checked, then dropped: its
	// variables go to a table of their own, so that the set's table (and
	// the data points, and the history a track reads for them) holds only
	// what the active rules read.
	inactive := opts
	inactive.Vars = jsonlogic.NewVarTable()
	for i, r := range rules {
		o := opts
		if r != nil && !r.IsActive {
			o = inactive
		}
		cr, err := compileRule(i, r, o)
		if err != nil {
			return nil, err
		}
		if j, dup := priorities[r.Priority]; dup {
			return nil, &Error{Index: i, RuleID: r.ID, Field: "priority",
				Message: fmt.Sprintf("priority %d is already used by rules[%d]; priorities must be unique per action", r.Priority, j)}
		}
		priorities[r.Priority] = i
		if r.ID != "" {
			if j, dup := ids[r.ID]; dup {
				return nil, &Error{Index: i, RuleID: r.ID, Field: "ruleId",
					Message: fmt.Sprintf("ruleId %q is already used by rules[%d]", r.ID, j)}
			}
			ids[r.ID] = i
		}
		if r.IsActive {
			s.rules = append(s.rules, cr)
		}
	}
	sort.Slice(s.rules, func(i, j int) bool { return s.rules[i].priority < s.rules[j].priority })
	s.names = s.table.Names()
	seen := map[string]bool{}
	for _, r := range s.rules {
		for _, v := range r.prog.Vars() {
			if !seen[v] {
				seen[v] = true
				s.vars = append(s.vars, v)
				i, _ := s.table.Index(v)
				s.varIDs = append(s.varIDs, i)
			}
		}
		s.usesLookup = s.usesLookup || r.prog.UsesLookup()
	}
	s.encodeVars()
	return s, nil
}

func compileRule(i int, r *vigil.Rule, opts jsonlogic.Options) (*rule, error) {
	if r == nil {
		return nil, &Error{Index: i, Message: "rule is null"}
	}
	bad := func(field, format string, args ...any) error {
		return &Error{Index: i, RuleID: r.ID, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(r.Name) == "" {
		return nil, bad("name", "name is required")
	}
	if r.Priority < 0 || r.Priority > vigil.MaxRulePriority {
		return nil, bad("priority", "priority must be between 0 and %d, not %d", vigil.MaxRulePriority, r.Priority)
	}
	if !r.Type.Valid() {
		return nil, bad("type", "type must be ALLOW, CHALLENGE, REVIEW or BLOCK, not %q", r.Type)
	}
	if err := checkMethods(r.VerificationMethods, func(j int, format string, args ...any) error {
		return bad("verificationMethods["+strconv.Itoa(j)+"]", format, args...)
	}); err != nil {
		return nil, err
	}
	if r.DefaultVerificationMethod != "" {
		if !r.DefaultVerificationMethod.Valid() {
			return nil, bad("defaultVerificationMethod", "%q is not a verification method", r.DefaultVerificationMethod)
		}
		if r.VerificationMethods != nil && !contains(r.VerificationMethods, r.DefaultVerificationMethod) {
			return nil, bad("defaultVerificationMethod", "%q is not one of the rule's verificationMethods", r.DefaultVerificationMethod)
		}
	}
	if err := checkMethods(r.PromptToEnrollMethods, func(j int, format string, args ...any) error {
		return bad("promptToEnrollVerificationMethods["+strconv.Itoa(j)+"]", format, args...)
	}); err != nil {
		return nil, err
	}
	prog, err := jsonlogic.Compile(r.Conditions, opts)
	if err != nil {
		e := &Error{Index: i, RuleID: r.ID, Field: "conditions", Message: err.Error(), Err: err}
		var ce *jsonlogic.CompileError
		if errors.As(err, &ce) {
			e.ConditionPath, e.Message = ce.Path, ce.Message
		}
		return nil, e
	}
	cr := &rule{
		id:        r.ID,
		name:      r.Name,
		priority:  r.Priority,
		typ:       r.Type,
		shadow:    r.IsShadow,
		methods:   clone(r.VerificationMethods),
		defMethod: r.DefaultVerificationMethod,
		prompt:    clone(r.PromptToEnrollMethods),
		snap:      vigil.RuleSnapshot{ID: r.ID, Name: r.Name, Description: r.Description},
		prog:      prog,
	}
	encodeRule(cr)
	return cr, nil
}

func checkMethods(ms []vigil.VerificationMethod, bad func(j int, format string, args ...any) error) error {
	for j, m := range ms {
		if !m.Valid() {
			return bad(j, "%q is not a verification method", m)
		}
		if contains(ms[:j], m) {
			return bad(j, "%q is listed twice", m)
		}
	}
	return nil
}

func contains(ms []vigil.VerificationMethod, m vigil.VerificationMethod) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// clone copies ms with no spare capacity, keeping nil as nil (nil means "the
// configuration's"; an empty list is a real value).
func clone(ms []vigil.VerificationMethod) []vigil.VerificationMethod {
	if ms == nil {
		return nil
	}
	return append(make([]vigil.VerificationMethod, 0, len(ms)), ms...)
}

// Len returns the number of active rules (shadow rules included).
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// Vars returns the union of the variables the active rules read (shadow
// rules included), in priority order of first reference, each once. These
// are the data points to compute for a decision; Data.Var is asked for them
// by their index in VarTable. Value lists are not variables.
func (s *Set) Vars() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.vars...)
}

// VarTable returns the variable table the rules' var indexes refer to.
func (s *Set) VarTable() *jsonlogic.VarTable {
	if s == nil {
		return nil
	}
	return s.table
}

// UsesLookup reports whether an active rule reads a variable whose path is
// computed at run time, so that Data.Lookup can be called with a path not in
// Vars.
func (s *Set) UsesLookup() bool { return s != nil && s.usesLookup }

// SafeOutcome returns the outcome an erroring ALLOW rule leads to.
func (s *Set) SafeOutcome() vigil.Outcome {
	if s == nil {
		return DefaultSafeOutcome
	}
	return s.safe
}
