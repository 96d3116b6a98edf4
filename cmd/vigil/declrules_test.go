package main

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
)

const ruleHead = "tenants:\n  - tenantId: t1\n    actions:\n      - actionCode: signIn\n        defaultUserActionResult: ALLOW\n        rules:\n"

func TestParseDeclarationRuleErrors(t *testing.T) {
	const ok = "          - ruleId: r1\n            name: R1\n            isActive: true\n            priority: 0\n            type: BLOCK\n            conditions: {}\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"MissingRuleID", ruleHead + "          - name: R1\n            isActive: true\n            priority: 0\n            type: BLOCK\n            conditions: {}\n",
			[]string{"tenants[0].actions[0].rules[0].ruleId (line 7): is required"}},
		{"MissingConditions", ruleHead + "          - ruleId: r1\n            name: R1\n            isActive: true\n            priority: 0\n            type: BLOCK\n",
			[]string{"tenants[0].actions[0].rules[0].conditions (line 7): is required"}},
		{"BadType", ruleHead + strings.Replace(ok, "BLOCK", "DENY", 1), []string{"tenants[0].actions[0].rules[0].type (line 11)"}},
		{"BadPriority", ruleHead + strings.Replace(ok, "priority: 0", "priority: 100", 1), []string{"tenants[0].actions[0].rules[0].priority (line 10)"}},
		{"UnknownField", ruleHead + ok + "            outcome: x\n", []string{"tenants[0].actions[0].rules[0].outcome (line 13): unknown field"}},
		{"BadCondition", ruleHead + strings.Replace(ok, "conditions: {}", "conditions: {and: [true, {nope: [1]}]}", 1),
			[]string{"tenants[0].actions[0].rules[0].conditions/and/1 (line 7)"}},
		{"DuplicatePriority", ruleHead + ok + strings.Replace(ok, "r1", "r2", 1),
			[]string{"tenants[0].actions[0].rules[1].priority (line 13): priority 0 is already used by rules[0]"}},
		{"DuplicateRuleID", ruleHead + ok + strings.Replace(ok, "priority: 0", "priority: 1", 1),
			[]string{"tenants[0].actions[0].rules[1].ruleId (line 13)"}},
		{"DefaultNotListed", ruleHead + ok + "            verificationMethods: [SMS]\n            defaultVerificationMethod: PASSKEY\n",
			[]string{"tenants[0].actions[0].rules[0].defaultVerificationMethod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDeclaration([]byte(tt.yaml), envMap(nil))
			if err == nil {
				t.Fatalf("ParseDeclaration succeeded, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestApplyRulesIdempotent(t *testing.T) {
	ctx := context.Background()
	box, err := secretbox.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlstore.Options{Cipher: box})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	ruleSvc := sqlstore.NewRuleService(db, validateRules)
	deps := applyDeps{Tenants: sqlstore.NewTenantService(db), Configs: sqlstore.NewActionConfigService(db), Rules: ruleSvc,
		Now: time.Now, Rand: rand.Reader, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	yaml := ruleHead + `          - ruleId: r1
            name: Block anonymous
            isActive: true
            priority: 0
            type: BLOCK
            conditions: {"==": [{var: ip.isAnonymous}, true]}
          - ruleId: r2
            name: Watch NZ
            description: shadow
            isActive: true
            isShadow: true
            priority: 5
            type: CHALLENGE
            verificationMethods: [PASSKEY]
            conditions: {"==": [{var: ip.countryCode}, "NZ"]}
`
	d, err := ParseDeclaration([]byte(yaml), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(ctx, deps); err != nil {
		t.Fatal(err)
	}
	tctx := vigil.NewContextWithTenant(ctx, "t1")
	// A rule added through the Management API is left alone.
	if err := ruleSvc.CreateRule(tctx, &vigil.Rule{ActionCode: "signIn", Name: "api", Priority: 50, Type: vigil.OutcomeAllow,
		Conditions: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	before, err := ruleSvc.FindRules(tctx, "signIn")
	if err != nil || len(before) != 3 {
		t.Fatalf("FindRules = %d rules, %v; want 3", len(before), err)
	}
	if string(before[0].Conditions) != `{"==":[{"var":"ip.isAnonymous"},true]}` || !before[1].IsShadow || before[1].Description != "shadow" {
		t.Errorf("applied rules = %+v, %+v", before[0], before[1])
	}
	// Applying again changes nothing, not even the update times.
	if err := d.Apply(ctx, deps); err != nil {
		t.Fatal(err)
	}
	after, _ := ruleSvc.FindRules(tctx, "signIn")
	for i := range before {
		if !sameRuleTimes(before[i], after[i]) {
			t.Errorf("rule %d changed on re-apply: %+v -> %+v", i, before[i], after[i])
		}
	}
	// A changed declaration replaces the rule by its ID.
	d2, err := ParseDeclaration([]byte(strings.Replace(yaml, "type: BLOCK", "type: REVIEW", 1)), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Apply(ctx, deps); err != nil {
		t.Fatal(err)
	}
	if r, err := ruleSvc.FindRule(tctx, "signIn", "r1"); err != nil || r.Type != vigil.OutcomeReview {
		t.Errorf("after changed apply: %+v, %v; want REVIEW", r, err)
	}
	// A declared priority already used by an API rule fails the apply.
	d3, err := ParseDeclaration([]byte(strings.Replace(yaml, "priority: 5", "priority: 50", 1)), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := d3.Apply(ctx, deps); err == nil || !strings.Contains(err.Error(), "priority 50 is already used") {
		t.Errorf("Apply(conflicting priority) = %v", err)
	}
}

// sameRuleTimes compares two rules field by field (the slices make them
// incomparable with ==) including their timestamps.
func sameRuleTimes(a, b *vigil.Rule) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Description == b.Description && a.IsActive == b.IsActive &&
		a.IsShadow == b.IsShadow && a.Priority == b.Priority && a.Type == b.Type && string(a.Conditions) == string(b.Conditions) &&
		a.DefaultVerificationMethod == b.DefaultVerificationMethod && len(a.VerificationMethods) == len(b.VerificationMethods) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func TestDeclarationValueLists(t *testing.T) {
	head := "tenants:\n  - tenantId: t1\n    valueLists:\n"
	t.Run("Errors", func(t *testing.T) {
		for _, tt := range []struct{ name, yaml, want string }{
			{"NoName", head + "      - itemType: string\n", "tenants[0].valueLists[0].name (line 4): is required"},
			{"BadType", head + "      - name: x\n        itemType: bool\n", "tenants[0].valueLists[0].itemType (line 5)"},
			{"StringInNumbers", head + "      - name: x\n        itemType: number\n        valueListItems: [1, a]\n", "tenants[0].valueLists[0].valueListItems[1] (line 6): must be a number"},
			{"NumberInStrings", head + "      - name: x\n        itemType: string\n        valueListItems: [a, 1]\n", "tenants[0].valueLists[0].valueListItems[1] (line 6): must be a string"},
			{"Duplicate", head + "      - name: A b\n        itemType: string\n      - name: a  B\n        itemType: number\n", "tenants[0].valueLists[1].alias (line 6): value list \"a-b\" is declared twice"},
			{"BadDerivedAlias", head + "      - name: \"!!!\"\n        itemType: string\n", "declare an alias"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := ParseDeclaration([]byte(tt.yaml), envMap(nil))
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error = %v, want it to contain %q", err, tt.want)
				}
			})
		}
	})
	t.Run("ApplyIdempotent", func(t *testing.T) {
		ctx := context.Background()
		box, _ := secretbox.New(make([]byte, 32))
		db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlstore.Options{Cipher: box})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		lists := sqlstore.NewValueListService(db)
		deps := applyDeps{Tenants: sqlstore.NewTenantService(db), Configs: sqlstore.NewActionConfigService(db),
			Rules: sqlstore.NewRuleService(db, validateRules), ValueLists: lists,
			Now: time.Now, Rand: rand.Reader, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		d, err := ParseDeclaration([]byte(head+"      - name: Blocked Countries\n        itemType: string\n        valueListItems: [KP, IR]\n"+
			"      - name: Ids\n        itemType: number\n        valueListItems: [12345678, 2.5]\n"), envMap(nil))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := d.Apply(ctx, deps); err != nil {
				t.Fatal(err)
			}
		}
		tctx := vigil.NewContextWithTenant(ctx, "t1")
		all, err := lists.FindValueLists(tctx)
		if err != nil || len(all) != 2 || all[0].Alias != "blocked-countries" || string(all[0].Items) != `["KP","IR"]` ||
			string(all[1].Items) != `[12345678,2.5]` || all[0].CreatedAt != all[0].UpdatedAt {
			t.Errorf("applied lists = %+v, %v", all, err)
		}
	})
}
