package risk

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/datapoint"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/rules"
)

// ValueListVersioner is implemented by a vigil.ValueListService that can
// say when each list last changed without loading its items (sqlstore's
// does). Without it, RulesEvaluator reloads the lists its rules name
// whenever it reloads the rules.
type ValueListVersioner interface {
	ValueListVersions(ctx context.Context) (map[string]time.Time, error)
}

// RulesConfig holds the settings of a RulesEvaluator.
type RulesConfig struct {
	// CacheTTL is how long a compiled rule set is reused before the rules
	// are read again; 0 means DefaultConfigCacheTTL (1 s), which bounds how
	// long a change made by another server goes unseen. A negative value
	// reads the rules on every track.
	CacheTTL time.Duration
	// Sources are the data points' sources (IP intelligence, user-agent
	// parser, travel limits).
	Sources *datapoint.Sources
}

// RulesDeps are the services a RulesEvaluator reads. Versioner, Logger and
// Now may be nil.
type RulesDeps struct {
	Rules      vigil.RuleService
	ValueLists vigil.ValueListService
	RiskState  vigil.RiskStateService
	// Versioner, when not nil, changes after every configuration, rule or
	// value-list write in this process: cached rule sets are then reloaded
	// at once rather than at CacheTTL.
	Versioner ConfigVersioner
	Logger    *slog.Logger
	Now       func() time.Time
}

// RulesEvaluator decides actions by their rules (internal/rules) over the
// data points (internal/datapoint) the rules read. It caches each action's
// compiled rule set and value lists, and reads the user's history once per
// track, only the parts the rules need. It stores a traced explanation:
// every data point read, and per rule whether it matched and which
// sub-conditions failed. It is safe for concurrent use.
type RulesEvaluator struct {
	ttl     time.Duration
	sources *datapoint.Sources
	rules   vigil.RuleService
	lists   vigil.ValueListService
	state   vigil.RiskStateService
	listVer ValueListVersioner // lists when it is one
	version ConfigVersioner
	log     *slog.Logger
	now     func() time.Time

	group singleflight.Group

	mu    sync.Mutex
	sets  map[configKey]*setEntry
	cache map[listKey]*listEntry
}

// setEntry is the compiled rule set of one action. Entries are replaced,
// never modified.
type setEntry struct {
	set     *rules.Set
	plan    *datapoint.Plan
	version uint64
	until   time.Time

	// refreshAt is when, before until, a track starts reloading the entry
	// in the background, so that tracks do not all wait for the reload
	// when it expires; refreshing is set once one has.
	refreshAt  time.Time
	refreshing atomic.Bool
}

// refreshAhead is the part of the cache TTL after which a cached rule set is
// reloaded in the background while it is still served.
const refreshAhead = 0.8

type listKey struct{ tenantID, alias string }

// listEntry is one cached value list. The List is shared by every compiled
// rule set that names the alias and is refilled in place when the list
// changes.
type listEntry struct {
	list      *jsonlogic.List
	updatedAt time.Time
}

var (
	_ Evaluator        = (*RulesEvaluator)(nil)
	_ EnrollmentReader = (*RulesEvaluator)(nil)
)

