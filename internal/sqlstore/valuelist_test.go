package sqlstore

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	vigil "github.com/vigil-auth/vigil"
)

func testValueLists(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	other := mustTenant(t, db, "u")
	s := NewValueListService(db)

	l := &vigil.ValueList{Alias: "blocked-countries", Name: "Blocked Countries", IsActive: true, ItemType: vigil.ValueListString,
		Items: json.RawMessage(`["RU","KP","IR","AA"]`)}
	if err := s.CreateValueList(ctx, l); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "CreateValueList(dup)", s.CreateValueList(ctx, l), vigil.ECONFLICT)
	wantCode(t, "CreateValueList(bad alias)", s.CreateValueList(ctx, &vigil.ValueList{Alias: "A B", Name: "x", ItemType: "string"}), vigil.EINVALID)
	wantCode(t, "CreateValueList(bad type)", s.CreateValueList(ctx, &vigil.ValueList{Alias: "x", Name: "x", ItemType: "bool"}), vigil.EINVALID)
	got, err := s.FindValueList(ctx, "blocked-countries")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l, got); diff != "" {
		t.Errorf("FindValueList (-want +got):\n%s", diff)
	}
	_, err = s.FindValueList(other, "blocked-countries")
	wantCode(t, "FindValueList(other tenant)", err, vigil.ENOTFOUND)
	_, err = s.FindValueList(context.Background(), "blocked-countries")
	wantCode(t, "FindValueList(no tenant)", err, vigil.EUNAUTHORIZED)

	upd, err := s.UpdateValueList(ctx, "blocked-countries", func(l *vigil.ValueList) error {
		l.Items = nil
		l.IsActive = false
		return nil
	})
	if err != nil || upd.Items != nil || upd.IsActive {
		t.Errorf("UpdateValueList = %+v, %v", upd, err)
	}
	_, err = s.UpdateValueList(other, "blocked-countries", func(l *vigil.ValueList) error { return nil })
	wantCode(t, "UpdateValueList(other tenant)", err, vigil.ENOTFOUND)

	put := &vigil.ValueList{Alias: "amounts", Name: "Amounts", ItemType: vigil.ValueListNumber, Items: json.RawMessage(`[3,1,2.5]`)}
	for i, want := range []bool{true, false} {
		if changed, err := s.PutValueList(ctx, put); err != nil || changed != want {
			t.Errorf("PutValueList #%d = %v, %v; want %v", i, changed, err, want)
		}
	}
	all, err := s.FindValueLists(ctx)
	if err != nil || len(all) != 2 || all[0].Alias != "amounts" || string(all[0].Items) != `[3,1,2.5]` {
		t.Errorf("FindValueLists = %+v, %v", all, err)
	}
	if l, _ := s.FindValueLists(other); len(l) != 0 {
		t.Errorf("other tenant sees %d lists", len(l))
	}
	// Rules may name a list that exists; a list in use cannot be deleted.
	if err := NewActionConfigService(db).CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "pay", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	rs := NewRuleService(db, compileRules)
	r := &vigil.Rule{ActionCode: "pay", Name: "big", Priority: 1, Type: vigil.OutcomeReview, IsActive: true,
		Conditions: json.RawMessage(`{"in":[{"var":"custom.amount"},{"var":"valueLists.amounts"}]}`)}
	if err := rs.CreateRule(ctx, r); err != nil {
		t.Fatalf("CreateRule(naming a list) = %v", err)
	}
	err = rs.CreateRule(ctx, &vigil.Rule{ActionCode: "pay", Name: "x", Priority: 2, Type: vigil.OutcomeReview,
		Conditions: json.RawMessage(`{"in":[{"var":"custom.amount"},{"var":"valueLists.nope"}]}`)})
	wantCode(t, "CreateRule(naming a missing list)", err, vigil.EINVALID)
	wantCode(t, "DeleteValueList(in use)", s.DeleteValueList(ctx, "amounts"), vigil.ECONFLICT)
	if err := rs.DeleteRule(ctx, "pay", r.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteValueList(other tenant)", s.DeleteValueList(other, "amounts"), vigil.ENOTFOUND)
	wantCode(t, "DeleteValueList", s.DeleteValueList(ctx, "amounts"), "")
	wantCode(t, "DeleteValueList(again)", s.DeleteValueList(ctx, "amounts"), vigil.ENOTFOUND)
}
