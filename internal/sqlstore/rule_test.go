package sqlstore

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/rules"
)

// compileRules is the validator the server uses.
func compileRules(rs []*vigil.Rule, listExists func(string) bool) error {
	_, err := rules.Compile(rs, jsonlogic.Options{Lists: func(alias string) (*jsonlogic.List, bool) {
		if !listExists(alias) {
			return nil, false
		}
		return jsonlogic.NewList(nil), true
	}})
	return err
}

func testUpdateActionConfig(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	other := mustTenant(t, db, "u")
	s := NewActionConfigService(db)
	c := &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeChallenge,
		VerificationMethods:    []vigil.VerificationMethod{vigil.MethodPasskey},
		MessagingTemplates:     json.RawMessage(`{"en":{"defaultTemplate":"hello"}}`),
		VerificationWebhookURL: "https://example.com/hook"}
	if err := s.CreateActionConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdateActionConfig(ctx, "signIn", func(c *vigil.ActionConfig) error {
		c.DefaultOutcome = vigil.OutcomeBlock
		c.MessagingTemplates = nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	found, err := s.FindActionConfig(ctx, "signIn")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, found); diff != "" {
		t.Errorf("UpdateActionConfig result vs FindActionConfig (-update +find):\n%s", diff)
	}
	if found.DefaultOutcome != vigil.OutcomeBlock || found.MessagingTemplates != nil || found.VerificationWebhookURL != "https://example.com/hook" {
		t.Errorf("after update: %+v", found)
	}
	_, err = s.UpdateActionConfig(ctx, "signIn", func(c *vigil.ActionConfig) error {
		return vigil.Errorf(vigil.EINVALID, "nope")
	})
	wantCode(t, "UpdateActionConfig(fn error)", err, vigil.EINVALID)
	_, err = s.UpdateActionConfig(ctx, "signIn", func(c *vigil.ActionConfig) error {
		c.DefaultOutcome = "MAYBE"
		return nil
	})
	wantCode(t, "UpdateActionConfig(bad outcome)", err, vigil.EINVALID)
	_, err = s.UpdateActionConfig(ctx, "missing", func(c *vigil.ActionConfig) error { return nil })
	wantCode(t, "UpdateActionConfig(missing)", err, vigil.ENOTFOUND)
	_, err = s.UpdateActionConfig(other, "signIn", func(c *vigil.ActionConfig) error { return nil })
	wantCode(t, "UpdateActionConfig(other tenant)", err, vigil.ENOTFOUND)
	_, err = s.UpdateActionConfig(context.Background(), "signIn", func(c *vigil.ActionConfig) error { return nil })
	wantCode(t, "UpdateActionConfig(no tenant)", err, vigil.EUNAUTHORIZED)

	// Concurrent read-modify-writes lose no update.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateActionConfig(ctx, "signIn", func(c *vigil.ActionConfig) error {
				c.VerificationMethods = append(c.VerificationMethods, []vigil.VerificationMethod{
					vigil.MethodSMS, vigil.MethodEmailOTP, vigil.MethodEmailMagicLink, vigil.MethodAuthenticatorApp,
					vigil.MethodSecurityKey, vigil.MethodPush, vigil.MethodVeriff, vigil.MethodIProov,
					vigil.MethodIDVerse, vigil.MethodRecoveryCode}[i])
				return nil
			})
			if err != nil {
				t.Errorf("concurrent UpdateActionConfig: %v", err)
			}
		}()
	}
	wg.Wait()
	found, _ = s.FindActionConfig(ctx, "signIn")
	if len(found.VerificationMethods) != 11 {
		t.Errorf("after 10 concurrent appends: %d methods, want 11 (%v)", len(found.VerificationMethods), found.VerificationMethods)
	}
}

