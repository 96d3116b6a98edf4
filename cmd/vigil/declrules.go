package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/rules"
	"gopkg.in/yaml.v3"
)

// ruleIDRE is the shape of a declared ruleId: a UUID fits, and so does a
// readable slug.
var ruleIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// rules parses an actions[j].rules list: the Management API's rule fields,
// with ruleId required so that applying the file again replaces the same
// rules. The declared rules of the action are then validated together with
// the rules engine, so that an error names the YAML path of the offending
// rule, field or condition node (for example
// "tenants[0].actions[1].rules[2].conditions/and/1").
func (p *declParser) rules(path string, n *yaml.Node, code string) []*vigil.Rule {
	var out []*vigil.Rule
	var nodes []*yaml.Node
	failed := false
	p.seq(path, n, func(_ int, rp string, v *yaml.Node) {
		r := p.rule(rp, v, code)
		if r == nil {
			failed = true
			return
		}
		out = append(out, r)
		nodes = append(nodes, v)
	})
	if failed || len(out) == 0 {
		return out
	}
	if err := validateRules(out, anyList); err != nil {
		var re *rules.Error
		if errors.As(err, &re) && re.Index < len(nodes) {
			rp := fmt.Sprintf("%s[%d]", path, re.Index)
			if re.Field != "" {
				rp += "." + re.Field
			}
			p.failf(rp+re.ConditionPath, nodes[re.Index], "%s", re.Message)
		} else {
			p.failf(path, n, "%s", vigil.ErrorMessage(err))
		}
		return nil
	}
	return out
}

// rule parses one rules[k] item.
func (p *declParser) rule(path string, n *yaml.Node, code string) *vigil.Rule {
	r := &vigil.Rule{ActionCode: code}
	known := []string{"ruleId", "name", "description", "isActive", "isShadow", "priority", "type",
		"verificationMethods", "promptToEnrollVerificationMethods", "defaultVerificationMethod", "conditions"}
	seen := map[string]bool{}
	errs := len(p.errs)
	ok := p.fields(path, n, known, func(key, kp string, v *yaml.Node) {
		seen[key] = !isNull(resolve(v))
		switch key {
		case "ruleId":
			r.ID = p.str(kp, v)
			if !ruleIDRE.MatchString(r.ID) {
				p.failf(kp, v, "%q is not a valid ruleId (1 to 64 letters, digits, _ or -; a UUID fits)", r.ID)
			}
		case "name":
			r.Name = strings.TrimSpace(p.str(kp, v))
		case "description":
			r.Description = p.str(kp, v)
		case "isActive":
			r.IsActive = p.boolean(kp, v)
		case "isShadow":
			r.IsShadow = p.boolean(kp, v)
		case "priority":
			v = resolve(v)
			m, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || err != nil || m < 0 || m > vigil.MaxRulePriority {
				p.failf(kp, v, "must be a whole number between 0 and %d", vigil.MaxRulePriority)
				return
			}
			r.Priority = m
		case "type":
			r.Type = vigil.Outcome(p.str(kp, v))
			if !r.Type.Valid() {
				p.failf(kp, v, "%q is not one of ALLOW, CHALLENGE, REVIEW, BLOCK", r.Type)
			}
		case "verificationMethods":
			r.VerificationMethods = p.methods(kp, v)
		case "promptToEnrollVerificationMethods":
			r.PromptToEnrollMethods = p.methods(kp, v)
		case "defaultVerificationMethod":
			r.DefaultVerificationMethod = vigil.VerificationMethod(p.str(kp, v))
		case "conditions":
			if isNull(resolve(v)) {
				return
			}
			val, err := jsonValue(v)
			if err != nil {
				p.failf(kp, v, "%v", err)
				return
			}
			b, err := json.Marshal(val)
			if err != nil {
				p.failf(kp, v, "cannot be stored as JSON: %v", err)
				return
			}
			r.Conditions = b
		}
	})
	if !ok {
		return nil
	}
	for _, k := range []string{"ruleId", "name", "isActive", "priority", "type", "conditions"} {
		if !seen[k] {
			p.failf(path+"."+k, n, "is required")
		}
	}
	// An empty list means the same as an absent one, as for actions.
	if len(r.VerificationMethods) == 0 {
		r.VerificationMethods = nil
	}
	if len(r.PromptToEnrollMethods) == 0 {
		r.PromptToEnrollMethods = nil
	}
	if len(p.errs) > errs {
		return nil
	}
	return r
}

