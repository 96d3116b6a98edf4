package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// allNeeds are the parts of a risk state that the history cache answers.
const allNeeds = vigil.NeedUser | vigil.NeedDevice | vigil.NeedIP | vigil.NeedActionCounts |
	vigil.NeedFailedChallenges | vigil.NeedDistinctIPs | vigil.NeedAuthenticators

// historyWorld drives a store with random writes of every kind that changes
// a user's history, and compares the risk state the cache answers with the
// one the tables give.
type historyWorld struct {
	t       *testing.T
	ctx     context.Context
	clock   *testClock
	rng     *rand.Rand
	servers []*historyServer
	tracked []*vigil.Action

	// The services of the server that makes the current step's write.
	actions *ActionService
	users   *UserService
	auths   *AuthenticatorService
}

// historyServer is one server of a historyWorld: its own DB handle (and so
// its own cache) on the world's database.
type historyServer struct {
	db      *DB
	actions *ActionService
	users   *UserService
	auths   *AuthenticatorService
	cached  *RiskStateService
	tables  *RiskStateService
}

func newHistoryServer(db *DB) *historyServer {
	return &historyServer{db: db, actions: NewActionService(db), users: NewUserService(db), auths: NewAuthenticatorService(db),
		cached: NewRiskStateService(db), tables: &RiskStateService{db: db, queries: map[vigil.RiskNeeds]string{}, direct: true}}
}

var (
	historyUsers   = []string{"ann", "ben", "cat"}
	historyCodes   = []string{"signIn", "withdraw"}
	historyDevices = []string{"", "d1", "d2", "d3"}
	historyIPs     = []string{"", "192.0.2.1", "192.0.2.2", "198.51.100.7"}
)

