package sqlstore

import (
	"context"
	"sync"
	"testing"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

// TestChallenges runs the challenge store suite on every dialect.
func TestChallenges(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) { testChallenges(t, d.open) })
	}
	if len(testDialects(t)) == 1 {
		t.Run("postgres", func(t *testing.T) { t.Skipf("set %s to run the PostgreSQL store tests", postgresEnv) })
	}
}

func testChallenges(t *testing.T, open opener) {
	clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	db := open(t, Options{Now: clock.Now})
	ctx := mustTenant(t, db, "t")
	other := mustTenant(t, db, "u")
	actions := NewActionService(db)
	auths := NewAuthenticatorService(db)
	cs := NewChallengeService(db)
	rs := NewRiskStateService(db)

	track := func(user string, outcome vigil.Outcome) vigil.ActionRef {
		t.Helper()
		a := &vigil.Action{UserID: user, Code: "signIn", Decision: vigil.Decision{Outcome: outcome},
			Context: vigil.ActionContext{DeviceID: "dev", IPAddress: "203.0.113.1"}, Location: &vigil.GeoPoint{Latitude: 1, Longitude: 2}}
		if _, _, err := actions.CreateAction(ctx, a, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
			t.Fatal(err)
		}
		return vigil.ActionRef{UserID: user, ActionCode: "signIn", IdempotencyKey: a.IdempotencyKey}
	}
	newOTP := func(ref vigil.ActionRef, dest string, limit vigil.SendLimit) (*vigil.Challenge, error) {
		c := &vigil.Challenge{Action: ref, Method: vigil.MethodEmailOTP, Purpose: vigil.PurposeEnroll, Destination: dest,
			CodeHash: []byte("hash-" + dest)}
		return c, cs.CreateChallenge(ctx, c, limit)
	}

	// Create, find, supersede.
	ref := track("alice", vigil.OutcomeChallenge)
	c1, err := newOTP(ref, "a@example.com", vigil.SendLimit{})
	if err != nil {
		t.Fatal(err)
	}
	if !c1.ExpiresAt.Equal(clock.Now().Add(vigil.DefaultChallengeTTL)) || c1.State != vigil.ChallengePending {
		t.Errorf("created %+v", c1)
	}
	clock.advance(time.Second)
	c2, err := newOTP(ref, "a@example.com", vigil.SendLimit{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cs.FindPendingChallenge(ctx, ref, vigil.MethodEmailOTP); err != nil || got.ID != c2.ID {
		t.Errorf("pending = %v, %v; want the newest", got, err)
	}
	if got, _ := cs.FindChallenge(ctx, c1.ID); got.State != vigil.ChallengeSuperseded {
		t.Errorf("older challenge state = %s, want superseded", got.State)
	}
	if _, err := cs.FindChallenge(other, c2.ID); vigil.ErrorCode(err) != vigil.ENOTFOUND {
		t.Errorf("other tenant: %v", err)
	}

	// Send limits: per user, and per destination across users.
	limit := vigil.SendLimit{Max: 3, Window: 10 * time.Minute}
	if _, err := newOTP(ref, "a@example.com", limit); err != nil {
		t.Fatal(err) // the third in the window
	}
	if _, err := newOTP(ref, "b@example.com", limit); vigil.ErrorCode(err) != vigil.ETOOMANY {
		t.Errorf("fourth send for alice: %v, want ETOOMANY", err)
	}
	bob := track("bob", vigil.OutcomeChallenge)
	if _, err := newOTP(bob, "a@example.com", limit); vigil.ErrorCode(err) != vigil.ETOOMANY {
		t.Errorf("fourth send to a@example.com: %v, want ETOOMANY", err)
	}
	clock.advance(11 * time.Minute)
	cur, err := newOTP(ref, "a@example.com", limit)
	if err != nil {
		t.Errorf("after the window: %v", err)
	}

	// Wrong answers: the fifth fails the challenge and the action.
	for i := 1; i <= 5; i++ {
		n, failed, err := cs.FailChallenge(ctx, cur.ID, 5)
		if err != nil || n != i || failed != (i == 5) {
			t.Errorf("FailChallenge #%d = %d, %v, %v", i, n, failed, err)
		}
	}
	if a, _ := actions.FindAction(ctx, ref.UserID, ref.ActionCode, ref.IdempotencyKey); a.State != vigil.StateChallengeFailed {
		t.Errorf("action after max attempts = %s", a.State)
	}
	if _, _, err := cs.CompleteChallenge(ctx, &vigil.Completion{ChallengeID: cur.ID, Action: ref, Method: vigil.MethodEmailOTP}); vigil.ErrorCode(err) != vigil.EINVALID {
		t.Errorf("completing a failed challenge: %v", err)
	}

	// Enrollment completes once, atomically, with recovery codes.
	ref = track("carol", vigil.OutcomeChallenge)
	c, err := newOTP(ref, "c@example.com", limit)
	if err != nil {
		t.Fatal(err)
	}
	comp := &vigil.Completion{ChallengeID: c.ID, Action: ref, Method: vigil.MethodEmailOTP,
		NewAuthenticator: &vigil.Authenticator{Method: vigil.MethodEmailOTP, Email: "c@example.com", IsDefault: true},
		NewRecoveryCodes: [][]byte{[]byte("r1"), []byte("r2")}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			a, au, err := cs.CompleteChallenge(ctx, comp)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
				if a.State != vigil.StateChallengeSucceeded || a.VerificationMethod != vigil.MethodEmailOTP || au == nil || a.VerifiedByAuthenticatorID != au.ID {
					t.Errorf("completed %+v with %+v", a, au)
				}
			} else if vigil.ErrorCode(err) != vigil.EINVALID {
				t.Errorf("concurrent complete: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d concurrent completions succeeded, want 1", wins)
	}
	list, _ := auths.FindAuthenticators(ctx, "carol")
	if len(list) != 1 || list[0].VerifiedAt.IsZero() || list[0].Email != "c@example.com" {
		t.Errorf("authenticators = %+v", list)
	}
	if has, _ := cs.HasRecoveryCodes(ctx, "carol"); !has {
		t.Error("no recovery codes stored")
	}
	if codes, err := cs.FindRecoveryCodes(ctx, "carol"); err != nil || len(codes) != 2 || string(codes[0]) != "r1" {
		t.Errorf("recovery codes = %q, %v", codes, err)
	}
	st, _ := rs.FindRiskState(ctx, &vigil.RiskQuery{UserID: "carol", DeviceID: "dev", IPAddress: "203.0.113.1",
		Now: clock.Now(), Need: vigil.NeedDevice | vigil.NeedIP | vigil.NeedUser})
	if !st.DeviceVerified || !st.IPVerified || st.LastVerifiedAt.IsZero() || len(st.VerifiedLocations) != 1 {
		t.Errorf("verification not recorded: %+v", st)
	}

	// A TOTP step is accepted once; a recovery code too.
	ref2 := track("carol", vigil.OutcomeChallenge)
	authID := list[0].ID
	step := func(n int64) error {
		_, _, err := cs.CompleteChallenge(ctx, &vigil.Completion{Action: ref2, Method: vigil.MethodAuthenticatorApp,
			AuthenticatorID: authID, TOTPStep: n})
		return err
	}
	if err := step(100); err != nil {
		t.Fatal(err)
	}
	if err := step(100); vigil.ErrorCode(err) != vigil.EINVALID {
		t.Errorf("same step again: %v", err)
	}
	if err := step(99); vigil.ErrorCode(err) != vigil.EINVALID {
		t.Errorf("earlier step: %v", err)
	}
	ref3 := track("carol", vigil.OutcomeChallenge)
	code := func() error {
		_, _, err := cs.CompleteChallenge(ctx, &vigil.Completion{Action: ref3, Method: vigil.MethodRecoveryCode, RecoveryCodeHash: []byte("r1")})
		return err
	}
	if err := code(); err != nil {
		t.Fatal(err)
	}
	if err := code(); vigil.ErrorCode(err) != vigil.EINVALID {
		t.Errorf("recovery code twice: %v", err)
	}
	if codes, _ := cs.FindRecoveryCodes(ctx, "carol"); len(codes) != 1 || string(codes[0]) != "r2" {
		t.Errorf("unused recovery codes after one use = %q", codes)
	}

	// States a challenge cannot complete.
	blocked := track("dave", vigil.OutcomeBlock)
	if _, _, err := cs.CompleteChallenge(ctx, &vigil.Completion{Action: blocked, Method: vigil.MethodRecoveryCode}); vigil.ErrorCode(err) != vigil.EFORBIDDEN {
		t.Errorf("completing a BLOCK action: %v", err)
	}
	if _, _, err := cs.CompleteChallenge(other, &vigil.Completion{Action: ref3, Method: vigil.MethodRecoveryCode}); vigil.ErrorCode(err) != vigil.EINVALID {
		t.Errorf("another tenant's action: %v", err)
	}

	// Magic links: found by their hash, verified once.
	ml := &vigil.Challenge{Action: track("erin", vigil.OutcomeChallenge), Method: vigil.MethodEmailMagicLink,
		Purpose: vigil.PurposeEnroll, Destination: "e@example.com", LinkHash: []byte("link")}
	if err := cs.CreateChallenge(ctx, ml, limit); err != nil {
		t.Fatal(err)
	}
	if got, err := cs.FindChallengeByLink(ctx, []byte("link")); err != nil || got.ID != ml.ID {
		t.Errorf("by link: %v, %v", got, err)
	}
	for i, want := range []bool{true, false} {
		if ok, err := cs.MarkLinkVerified(ctx, ml.ID); err != nil || ok != want {
			t.Errorf("MarkLinkVerified #%d = %v, %v", i, ok, err)
		}
	}
	if got, _ := cs.FindPendingChallenge(ctx, ml.Action, vigil.MethodEmailMagicLink); got == nil || got.State != vigil.ChallengeVerified {
		t.Errorf("verified link not found as live: %+v", got)
	}

	// TOTP seeds are sealed at rest and round-trip.
	tc := &vigil.Challenge{Action: track("fay", vigil.OutcomeChallenge), Method: vigil.MethodAuthenticatorApp,
		Purpose: vigil.PurposeEnroll, Secret: []byte("seed-0123456789")}
	if err := cs.CreateChallenge(ctx, tc, vigil.SendLimit{}); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.readRow(context.Background(), db.rebind(`SELECT secret FROM challenges WHERE id = ?`), tc.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if string(raw) == "seed-0123456789" {
		t.Error("TOTP seed stored in the clear")
	}
	if got, _ := cs.FindChallenge(ctx, tc.ID); string(got.Secret) != "seed-0123456789" {
		t.Errorf("secret = %q", got.Secret)
	}
	// A WebAuthn session and a late user.
	if err := cs.UpdateChallenge(ctx, tc.ID, "fay", []byte("session")); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.FindChallenge(ctx, tc.ID); string(got.Session) != "session" {
		t.Errorf("session = %q", got.Session)
	}
}
