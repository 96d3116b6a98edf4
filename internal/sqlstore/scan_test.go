package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vigil "github.com/vigil-auth/vigil"
)

// TestScanActions checks the simulation's read: the actions of one code
// created in [from, to], newest first, at most limit, of the tenant in the
// context only, each read whole; actions at the window's very edges are in
// it. The store's clock moves on at every reading.
func TestScanActions(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			var mu sync.Mutex
			clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			now := func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				clock = clock.Add(7 * time.Second)
				return clock
			}
			db := d.open(t, Options{Now: now})
			ctxA, ctxB := mustTenant(t, db, "a"), mustTenant(t, db, "b")
			s := NewActionService(db)
			var pay []*vigil.Action // oldest first
			for i := range 12 {
				code := "pay"
				if i%3 == 2 {
					code = "other"
				}
				got, _, err := s.CreateAction(ctxA, newAction(fmt.Sprintf("u%d", i%4), code, fmt.Sprintf("k%d", i), "h"), nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.CreateAction(ctxB, newAction("u0", code, fmt.Sprintf("b%d", i), "h"), nil); err != nil {
					t.Fatal(err)
				}
				if code == "pay" {
					pay = append(pay, got)
				}
			}
			newestFirst := func(as []*vigil.Action) []string {
				var ks []string
				for i := len(as) - 1; i >= 0; i-- {
					ks = append(ks, as[i].IdempotencyKey)
				}
				return ks
			}
			last := pay[len(pay)-1].CreatedAt
			tests := []struct {
				name     string
				from, to time.Time
				limit    int
				want     []string
			}{
				{"everything", pay[0].CreatedAt.Add(-time.Hour), last.Add(time.Hour), 100, newestFirst(pay)},
				{"exact edges", pay[1].CreatedAt, pay[5].CreatedAt, 100, newestFirst(pay[1:6])},
				{"edges excluded", pay[1].CreatedAt.Add(time.Microsecond), pay[5].CreatedAt.Add(-time.Microsecond), 100, newestFirst(pay[2:5])},
				{"limit", pay[0].CreatedAt, last, 3, newestFirst(pay)[:3]},
				{"before all", pay[0].CreatedAt.Add(-time.Hour), pay[0].CreatedAt.Add(-time.Microsecond), 100, nil},
			}
			for _, tt := range tests {
				var got []string
				err := s.ScanActions(ctxA, "pay", tt.from, tt.to, tt.limit, func(a *vigil.Action) error {
					got = append(got, a.IdempotencyKey)
					return nil
				})
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: keys (-want +got):\n%s", tt.name, diff)
				}
			}
			var first *vigil.Action
			stop := errors.New("stop")
			if err := s.ScanActions(ctxA, "pay", pay[0].CreatedAt, pay[0].CreatedAt, 1, func(a *vigil.Action) error {
				first = a
				return stop
			}); err != stop {
				t.Fatalf("ScanActions returned %v, want fn's error", err)
			}
			want, err := s.FindAction(ctxA, pay[0].UserID, "pay", pay[0].IdempotencyKey)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, first); diff != "" {
				t.Errorf("scanned action differs from FindAction's (-want +got):\n%s", diff)
			}
			if d.name == DialectSQLite {
				// Through the tenant's time index, in its order (ties on
				// created_at sorted by ID: "FOR LAST TERM"), not a scan of
				// the table and a sort of the window.
				rows, err := db.read.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+s.scan, "a", "pay", 0, 1, 10)
				if err != nil {
					t.Fatal(err)
				}
				var plan strings.Builder
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						t.Fatal(err)
					}
					plan.WriteString(detail + "\n")
				}
				rows.Close()
				if !strings.Contains(plan.String(), "actions_tenant_created_idx") || strings.Contains(plan.String(), "TEMP B-TREE FOR ORDER BY") {
					t.Errorf("ScanActions' plan:\n%s\nwant a range of actions_tenant_created_idx, in its order", plan.String())
				}
			}
		})
	}
}
