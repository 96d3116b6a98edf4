package risk

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/datapoint"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/rules"
)

// DefaultSimulationBudget bounds the time one simulation spends replaying.
const DefaultSimulationBudget = 20 * time.Second

// SimulatorDeps are the services a Simulator reads. Now may be nil.
type SimulatorDeps struct {
	Configs   vigil.ActionConfigService
	Rules     vigil.RuleService
	Tenants   vigil.TenantService
	Actions   vigil.ActionScanner
	Evaluator *RulesEvaluator // for its value lists and data point sources
	Now       func() time.Time
	// Budget bounds the replay time; 0 means DefaultSimulationBudget.
	Budget time.Duration
}

// Simulator replays draft rules over stored actions. It reads only.
type Simulator struct {
	deps SimulatorDeps
}

var _ vigil.RuleSimulator = (*Simulator)(nil)

// NewSimulator returns a Simulator over deps.
func NewSimulator(deps SimulatorDeps) *Simulator {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Budget <= 0 {
		deps.Budget = DefaultSimulationBudget
	}
	return &Simulator{deps: deps}
}

// SimulateRules replays in's draft over the action's stored actions in the
// window, newest first. Each action's data points are those stored with it
// at track time; a data point the stored rules did not read is recomputed
// from the stored request when it needs no history (IP intelligence, user
// agent, custom data, time, enrolment), and is otherwise missing, counted
// in MissingDataPoints. The draft decides under the current action
// configuration; "before" is each action's stored outcome.
func (s *Simulator) SimulateRules(ctx context.Context, in *vigil.SimulationInput) (*vigil.SimulationResult, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := s.deps.Configs.FindActionConfig(ctx, in.ActionCode)
	if err != nil {
		return nil, err
	}
	draft, err := s.draft(ctx, in)
	if err != nil {
		return nil, err
	}
	e := s.deps.Evaluator
	var listErr error
	set, err := rules.Compile(draft, jsonlogic.Options{Lists: func(alias string) (*jsonlogic.List, bool) {
		l, err := e.list(ctx, tenantID, alias, nil)
		if err != nil {
			if vigil.ErrorCode(err) != vigil.ENOTFOUND {
				listErr = err
			}
			return nil, false
		}
		return l, true
	}})
	if listErr != nil {
		return nil, listErr
	}
	if err != nil {
		return nil, err
	}
	plan := datapoint.NewPlan(set.VarTable().Names())
	tz := time.UTC
	if t, err := s.deps.Tenants.FindTenantByID(ctx, tenantID); err != nil {
		return nil, err
	} else if t.TimeZone != "" {
		if loc, err := time.LoadLocation(t.TimeZone); err == nil {
			tz = loc
		}
	}

	now := s.deps.Now()
	res := &vigil.SimulationResult{ActionCode: in.ActionCode, From: in.From, To: in.To,
		Before: map[vigil.Outcome]int{}, After: map[vigil.Outcome]int{},
		ShadowMatches: map[string]int{}, MissingDataPoints: map[string]int{}}
	if res.To.IsZero() {
		res.To = now
	}
	if res.From.IsZero() {
		res.From = res.To.Add(-vigil.DefaultSimulationWindow)
	}
	if res.From.After(res.To) {
		return nil, vigil.Errorf(vigil.EINVALID, "from must not be after to.")
	}
	limit := in.Limit
	switch {
	case limit < 0 || limit > vigil.MaxSimulationLimit:
		return nil, vigil.Errorf(vigil.EINVALID, "limit must be between 1 and %d.", vigil.MaxSimulationLimit)
	case limit == 0:
		limit = vigil.DefaultSimulationLimit
	}
	samples := in.Samples
	switch {
	case samples < 0 || samples > vigil.MaxSimulationSamples:
		return nil, vigil.Errorf(vigil.EINVALID, "samples must be between 0 and %d.", vigil.MaxSimulationSamples)
	case samples == 0:
		samples = vigil.DefaultSimulationSamples
	}

	type key struct{ from, to vigil.Outcome }
	transitions := map[key]*vigil.SimulationTransition{}
	deadline := now.Add(s.deps.Budget)
	errBudget := errors.New("budget spent")
	err = s.deps.Actions.ScanActions(ctx, in.ActionCode, res.From, res.To, limit+1, func(a *vigil.Action) error {
		if res.Evaluated == limit || s.deps.Now().After(deadline) {
			res.Truncated = true
			return errBudget
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		res.Evaluated++
		dec, missing, err := replay(set, plan, e.sources, cfg, a, tz)
		if err != nil {
			return err
		}
		for _, m := range missing {
			res.MissingDataPoints[m]++
		}
		var out rules.Output
		if err := json.Unmarshal(dec.Output, &out); err != nil {
			return err
		}
		for _, sm := range out.ShadowMatches {
			res.ShadowMatches[sm.RuleID]++
		}
		if out.DecidedBy == rules.DecidedByRuleError || slices.ContainsFunc(out.Rules, func(r rules.RuleResult) bool { return r.Error != "" }) {
			res.RuleErrors++
		}
		before, after := a.Decision.Outcome, dec.Outcome
		res.Before[before]++
		res.After[after]++
		if before == after {
			return nil
		}
		res.Changed++
		k := key{before, after}
		tr := transitions[k]
		if tr == nil {
			tr = &vigil.SimulationTransition{From: before, To: after}
			transitions[k] = tr
		}
		tr.Count++
		if len(tr.Samples) < samples {
			tr.Samples = append(tr.Samples, vigil.SimulationSample{UserID: a.UserID, IdempotencyKey: a.IdempotencyKey,
				CreatedAt: a.CreatedAt, RuleID: dec.PriorityRuleID, StoredRuleID: a.Decision.PriorityRuleID})
		}
		return nil
	})
	if err != nil && !errors.Is(err, errBudget) {
		return nil, err
	}
	for _, tr := range transitions {
		res.Transitions = append(res.Transitions, *tr)
	}
	slices.SortFunc(res.Transitions, func(a, b vigil.SimulationTransition) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return res, nil
}

// replay decides one stored action with set.
func replay(set *rules.Set, plan *datapoint.Plan, src *datapoint.Sources, cfg *vigil.ActionConfig, a *vigil.Action, tz *time.Location) (*vigil.Decision, []string, error) {
	var stored struct {
		DataPoints json.RawMessage `json:"dataPoints"`
	}
	if len(a.Decision.Output) > 0 {
		if err := json.Unmarshal(a.Decision.Output, &stored); err != nil {
			return nil, nil, err
		}
	}
	recorded, err := rules.ParsePoints(stored.DataPoints)
	if err != nil {
		return nil, nil, err
	}
	auths := make([]*vigil.Authenticator, len(a.EnrolledMethods))
	for i, m := range a.EnrolledMethods {
		auths[i] = &vigil.Authenticator{Method: m}
	}
	pts := src.Points(plan, &datapoint.Input{
		Track:          &vigil.TrackInput{UserID: a.UserID, ActionCode: a.Code, Context: a.Context},
		Authenticators: auths,
		Now:            a.CreatedAt,
		TimeZone:       tz,
		Recorded:       recorded,
	})
	dec, err := set.Decide(cfg, pts)
	if err != nil {
		return nil, nil, err
	}
	return dec, pts.Missing(), nil
}

// draft returns the rule set to simulate: in.Rules, or the action's rules
// with in.Rule and in.RemoveRuleIDs applied.
func (s *Simulator) draft(ctx context.Context, in *vigil.SimulationInput) ([]*vigil.Rule, error) {
	var draft []*vigil.Rule
	if in.Rules != nil {
		draft = slices.Clone(in.Rules)
	} else {
		current, err := s.deps.Rules.FindRules(ctx, in.ActionCode)
		if err != nil {
			return nil, err
		}
		draft = current
	}
	for _, id := range in.RemoveRuleIDs {
		i := slices.IndexFunc(draft, func(r *vigil.Rule) bool { return r.ID == id })
		if i < 0 {
			return nil, vigil.Errorf(vigil.EINVALID, "removeRuleIds: the action has no rule %q.", id)
		}
		draft = slices.Delete(draft, i, i+1)
	}
	if r := in.Rule; r != nil {
		i := -1
		if r.ID != "" {
			i = slices.IndexFunc(draft, func(x *vigil.Rule) bool { return x.ID == r.ID })
		}
		if i >= 0 {
			draft[i] = r
		} else {
			draft = append(draft, r)
		}
	}
	for _, r := range draft {
		r.ActionCode = in.ActionCode
	}
	return draft, nil
}