// newHistoryWorld returns a world of one server per DB, all on the same
// database; the tenant is created through the first.
func newHistoryWorld(t *testing.T, clock *testClock, seed uint64, dbs ...*DB) *historyWorld {
	w := &historyWorld{t: t, ctx: mustTenant(t, dbs[0], "t"), clock: clock, rng: rand.New(rand.NewPCG(seed, 1))}
	for _, db := range dbs {
		w.servers = append(w.servers, newHistoryServer(db))
	}
	return w
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func (w *historyWorld) track() {
	w.t.Helper()
	var loc *vigil.GeoPoint
	if w.rng.IntN(2) == 0 {
		loc = &vigil.GeoPoint{Latitude: -36.8 + w.rng.Float64(), Longitude: 174.7 + w.rng.Float64()}
	}
	a := &vigil.Action{UserID: pick(w.rng, historyUsers), Code: pick(w.rng, historyCodes),
		Decision: vigil.Decision{Outcome: pick(w.rng, []vigil.Outcome{vigil.OutcomeAllow, vigil.OutcomeChallenge})},
		Context:  vigil.ActionContext{DeviceID: pick(w.rng, historyDevices), IPAddress: pick(w.rng, historyIPs)},
		Location: loc}
	if _, _, err := w.actions.CreateAction(w.ctx, a, nil); err != nil {
		w.t.Fatal(err)
	}
	w.tracked = append(w.tracked, a)
}

// step makes one random write, through a random server (or lets time
// pass).
func (w *historyWorld) step() string {
	w.t.Helper()
	srv := pick(w.rng, w.servers)
	w.actions, w.users, w.auths = srv.actions, srv.users, srv.auths
	switch r := w.rng.IntN(20); {
	case r < 10 || len(w.tracked) == 0:
		w.track()
		return "track"
	case r < 12:
		a := pick(w.rng, w.tracked)
		state := pick(w.rng, []vigil.ActionState{vigil.StateChallengeSucceeded, vigil.StateChallengeFailed})
		if _, err := w.actions.UpdateActionState(w.ctx, a.UserID, a.Code, a.IdempotencyKey, state); err != nil &&
			vigil.ErrorCode(err) != vigil.ENOTFOUND {
			w.t.Fatal(err)
		}
		return "state " + string(state)
	case r < 13:
		a := pick(w.rng, w.tracked)
		if _, _, err := w.actions.ConsumeValidation(w.ctx, a.UserID, a.Code, a.IdempotencyKey); err != nil &&
			vigil.ErrorCode(err) != vigil.ENOTFOUND {
			w.t.Fatal(err)
		}
		return "consume"
	case r < 14:
		email := fmt.Sprintf("u%d@example.com", w.rng.IntN(100))
		if _, err := w.users.UpsertUser(w.ctx, pick(w.rng, historyUsers), vigil.UserUpdate{Email: &email,
			Custom: map[string]any{"tier": float64(w.rng.IntN(3))}}); err != nil {
			w.t.Fatal(err)
		}
		return "upsert user"
	case r < 15:
		if err := w.auths.CreateAuthenticator(w.ctx, &vigil.Authenticator{UserID: pick(w.rng, historyUsers),
			Method: vigil.MethodAuthenticatorApp}); err != nil {
			w.t.Fatal(err)
		}
		return "enroll"
	case r < 16:
		if err := w.users.DeleteUser(w.ctx, pick(w.rng, historyUsers)); err != nil && vigil.ErrorCode(err) != vigil.ENOTFOUND {
			w.t.Fatal(err)
		}
		return "delete user"
	case r < 17:
		// Writes that no service makes today, through the writer: the
		// caches must follow the tables whatever changes them.
		q, what := `DELETE FROM user_devices WHERE tenant_id = ? AND user_id = ? AND device_id = ?`, "forget device"
		arg := pick(w.rng, historyDevices)
		switch w.rng.IntN(3) {
		case 1:
			q, what = `DELETE FROM user_ips WHERE tenant_id = ? AND user_id = ? AND ip_address = ?`, "forget IP address"
			arg = pick(w.rng, historyIPs)
		case 2:
			q, what = `UPDATE user_devices SET verified_at = NULL WHERE tenant_id = ? AND user_id = ? AND device_id = ?`, "unverify device"
		}
		tenantID, u := tenantIDOf(w.t, w.ctx), pick(w.rng, historyUsers)
		if err := srv.db.write(w.ctx, func(tx *Tx) error {
			_, err := tx.exec(srv.db.rebind(q), tenantID, u, arg)
			return err
		}); err != nil {
			w.t.Fatal(err)
		}
		return what
	default:
		d := time.Duration(w.rng.IntN(3)) * time.Duration(w.rng.Int64N(int64(50*time.Minute)))
		w.clock.advance(d)
		return "advance " + d.String()
	}
}

// check compares, for every user and server, a random query answered by
// the server's cache with the same query answered by the tables. With
// several servers it skips half of the pairs at random, so that a server
// also writes what others changed since its last read.
func (w *historyWorld) check(after string) {
	w.t.Helper()
	for _, u := range historyUsers {
		for i, srv := range w.servers {
			if len(w.servers) > 1 && w.rng.IntN(2) == 0 {
				continue
			}
			q := vigil.RiskQuery{UserID: u, ActionCode: pick(w.rng, historyCodes), DeviceID: pick(w.rng, historyDevices),
				IPAddress: pick(w.rng, historyIPs), Now: w.clock.Now(), Need: vigil.RiskNeeds(w.rng.IntN(int(allNeeds) + 1))}
			got, err := srv.cached.FindRiskState(w.ctx, &q)
			if err != nil {
				w.t.Fatal(err)
			}
			want, err := srv.tables.FindRiskState(w.ctx, &q)
			if err != nil {
				w.t.Fatal(err)
			}
			if got.Version != "" {
				// A cached answer that the action's write checks: it is
				// the tables' while the user's history is at its version,
				// and a write decided on it is refused once it is not.
				if got.Version != w.version(srv, u) {
					wantStaleRefused(w.t, w.ctx, srv.actions, u, got.Version)
					continue
				}
				got.Version = ""
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				w.t.Fatalf("after %s, server %d, %+v: cached state differs from the tables' (-tables +cached):\n%s", after, i, q, diff)
			}
		}
	}
}

// version returns the version of user's history as srv's cache names it
// (vigil.RiskState.Version).
func (w *historyWorld) version(srv *historyServer, user string) string {
	w.t.Helper()
	return storedVersion(w.t, w.ctx, srv.db, user)
}

// storedVersion returns the version of user's history in db as a cache
// names it (vigil.RiskState.Version): "0.0" for a user without a row.
func storedVersion(t *testing.T, ctx context.Context, db *DB, user string) string {
	t.Helper()
	var v histVer
	err := db.writePool.QueryRowContext(ctx, `SELECT hist_base, hist_ver FROM users WHERE tenant_id = $1 AND id = $2`,
		tenantIDOf(t, ctx), user).Scan(&v.base, &v.ver)
	if err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return formatStateVersion(v)
}

// staleKeys numbers the actions wantStaleRefused tries to store.
var staleKeys atomic.Int64

// wantStaleRefused checks that actions refuses to store an action of user
// decided on the stale state version (ErrStaleState), and stores nothing
// of it.
func wantStaleRefused(t *testing.T, ctx context.Context, actions *ActionService, user, version string) {
	t.Helper()
	key := fmt.Sprintf("stale-%d", staleKeys.Add(1))
	a := &vigil.Action{UserID: user, Code: "login", IdempotencyKey: key, StateVersion: version,
		Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
	if _, _, err := actions.CreateAction(ctx, a, nil); !errors.Is(err, vigil.ErrStaleState) {
		t.Fatalf("CreateAction decided on stale version %s of %s: %v, want ErrStaleState", version, user, err)
	}
	if _, err := actions.FindActionByKey(ctx, key); vigil.ErrorCode(err) != vigil.ENOTFOUND {
		t.Fatalf("the action refused as stale: %v, want not found", err)
	}
}

// cacheOf returns db's history cache, whichever the dialect.
func cacheOf(db *DB) *historyCache {
	if db.hist != nil {
		return db.hist
	}
	return db.pgHist
}

// TestHistoryCache checks, over random sequences of every kind of write
// that changes a user's history, that the risk state a track reads is the
// one the tables hold, whatever the cache held.
func TestHistoryCache(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			for seed := range uint64(4) {
				clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
				db := d.open(t, Options{Now: clock.Now})
				w := newHistoryWorld(t, clock, seed, db)
				for range 150 {
					w.check(w.step())
				}
				if len(cacheOf(db).m) == 0 {
					t.Fatal("the history cache holds no entry after the sequence")
				}
				if got := db.RiskCacheStats(); got.Hits == 0 {
					t.Fatalf("RiskCacheStats = %+v: no read was answered from the cache", got)
				}
			}
		})
	}
}

