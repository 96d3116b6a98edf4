package sqlstore

import (
	"context"
	"os"
	"sync"
	"testing"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// TestNoDeadlocks runs, on PostgreSQL, tracks, successful verifications
// and deletions of the same two users from the same device and IP address
// at once, from two servers, and checks that PostgreSQL detected no
// deadlock among them. Since migration 0014 a track locks its user's row
// (ON CONFLICT DO UPDATE), as verifications and deletions do, besides the
// device rows they all write. A deadlock would be resolved, but only after
// deadlock_timeout (1 s by default), and it would send a whole batch of
// tracks back to one transaction each.
func TestNoDeadlocks(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	dbs := openPostgresServers(t, 2, Options{})
	ctx := mustTenant(t, dbs[0], "t")
	deadlocks := func(db *DB) int64 {
		t.Helper()
		var n int64
		if err := db.read.QueryRowContext(ctx,
			`SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := deadlocks(dbs[0])
	users := []string{"ann", "ben"}
	var wg sync.WaitGroup
	for g := range 12 {
		db := dbs[g%2]
		actions, us := NewActionService(db), NewUserService(db)
		wg.Go(func() {
			for i := range 100 {
				u := users[(g+i)%len(users)]
				a := &vigil.Action{UserID: u, Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeChallenge},
					Context: vigil.ActionContext{DeviceID: "d1", IPAddress: "192.0.2.1"}}
				if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
					t.Error(err)
					return
				}
				switch g % 4 {
				case 1, 2:
					if _, err := actions.UpdateActionState(ctx, u, "signIn", a.IdempotencyKey, vigil.StateChallengeSucceeded); err != nil &&
						vigil.ErrorCode(err) != vigil.ENOTFOUND {
						t.Error(err)
						return
					}
				case 3:
					if i%8 == 0 {
						if err := us.DeleteUser(ctx, u); err != nil && vigil.ErrorCode(err) != vigil.ENOTFOUND {
							t.Error(err)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	// A backend reports its counts to the statistics views at most once a
	// second, and as it exits: close the servers, and read through a new
	// connection.
	for _, db := range dbs {
		db.Close()
	}
	check, err := Open(context.Background(), os.Getenv(postgresEnv), fillOptions(t, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	if d := deadlocks(check) - before; d != 0 {
		t.Errorf("PostgreSQL detected %d deadlocks", d)
	}
}
