package sqlstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	vigil "github.com/vigil-auth/vigil"
)

// TestRiskState runs the risk history suite on every dialect.
func TestRiskState(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) { testRiskState(t, d.open) })
	}
	if len(testDialects(t)) == 1 {
		t.Run("postgres", func(t *testing.T) { t.Skipf("set %s to run the PostgreSQL store tests", postgresEnv) })
	}
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testRiskState(t *testing.T, open opener) {
	clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	db := open(t, Options{Now: clock.Now})
	ctx := mustTenant(t, db, "t")
	other := mustTenant(t, db, "u")
	actions := NewActionService(db)
	users := NewUserService(db)
	rs := NewRiskStateService(db)
	all := vigil.NeedUser | vigil.NeedDevice | vigil.NeedIP | vigil.NeedActionCounts | vigil.NeedFailedChallenges | vigil.NeedDistinctIPs
	auths := NewAuthenticatorService(db)

	n := 0
	track := func(user, code, device, ip string, loc *vigil.GeoPoint) *vigil.Action {
		t.Helper()
		n++
		a := &vigil.Action{UserID: user, Code: code, Decision: vigil.Decision{Outcome: vigil.OutcomeChallenge},
			Context: vigil.ActionContext{DeviceID: device, IPAddress: ip}, Location: loc}
		if _, _, err := actions.CreateAction(ctx, a, &vigil.ActionConfig{ActionCode: code, DefaultOutcome: vigil.OutcomeAllow}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	state := func(q vigil.RiskQuery) *vigil.RiskState {
		t.Helper()
		q.Now = clock.Now()
		st, err := rs.FindRiskState(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	// A user never seen: an empty state, not an error.
	if diff := cmp.Diff(&vigil.RiskState{}, state(vigil.RiskQuery{UserID: "nobody", ActionCode: "signIn",
		DeviceID: "d", IPAddress: "192.0.2.1", Need: all})); diff != "" {
		t.Errorf("unknown user (-want +got):\n%s", diff)
	}

	auckland := &vigil.GeoPoint{Latitude: -36.85, Longitude: 174.76}
	track("alice", "signIn", "d1", "203.0.113.7", auckland)
	clock.advance(2 * time.Hour)
	track("alice", "signIn", "d2", "203.0.113.8", auckland)
	track("alice", "withdraw", "d2", "198.51.100.1", nil)
	clock.advance(10 * time.Minute)
	a := track("alice", "signIn", "d2", "203.0.113.8", auckland)
	track("bob", "signIn", "d9", "192.0.2.9", nil)
	clock.advance(time.Minute)

	got := state(vigil.RiskQuery{UserID: "alice", ActionCode: "signIn", DeviceID: "d1", IPAddress: "203.0.113.7", Need: all})
	if got.User == nil || got.User.ID != "alice" || !got.User.CreatedAt.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("User = %+v", got.User)
	}
	got.User = nil
	want := &vigil.RiskState{
		DeviceSeen: true, DeviceCount: 2,
		ActionsLastHour: 2, ActionsLastDay: 3,
		DistinctIPsLastDay: 3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alice before verifying (-want +got):\n%s", diff)
	}

	// Authenticators: method and default only, oldest first.
	for _, m := range []vigil.VerificationMethod{vigil.MethodSMS, vigil.MethodAuthenticatorApp} {
		clock.advance(time.Second)
		if err := auths.CreateAuthenticator(ctx, &vigil.Authenticator{UserID: "alice", Method: m, PhoneNumber: "+6421000000",
			IsDefault: m == vigil.MethodAuthenticatorApp}); err != nil {
			t.Fatal(err)
		}
	}
	got = state(vigil.RiskQuery{UserID: "alice", Need: vigil.NeedAuthenticators})
	if len(got.Authenticators) != 2 || got.Authenticators[0].Method != vigil.MethodSMS || got.Authenticators[0].IsDefault ||
		got.Authenticators[1].Method != vigil.MethodAuthenticatorApp || !got.Authenticators[1].IsDefault {
		t.Errorf("authenticators = %+v", got.Authenticators)
	}

	// Only the parts asked for are read.
	if diff := cmp.Diff(&vigil.RiskState{ActionsLastHour: 2, ActionsLastDay: 3}, state(vigil.RiskQuery{UserID: "alice",
		ActionCode: "signIn", DeviceID: "d1", Need: vigil.NeedActionCounts})); diff != "" {
		t.Errorf("counts only (-want +got):\n%s", diff)
	}
	// A device never seen.
	if st := state(vigil.RiskQuery{UserID: "alice", DeviceID: "d-new", Need: vigil.NeedDevice}); st.DeviceSeen || st.DeviceCount != 2 {
		t.Errorf("new device: %+v", st)
	}

	// A successful challenge remembers the device and verifies the IP with
	// its location; a failed one counts.
	verifiedAt := clock.Now()
	if _, err := actions.UpdateActionState(ctx, "alice", "signIn", a.IdempotencyKey, vigil.StateChallengeSucceeded); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Minute)
	b := track("alice", "withdraw", "d3", "198.51.100.1", nil)
	if _, err := actions.UpdateActionState(ctx, "alice", "withdraw", b.IdempotencyKey, vigil.StateChallengeFailed); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Minute)
	got = state(vigil.RiskQuery{UserID: "alice", ActionCode: "withdraw", DeviceID: "d2", IPAddress: "203.0.113.8", Need: all})
	if !got.LastVerifiedAt.Equal(verifiedAt) {
		t.Errorf("LastVerifiedAt = %v, want %v", got.LastVerifiedAt, verifiedAt)
	}
	got.User, got.LastVerifiedAt = nil, time.Time{}
	want = &vigil.RiskState{
		DeviceSeen: true, DeviceVerified: true, DeviceCount: 3,
		IPVerified:        true,
		VerifiedLocations: []vigil.VerifiedLocation{{GeoPoint: *auckland, At: verifiedAt}},
		ActionsLastHour:   2, ActionsLastDay: 2,
		FailedChallengesLastHour: 1,
		DistinctIPsLastDay:       3,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alice after verifying (-want +got):\n%s", diff)
	}
	// Another IP of hers is not verified, but her locations are known.
	if st := state(vigil.RiskQuery{UserID: "alice", IPAddress: "198.51.100.1", Need: vigil.NeedIP}); st.IPVerified || len(st.VerifiedLocations) != 1 {
		t.Errorf("unverified IP: %+v", st)
	}

	// Counts look back an hour and a day.
	clock.advance(2 * time.Hour)
	if st := state(vigil.RiskQuery{UserID: "alice", ActionCode: "signIn", Need: vigil.NeedActionCounts | vigil.NeedFailedChallenges}); st.ActionsLastHour != 0 || st.ActionsLastDay != 3 || st.FailedChallengesLastHour != 0 {
		t.Errorf("two hours later: %+v", st)
	}

	// Another tenant sees nothing of alice.
	st, err := rs.FindRiskState(other, &vigil.RiskQuery{UserID: "alice", ActionCode: "signIn", DeviceID: "d2",
		IPAddress: "203.0.113.8", Now: clock.Now(), Need: all})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&vigil.RiskState{}, st); diff != "" {
		t.Errorf("other tenant (-want +got):\n%s", diff)
	}

	// Deleting the user deletes the history.
	if err := users.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&vigil.RiskState{}, state(vigil.RiskQuery{UserID: "alice", ActionCode: "signIn", DeviceID: "d2",
		IPAddress: "203.0.113.8", Need: all})); diff != "" {
		t.Errorf("after DeleteUser (-want +got):\n%s", diff)
	}
}

