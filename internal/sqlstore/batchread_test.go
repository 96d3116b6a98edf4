package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/testenv"
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

// TestFindActionState checks that FindActionState reads FindAction's
// identity and state fields, and only those, for actions in each state a
// validation meets (with a packed explanation on SQLite), and finds
// nothing under another user, code or tenant.
func TestFindActionState(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t, Options{})
			ctxA, ctxB := mustTenant(t, db, "a"), mustTenant(t, db, "b")
			actions := NewActionService(db)
			dec := vigil.Decision{Outcome: vigil.OutcomeChallenge, RuleIDs: []string{"r1"}, PriorityRuleID: "r1",
				VerificationMethods: []vigil.VerificationMethod{vigil.MethodEmailOTP}, Output: explanation()}
			for i, state := range []vigil.ActionState{vigil.StateChallengeRequired, vigil.StateChallengeSucceeded, vigil.StateChallengeSucceeded} {
				key := fmt.Sprintf("k%d", i)
				a := &vigil.Action{UserID: "u1", Code: "withdraw", IdempotencyKey: key, Decision: dec,
					AllowedMethods: []vigil.VerificationMethod{vigil.MethodEmailOTP}, IsEnrolled: true,
					Context: vigil.ActionContext{IPAddress: "192.0.2.1", UserAgent: "test", Custom: []byte(`{"amount":5}`)}}
				if _, _, err := actions.CreateAction(ctxA, a, nil); err != nil {
					t.Fatal(err)
				}
				if state != vigil.StateChallengeRequired {
					if _, err := actions.UpdateActionState(ctxA, "u1", "withdraw", key, state); err != nil {
						t.Fatal(err)
					}
				}
				if i == 2 {
					if _, ok, err := actions.ConsumeValidation(ctxA, "u1", "withdraw", key); err != nil || !ok {
						t.Fatalf("consume: %v, %v", ok, err)
					}
				}
				full, err := actions.FindAction(ctxA, "u1", "withdraw", key)
				if err != nil {
					t.Fatal(err)
				}
				if full.Decision.Output == nil || full.Context.IPAddress == "" {
					t.Fatalf("%s: FindAction left out the decision or context: %+v", key, full)
				}
				got, err := actions.FindActionState(ctxA, "u1", "withdraw", key)
				if err != nil {
					t.Fatal(err)
				}
				want := &vigil.Action{TenantID: full.TenantID, ID: full.ID, UserID: full.UserID, Code: full.Code,
					IdempotencyKey: full.IdempotencyKey, State: full.State, StateUpdatedAt: full.StateUpdatedAt,
					CreatedAt: full.CreatedAt, UpdatedAt: full.UpdatedAt, VerificationMethod: full.VerificationMethod,
					ValidatedAt: full.ValidatedAt}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: FindActionState differs from FindAction's identity and state (-want +got):\n%s", key, diff)
				}
				if i == 2 && got.ValidatedAt.IsZero() {
					t.Errorf("%s: consumed, but FindActionState has no ValidatedAt", key)
				}
			}
			for _, miss := range []struct {
				ctx             context.Context
				user, code, key string
			}{
				{ctxA, "u2", "withdraw", "k0"},
				{ctxA, "u1", "signIn", "k0"},
				{ctxB, "u1", "withdraw", "k0"},
				{ctxA, "u1", "withdraw", "k9"},
			} {
				if a, err := actions.FindActionState(miss.ctx, miss.user, miss.code, miss.key); vigil.ErrorCode(err) != vigil.ENOTFOUND {
					t.Errorf("FindActionState(%s, %s, %s) = %v, %v; want not found", miss.user, miss.code, miss.key, a, err)
				}
			}
		})
	}
}

