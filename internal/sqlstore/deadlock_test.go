package sqlstore

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// TestNoDeadlocks runs, on PostgreSQL, tracks, successful verifications
// (state updates, and email codes sent and entered), and deletions of the
// same two users from the same device and IP address
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
		actions, us, cs := NewActionService(db), NewUserService(db), NewChallengeService(db)
		wg.Go(func() {
			for i := range 100 {
				u := users[(g+i)%len(users)]
				a := &vigil.Action{UserID: u, Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeChallenge},
					Context: vigil.ActionContext{DeviceID: "d1", IPAddress: "192.0.2.1"}}
				if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
					t.Error(err)
					return
				}
				switch g % 6 {
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
				case 4, 5:
					// An email code sent and entered: the challenge used, the
					// action succeeded, the device and IP address verified.
					c := &vigil.Challenge{Action: vigil.ActionRef{UserID: u, ActionCode: "signIn", IdempotencyKey: a.IdempotencyKey},
						Method: vigil.MethodEmailOTP, Purpose: vigil.PurposeEnroll, Destination: u + "@example.com", CodeHash: []byte("h")}
					if err := cs.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
						if vigil.ErrorCode(err) != vigil.ENOTFOUND { // the user was just deleted
							t.Error(err)
						}
						continue
					}
					// A challenge that a newer one of its user replaced, or
					// whose user was deleted, is no longer completable: an
					// EINVALID or ENOTFOUND, and what is counted is deadlocks.
					if _, _, err := cs.CompleteChallenge(ctx, &vigil.Completion{ChallengeID: c.ID, Action: c.Action, Method: vigil.MethodEmailOTP,
						NewAuthenticator: &vigil.Authenticator{Method: vigil.MethodEmailOTP, Email: u + "@example.com"}}); err != nil &&
						vigil.ErrorCode(err) != vigil.ENOTFOUND && vigil.ErrorCode(err) != vigil.EINVALID {
						t.Error(err)
						return
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

// TestUserLock checks, on PostgreSQL, that a user's deletion and both
// paths of an action state update (the group's statement and its replay)
// wait for the user's advisory lock before they touch a row, so that they
// cannot lock that user's rows in orders that deadlock (see userLockSQL).
// Each must block while another transaction holds the lock, and finish
// once it is released; a lock on another user must not hold it up.
func TestUserLock(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	db := openPostgres(t, Options{})
	ctx := mustTenant(t, db, "t")
	tenantID, _ := vigil.RequireTenant(ctx)
	actions, users, auths, cs := NewActionService(db), NewUserService(db), NewAuthenticatorService(db), NewChallengeService(db)
	track := func() *vigil.Action {
		t.Helper()
		a := &vigil.Action{UserID: "ann", Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeChallenge},
			Context: vigil.ActionContext{DeviceID: "d1", IPAddress: "192.0.2.1"}}
		if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		return a
	}
	// challenge tracks an action of ann and sends an email code for it.
	challenge := func() (*vigil.Challenge, error) {
		a := track()
		c := &vigil.Challenge{Action: vigil.ActionRef{UserID: "ann", ActionCode: "signIn", IdempotencyKey: a.IdempotencyKey},
			Method: vigil.MethodEmailOTP, Purpose: vigil.PurposeEnroll, Destination: "ann@example.com", CodeHash: []byte("h")}
		return c, cs.CreateChallenge(ctx, c, vigil.SendLimit{})
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"state update", func() error {
			a := track()
			_, err := actions.UpdateActionState(ctx, "ann", "signIn", a.IdempotencyKey, vigil.StateChallengeSucceeded)
			return err
		}},
		{"state update replayed", func() error {
			a := track()
			return db.write(ctx, func(tx *Tx) error {
				_, err := actions.updateStateVerified(tx, &updateRow{tenantID: tenantID, userID: "ann", code: "signIn",
					key: a.IdempotencyKey, state: vigil.StateChallengeSucceeded})
				return err
			})
		}},
		{"user deletion", func() error {
			track()
			return users.DeleteUser(ctx, "ann")
		}},
		{"challenge completion", func() error {
			c, err := challenge()
			if err != nil {
				return err
			}
			_, _, err = cs.CompleteChallenge(ctx, &vigil.Completion{ChallengeID: c.ID, Action: c.Action, Method: vigil.MethodEmailOTP,
				NewAuthenticator: &vigil.Authenticator{Method: vigil.MethodEmailOTP, Email: "ann@example.com"}})
			return err
		}},
		{"challenge completion without a challenge", func() error {
			a := track()
			_, _, err := cs.CompleteChallenge(ctx, &vigil.Completion{Method: vigil.MethodEmailOTP,
				Action:           vigil.ActionRef{UserID: "ann", ActionCode: "signIn", IdempotencyKey: a.IdempotencyKey},
				NewAuthenticator: &vigil.Authenticator{Method: vigil.MethodEmailOTP, Email: "ann@example.com"}})
			return err
		}},
		{"challenge failure", func() error {
			c, err := challenge()
			if err != nil {
				return err
			}
			_, failed, err := cs.FailChallenge(ctx, c.Action.UserID, c.ID, 1)
			if err == nil && !failed {
				err = fmt.Errorf("challenge not failed at its one attempt")
			}
			return err
		}},
		{"authenticator deletion", func() error {
			au := &vigil.Authenticator{UserID: "ann", Method: vigil.MethodEmailOTP, Email: "ann-" + newID() + "@example.com"}
			if err := auths.CreateAuthenticator(ctx, au); err != nil {
				return err
			}
			return auths.DeleteAuthenticator(ctx, "ann", au.ID)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, who := range []string{"ann", "ben"} {
				hold, err := db.read.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := hold.ExecContext(ctx, lockUserSQL(db), tenantID, who); err != nil {
					hold.Rollback()
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- tc.run() }()
				waiting := false
				select {
				case err := <-done:
					if who == "ann" {
						t.Errorf("finished (%v) while another transaction held ann's lock", err)
					} else if err != nil {
						t.Errorf("with ben's lock held: %v", err)
					}
				case <-time.After(500 * time.Millisecond):
					waiting = true
					if who == "ben" {
						t.Errorf("blocked by ben's lock")
					}
				}
				hold.Rollback()
				if waiting {
					select {
					case err := <-done:
						if err != nil {
							t.Error(err)
						}
					case <-time.After(10 * time.Second):
						t.Fatal("still blocked 10 s after the lock was released")
					}
				}
			}
		})
	}
}