func testRules(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	other := mustTenant(t, db, "u")
	configs := NewActionConfigService(db)
	s := NewRuleService(db, compileRules)
	for _, c := range []context.Context{ctx, other} {
		if err := configs.CreateActionConfig(c, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
			t.Fatal(err)
		}
	}

	r1 := &vigil.Rule{ActionCode: "signIn", Name: "Block Tor", IsActive: true, Priority: 5, Type: vigil.OutcomeBlock,
		Conditions: json.RawMessage(`{"and":[{"==":[{"var":"ip.isAnonymous"},true]},{"<":[1,2]}]}`)}
	if err := s.CreateRule(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if r1.ID == "" || r1.TenantID != "t" || r1.CreatedAt.IsZero() {
		t.Errorf("CreateRule did not fill in ID, tenant and times: %+v", r1)
	}
	got, err := s.FindRule(ctx, "signIn", r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r1, got); diff != "" {
		t.Errorf("FindRule (-want +got):\n%s", diff)
	}
	if string(got.Conditions) != string(r1.Conditions) {
		t.Errorf("conditions = %s, want byte-equal %s", got.Conditions, r1.Conditions)
	}

	r0 := &vigil.Rule{ActionCode: "signIn", Name: "Trusted", Priority: 0, Type: vigil.OutcomeAllow, IsShadow: true,
		VerificationMethods: []vigil.VerificationMethod{vigil.MethodPasskey}, DefaultVerificationMethod: vigil.MethodPasskey,
		Conditions: json.RawMessage(`{}`)}
	if err := s.CreateRule(ctx, r0); err != nil {
		t.Fatal(err)
	}
	list, err := s.FindRules(ctx, "signIn")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != r0.ID || list[1].ID != r1.ID {
		t.Errorf("FindRules not by priority: %+v", list)
	}

	// Validation: duplicate priority, bad condition with its path, missing
	// configuration, other tenant.
	dup := &vigil.Rule{ActionCode: "signIn", Name: "dup", Priority: 5, Type: vigil.OutcomeAllow, Conditions: json.RawMessage(`{}`)}
	err = s.CreateRule(ctx, dup)
	wantCode(t, "CreateRule(dup priority)", err, vigil.EINVALID)
	bad := &vigil.Rule{ActionCode: "signIn", Name: "bad", Priority: 7, Type: vigil.OutcomeAllow,
		Conditions: json.RawMessage(`{"and":[true,{"nope":[1]}]}`)}
	err = s.CreateRule(ctx, bad)
	wantCode(t, "CreateRule(bad condition)", err, vigil.EINVALID)
	if msg := vigil.ErrorMessage(err); !contains(msg, "rules[0].conditions/and/1") {
		t.Errorf("CreateRule(bad condition) message = %q, want the path rules[0].conditions/and/1", msg)
	}
	wantCode(t, "CreateRule(no config)", s.CreateRule(ctx, &vigil.Rule{ActionCode: "nope", Name: "x", Type: vigil.OutcomeAllow}), vigil.ENOTFOUND)
	_, err = s.FindRules(ctx, "nope")
	wantCode(t, "FindRules(no config)", err, vigil.ENOTFOUND)
	_, err = s.FindRule(other, "signIn", r1.ID)
	wantCode(t, "FindRule(other tenant)", err, vigil.ENOTFOUND)
	_, err = s.UpdateRule(other, "signIn", r1.ID, func(r *vigil.Rule) error { return nil })
	wantCode(t, "UpdateRule(other tenant)", err, vigil.ENOTFOUND)
	wantCode(t, "DeleteRule(other tenant)", s.DeleteRule(other, "signIn", r1.ID), vigil.ENOTFOUND)
	_, err = s.FindRules(context.Background(), "signIn")
	wantCode(t, "FindRules(no tenant)", err, vigil.EUNAUTHORIZED)
	if l, _ := s.FindRules(other, "signIn"); len(l) != 0 {
		t.Errorf("other tenant sees %d rules", len(l))
	}

	// Update: atomic, validated.
	upd, err := s.UpdateRule(ctx, "signIn", r1.ID, func(r *vigil.Rule) error {
		r.Priority = 6
		r.Description = "described"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.Priority != 6 || upd.Description != "described" || upd.Name != "Block Tor" {
		t.Errorf("UpdateRule = %+v", upd)
	}
	_, err = s.UpdateRule(ctx, "signIn", r1.ID, func(r *vigil.Rule) error { r.Priority = 0; return nil })
	wantCode(t, "UpdateRule(dup priority)", err, vigil.EINVALID)
	_, err = s.UpdateRule(ctx, "signIn", r1.ID, func(r *vigil.Rule) error {
		r.Conditions = json.RawMessage(`{"var":[1,2,3,4]}`)
		return nil
	})
	wantCode(t, "UpdateRule(bad condition)", err, vigil.EINVALID)
	_, err = s.UpdateRule(ctx, "signIn", "missing", func(r *vigil.Rule) error { return nil })
	wantCode(t, "UpdateRule(missing)", err, vigil.ENOTFOUND)
	got, _ = s.FindRule(ctx, "signIn", r1.ID)
	if diff := cmp.Diff(upd, got); diff != "" {
		t.Errorf("after failed updates (-want +got):\n%s", diff)
	}

	// PutRule: create or replace by ID, idempotent.
	put := &vigil.Rule{ActionCode: "signIn", ID: "yaml-rule-1", Name: "From YAML", IsActive: true, Priority: 10,
		Type: vigil.OutcomeReview, Conditions: json.RawMessage(`{"==":[1,1]}`)}
	for i, want := range []bool{true, false} {
		changed, err := s.PutRule(ctx, put)
		if err != nil || changed != want {
			t.Errorf("PutRule #%d = %v, %v; want %v", i, changed, err, want)
		}
	}
	put2 := *put
	put2.Type = vigil.OutcomeBlock
	if changed, err := s.PutRule(ctx, &put2); err != nil || !changed {
		t.Errorf("PutRule(changed) = %v, %v; want true", changed, err)
	}
	if got, _ := s.FindRule(ctx, "signIn", "yaml-rule-1"); got == nil || got.Type != vigil.OutcomeBlock {
		t.Errorf("PutRule did not replace: %+v", got)
	}
	if err := configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "pay", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	elsewhere := *put
	elsewhere.ActionCode = "pay"
	_, err = s.PutRule(ctx, &elsewhere)
	wantCode(t, "PutRule(ID of another action's rule)", err, vigil.ECONFLICT)

	// Delete; deleting the configuration deletes its rules.
	wantCode(t, "DeleteRule", s.DeleteRule(ctx, "signIn", r0.ID), "")
	wantCode(t, "DeleteRule(again)", s.DeleteRule(ctx, "signIn", r0.ID), vigil.ENOTFOUND)
	if err := configs.DeleteActionConfig(ctx, "signIn"); err != nil {
		t.Fatal(err)
	}
	if err := configs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	list, err = s.FindRules(ctx, "signIn")
	if err != nil || len(list) != 0 {
		t.Errorf("rules after the configuration was deleted and re-created = %v, %v; want none", list, err)
	}
	if l, _ := s.FindRules(other, "signIn"); len(l) != 0 {
		t.Errorf("other tenant: %d rules", len(l))
	}
}

// testRuleRace creates rules with one priority concurrently: exactly one
// wins, the others get the duplicate-priority EINVALID.
func testRuleRace(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	if err := NewActionConfigService(db).CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "a", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	s := NewRuleService(db, compileRules)
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateRule(ctx, &vigil.Rule{ActionCode: "a", Name: "r", Priority: 7, Type: vigil.OutcomeBlock, Conditions: json.RawMessage(`{}`)})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch vigil.ErrorCode(err) {
		case "":
			ok++
		case vigil.EINVALID:
		default:
			t.Errorf("concurrent CreateRule: %v", err)
		}
	}
	if l, _ := s.FindRules(ctx, "a"); ok != 1 || len(l) != 1 {
		t.Errorf("%d creates succeeded and %d rules stored, want 1 and 1", ok, len(l))
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