// TestStatsKeeper checks the statistics keeper: a round analyzes the
// tables that changed enough (120 actions), and only those (not tenants,
// changed by 1 row). With autovacuum on it analyzes only young tables that
// grew: a keeper whose limit is under the 120 actions leaves them alone,
// and so does one after the actions were only updated. With autovacuum off
// it analyzes a table past that limit too, unless the table was analyzed
// within the keeper's mature interval (and did not grow while young).
func TestStatsKeeper(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	const grow, update = false, true
	for _, tc := range []struct {
		name         string
		k            statsKeeper
		analyzeFirst bool // actions analyzed, then changed as much again, before the round
		update       bool // that second change updates the actions instead of adding as many
		wantA        bool // actions analyzed by the round
	}{
		{"autovacuum off", statsKeeper{all: true, young: youngTableRows, mature: matureInterval}, false, grow, true},
		{"autovacuum on, young table", statsKeeper{young: youngTableRows, mature: matureInterval}, false, grow, true},
		{"autovacuum on, table past young", statsKeeper{young: 100, mature: matureInterval}, false, grow, false},
		{"autovacuum off, table past young", statsKeeper{all: true, young: 100, mature: matureInterval}, false, grow, true},
		{"autovacuum off, table past young analyzed lately", statsKeeper{all: true, young: 100, mature: matureInterval}, true, grow, false},
		{"autovacuum off, young table analyzed lately", statsKeeper{all: true, young: youngTableRows, mature: matureInterval}, true, grow, true},
		{"autovacuum on, young table analyzed, then updated", statsKeeper{young: youngTableRows, mature: matureInterval}, true, update, false},
		{"autovacuum off, young table analyzed lately, then updated", statsKeeper{all: true, young: youngTableRows, mature: matureInterval}, true, update, false},
		{"autovacuum off, young table analyzed long ago, then updated", statsKeeper{all: true, young: youngTableRows, mature: time.Nanosecond}, true, update, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits up to 10 s for the statistics views
			db := openPostgres(t, Options{})
			db.stats.close() // the test runs its own rounds
			ctx := mustTenant(t, db, "t")
			actions := NewActionService(db)
			track := func() {
				for i := range 120 {
					a := &vigil.Action{UserID: fmt.Sprintf("u%d", i%9), Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
					if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The counters behind n_mod_since_analyze and n_live_tup reach
			// the statistics views from each backend at transaction end, at
			// most once a second, and from an idle one after 10 s: wait
			// until they show a change before going on.
			waitCounted := func(mods, live int64) {
				t.Helper()
				deadline := time.Now().Add(30 * time.Second)
				for {
					var m, l int64
					if err := db.read.QueryRowContext(ctx, `SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables
						WHERE schemaname = current_schema() AND relname = 'actions'`).Scan(&m, &l); err != nil {
						t.Fatal(err)
					}
					if m >= mods && l >= live {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("actions: %d changes since its analysis and %d live rows, want %d and %d", m, l, mods, live)
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
			track()
			if tc.analyzeFirst {
				waitCounted(120, 120) // else counts reported after the analysis would read as growth
				if _, err := db.read.ExecContext(ctx, `ANALYZE actions`); err != nil {
					t.Fatal(err)
				}
				if tc.update {
					if _, err := db.writePool.ExecContext(ctx, `UPDATE actions SET updated_at = updated_at + 1`); err != nil {
						t.Fatal(err)
					}
				} else {
					track()
				}
			}
			want := int64(0)
			if tc.analyzeFirst {
				want = 1
			}
			before := db.analyzeCount(t, "actions")
			if before != want {
				t.Fatalf("actions analyzed %d times before the keeper ran (autovacuum?), want %d", before, want)
			}
			k := tc.k
			k.db, k.ctx = db, context.Background()
			waitCounted(120, 120)
			k.analyze()
			if got := db.analyzeCount(t, "actions") > before; got != tc.wantA {
				t.Errorf("actions analyzed by the round = %v, want %v", got, tc.wantA)
			}
			// tenants changed by 1 row only, under autovacuum's threshold
			// of 50 plus a tenth of the table.
			if n := db.analyzeCount(t, "tenants"); n != 0 {
				t.Errorf("tenants analyzed %d times; it changed too little to be analyzed", n)
			}
		})
	}
}

// analyzeCount returns how many times table was analyzed, by ANALYZE or
// autovacuum.
func (db *DB) analyzeCount(t *testing.T, table string) int64 {
	t.Helper()
	var n int64
	if err := db.read.QueryRowContext(context.Background(), `SELECT analyze_count + autoanalyze_count FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname = $1`, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConsumeReadValidation checks the validation fast path: it consumes an
// action read a moment before, once; a copy read before a later change
// consumes nothing (ConsumeValidation then decides). Concurrent consumes of
// one read (batched into one statement on PostgreSQL) consume it once.
func TestConsumeReadValidation(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
			db := d.open(t, Options{Now: func() time.Time { now = now.Add(time.Millisecond); return now }})
			ctx := mustTenant(t, db, "t")
			actions := NewActionService(db)
			track := func(key string) {
				t.Helper()
				a := &vigil.Action{UserID: "gina", Code: "pay", IdempotencyKey: key, Decision: vigil.Decision{Outcome: vigil.OutcomeChallenge}}
				if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
					t.Fatal(err)
				}
				if _, err := actions.UpdateActionState(ctx, "gina", "pay", key, vigil.StateChallengeSucceeded); err != nil {
					t.Fatal(err)
				}
			}
			read := func(key string) *vigil.Action {
				t.Helper()
				a, err := actions.FindAction(ctx, "gina", "pay", key)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			track("k1")
			a := read("k1")
			at, consumed, err := actions.ConsumeReadValidation(ctx, a)
			if err != nil || !consumed {
				t.Fatalf("first consume: %v, %v; want consumed", consumed, err)
			}
			if got := read("k1").ValidatedAt; !got.Equal(at) {
				t.Errorf("stored validatedAt %v, returned %v", got, at)
			}
			if _, consumed, _ := actions.ConsumeReadValidation(ctx, a); consumed {
				t.Error("the same read consumed twice")
			}
			if _, consumed, _ := actions.ConsumeValidation(ctx, "gina", "pay", "k1"); consumed {
				t.Error("ConsumeValidation consumed an action the fast path had consumed")
			}

			// A copy read before a change (here: the state set again, which
			// moves updated_at) consumes nothing; the action stays valid.
			track("k2")
			stale := read("k2")
			if _, err := actions.UpdateActionState(ctx, "gina", "pay", "k2", vigil.StateChallengeSucceeded); err != nil {
				t.Fatal(err)
			}
			if _, consumed, err := actions.ConsumeReadValidation(ctx, stale); err != nil || consumed {
				t.Fatalf("stale copy: consumed %v, %v; want nothing consumed", consumed, err)
			}
			if _, consumed, err := actions.ConsumeValidation(ctx, "gina", "pay", "k2"); err != nil || !consumed {
				t.Fatalf("ConsumeValidation after a stale fast path: %v, %v; want consumed", consumed, err)
			}

			// 16 concurrent consumes of the same read, and of 16 other
			// actions: each action is consumed exactly once.
			for i := range 16 {
				track(fmt.Sprintf("c%d", i))
			}
			k3 := read("c0")
			var n atomic.Int64
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() {
					if _, consumed, err := actions.ConsumeReadValidation(ctx, k3); err != nil {
						t.Error(err)
					} else if consumed {
						n.Add(1)
					}
				})
				if i > 0 {
					other := read(fmt.Sprintf("c%d", i))
					wg.Go(func() {
						if _, consumed, err := actions.ConsumeReadValidation(ctx, other); err != nil || !consumed {
							t.Errorf("%s: consumed %v, %v", other.IdempotencyKey, consumed, err)
						}
					})
				}
			}
			wg.Wait()
			if n.Load() != 1 {
				t.Errorf("one read consumed %d times concurrently, want once", n.Load())
			}
		})
	}
}

// analyzedTables returns the tables of the current schema that have
// been analyzed, sorted.
func (db *DB) analyzedTables(ctx context.Context) (string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT relname FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL) ORDER BY relname`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return "", err
		}
		out = append(out, t)
	}
	return strings.Join(out, ","), rows.Err()
}

// TestBatchReadGenericPlans checks, on PostgreSQL, that the batch readers'
// statements run on generic plans: with plan_cache_mode's default a
// statement of a few keys is planned again at every execution, which cost
// more than running it.
func TestBatchReadGenericPlans(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	// One connection, whose prepared statements pg_prepared_statements shows.
	db := openPostgres(t, Options{ReadConns: 1})
	ctx := mustTenant(t, db, "t")
	actions := NewActionService(db)
	a := &vigil.Action{UserID: "u", Code: "signIn", IdempotencyKey: "k", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
	if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	for range 12 {
		if _, err := actions.FindAction(ctx, "u", "signIn", "k"); err != nil {
			t.Fatal(err)
		}
	}
	var generic, custom int64
	if err := db.batchRead.QueryRowContext(ctx, `SELECT COALESCE(SUM(generic_plans), 0), COALESCE(SUM(custom_plans), 0)
		FROM pg_prepared_statements WHERE statement LIKE '%unnest%'`).Scan(&generic, &custom); err != nil {
		t.Fatal(err)
	}
	if generic < 12 || custom != 0 {
		t.Errorf("the batch reader's statements ran on %d generic and %d custom plans, want at least 12 generic and no custom one", generic, custom)
	}
}
