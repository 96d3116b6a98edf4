package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	vigil "github.com/vigil-auth/vigil"
)

// TestCustomDataPoints runs the custom data point suite on SQLite, and on
// PostgreSQL when VIGIL_TEST_POSTGRES_URL is set.
func TestCustomDataPoints(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			for _, tt := range []struct {
				name string
				fn   func(t *testing.T, open opener)
			}{
				{"CRUD", testCustomDataPoints},
				{"Put", testPutCustomDataPoint},
				{"Batched", testCustomDataPointsBatched},
			} {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.fn(t, d.open)
				})
			}
		})
	}
	if len(testDialects(t)) == 1 {
		t.Run("postgres", func(t *testing.T) { t.Skipf("set %s to run the PostgreSQL store tests", postgresEnv) })
	}
}

// stepClock is a clock that advances by a second on every reading.
type stepClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func testCustomDataPoints(t *testing.T, open opener) {
	clock := &stepClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	db := open(t, Options{Now: clock.Now})
	ctx := mustTenant(t, db, "t")
	other := mustTenant(t, db, "u")
	s := NewCustomDataPointService(db)

	c := &vigil.CustomDataPoint{Name: "riskScore", DataType: vigil.CustomDataPointNumber, ModelType: vigil.CustomDataPointAction,
		Description: "Score from the fraud engine", IsPublic: true}
	if err := s.CreateCustomDataPoint(ctx, c); err != nil {
		t.Fatal(err)
	}
	if len(c.ID) != 36 || c.TenantID != "t" || c.CreatedAt.IsZero() || !c.CreatedAt.Equal(c.UpdatedAt) {
		t.Errorf("CreateCustomDataPoint filled in %+v, want a UUID, the tenant and equal timestamps", c)
	}
	got, err := s.FindCustomDataPoint(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("FindCustomDataPoint (-want +got):\n%s", diff)
	}

	// The same name on the other model type is another point.
	u := &vigil.CustomDataPoint{ID: "user-risk", Name: "riskScore", DataType: vigil.CustomDataPointText, ModelType: vigil.CustomDataPointUser}
	if err := s.CreateCustomDataPoint(ctx, u); err != nil {
		t.Fatalf("CreateCustomDataPoint(same name, user) = %v", err)
	}
	if u.ID != "user-risk" {
		t.Errorf("given ID replaced by %q", u.ID)
	}
	// Another tenant may reuse both the ID and the name.
	if err := s.CreateCustomDataPoint(other, &vigil.CustomDataPoint{ID: c.ID, Name: "riskScore", DataType: "boolean", ModelType: "action"}); err != nil {
		t.Errorf("CreateCustomDataPoint(other tenant, same ID and name) = %v", err)
	}

	t.Run("CreateErrors", func(t *testing.T) {
		valid := func(mod func(*vigil.CustomDataPoint)) *vigil.CustomDataPoint {
			p := &vigil.CustomDataPoint{Name: "x", DataType: "text", ModelType: "user"}
			mod(p)
			return p
		}
		for _, tt := range []struct {
			name string
			c    *vigil.CustomDataPoint
			code string
			msg  string
		}{
			{"DupID", valid(func(p *vigil.CustomDataPoint) { p.ID = c.ID }), vigil.ECONFLICT, "id"},
			{"DupName", valid(func(p *vigil.CustomDataPoint) { p.Name, p.ModelType = "riskScore", "action" }), vigil.ECONFLICT, `"riskScore"`},
			{"DottedName", valid(func(p *vigil.CustomDataPoint) { p.Name = "a.b" }), vigil.EINVALID, "'name'"},
			{"DigitFirst", valid(func(p *vigil.CustomDataPoint) { p.Name = "1a" }), vigil.EINVALID, "'name'"},
			{"LongName", valid(func(p *vigil.CustomDataPoint) { p.Name = strings.Repeat("a", 65) }), vigil.EINVALID, "'name'"},
			{"BadDataType", valid(func(p *vigil.CustomDataPoint) { p.DataType = "string" }), vigil.EINVALID, "'dataType'"},
			{"BadModelType", valid(func(p *vigil.CustomDataPoint) { p.ModelType = "device" }), vigil.EINVALID, "'modelType'"},
			{"BadID", valid(func(p *vigil.CustomDataPoint) { p.ID = "a/b" }), vigil.EINVALID, "'id'"},
			{"LongDescription", valid(func(p *vigil.CustomDataPoint) { p.Description = strings.Repeat("d", 2001) }), vigil.EINVALID, "'description'"},
			{"NULDescription", valid(func(p *vigil.CustomDataPoint) { p.Description = "a\x00b" }), vigil.EINVALID, "'description'"},
		} {
			err := s.CreateCustomDataPoint(ctx, tt.c)
			wantCode(t, "CreateCustomDataPoint("+tt.name+")", err, tt.code)
			if m := vigil.ErrorMessage(err); !strings.Contains(m, tt.msg) {
				t.Errorf("CreateCustomDataPoint(%s) message = %q, want it to contain %s", tt.name, m, tt.msg)
			}
		}
	})

	t.Run("NoTenant", func(t *testing.T) {
		bg := context.Background()
		_, err := s.FindCustomDataPoint(bg, c.ID)
		wantCode(t, "FindCustomDataPoint", err, vigil.EUNAUTHORIZED)
		_, err = s.FindCustomDataPoints(bg)
		wantCode(t, "FindCustomDataPoints", err, vigil.EUNAUTHORIZED)
		wantCode(t, "CreateCustomDataPoint", s.CreateCustomDataPoint(bg, &vigil.CustomDataPoint{Name: "x", DataType: "text", ModelType: "user"}), vigil.EUNAUTHORIZED)
		_, err = s.UpdateCustomDataPoint(bg, c.ID, func(*vigil.CustomDataPoint) error { return nil })
		wantCode(t, "UpdateCustomDataPoint", err, vigil.EUNAUTHORIZED)
		_, err = s.PutCustomDataPoint(bg, &vigil.CustomDataPoint{Name: "x", DataType: "text", ModelType: "user"})
		wantCode(t, "PutCustomDataPoint", err, vigil.EUNAUTHORIZED)
		wantCode(t, "DeleteCustomDataPoint", s.DeleteCustomDataPoint(bg, c.ID), vigil.EUNAUTHORIZED)
	})

	t.Run("OtherTenant", func(t *testing.T) {
		_, err := s.FindCustomDataPoint(other, "user-risk")
		wantCode(t, "FindCustomDataPoint(other tenant)", err, vigil.ENOTFOUND)
		_, err = s.UpdateCustomDataPoint(other, "user-risk", func(*vigil.CustomDataPoint) error { return nil })
		wantCode(t, "UpdateCustomDataPoint(other tenant)", err, vigil.ENOTFOUND)
		wantCode(t, "DeleteCustomDataPoint(other tenant)", s.DeleteCustomDataPoint(other, "user-risk"), vigil.ENOTFOUND)
		if all, err := s.FindCustomDataPoints(other); err != nil || len(all) != 1 || all[0].DataType != "boolean" {
			t.Errorf("FindCustomDataPoints(other tenant) = %+v, %v", all, err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		upd, err := s.UpdateCustomDataPoint(ctx, c.ID, func(p *vigil.CustomDataPoint) error {
			p.Description, p.IsPublic = "", false
			p.ID, p.TenantID = "ignored", "ignored" // not changeable
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if upd.ID != c.ID || upd.TenantID != "t" || upd.Description != "" || upd.IsPublic || !upd.CreatedAt.Equal(c.CreatedAt) ||
			!upd.UpdatedAt.After(c.UpdatedAt) {
			t.Errorf("UpdateCustomDataPoint = %+v", upd)
		}
		if got, _ := s.FindCustomDataPoint(ctx, c.ID); got == nil || cmp.Diff(upd, got) != "" {
			t.Errorf("stored after update = %+v, want %+v", got, upd)
		}
		_, err = s.UpdateCustomDataPoint(ctx, c.ID, func(p *vigil.CustomDataPoint) error {
			p.ModelType = vigil.CustomDataPointUser // riskScore on user is user-risk
			return nil
		})
		wantCode(t, "UpdateCustomDataPoint(name taken)", err, vigil.ECONFLICT)
		_, err = s.UpdateCustomDataPoint(ctx, c.ID, func(p *vigil.CustomDataPoint) error {
			p.DataType = "date"
			return nil
		})
		wantCode(t, "UpdateCustomDataPoint(bad dataType)", err, vigil.EINVALID)
		_, err = s.UpdateCustomDataPoint(ctx, c.ID, func(p *vigil.CustomDataPoint) error {
			return vigil.Errorf(vigil.EINVALID, "from fn")
		})
		if vigil.ErrorMessage(err) != "from fn" {
			t.Errorf("UpdateCustomDataPoint(fn fails) = %v, want fn's error", err)
		}
		_, err = s.UpdateCustomDataPoint(ctx, "nope", func(*vigil.CustomDataPoint) error { return nil })
		wantCode(t, "UpdateCustomDataPoint(missing)", err, vigil.ENOTFOUND)
		// Renaming and retyping are allowed when the result is valid and free.
		upd, err = s.UpdateCustomDataPoint(ctx, c.ID, func(p *vigil.CustomDataPoint) error {
			p.Name, p.DataType, p.ModelType = "score", vigil.CustomDataPointMultiselect, vigil.CustomDataPointUser
			return nil
		})
		if err != nil || upd.Name != "score" || upd.DataType != "multiselect" || upd.ModelType != "user" {
			t.Errorf("UpdateCustomDataPoint(rename) = %+v, %v", upd, err)
		}
		// The old name is free again.
		if err := s.CreateCustomDataPoint(ctx, &vigil.CustomDataPoint{Name: "riskScore", DataType: "number", ModelType: "action"}); err != nil {
			t.Errorf("CreateCustomDataPoint(freed name) = %v", err)
		}
	})

	t.Run("ListOrder", func(t *testing.T) {
		for _, n := range []string{"Zeta", "alpha", "_private", "beta"} {
			if err := s.CreateCustomDataPoint(ctx, &vigil.CustomDataPoint{Name: n, DataType: "boolean", ModelType: "action"}); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.FindCustomDataPoints(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range all {
			got = append(got, p.Name+"/"+p.ModelType)
		}
		// Byte order, on both dialects: upper case before "_" before lower case.
		want := []string{"Zeta/action", "_private/action", "alpha/action", "beta/action", "riskScore/action", "riskScore/user", "score/user"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("FindCustomDataPoints order (-want +got):\n%s", diff)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		wantCode(t, "DeleteCustomDataPoint", s.DeleteCustomDataPoint(ctx, "user-risk"), "")
		wantCode(t, "DeleteCustomDataPoint(again)", s.DeleteCustomDataPoint(ctx, "user-risk"), vigil.ENOTFOUND)
		_, err := s.FindCustomDataPoint(ctx, "user-risk")
		wantCode(t, "FindCustomDataPoint(deleted)", err, vigil.ENOTFOUND)
		// The other tenant's point with the same ID as c is untouched by c's deletion.
		wantCode(t, "DeleteCustomDataPoint(c)", s.DeleteCustomDataPoint(ctx, c.ID), "")
		if _, err := s.FindCustomDataPoint(other, c.ID); err != nil {
			t.Errorf("other tenant's point after deleting ours: %v", err)
		}
	})
}

func testPutCustomDataPoint(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewCustomDataPointService(db)

	put := func(what string, c vigil.CustomDataPoint, want bool) *vigil.CustomDataPoint {
		t.Helper()
		changed, err := s.PutCustomDataPoint(ctx, &c)
		if err != nil || changed != want {
			t.Errorf("PutCustomDataPoint(%s) = %v, %v; want %v", what, changed, err, want)
		}
		return &c
	}

	// Without an ID, a point is named by its model type and name.
	byName := vigil.CustomDataPoint{Name: "plan", DataType: "text", ModelType: "user", Description: "Billing plan"}
	first := put("by name, new", byName, true)
	if first.ID == "" || first.TenantID != "t" {
		t.Errorf("PutCustomDataPoint filled in %+v", first)
	}
	again := put("by name, same", byName, false)
	if again.ID != first.ID {
		t.Errorf("second put ID = %q, want %q", again.ID, first.ID)
	}
	byName.IsPublic = true
	put("by name, changed", byName, true)
	stored, err := s.FindCustomDataPoint(ctx, first.ID)
	if err != nil || !stored.IsPublic || stored.Description != "Billing plan" {
		t.Errorf("after put = %+v, %v", stored, err)
	}

	// With an ID, the point with that ID, whose name may change.
	byID := vigil.CustomDataPoint{ID: "amount", Name: "amount", DataType: "number", ModelType: "action"}
	put("by ID, new", byID, true)
	put("by ID, same", byID, false)
	byID.Name = "transferAmount"
	put("by ID, renamed", byID, true)
	if all, _ := s.FindCustomDataPoints(ctx); len(all) != 2 || all[1].Name != "transferAmount" || all[1].ID != "amount" {
		t.Errorf("points after puts = %+v", all)
	}

	// A name taken by another point is a conflict, whether the put creates
	// or renames.
	_, err = s.PutCustomDataPoint(ctx, &vigil.CustomDataPoint{ID: "plan2", Name: "plan", DataType: "text", ModelType: "user"})
	wantCode(t, "PutCustomDataPoint(new ID, name taken)", err, vigil.ECONFLICT)
	_, err = s.PutCustomDataPoint(ctx, &vigil.CustomDataPoint{ID: "amount", Name: "plan", DataType: "text", ModelType: "user"})
	wantCode(t, "PutCustomDataPoint(rename onto a taken name)", err, vigil.ECONFLICT)
	_, err = s.PutCustomDataPoint(ctx, &vigil.CustomDataPoint{Name: "bad.name", DataType: "text", ModelType: "user"})
	wantCode(t, "PutCustomDataPoint(bad name)", err, vigil.EINVALID)
	if all, _ := s.FindCustomDataPoints(ctx); len(all) != 2 {
		t.Errorf("failed puts left %d points, want 2", len(all))
	}
}

// testCustomDataPointsBatched creates points with one model type and name
// in one group commit: exactly one wins, and the losers' conflicts do not
// undo it or the other writes of the batch.
func testCustomDataPointsBatched(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewCustomDataPointService(db)

	release := holdWriter(t, ctx, db)
	const n = 6
	errs := make(chan error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.CreateCustomDataPoint(ctx, &vigil.CustomDataPoint{ID: fmt.Sprintf("p%d", i), Name: "same", DataType: "text", ModelType: "user"})
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		errs <- s.CreateCustomDataPoint(ctx, &vigil.CustomDataPoint{ID: "other", Name: "other", DataType: "text", ModelType: "user"})
	}()
	// Let the creates queue up behind the held writer.
	time.Sleep(50 * time.Millisecond)
	release()
	wg.Wait()
	close(errs)
	ok, conflicts := 0, 0
	for err := range errs {
		switch vigil.ErrorCode(err) {
		case "":
			ok++
		case vigil.ECONFLICT:
			conflicts++
		default:
			t.Errorf("CreateCustomDataPoint = %v", err)
		}
	}
	if ok != 2 || conflicts != n-1 {
		t.Errorf("%d created, %d conflicts; want 2 and %d", ok, conflicts, n-1)
	}
	if all, err := s.FindCustomDataPoints(ctx); err != nil || len(all) != 2 {
		t.Errorf("FindCustomDataPoints = %+v, %v; want 2 points", all, err)
	}
}
