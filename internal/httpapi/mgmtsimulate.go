package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-auth/vigil"
)

// simulationResponse is the answer of POST .../{actionCode}/simulate.
type simulationResponse struct {
	ActionCode        string                 `json:"actionCode"`
	From              string                 `json:"from"`
	To                string                 `json:"to"`
	Evaluated         int                    `json:"evaluated"`
	Truncated         bool                   `json:"truncated"`
	Changed           int                    `json:"changed"`
	Outcomes          simulationOutcomes     `json:"outcomes"`
	Transitions       []simulationTransition `json:"transitions"`
	ShadowMatches     map[string]int         `json:"shadowMatches"`
	MissingDataPoints map[string]int         `json:"missingDataPoints"`
	RuleErrors        int                    `json:"ruleErrors"`
}

type simulationOutcomes struct {
	Before map[vigil.Outcome]int `json:"before"`
	After  map[vigil.Outcome]int `json:"after"`
}

type simulationTransition struct {
	From    vigil.Outcome      `json:"from"`
	To      vigil.Outcome      `json:"to"`
	Count   int                `json:"count"`
	Samples []simulationSample `json:"samples"`
}

type simulationSample struct {
	UserID         string `json:"userId"`
	IdempotencyKey string `json:"idempotencyKey"`
	CreatedAt      string `json:"createdAt"`
	RuleID         string `json:"ruleId,omitempty"`
	StoredRuleID   string `json:"storedRuleId,omitempty"`
}

// decodeDraftRule reads one rule of a simulation body: the fields of a new
// rule (ruleId optional).
func decodeDraftRule(field string, raw json.RawMessage) (*vigil.Rule, error) {
	var f fields
	if err := json.Unmarshal(raw, &f); err != nil || f == nil {
		return nil, vigil.Errorf(vigil.EINVALID, "The field '%s' must be a rule object.", field)
	}
	for _, k := range ruleRequired {
		if err := f.required(k); err != nil {
			return nil, vigil.Errorf(vigil.EINVALID, "%s: %s", field, vigil.ErrorMessage(err))
		}
	}
	r := &vigil.Rule{}
	if f.has("ruleId") {
		id, err := f.str("ruleId", 200)
		if err != nil {
			return nil, err
		}
		if err := checkID(field+".ruleId", id); err != nil {
			return nil, err
		}
		r.ID = id
	}
	if err := applyRule(r, f); err != nil {
		return nil, vigil.Errorf(vigil.EINVALID, "%s: %s", field, vigil.ErrorMessage(err))
	}
	return r, nil
}

// handleRuleSimulate serves POST .../{actionCode}/simulate: replays a
// draft rule set (rules), or the current rules with one rule replaced or
// added (rule) and some removed (removeRuleIds), over the action's stored
// actions of a window (from, to; default the last 7 days), newest first, at
// most limit (default 10,000, at most 100,000), and reports how the
// outcomes would change. It changes nothing.
func (s *Server) handleRuleSimulate(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	in := &vigil.SimulationInput{ActionCode: code}
	if f.set("rules") {
		var raws []json.RawMessage
		if err := f.decode("rules", &raws, "an array of rules"); err != nil {
			return err
		}
		in.Rules = make([]*vigil.Rule, 0, len(raws))
		for i, raw := range raws {
			rule, err := decodeDraftRule("rules["+strconv.Itoa(i)+"]", raw)
			if err != nil {
				return err
			}
			in.Rules = append(in.Rules, rule)
		}
	}
	if f.set("rule") {
		if in.Rule, err = decodeDraftRule("rule", f["rule"]); err != nil {
			return err
		}
	}
	if f.set("removeRuleIds") {
		if err := f.decode("removeRuleIds", &in.RemoveRuleIDs, "an array of strings"); err != nil {
			return err
		}
	}
	for _, k := range []struct {
		key string
		dst *time.Time
	}{{"from", &in.From}, {"to", &in.To}} {
		if !f.set(k.key) {
			continue
		}
		v, err := f.str(k.key, 64)
		if err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return vigil.Errorf(vigil.EINVALID, "The field '%s' must be an ISO 8601 time such as 2026-11-16T00:00:00Z.", k.key)
		}
		*k.dst = t
	}
	if f.set("limit") {
		if in.Limit, err = f.integer("limit"); err != nil {
			return err
		}
		if in.Limit < 1 {
			return vigil.Errorf(vigil.EINVALID, "The field 'limit' must be between 1 and %d.", vigil.MaxSimulationLimit)
		}
	}
	if f.set("samples") {
		if in.Samples, err = f.integer("samples"); err != nil {
			return err
		}
	}
	res, err := s.simulator.SimulateRules(r.Context(), in)
	if err != nil {
		return err
	}
	out := simulationResponse{
		ActionCode: res.ActionCode, From: formatTime(res.From), To: formatTime(res.To),
		Evaluated: res.Evaluated, Truncated: res.Truncated, Changed: res.Changed,
		Outcomes:          simulationOutcomes{Before: res.Before, After: res.After},
		Transitions:       []simulationTransition{},
		ShadowMatches:     res.ShadowMatches,
		MissingDataPoints: res.MissingDataPoints,
		RuleErrors:        res.RuleErrors,
	}
	for _, tr := range res.Transitions {
		st := simulationTransition{From: tr.From, To: tr.To, Count: tr.Count, Samples: []simulationSample{}}
		for _, sm := range tr.Samples {
			st.Samples = append(st.Samples, simulationSample{UserID: sm.UserID, IdempotencyKey: sm.IdempotencyKey,
				CreatedAt: formatTime(sm.CreatedAt), RuleID: sm.RuleID, StoredRuleID: sm.StoredRuleID})
		}
		out.Transitions = append(out.Transitions, st)
	}
	return writeJSON(w, http.StatusOK, out)
}
