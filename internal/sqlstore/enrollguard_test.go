package sqlstore

import (
	"errors"
	"sync"
	"testing"
	"time"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// TestEnrollVersionGuard checks PostgreSQL's cached enrollment across two
// servers: a second read of a user's authenticators comes from server A's
// cache with the version of the user's history; after server B enrolls an
// authenticator, A's cached answer is stale, and an action decided on it is
// refused (ErrStaleState), stored neither alone nor in a batch with other
// tracks, nor with its action's new configuration; the read after that is
// fresh, and an action decided on the next cached answer is stored.
func TestEnrollVersionGuard(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	dbs := openPostgresServers(t, 2, Options{})
	a, b := dbs[0], dbs[1]
	ctx := mustTenant(t, a, "t")
	actions, risk := NewActionService(a), NewRiskStateService(a)
	read := func(user string) *vigil.RiskState {
		t.Helper()
		st, err := risk.FindRiskState(ctx, &vigil.RiskQuery{UserID: user, Need: vigil.NeedAuthenticators})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	newTrack := func(user, code, key, version string) *vigil.Action {
		return &vigil.Action{UserID: user, Code: code, IdempotencyKey: key, StateVersion: version,
			Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
	}
	track := func(user, key, version string) error {
		_, _, err := actions.CreateAction(ctx, newTrack(user, "signIn", key, version), nil)
		return err
	}
	stored := func(key string) bool {
		t.Helper()
		_, err := actions.FindActionByKey(ctx, key)
		if err != nil && vigil.ErrorCode(err) != vigil.ENOTFOUND {
			t.Fatal(err)
		}
		return err == nil
	}
	enrollOnB := func(user string) {
		t.Helper()
		if err := NewAuthenticatorService(b).CreateAuthenticator(ctx,
			&vigil.Authenticator{UserID: user, Method: vigil.MethodAuthenticatorApp}); err != nil {
			t.Fatal(err)
		}
	}

	users := []string{"zoe", "yan", "xia"}
	for _, u := range users {
		if err := track(u, u+"-0", ""); err != nil {
			t.Fatal(err)
		}
		if st := read(u); st.Version != "" {
			t.Fatalf("first read of %s: version %q, want a read of the tables (no version)", u, st.Version)
		}
	}
	cached := map[string]string{}
	for _, u := range users {
		st := read(u)
		if st.Version == "" || len(st.Authenticators) != 0 {
			t.Fatalf("second read of %s = %d authenticators, version %q; want the cached none, with a version", u, len(st.Authenticators), st.Version)
		}
		cached[u] = st.Version
	}
	// A track keeps the version of a user no server watches.
	if err := track("zoe", "zoe-1", cached["zoe"]); err != nil {
		t.Fatalf("track decided on the current version: %v", err)
	}
	if st := read("zoe"); st.Version != cached["zoe"] {
		t.Fatalf("version after a track = %q, want %q", st.Version, cached["zoe"])
	}

	// B enrolls zoe: A's cache does not know.
	enrollOnB("zoe")
	if st := read("zoe"); st.Version != cached["zoe"] || len(st.Authenticators) != 0 {
		t.Fatalf("A's read after B's enrollment = %d authenticators, version %q; want its cached entry", len(st.Authenticators), st.Version)
	}
	if err := track("zoe", "zoe-stale", cached["zoe"]); !errors.Is(err, vigil.ErrStaleState) {
		t.Fatalf("track decided on the stale version: %v, want ErrStaleState", err)
	}
	if stored("zoe-stale") {
		t.Fatal("the stale track's action was stored")
	}
	st := read("zoe")
	if st.Version != "" || len(st.Authenticators) != 1 {
		t.Fatalf("read after the stale track = %d authenticators, version %q; want the tables' one, no version", len(st.Authenticators), st.Version)
	}
	st = read("zoe")
	if st.Version == "" || st.Version == cached["zoe"] || len(st.Authenticators) != 1 {
		t.Fatalf("next read = %d authenticators, version %q; want the cached one at a new version", len(st.Authenticators), st.Version)
	}
	if err := track("zoe", "zoe-2", st.Version); err != nil {
		t.Fatalf("track decided on the new version: %v", err)
	}

	// In one batch: yan's version is stale, xia's and zoe's are not.
	enrollOnB("yan")
	release := holdWriter(t, ctx, a)
	type call struct {
		user, key, version string
		err                error
	}
	calls := []*call{{user: "xia", key: "xia-b", version: cached["xia"]}, {user: "yan", key: "yan-b", version: cached["yan"]},
		{user: "zoe", key: "zoe-b", version: st.Version}}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() { c.err = track(c.user, c.key, c.version) })
	}
	for len(a.queue) < len(calls) {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	for _, c := range calls {
		wantStale := c.user == "yan"
		if errors.Is(c.err, vigil.ErrStaleState) != wantStale || (!wantStale && c.err != nil) {
			t.Errorf("batched track of %s: %v (stale wanted: %v)", c.user, c.err, wantStale)
		}
		if stored(c.key) == wantStale {
			t.Errorf("batched track of %s stored: %v, want %v", c.user, !wantStale, !wantStale)
		}
	}

	// Alone, with a new configuration: neither goes in.
	enrollOnB("xia")
	cfg := &vigil.ActionConfig{ActionCode: "payout", DefaultOutcome: vigil.OutcomeAllow}
	if _, _, err := actions.CreateAction(ctx, newTrack("xia", "payout", "xia-cfg", cached["xia"]), cfg); !errors.Is(err, vigil.ErrStaleState) {
		t.Fatalf("track with a new configuration, decided on a stale version: %v, want ErrStaleState", err)
	}
	if stored("xia-cfg") {
		t.Error("the stale track's action was stored")
	}
	if _, err := NewActionConfigService(a).FindActionConfig(ctx, "payout"); vigil.ErrorCode(err) != vigil.ENOTFOUND {
		t.Errorf("the stale track's configuration: %v, want not found", err)
	}
	if err := track("xia", "bad", "not-a-version"); vigil.ErrorCode(err) != vigil.EINVALID {
		t.Errorf("track with a malformed version: %v, want %s", err, vigil.EINVALID)
	}
}
