package sqlstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

// TestFindActionConcurrent finds many actions at once (batched into shared
// statements on PostgreSQL): each lookup gets its own action, a key with
// the wrong user, code or tenant is not found, and a missing key is not
// found, whatever else shares its statement.
func TestFindActionConcurrent(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t, Options{})
			ctxA, ctxB := mustTenant(t, db, "a"), mustTenant(t, db, "b")
			actions := NewActionService(db)
			const n = 50
			for i := range n {
				a := &vigil.Action{UserID: fmt.Sprintf("u%d", i%7), Code: "signIn", IdempotencyKey: fmt.Sprintf("k%d", i),
					Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}, Context: vigil.ActionContext{IPAddress: fmt.Sprintf("192.0.2.%d", i)}}
				if _, _, err := actions.CreateAction(ctxA, a, nil); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			for round := range 4 {
				for i := range n + 10 {
					wg.Go(func() {
						user, key := fmt.Sprintf("u%d", i%7), fmt.Sprintf("k%d", i)
						a, err := actions.FindAction(ctxA, user, "signIn", key)
						switch {
						case i >= n:
							if vigil.ErrorCode(err) != vigil.ENOTFOUND {
								t.Errorf("round %d: missing %s: %v, %v; want not found", round, key, a, err)
							}
						case err != nil:
							t.Errorf("round %d: %s: %v", round, key, err)
						case a.IdempotencyKey != key || a.UserID != user || a.Context.IPAddress != fmt.Sprintf("192.0.2.%d", i):
							t.Errorf("round %d: %s: got action %s of %s from %s", round, key, a.IdempotencyKey, a.UserID, a.Context.IPAddress)
						}
						// The same key under another user, code or tenant.
						for _, miss := range []func() (*vigil.Action, error){
							func() (*vigil.Action, error) { return actions.FindAction(ctxA, user+"x", "signIn", key) },
							func() (*vigil.Action, error) { return actions.FindAction(ctxA, user, "withdraw", key) },
							func() (*vigil.Action, error) { return actions.FindAction(ctxB, user, "signIn", key) },
						} {
							if a, err := miss(); vigil.ErrorCode(err) != vigil.ENOTFOUND {
								t.Errorf("round %d: %s under the wrong user, code or tenant: %v, %v; want not found", round, key, a, err)
							}
						}
					})
				}
			}
			wg.Wait()
		})
	}
}

// TestStatsKeeper checks the statistics keeper of PostgreSQL servers whose
// autovacuum is off: a round analyzes the tables that changed enough (120
// actions), and only those (9 users).
func TestStatsKeeper(t *testing.T) {
	if os.Getenv(postgresEnv) == "" {
		t.Skipf("set %s to run the PostgreSQL tests", postgresEnv)
	}
	db := openPostgres(t, Options{})
	ctx := mustTenant(t, db, "t")
	actions := NewActionService(db)
	for i := range 120 {
		a := &vigil.Action{UserID: fmt.Sprintf("u%d", i%9), Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
		if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	before, err := db.analyzedTables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(","+before+",", ",actions,") {
		t.Fatalf("actions analyzed before the keeper ran (autovacuum?): %q", before)
	}
	// The counters behind n_mod_since_analyze reach the statistics views
	// from each backend at transaction end, at most once a second.
	k := &statsKeeper{db: db}
	deadline := time.Now().Add(10 * time.Second)
	for {
		k.analyze()
		after, err := db.analyzedTables(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(","+after+",", ",actions,") {
			// users changed by 9 rows only, under autovacuum's threshold
			// of 50 plus a tenth of the table.
			if strings.Contains(","+after+",", ",users,") {
				t.Errorf("analyzed tables = %q; users changed too little to be analyzed", after)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("analyzed tables = %q, want actions among them", after)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