// TestHistoryCacheServers is TestHistoryCache with three servers on one
// PostgreSQL database, each with its own cache: every write, through any
// of them, shows in every server's next read.
func TestHistoryCacheServers(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	for seed := range uint64(4) {
		clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
		dbs := openPostgresServers(t, 3, Options{Now: clock.Now})
		w := newHistoryWorld(t, clock, seed, dbs...)
		for range 150 {
			w.check(w.step())
		}
		for i, db := range dbs {
			if got := db.RiskCacheStats(); got.Hits == 0 {
				t.Fatalf("server %d: RiskCacheStats = %+v: no read was answered from the cache", i, got)
			}
		}
	}
}

// TestHistoryCacheHits checks that the cache serves a user's tracks from
// memory while only tracks are written, counting each one.
func TestHistoryCacheHits(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) { testHistoryCacheHits(t, d.open) })
	}
}

func testHistoryCacheHits(t *testing.T, open opener) {
	clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	db := open(t, Options{Now: clock.Now})
	c := cacheOf(db)
	ctx := mustTenant(t, db, "t")
	actions, rs := NewActionService(db), NewRiskStateService(db)
	q := vigil.RiskQuery{UserID: "ann", ActionCode: "signIn", DeviceID: "d1", Need: allNeeds}
	for i := range 5 {
		q.Now = clock.Now()
		st, err := rs.FindRiskState(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		if st.ActionsLastHour != i {
			t.Fatalf("track %d: ActionsLastHour = %d, want %d", i, st.ActionsLastHour, i)
		}
		a := &vigil.Action{UserID: "ann", Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow},
			Context: vigil.ActionContext{DeviceID: "d1"}}
		if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		clock.advance(time.Second)
	}
	// The entry is served, not reloaded: one changed behind the store's
	// back is what the next read returns.
	c.mu.Lock()
	h := c.m[enrollKey{tenantIDOf(t, ctx), "ann"}]
	if h == nil {
		c.mu.Unlock()
		t.Fatal("no cached history of ann after her tracks")
	}
	h.actions = h.actions[:1]
	c.mu.Unlock()
	q.Now = clock.Now()
	st, err := rs.FindRiskState(ctx, &q)
	if err != nil {
		t.Fatal(err)
	}
	if st.ActionsLastHour != 1 {
		t.Fatalf("ActionsLastHour = %d after the entry was cut to one action, want 1 (from the cache)", st.ActionsLastHour)
	}
	// The first read loaded; the five after it were answered.
	if got, want := db.RiskCacheStats(), (RiskCacheStats{Hits: 5, Misses: 1}); got != want {
		t.Errorf("RiskCacheStats = %+v, want %+v", got, want)
	}

	// A user with more actions in the window than an entry may hold is
	// read from the tables, and counted so.
	for range maxHistoryRows + 1 {
		a := &vigil.Action{UserID: "busy", Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
		if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	q = vigil.RiskQuery{UserID: "busy", ActionCode: "signIn", Now: clock.Now(), Need: allNeeds}
	for range 2 {
		st, err := rs.FindRiskState(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		if st.ActionsLastHour != maxHistoryRows+1 {
			t.Fatalf("busy user: ActionsLastHour = %d, want %d", st.ActionsLastHour, maxHistoryRows+1)
		}
	}
	if got := db.RiskCacheStats(); got.Uncached != 2 || got.Misses != 3 {
		t.Errorf("RiskCacheStats after two reads of a busy user = %+v, want 3 misses, 2 of them uncached", got)
	}
}

func tenantIDOf(t *testing.T, ctx context.Context) string {
	t.Helper()
	id, err := vigil.RequireTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestHistoryCacheRace runs tracks and risk state reads of a few users
// concurrently, so that loads race with the writer's group commits (and,
// on PostgreSQL, reads are batched); once all is written, the cache must
// agree with the tables for every user.
func TestHistoryCacheRace(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) { testHistoryCacheRace(t, d.open) })
	}
}

func testHistoryCacheRace(t *testing.T, open opener) {
	clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	db := open(t, Options{Now: clock.Now})
	ctx := mustTenant(t, db, "t")
	actions := NewActionService(db)
	cached := NewRiskStateService(db)
	tables := &RiskStateService{db: db, queries: map[vigil.RiskNeeds]string{}, direct: true}
	users := []string{"ann", "ben", "cat", "dan"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				u := users[(g+i)%len(users)]
				if _, err := cached.FindRiskState(ctx, &vigil.RiskQuery{UserID: u, ActionCode: "signIn",
					DeviceID: "d", Now: clock.Now(), Need: allNeeds}); err != nil {
					t.Error(err)
					return
				}
				a := &vigil.Action{UserID: u, Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow},
					Context: vigil.ActionContext{DeviceID: fmt.Sprintf("d%d", i%3), IPAddress: fmt.Sprintf("192.0.2.%d", g)}}
				if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, u := range users {
		q := vigil.RiskQuery{UserID: u, ActionCode: "signIn", DeviceID: "d1", Now: clock.Now(), Need: allNeeds}
		got, err := cached.FindRiskState(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := tables.FindRiskState(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		if want.ActionsLastDay != 120 {
			t.Fatalf("%s: the tables count %d actions, want 120", u, want.ActionsLastDay)
		}
		if got.Version != "" {
			// PostgreSQL: an answer that the action's write checks. A
			// read that loaded an entry while the writer applied a track
			// to the one before may leave it a version behind: the write
			// then refuses it, and the fresh read that follows is exact.
			if got.Version != storedVersion(t, ctx, db, u) {
				wantStaleRefused(t, ctx, actions, u, got.Version)
				q.Fresh = true
				if got, err = cached.FindRiskState(ctx, &q); err != nil {
					t.Fatal(err)
				}
			}
			got.Version = ""
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: cached state differs from the tables' (-tables +cached):\n%s", u, diff)
		}
	}
}

// TestHistoryCacheBound fills the cache with users of many actions: it keeps
// its count of rows exact and stays within its bound on rows.
func TestHistoryCacheBound(t *testing.T) {
	c := newHistoryCache()
	big := make([]recentAction, maxHistoryRows)
	for i := range 3 * maxHistoryCacheRows / maxHistoryRows {
		k := enrollKey{"t", fmt.Sprintf("user-%d", i)}
		_, _, tok := c.lookup(k, 0, &vigil.RiskQuery{UserID: k.userID, Now: time.Unix(1e9, 0)}, allNeeds, &vigil.RiskState{})
		c.put(k, tok, &history{actions: big, devices: map[string]historyDevState{"d": {}}, ips: map[string]bool{}})
		if c.rows > maxHistoryCacheRows {
			t.Fatalf("after %d users the cache holds %d rows, over its bound of %d", i+1, c.rows, maxHistoryCacheRows)
		}
	}
	sum := 0
	for _, h := range c.m {
		sum += h.rows()
	}
	if sum != c.rows {
		t.Fatalf("the cache counts %d rows; its entries hold %d", c.rows, sum)
	}
	if len(c.m) == 0 {
		t.Fatal("the cache is empty")
	}
}

// TestHistoryWatch follows one user through the watch protocol of the
// PostgreSQL cache with two servers: tracks of an unwatched user leave its
// version alone (the user row is not written), so its history is read
// each time and never kept; a track after a read of its history watches
// the user, and from then on every track advances the version, whichever
// server makes it.
func TestHistoryWatch(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	dbs := openPostgresServers(t, 2, Options{Now: clock.Now})
	a, b := newHistoryServer(dbs[0]), newHistoryServer(dbs[1])
	ctx := mustTenant(t, a.db, "t")
	track := func(s *historyServer) {
		t.Helper()
		act := &vigil.Action{UserID: "ann", Code: "signIn", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}
		if _, _, err := s.actions.CreateAction(ctx, act, nil); err != nil {
			t.Fatal(err)
		}
	}
	// read reads ann's history through s and returns whether s answered
	// from its cache without a read (a versioned answer); one whose
	// version is stale is refused by the write and read again, fresh.
	read := func(s *historyServer, want int) (versioned bool) {
		t.Helper()
		q := &vigil.RiskQuery{UserID: "ann", ActionCode: "signIn", Now: clock.Now(), Need: allNeeds}
		st, err := s.cached.FindRiskState(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != "" && st.Version != storedVersion(t, ctx, s.db, "ann") {
			wantStaleRefused(t, ctx, s.actions, "ann", st.Version)
			q.Fresh = true
			if st, err = s.cached.FindRiskState(ctx, q); err != nil {
				t.Fatal(err)
			}
			if st.Version != "" {
				t.Fatalf("a fresh read answered version %s", st.Version)
			}
		}
		if st.ActionsLastHour != want {
			t.Fatalf("ActionsLastHour = %d, want %d", st.ActionsLastHour, want)
		}
		return st.Version != ""
	}
	version := func() (v histVer, watched bool) {
		t.Helper()
		if err := a.db.read.QueryRowContext(ctx, `SELECT hist_base, hist_ver, hist_watch FROM users WHERE id = 'ann'`).Scan(
			&v.base, &v.ver, &watched); err != nil {
			t.Fatal(err)
		}
		return v, watched
	}

	track(b) // b read nothing: ann is created unwatched
	v1, watched := version()
	if watched || v1.ver != 1 {
		t.Fatalf("after an unwatched track: version %+v, watched %v; want version 1, unwatched", v1, watched)
	}
	read(a, 1) // a reads ann's history, and keeps none of it
	track(b)
	if v, _ := version(); v != v1 {
		t.Fatalf("a track of an unwatched user changed its version from %+v to %+v", v1, v)
	}
	read(a, 2)
	if got := a.db.RiskCacheStats(); got.Hits != 0 {
		t.Fatalf("RiskCacheStats = %+v: an unwatched user's history was answered from the cache", got)
	}

	track(a) // after its reads, a's track watches ann
	if _, watched := version(); !watched {
		t.Fatal("a track after a read of the user's history did not watch the user")
	}
	if read(a, 3) { // read and kept
		t.Fatal("the first read of a newly watched user was answered from the cache")
	}
	track(b) // advances the version now: a's entry is refused, then read again
	read(a, 4)
	track(a)
	if !read(a, 5) { // a applied its own track to its entry
		t.Error("the read after a's own track was not answered from its entry")
	}
	read(b, 5)
	if got := a.db.RiskCacheStats(); got.Hits != 2 {
		t.Errorf("RiskCacheStats of a = %+v, want 2 hits (the stale answer after b's track, the read after its own)", got)
	}
}

// openPostgresServers opens n DBs on one fresh, migrated PostgreSQL schema,
// as n servers of one deployment would, and closes them in Cleanup.
func openPostgresServers(t *testing.T, n int, opts Options) []*DB {
	t.Helper()
	u := testenv.PostgresSchemaURL(t, "vigil_test")
	var dbs []*DB
	for range n {
		db, err := Open(context.Background(), u, fillOptions(t, opts))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		dbs = append(dbs, db)
	}
	return dbs
}

// TestDeviceUpsertSkipped checks that a track decided on a cached history
// in which its device was last seen within the grain leaves the device
// upsert out, and that the device rows end as they would with it: the
// device first seen, last seen again once the grain passed, and created
// again after its user was deleted. TestHistoryCache's random sequences
// check the same against the tables' risk state.
func TestDeviceUpsertSkipped(t *testing.T) {
	testenv.PostgresURL(t) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	clock := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	db := openPostgresServers(t, 1, Options{Now: clock.Now})[0]
	ctx := mustTenant(t, db, "t")
	actions, rs, users := NewActionService(db), NewRiskStateService(db), NewUserService(db)
	track := func(user, device string) {
		t.Helper()
		q := vigil.RiskQuery{UserID: user, ActionCode: "signIn", DeviceID: device, Need: allNeeds, Now: clock.Now()}
		st, err := rs.FindRiskState(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		a := &vigil.Action{UserID: user, Code: "signIn", StateVersion: st.Version,
			Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}, Context: vigil.ActionContext{DeviceID: device}}
		if _, _, err := actions.CreateAction(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	// check wants the device's row to have been last seen at want (0: no
	// row), and skipped device upserts so far.
	check := func(step, user, device string, want time.Time, skipped uint64) {
		t.Helper()
		var seen int64
		err := db.writePool.QueryRowContext(ctx, `SELECT last_seen_at FROM user_devices WHERE tenant_id = $1 AND user_id = $2 AND device_id = $3`,
			tenantIDOf(t, ctx), user, device).Scan(&seen)
		if err != nil {
			t.Fatalf("%s: the row of %s's device %s: %v", step, user, device, err)
		}
		if seen != micros(want) {
			t.Errorf("%s: last_seen_at = %v, want %v", step, fromMicros(seen), want)
		}
		if got := db.devicesSkipped.Load(); got != skipped {
			t.Errorf("%s: %d device upserts left out, want %d", step, got, skipped)
		}
	}

	steps := []struct {
		name       string
		deleteUser bool // DeleteUser first
		advance    time.Duration
		device     string
		seenAt     int    // the step whose time the device's row was last seen at
		skipped    uint64 // device upserts left out so far
	}{
		{name: "first track", device: "d1", seenAt: 0, skipped: 0},
		{name: "a minute later", advance: time.Minute, device: "d1", seenAt: 0, skipped: 1},
		{name: "at the grain", advance: 59 * time.Minute, device: "d1", seenAt: 0, skipped: 2},
		{name: "past the grain", advance: time.Second, device: "d1", seenAt: 3, skipped: 2},
		{name: "a second later", advance: time.Second, device: "d1", seenAt: 3, skipped: 3},
		{name: "a new device", device: "d2", seenAt: 5, skipped: 3},
		{name: "after the user was deleted", deleteUser: true, advance: time.Second, device: "d1", seenAt: 6, skipped: 3},
		{name: "after that", advance: time.Second, device: "d1", seenAt: 6, skipped: 4},
	}
	times := make([]time.Time, len(steps))
	for i, st := range steps {
		if st.deleteUser {
			if err := users.DeleteUser(ctx, "ann"); err != nil {
				t.Fatal(err)
			}
		}
		clock.advance(st.advance)
		times[i] = clock.Now()
		track("ann", st.device)
		check(st.name, "ann", st.device, times[st.seenAt], st.skipped)
	}
}

// TestLastSeenGrain checks that the grain the history cache applies is the
// one the statements do.
func TestLastSeenGrain(t *testing.T) {
	if got := strconv.FormatInt(lastSeenGrainMicros, 10); got != lastSeenGrain {
		t.Errorf("lastSeenGrainMicros = %s, lastSeenGrain = %s", got, lastSeenGrain)
	}
}