// boolean returns the boolean scalar n, or records an error.
func (p *declParser) boolean(path string, n *yaml.Node) bool {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.failf(path, n, "must be true or false")
		return false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.failf(path, n, "must be true or false")
	}
	return b
}

// valueList parses one valueLists[k] item: the Management API's ValueList
// fields; alias is derived from name unless given.
func (p *declParser) valueList(path string, n *yaml.Node) *vigil.ValueList {
	l := &vigil.ValueList{}
	known := []string{"name", "alias", "itemType", "valueListItems", "isActive"}
	var itemsNode *yaml.Node
	var itemsPath string
	errs := len(p.errs)
	hasName, hasType := false, false
	ok := p.fields(path, n, known, func(key, kp string, v *yaml.Node) {
		switch key {
		case "name":
			hasName = true
			l.Name = strings.TrimSpace(p.str(kp, v))
			if l.Name == "" || len(l.Name) > 200 {
				p.failf(kp, v, "must be 1 to 200 characters")
			}
		case "alias":
			l.Alias = p.str(kp, v)
			if !vigil.ValidValueListAlias(l.Alias) {
				p.failf(kp, v, "%q does not match ^[a-z0-9][a-z0-9_-]{0,63}$", l.Alias)
			}
		case "itemType":
			hasType = true
			l.ItemType = p.str(kp, v)
			if l.ItemType != vigil.ValueListString && l.ItemType != vigil.ValueListNumber {
				p.failf(kp, v, "%q is not string or number", l.ItemType)
			}
		case "isActive":
			if !isNull(resolve(v)) {
				l.IsActive = p.boolean(kp, v)
			}
		case "valueListItems":
			itemsNode, itemsPath = v, kp
		}
	})
	if !ok {
		return nil
	}
	if !hasName {
		p.failf(path+".name", n, "is required")
	}
	if !hasType {
		p.failf(path+".itemType", n, "is required (string or number)")
	}
	if l.Alias == "" && l.Name != "" {
		l.Alias = vigil.ValueListAlias(l.Name)
		if !vigil.ValidValueListAlias(l.Alias) {
			p.failf(path+".name", n, "gives the alias %q, which is not ^[a-z0-9][a-z0-9_-]{0,63}$; declare an alias", l.Alias)
		}
	}
	if itemsNode != nil {
		var items []any
		p.seq(itemsPath, itemsNode, func(_ int, ip string, v *yaml.Node) {
			v = resolve(v)
			switch {
			case v.Kind != yaml.ScalarNode:
				p.failf(ip, v, "must be a %s", l.ItemType)
			case l.ItemType == vigil.ValueListNumber && v.ShortTag() == "!!int":
				// Keep whole numbers whole: 12345678, not 1.2345678e+07.
				i, err := strconv.ParseInt(strings.ReplaceAll(v.Value, "_", ""), 0, 64)
				if err != nil {
					p.failf(ip, v, "must be a number")
					return
				}
				items = append(items, json.Number(strconv.FormatInt(i, 10)))
			case l.ItemType == vigil.ValueListNumber:
				val, err := jsonValue(v)
				if _, isNum := val.(json.Number); err != nil || !isNum {
					p.failf(ip, v, "must be a number")
					return
				}
				items = append(items, val)
			default:
				if v.ShortTag() != "!!str" {
					p.failf(ip, v, "must be a string (quote it)")
					return
				}
				items = append(items, v.Value)
			}
		})
		if len(items) > 0 {
			b, err := json.Marshal(items)
			if err != nil {
				p.failf(itemsPath, itemsNode, "cannot be stored as JSON: %v", err)
			}
			l.Items = b
		}
	}
	if len(p.errs) > errs {
		return nil
	}
	return l
}