// TestDevicesBatched records devices from concurrent tracks, which the
// writer commits in batches (on PostgreSQL as one statement whose device
// upsert must touch each device row once).
func TestDevicesBatched(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t, Options{})
			ctx := mustTenant(t, db, "t")
			actions := NewActionService(db)
			var wg sync.WaitGroup
			for i := range 64 {
				wg.Go(func() {
					dev := []string{"d1", "d2", "d3", ""}[i%4]
					a := &vigil.Action{UserID: "carol", Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow},
						Context: vigil.ActionContext{DeviceID: dev}}
					if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			st, err := NewRiskStateService(db).FindRiskState(ctx, &vigil.RiskQuery{UserID: "carol", DeviceID: "d2",
				Now: time.Now().Add(time.Second), Need: vigil.NeedDevice | vigil.NeedActionCounts})
			if err != nil {
				t.Fatal(err)
			}
			if !st.DeviceSeen || st.DeviceCount != 3 {
				t.Errorf("state = %+v, want device d2 seen among 3", st)
			}
		})
	}
}

// TestTrackDeviceLastSeen checks what a track writes besides its action: the
// user and the device are created with the action, a replayed idempotency
// key writes neither, and the device's last_seen_at moves only once it is
// an hour old (lastSeenGrain), so that a returning device costs no write.
func TestTrackDeviceLastSeen(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
			now := t0
			db := d.open(t, Options{Now: func() time.Time { return now }})
			ctx := mustTenant(t, db, "t")
			actions := NewActionService(db)
			track := func(user, key, dev string) {
				t.Helper()
				a := &vigil.Action{UserID: user, Code: "signIn", IdempotencyKey: key,
					Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}, Context: vigil.ActionContext{DeviceID: dev}}
				if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
					t.Fatal(err)
				}
			}
			lastSeen := func(user, dev string) (first, last int64) {
				t.Helper()
				q := db.rebind(`SELECT first_seen_at, last_seen_at FROM user_devices WHERE user_id = ? AND device_id = ?`)
				if err := db.read.QueryRowContext(context.Background(), q, user, dev).Scan(&first, &last); err != nil {
					t.Fatalf("device %s of %s: %v", dev, user, err)
				}
				return first, last
			}
			count := func(table, user string) int {
				t.Helper()
				var n int
				col := map[string]string{"users": "id", "user_devices": "user_id"}[table]
				if err := db.read.QueryRowContext(context.Background(),
					db.rebind(`SELECT COUNT(*) FROM `+table+` WHERE `+col+` = ?`), user).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}

			track("dave", "k1", "phone")
			if got := count("users", "dave"); got != 1 {
				t.Fatalf("users of dave = %d, want 1", got)
			}
			first, last := lastSeen("dave", "phone")
			if first != micros(t0) || last != micros(t0) {
				t.Fatalf("first, last seen = %d, %d; want both %d", first, last, micros(t0))
			}

			now = t0.Add(59 * time.Minute)
			track("dave", "k2", "phone")
			if _, last := lastSeen("dave", "phone"); last != micros(t0) {
				t.Errorf("last seen after 59 min = %d, want unchanged %d", last, micros(t0))
			}
			now = t0.Add(61 * time.Minute)
			track("dave", "k3", "phone")
			if first, last := lastSeen("dave", "phone"); first != micros(t0) || last != micros(now) {
				t.Errorf("after 61 min: first, last seen = %d, %d; want %d, %d", first, last, micros(t0), micros(now))
			}

			// No device: the user only. A replayed key (same payload) adds
			// nothing, not even the device it names.
			track("erin", "k4", "")
			if u, dv := count("users", "erin"), count("user_devices", "erin"); u != 1 || dv != 0 {
				t.Errorf("erin: %d users, %d devices; want 1, 0", u, dv)
			}
			a := &vigil.Action{UserID: "erin", Code: "signIn", IdempotencyKey: "k4",
				Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}, Context: vigil.ActionContext{DeviceID: "laptop"}}
			if _, created, err := actions.CreateAction(ctx, a, nil); err != nil || created {
				t.Fatalf("replay: created %v, err %v; want an existing action", created, err)
			}
			if got := count("user_devices", "erin"); got != 0 {
				t.Errorf("devices of erin after a replayed key = %d, want 0", got)
			}
		})
	}
}
