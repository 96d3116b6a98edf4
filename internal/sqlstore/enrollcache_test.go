package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	vigil "github.com/vigil-auth/vigil"
)

// TestEnrollCache checks the enrollment cache of the risk state read: it
// serves repeated reads while only tracks are written, and every other
// write (enrolling, deleting an authenticator or the user) is seen by the
// next read, on both dialects.
func TestEnrollCache(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t, Options{})
			ctx := mustTenant(t, db, "t")
			actions, auths, users, risk := NewActionService(db), NewAuthenticatorService(db), NewUserService(db), NewRiskStateService(db)
			methods := func() []vigil.VerificationMethod {
				t.Helper()
				st, err := risk.FindRiskState(ctx, &vigil.RiskQuery{UserID: "frank", Need: vigil.NeedAuthenticators})
				if err != nil {
					t.Fatal(err)
				}
				var ms []vigil.VerificationMethod
				for _, a := range st.Authenticators {
					ms = append(ms, a.Method)
				}
				return ms
			}
			track := func(key string) {
				t.Helper()
				a := &vigil.Action{UserID: "frank", Code: "signIn", IdempotencyKey: key, Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
				if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
					t.Fatal(err)
				}
			}

			track("k1")
			if got := methods(); len(got) != 0 {
				t.Fatalf("methods before enrolling = %v, want none", got)
			}
			track("k2") // a track keeps the cached entry
			totp := &vigil.Authenticator{UserID: "frank", Method: vigil.MethodAuthenticatorApp}
			if err := auths.CreateAuthenticator(ctx, totp); err != nil {
				t.Fatal(err)
			}
			if got := methods(); len(got) != 1 || got[0] != vigil.MethodAuthenticatorApp {
				t.Fatalf("methods after enrolling = %v, want [%s]", got, vigil.MethodAuthenticatorApp)
			}
			track("k3")
			if got := methods(); len(got) != 1 {
				t.Fatalf("methods after another track = %v, want one", got)
			}
			if err := auths.DeleteAuthenticator(ctx, "frank", totp.ID); err != nil {
				t.Fatal(err)
			}
			if got := methods(); len(got) != 0 {
				t.Fatalf("methods after deleting = %v, want none", got)
			}
			if err := auths.CreateAuthenticator(ctx, &vigil.Authenticator{UserID: "frank", Method: vigil.MethodSMS, PhoneNumber: "+6421000000"}); err != nil {
				t.Fatal(err)
			}
			if got := methods(); len(got) != 1 {
				t.Fatalf("methods after enrolling SMS = %v, want one", got)
			}
			if err := users.DeleteUser(ctx, "frank"); err != nil {
				t.Fatal(err)
			}
			if got := methods(); len(got) != 0 {
				t.Fatalf("methods after deleting the user = %v, want none", got)
			}

			if d.name != DialectSQLite {
				return // PostgreSQL checks its entries against other writers (TestEnrollVersionGuard)
			}
			// The cache is real: a write that bypasses the writer (which
			// nothing in Vigil does) is not seen while the entry is valid.
			for _, q := range []string{`INSERT INTO users (tenant_id, id, created_at, updated_at) VALUES ('t', 'frank', 1, 1)`,
				`INSERT INTO authenticators (tenant_id, id, user_id, method, created_at) VALUES ('t', 'sneaky', 'frank', 'EMAIL_OTP', 1)`} {
				if _, err := db.writePool.ExecContext(context.Background(), q); err != nil {
					t.Fatal(err)
				}
			}
			if got := methods(); len(got) != 0 {
				t.Errorf("methods after a write outside the writer = %v, want the cached none", got)
			}
		})
	}
}

// TestEnrollCacheRace enrolls users while other goroutines keep reading
// their enrollment through the cache: once CreateAuthenticator has
// returned, every read sees the authenticator. A generation advanced after
// the answer instead of before it fails this.
func TestEnrollCacheRace(t *testing.T) {
	db := openSQLite(t, Options{})
	ctx := mustTenant(t, db, "t")
	auths, risk := NewAuthenticatorService(db), NewRiskStateService(db)
	const users = 60
	for u := range users {
		user := fmt.Sprintf("user-%d", u)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 3 { // readers that keep the cache filled with "not enrolled"
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := risk.FindRiskState(ctx, &vigil.RiskQuery{UserID: user, Need: vigil.NeedAuthenticators}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		if err := auths.CreateAuthenticator(ctx, &vigil.Authenticator{UserID: user, Method: vigil.MethodAuthenticatorApp}); err != nil {
			t.Fatal(err)
		}
		st, err := risk.FindRiskState(ctx, &vigil.RiskQuery{UserID: user, Need: vigil.NeedAuthenticators})
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Authenticators) != 1 {
			t.Fatalf("%s: %d authenticators right after enrolling, want 1", user, len(st.Authenticators))
		}
	}
}

// TestEnrollReadsConcurrent reads many users' enrollment at once (batched
// into shared statements on PostgreSQL, through the cache on SQLite): each
// read gets its own user's authenticators, in creation order, and a
// tenant's users never see another tenant's.
func TestEnrollReadsConcurrent(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t, Options{})
			ctxA, ctxB := mustTenant(t, db, "a"), mustTenant(t, db, "b")
			auths, risk := NewAuthenticatorService(db), NewRiskStateService(db)
			const users = 40
			// User i of tenant a has i%3 authenticators: none, TOTP, or
			// TOTP then SMS (the default). Tenant b's users have none.
			for i := range users {
				user := fmt.Sprintf("u%d", i)
				for j := range i % 3 {
					a := &vigil.Authenticator{UserID: user, Method: vigil.MethodAuthenticatorApp}
					if j == 1 {
						a = &vigil.Authenticator{UserID: user, Method: vigil.MethodSMS, PhoneNumber: "+6421000000", IsDefault: true}
					}
					if err := auths.CreateAuthenticator(ctxA, a); err != nil {
						t.Fatal(err)
					}
				}
			}
			var wg sync.WaitGroup
			for round := range 5 {
				for i := range users {
					for _, ctx := range []context.Context{ctxA, ctxB} {
						wg.Go(func() {
							user := fmt.Sprintf("u%d", i)
							st, err := risk.FindRiskState(ctx, &vigil.RiskQuery{UserID: user, Need: vigil.NeedAuthenticators})
							if err != nil {
								t.Error(err)
								return
							}
							want := ""
							if ctx == ctxA {
								want = []string{"", "AUTHENTICATOR_APP:false", "AUTHENTICATOR_APP:false,SMS:true"}[i%3]
							}
							var got []string
							for _, a := range st.Authenticators {
								got = append(got, fmt.Sprintf("%s:%v", a.Method, a.IsDefault))
							}
							if g := strings.Join(got, ","); g != want {
								t.Errorf("round %d, %s: authenticators %q, want %q", round, user, g, want)
							}
						})
					}
				}
			}
			wg.Wait()
		})
	}
}
