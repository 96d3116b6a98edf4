package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

	// Another user's wrong answer to it counts nothing.
	if n, failed, err := cs.FailChallenge(ctx, "someone-else", cur.ID, 5); err != nil || !failed || n != 5 {
		t.Errorf("FailChallenge by another user = %d, %v, %v; want 5, true (not that user's pending challenge)", n, failed, err)
	}
	// Wrong answers: the fifth fails the challenge and the action.
	for i := 1; i <= 5; i++ {
		n, failed, err := cs.FailChallenge(ctx, ref.UserID, cur.ID, 5)
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

// TestChallengeConcurrency checks, on every dialect, that the send limits
// hold for concurrent sends, in one group commit and across several, and
// that challenges committed together see each other as they would one
// after the other.
func TestChallengeConcurrency(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) { testChallengeConcurrency(t, d.open) })
	}
	if len(testDialects(t)) == 1 {
		t.Run("postgres", func(t *testing.T) { t.Skipf("set %s to run the PostgreSQL store tests", postgresEnv) })
	}
}

func testChallengeConcurrency(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	cs := NewChallengeService(db)
	limit := vigil.SendLimit{Max: 3, Window: 10 * time.Minute}
	var seq atomic.Int64
	otp := func(user, key, dest string) *vigil.Challenge {
		return &vigil.Challenge{Action: vigil.ActionRef{UserID: user, ActionCode: "signIn", IdempotencyKey: key},
			Method: vigil.MethodEmailOTP, Purpose: vigil.PurposeVerify, Destination: dest,
			CodeHash: fmt.Appendf(nil, "hash-%d", seq.Add(1))}
	}
	// run calls fns concurrently, all queued behind a held writer (so that
	// they are one group commit) when batched, and returns their errors.
	run := func(batched bool, fns ...func() error) []error {
		t.Helper()
		var release func()
		if batched {
			release = holdWriter(t, ctx, db)
		}
		errs := make([]error, len(fns))
		var wg sync.WaitGroup
		for i, fn := range fns {
			wg.Go(func() { errs[i] = fn() })
		}
		if batched {
			for len(db.queue) < len(fns) {
				time.Sleep(time.Millisecond)
			}
			release()
		}
		wg.Wait()
		return errs
	}
	// wantOne fails unless exactly one of errs is nil and the others have
	// code want.
	wantOne := func(what string, errs []error, want string) {
		t.Helper()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case vigil.ErrorCode(err) != want:
				t.Errorf("%s: %v, want code %s", what, err, want)
			}
		}
		if wins != 1 {
			t.Errorf("%s: %d of %d succeeded, want 1", what, wins, len(errs))
		}
	}

	for _, batched := range []bool{true, false} {
		name := fmt.Sprintf("batched=%v", batched)
		t.Run(name, func(t *testing.T) {
			// One slot left for the user: of 8 concurrent sends, one
			// passes. A limit above 4 takes PostgreSQL's second count
			// (countSQL).
			var fns []func() error
			for _, maxSends := range []int{3, 6} {
				limit := vigil.SendLimit{Max: maxSends, Window: 10 * time.Minute}
				user := fmt.Sprintf("alice-%d-%s", maxSends, name)
				for i := range maxSends - 1 {
					if err := cs.CreateChallenge(ctx, otp(user, fmt.Sprintf("%s-k%d", user, i), ""), limit); err != nil {
						t.Fatal(err)
					}
				}
				fns = fns[:0]
				for i := range 8 {
					fns = append(fns, func() error {
						return cs.CreateChallenge(ctx, otp(user, fmt.Sprintf("%s-c%d", user, i), fmt.Sprintf("%d-%s@example.com", i, user)), limit)
					})
				}
				wantOne(fmt.Sprintf("sends for one user, limit %d", maxSends), run(batched, fns...), vigil.ETOOMANY)

				// One slot left for the destination, across users and
				// server-side challenges (no user).
				dest := fmt.Sprintf("%d-%s@example.com", maxSends, name)
				for i := range maxSends - 1 {
					if err := cs.CreateChallenge(ctx, otp("", fmt.Sprintf("%s-d%d", dest, i), dest), limit); err != nil {
						t.Fatal(err)
					}
				}
				fns = fns[:0]
				for i := range 8 {
					user := ""
					if i%2 == 1 {
						user = fmt.Sprintf("user-%d-%s", i, dest)
					}
					fns = append(fns, func() error {
						return cs.CreateChallenge(ctx, otp(user, fmt.Sprintf("%s-e%d", dest, i), dest), limit)
					})
				}
				wantOne(fmt.Sprintf("sends to one destination, limit %d", maxSends), run(batched, fns...), vigil.ETOOMANY)
			}

			// Two challenges of one action and method: the later supersedes
			// the earlier, whichever commits first.
			key := name + "-same"
			cs1, cs2 := otp("bob", key, "b1@example.com"), otp("bob", key, "b2@example.com")
			for _, err := range run(batched,
				func() error { return cs.CreateChallenge(ctx, cs1, vigil.SendLimit{}) },
				func() error { return cs.CreateChallenge(ctx, cs2, vigil.SendLimit{}) }) {
				if err != nil {
					t.Fatal(err)
				}
			}
			states := map[vigil.ChallengeState]int{}
			for _, c := range []*vigil.Challenge{cs1, cs2} {
				got, err := cs.FindChallenge(ctx, c.ID)
				if err != nil {
					t.Fatal(err)
				}
				states[got.State]++
			}
			if states[vigil.ChallengePending] != 1 || states[vigil.ChallengeSuperseded] != 1 {
				t.Errorf("two challenges of one action: states %v, want one pending and one superseded", states)
			}

			// A code is marked verified once, however many times it is
			// checked at once; a code is not a magic link.
			c := otp("carol", name+"-mark", "c@example.com")
			if err := cs.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
				t.Fatal(err)
			}
			var marks atomic.Int64
			fns = fns[:0]
			for range 4 {
				fns = append(fns, func() error {
					ok, err := cs.MarkVerified(ctx, c.ID)
					if ok {
						marks.Add(1)
					}
					return err
				})
			}
			fns = append(fns, func() error {
				if ok, err := cs.MarkLinkVerified(ctx, c.ID); ok || err != nil {
					return fmt.Errorf("MarkLinkVerified of a code = %v, %v; want false, nil", ok, err)
				}
				return nil
			})
			for _, err := range run(batched, fns...) {
				if err != nil {
					t.Error(err)
				}
			}
			if n := marks.Load(); n != 1 {
				t.Errorf("%d of 4 concurrent MarkVerified reported true, want 1", n)
			}
			if got, _ := cs.FindChallenge(ctx, c.ID); got.State != vigil.ChallengeVerified || got.VerifiedAt.IsZero() {
				t.Errorf("marked challenge: state %s, verified at %v", got.State, got.VerifiedAt)
			}
			// Three different codes at once, and one unknown.
			var ids []string
			for i := range 3 {
				c := otp("carol", fmt.Sprintf("%s-mark%d", name, i), "c@example.com")
				if err := cs.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, c.ID)
			}
			fns = fns[:0]
			for i, id := range append(ids, "unknown") {
				fns = append(fns, func() error {
					if ok, err := cs.MarkVerified(ctx, id); err != nil || ok != (i < 3) {
						return fmt.Errorf("MarkVerified(%s) = %v, %v; want %v", id, ok, err, i < 3)
					}
					return nil
				})
			}
			for _, err := range run(batched, fns...) {
				if err != nil {
					t.Error(err)
				}
			}

			// A failing statement (two magic links with one hash) is
			// replayed op by op: each op gets its own result.
			link := []byte(name + "-link")
			l1, l2 := otp("dave", name+"-l1", ""), otp("erin", name+"-l2", "")
			l1.Method, l1.CodeHash, l1.LinkHash = vigil.MethodEmailMagicLink, nil, link
			l2.Method, l2.CodeHash, l2.LinkHash = vigil.MethodEmailMagicLink, nil, link
			other := otp("fay", name+"-other", "f@example.com")
			errs := run(batched,
				func() error { return cs.CreateChallenge(ctx, l1, limit) },
				func() error { return cs.CreateChallenge(ctx, l2, limit) },
				func() error { return cs.CreateChallenge(ctx, other, limit) })
			wantOne("two links with one hash", errs[:2], vigil.ECONFLICT)
			if errs[2] != nil {
				t.Errorf("a challenge batched with a conflict: %v", errs[2])
			}
		})
	}
}