// NewRulesEvaluator returns an evaluator over deps.
func NewRulesEvaluator(cfg RulesConfig, deps RulesDeps) *RulesEvaluator {
	e := &RulesEvaluator{
		ttl:     cfg.CacheTTL,
		sources: cfg.Sources,
		rules:   deps.Rules,
		lists:   deps.ValueLists,
		state:   deps.RiskState,
		version: deps.Versioner,
		log:     deps.Logger,
		now:     deps.Now,
		sets:    map[configKey]*setEntry{},
		cache:   map[listKey]*listEntry{},
	}
	if e.ttl == 0 {
		e.ttl = DefaultConfigCacheTTL
	}
	if e.sources == nil {
		e.sources = &datapoint.Sources{}
	}
	e.listVer, _ = deps.ValueLists.(ValueListVersioner)
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// Evaluate decides in under cfg and the action's rules.
func (e *RulesEvaluator) Evaluate(ctx context.Context, cfg *vigil.ActionConfig, in *Input) (*Evaluation, error) {
	entry, err := e.ruleSet(ctx, cfg.TenantID, cfg.ActionCode)
	if err != nil {
		return nil, err
	}
	// One read: the history the rules need, and the authenticators unless
	// the caller read them.
	need := entry.plan.Need()
	auths := in.Authenticators
	if auths == nil {
		need |= vigil.NeedAuthenticators
	}
	var st *vigil.RiskState
	if need != 0 {
		c := &in.Track.Context
		st, err = e.state.FindRiskState(ctx, &vigil.RiskQuery{
			UserID: in.Track.UserID, ActionCode: in.Track.ActionCode,
			DeviceID: c.DeviceID, IPAddress: c.IPAddress, Now: in.Now, Need: need, Fresh: in.Fresh,
		})
		if err != nil {
			return nil, err
		}
		if auths == nil {
			auths = st.Authenticators
		}
	}
	points := e.sources.Points(entry.plan, &datapoint.Input{
		Track: in.Track, Authenticators: auths, State: st, Now: in.Now, TimeZone: in.TimeZone,
	})
	dec, err := entry.set.DecideTrace(cfg, points)
	if err != nil {
		return nil, err
	}
	ev := &Evaluation{Decision: dec, Location: points.Location(), Authenticators: auths}
	if st != nil {
		ev.StateVersion = st.Version
	}
	return ev, nil
}

// ReadsEnrollment reports that the evaluator reads the user's
// authenticators with the rest of the history: the pipeline need not.
func (e *RulesEvaluator) ReadsEnrollment() bool { return true }

// Invalidate drops every cached rule set, so that the next track of each
// action reads its rules again.
func (e *RulesEvaluator) Invalidate() {
	e.mu.Lock()
	clear(e.sets)
	e.mu.Unlock()
}

// ruleSet returns the compiled rules of an action, from the cache while the
// entry is fresh. Concurrent misses of one action share one load.
func (e *RulesEvaluator) ruleSet(ctx context.Context, tenantID, code string) (*setEntry, error) {
	var version uint64
	if e.version != nil {
		version = e.version.ActionConfigVersion()
	}
	k := configKey{tenantID, code}
	if e.ttl > 0 {
		e.mu.Lock()
		entry, ok := e.sets[k]
		e.mu.Unlock()
		if now := e.now(); ok && entry.version == version && now.Before(entry.until) {
			if now.After(entry.refreshAt) && entry.refreshing.CompareAndSwap(false, true) {
				go func() {
					if _, err := e.reload(context.WithoutCancel(ctx), tenantID, code, version); err != nil {
						// The entry stays until it expires; a track then reloads it.
						e.log.WarnContext(ctx, "reload action rules", "tenant", tenantID, "action", code, "error", err)
					}
				}()
			}
			return entry, nil
		}
	}
	return e.reload(ctx, tenantID, code, version)
}

// reload loads and caches an action's rule set under version, sharing the
// load with concurrent reloads of the action.
func (e *RulesEvaluator) reload(ctx context.Context, tenantID, code string, version uint64) (*setEntry, error) {
	k := configKey{tenantID, code}
	v, err, _ := e.group.Do(tenantID+"\x00"+code, func() (any, error) {
		// Read the version before loading, so that a write committed
		// during the load leaves the entry stale rather than current. For
		// the same reason the entry's age counts from the load's start: a
		// write committed while the load runs, after it read the rules,
		// is applied at most a TTL later, however long the load took.
		start := e.now()
		entry, err := e.load(context.WithoutCancel(ctx), tenantID, code)
		if err != nil {
			return nil, err
		}
		entry.version = version
		if e.ttl > 0 {
			entry.until = start.Add(e.ttl)
			entry.refreshAt = start.Add(time.Duration(refreshAhead * float64(e.ttl)))
			e.mu.Lock()
			if len(e.sets) >= maxCachedConfigs {
				clear(e.sets)
			}
			e.sets[k] = entry
			e.mu.Unlock()
		}
		return entry, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*setEntry), nil
}

// load reads and compiles an action's rules with the value lists they name.
func (e *RulesEvaluator) load(ctx context.Context, tenantID, code string) (*setEntry, error) {
	rs, err := e.rules.FindRules(ctx, code)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		rs = nil // a new action: no configuration, no rules yet
	} else if err != nil {
		return nil, err
	}
	var versions map[string]time.Time
	var listErr error
	lists := func(alias string) (*jsonlogic.List, bool) {
		if listErr != nil {
			return nil, false
		}
		if versions == nil && e.listVer != nil {
			if versions, listErr = e.listVer.ValueListVersions(ctx); listErr != nil {
				return nil, false
			}
		}
		l, err := e.list(ctx, tenantID, alias, versions)
		if err != nil {
			if vigil.ErrorCode(err) != vigil.ENOTFOUND {
				listErr = err
			}
			return nil, false
		}
		return l, true
	}
	set, err := rules.Compile(rs, jsonlogic.Options{Lists: lists})
	if listErr != nil {
		return nil, listErr
	}
	if err != nil {
		// The store validates every rule set it saves, so this is a rule
		// saved by an older version or a list deleted underneath: decide
		// with the safe outcome rather than fall back to the default.
		e.log.ErrorContext(ctx, "action rules do not compile; deciding every action by the safe outcome",
			"tenant", tenantID, "action", code, "error", err)
		set, err = rules.Compile(brokenRuleSet(code), jsonlogic.Options{})
		if err != nil {
			return nil, fmt.Errorf("risk: compile the safe rule set: %w", err)
		}
	}
	return &setEntry{set: set, plan: datapoint.NewPlan(set.VarTable().Names())}, nil
}

// brokenRuleSet stands in for rules that no longer compile: one rule that
// always matches and challenges, named so that the stored explanation says
// why.
func brokenRuleSet(code string) []*vigil.Rule {
	return []*vigil.Rule{{
		ID: "rules-unavailable", Name: "The rules of " + code + " do not compile (see the server log)",
		IsActive: true, Priority: 0, Type: rules.DefaultSafeOutcome,
	}}
}

// list returns the shared List of a value list, reloading its items when
// versions says it changed (or, without versions, every time).
func (e *RulesEvaluator) list(ctx context.Context, tenantID, alias string, versions map[string]time.Time) (*jsonlogic.List, error) {
	k := listKey{tenantID, alias}
	e.mu.Lock()
	entry, ok := e.cache[k]
	var list *jsonlogic.List
	var updatedAt time.Time
	if ok {
		list, updatedAt = entry.list, entry.updatedAt
	}
	e.mu.Unlock()
	if ok && versions != nil {
		if at, exists := versions[alias]; exists && at.Equal(updatedAt) {
			return list, nil
		}
	}
	vl, err := e.lists.FindValueList(ctx, alias)
	if err != nil {
		return nil, err
	}
	items, err := listItems(vl)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.cache[k]; ok {
		// Refill in place: rule sets compiled earlier share the List.
		cur.list.Store(items)
		cur.updatedAt = vl.UpdatedAt
		return cur.list, nil
	}
	entry = &listEntry{list: jsonlogic.NewList(items), updatedAt: vl.UpdatedAt}
	e.cache[k] = entry
	return entry.list, nil
}

// listItems decodes a value list's items.
func listItems(vl *vigil.ValueList) ([]jsonlogic.Value, error) {
	if len(vl.Items) == 0 {
		return nil, nil
	}
	v, err := jsonlogic.ParseJSON(vl.Items)
	if err != nil {
		return nil, fmt.Errorf("risk: decode value list %q: %w", vl.Alias, err)
	}
	if v.IsNull() {
		return nil, nil
	}
	if v.Kind() != jsonlogic.KindArray {
		return nil, fmt.Errorf("risk: value list %q is not an array", vl.Alias)
	}
	return v.Elems(), nil
}
