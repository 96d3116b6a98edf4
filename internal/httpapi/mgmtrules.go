package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vigil-auth/vigil"
)

// Limits on rule fields.
const (
	maxRuleNameBytes        = 200
	maxRuleDescriptionBytes = 2000
	maxConditionsBytes      = 64 << 10 // as the condition compiler's limit
)

// ruleResponse is a Rule (contract §4.3) plus Vigil's isShadow. Unset
// method lists and default method are omitted, never [] (contract §4.1);
// conditions are the JSON that was stored.
type ruleResponse struct {
	RuleID                            string          `json:"ruleId"`
	TenantID                          string          `json:"tenantId"`
	ActionCode                        string          `json:"actionCode"`
	Name                              string          `json:"name"`
	Description                       string          `json:"description"`
	IsActive                          bool            `json:"isActive"`
	IsShadow                          bool            `json:"isShadow"`
	Priority                          int             `json:"priority"`
	Type                              vigil.Outcome   `json:"type"`
	VerificationMethods               []string        `json:"verificationMethods,omitempty"`
	PromptToEnrollVerificationMethods []string        `json:"promptToEnrollVerificationMethods,omitempty"`
	DefaultVerificationMethod         string          `json:"defaultVerificationMethod,omitempty"`
	Conditions                        json.RawMessage `json:"conditions"`
}

func newRuleResponse(r *vigil.Rule) ruleResponse {
	return ruleResponse{
		RuleID:                            r.ID,
		TenantID:                          r.TenantID,
		ActionCode:                        r.ActionCode,
		Name:                              r.Name,
		Description:                       r.Description,
		IsActive:                          r.IsActive,
		IsShadow:                          r.IsShadow,
		Priority:                          r.Priority,
		Type:                              r.Type,
		VerificationMethods:               methodStrings(r.VerificationMethods),
		PromptToEnrollVerificationMethods: methodStrings(r.PromptToEnrollMethods),
		DefaultVerificationMethod:         string(r.DefaultVerificationMethod),
		Conditions:                        r.Conditions,
	}
}

// ruleRequired are the keys a new rule must have, and that a PATCH cannot
// set to null.
var ruleRequired = []string{"name", "isActive", "priority", "type", "conditions"}

// applyRule applies the keys present in f to r: absent keys leave a field
// unchanged, null clears it (the required fields cannot be cleared). The
// rule set is validated by the store.
func applyRule(r *vigil.Rule, f fields) error {
	for _, k := range ruleRequired {
		if err := f.notNull(k); err != nil {
			return err
		}
	}
	var err error
	if f.has("name") {
		if r.Name, err = f.str("name", maxRuleNameBytes); err != nil {
			return err
		}
		if strings.TrimSpace(r.Name) == "" {
			return vigil.Errorf(vigil.EINVALID, "The field 'name' must not be empty.")
		}
	}
	if f.has("description") {
		if r.Description, err = f.str("description", maxRuleDescriptionBytes); err != nil {
			return err
		}
	}
	if f.has("isActive") {
		if r.IsActive, err = f.boolean("isActive"); err != nil {
			return err
		}
	}
	if f.has("isShadow") {
		if r.IsShadow, err = f.boolean("isShadow"); err != nil {
			return err
		}
	}
	if f.has("priority") {
		if r.Priority, err = f.integer("priority"); err != nil {
			return err
		}
		if r.Priority < 0 || r.Priority > vigil.MaxRulePriority {
			return vigil.Errorf(vigil.EINVALID, "The field 'priority' must be between 0 and %d.", vigil.MaxRulePriority)
		}
	}
	if f.has("type") {
		if r.Type, err = f.outcome("type"); err != nil {
			return err
		}
	}
	if f.has("verificationMethods") {
		if r.VerificationMethods, err = f.methods("verificationMethods"); err != nil {
			return err
		}
	}
	if f.has("promptToEnrollVerificationMethods") {
		if r.PromptToEnrollMethods, err = f.methods("promptToEnrollVerificationMethods"); err != nil {
			return err
		}
	}
	if f.has("defaultVerificationMethod") {
		if r.DefaultVerificationMethod, err = f.method("defaultVerificationMethod"); err != nil {
			return err
		}
	}
	if f.has("conditions") {
		raw := f["conditions"]
		if len(raw) > maxConditionsBytes {
			return vigil.Errorf(vigil.EINVALID, "The field 'conditions' must be at most %d bytes long.", maxConditionsBytes)
		}
		r.Conditions = append(json.RawMessage(nil), raw...)
	}
	return nil
}

// pathRuleID returns the validated ruleId path segment.
func pathRuleID(r *http.Request) (string, error) {
	id := r.PathValue("ruleId")
	return id, checkID("ruleId", id)
}

// handleRuleList serves GET .../{actionCode}/rules: the action's rules by
// priority; 404 if the action configuration does not exist.
func (s *Server) handleRuleList(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	rs, err := s.rules.FindRules(r.Context(), code)
	if err != nil {
		return err
	}
	out := make([]ruleResponse, len(rs))
	for i, rule := range rs {
		out[i] = newRuleResponse(rule)
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleRuleCreate serves POST .../{actionCode}/rules. The store validates
// the action's whole resulting rule set: a bad condition is a 400 whose
// description carries its path ("rules[0].conditions/and/1"; the new rule
// is rules[0]), a priority already used is a 400 naming the other rule.
func (s *Server) handleRuleCreate(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	for _, k := range ruleRequired {
		if err := f.required(k); err != nil {
			return err
		}
	}
	rule := &vigil.Rule{ActionCode: code}
	if err := applyRule(rule, f); err != nil {
		return err
	}
	if err := s.rules.CreateRule(r.Context(), rule); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newRuleResponse(rule))
}

// handleRuleGet serves GET .../{actionCode}/rules/{ruleId}.
func (s *Server) handleRuleGet(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	id, err := pathRuleID(r)
	if err != nil {
		return err
	}
	rule, err := s.rules.FindRule(r.Context(), code, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newRuleResponse(rule))
}

// handleRuleUpdate serves PATCH .../{actionCode}/rules/{ruleId}: a
// read-modify-write of the rule, validated with the action's other rules,
// in one store transaction.
func (s *Server) handleRuleUpdate(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	id, err := pathRuleID(r)
	if err != nil {
		return err
	}
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	rule, err := s.rules.UpdateRule(r.Context(), code, id, func(rule *vigil.Rule) error {
		return applyRule(rule, f)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newRuleResponse(rule))
}

// handleRuleDelete serves DELETE .../{actionCode}/rules/{ruleId}.
func (s *Server) handleRuleDelete(w http.ResponseWriter, r *http.Request) error {
	code, err := pathCode(r)
	if err != nil {
		return err
	}
	id, err := pathRuleID(r)
	if err != nil {
		return err
	}
	if err := s.rules.DeleteRule(r.Context(), code, id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, successResponse{Success: true})
}
