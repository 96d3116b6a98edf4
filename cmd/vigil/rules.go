package main

import (
	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/rules"
)

// validateRules is the vigil.RuleValidator of the store: the rule set
// must compile with the rules engine the track pipeline uses, with the
// tenant's value lists (only their existence matters to compile).
func validateRules(rs []*vigil.Rule, listExists func(alias string) bool) error {
	_, err := rules.Compile(rs, jsonlogic.Options{Lists: func(alias string) (*jsonlogic.List, bool) {
		if listExists == nil || !listExists(alias) {
			return nil, false
		}
		return jsonlogic.NewList(nil), true
	}})
	return err
}

// anyList is the listExists of a configuration file's rules when it is
// parsed: whether a named value list exists is checked when the file is
// applied, after its value lists.
func anyList(string) bool { return true }
