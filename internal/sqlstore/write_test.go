package sqlstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vigil "github.com/vigil-auth/vigil"
)

// TestBatchedCreateActionFailure queues plain CreateActions into one group
// commit together with one whose insert the database rejects (a trigger the
// test adds refuses its key). On PostgreSQL the batch's inserts are first tried as one
// statement of their own (commitAlone), which the bad row makes fail as a
// whole; the test checks what callers then see: every good op committed
// (row, new user, configuration's last-action time), the bad op got its
// own error, and nothing of the bad op (its row, its new user) persists.
func TestBatchedCreateActionFailure(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db, logs := openLogged(t, d)
			ctx := mustTenant(t, db, "t")
			s := NewActionService(db)
			cs := NewActionConfigService(db)
			if err := cs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
				t.Fatal(err)
			}
			rejectActionKey(t, db, "k-bad")

			// Hold the writer so that every call below lands in one batch.
			release := holdWriter(t, ctx, db)
			type call struct {
				a       *vigil.Action
				bad     bool
				created bool
				err     error
			}
			var calls []*call
			for i := range 6 {
				a := newAction(fmt.Sprintf("good-%d", i), "signIn", fmt.Sprintf("k-good-%d", i), "h")
				calls = append(calls, &call{a: a})
				if i == 2 {
					bad := newAction("ghost", "signIn", "k-bad", "h")
					calls = append(calls, &call{a: bad, bad: true})
				}
			}
			var wg sync.WaitGroup
			for _, c := range calls {
				wg.Go(func() { _, c.created, c.err = s.CreateAction(ctx, c.a, nil) })
			}
			for len(db.queue) < len(calls) {
				time.Sleep(time.Millisecond)
			}
			release()
			wg.Wait()

			users := NewUserService(db)
			var latest time.Time
			for _, c := range calls {
				what := fmt.Sprintf("CreateAction(%s)", c.a.IdempotencyKey)
				if c.bad {
					if c.err == nil {
						t.Errorf("%s, which the database rejects, succeeded (created=%v), want an error", what, c.created)
					}
					if _, err := s.FindActionByKey(ctx, "k-bad"); err == nil {
						t.Errorf("the failed op's action was stored")
					}
					_, err := users.FindUserByID(ctx, "ghost")
					wantCode(t, "the failed op's user", err, vigil.ENOTFOUND)
					continue
				}
				if c.err != nil || !c.created {
					t.Errorf("%s = created %v, %v; want created", what, c.created, c.err)
					continue
				}
				got, err := s.FindAction(ctx, c.a.UserID, "signIn", c.a.IdempotencyKey)
				if err != nil || got.ID != c.a.ID || !got.CreatedAt.Equal(c.a.CreatedAt) {
					t.Errorf("%s stored %+v, %v; want the created action", what, got, err)
				}
				if _, err := users.FindUserByID(ctx, c.a.UserID); err != nil {
					t.Errorf("%s: user: %v", what, err)
				}
				if c.a.CreatedAt.After(latest) {
					latest = c.a.CreatedAt
				}
			}
			if d.name == DialectPostgres && !strings.Contains(logs.String(), "action insert alone failed") {
				t.Errorf("the batch's one-statement insert did not fail; the test no longer exercises that path:\n%s", logs.String())
			}
			if d.name == DialectSQLite && !strings.Contains(logs.String(), "coalesced action insert failed") {
				t.Errorf("the batch's coalesced insert did not fail; the test no longer exercises that path:\n%s", logs.String())
			}
			cfg, err := cs.FindActionConfig(ctx, "signIn")
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.LastActionCreatedAt.Equal(latest) {
				t.Errorf("LastActionCreatedAt = %v, want %v (the latest action's)", cfg.LastActionCreatedAt, latest)
			}
		})
	}
}

// openLogged opens d's database with one writer, logging at debug level
// into the buffer it returns.
func openLogged(t *testing.T, d testDialect) (*DB, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return d.open(t, Options{Writers: 1, Logger: logger}), logs
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine's logging and
// the test's reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestCoalescedCreateActions queues plain CreateActions into one batch:
// two for one user and device, one for another user without a device, a
// replay of a key in the same batch (same request, then a different one),
// a key taken before the batch, and one that also creates its action's
// configuration (which SQLite leaves out of the coalesced insert). Each
// caller must get its own answer (the batch's plain rows are written in
// one statement on PostgreSQL, in one per sqliteInsertChunk rows on
// SQLite), and the users, devices, configurations and last-action time
// must be as if the ops had run one by one.
func TestCoalescedCreateActions(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t, Options{Writers: 1})
			ctx := mustTenant(t, db, "t")
			s := NewActionService(db)
			cs := NewActionConfigService(db)
			if err := cs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "pay", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
				t.Fatal(err)
			}
			before := newAction("u0", "pay", "k-before", "h0")
			if _, _, err := s.CreateAction(ctx, before, nil); err != nil {
				t.Fatal(err)
			}
			mk := func(user, key, hash, device string) *vigil.Action {
				a := newAction(user, "pay", key, hash)
				a.Context.DeviceID = device
				return a
			}
			type call struct {
				a        *vigil.Action
				created  bool
				wantNew  bool
				wantCode string
				got      *vigil.Action
				err      error
			}
			calls := []*call{
				{a: mk("u1", "k1", "h1", "d1"), wantNew: true},
				{a: mk("u1", "k2", "h2", "d1"), wantNew: true},
				{a: mk("u2", "k3", "h3", ""), wantNew: true},
				{a: mk("u1", "k1", "h1", "d1")},                                    // replay in the batch
				{a: mk("u1", "k1", "other", "d1"), wantCode: vigil.EUNPROCESSABLE}, // key reused
				{a: mk("u0", "k-before", "h0", "")},                                // replay of an earlier action
				{a: &vigil.Action{UserID: "u3", Code: "newCode", IdempotencyKey: "k-new", RequestHash: []byte("h4"),
					Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}}, wantNew: true}, // with its configuration
			}
			newConfig := &vigil.ActionConfig{ActionCode: "newCode", DefaultOutcome: vigil.OutcomeAllow}
			release := holdWriter(t, ctx, db)
			var wg sync.WaitGroup
			for i, c := range calls {
				// Queue in order, so that the first k1 is the one inserted.
				var cfg *vigil.ActionConfig
				if c.a.Code == "newCode" {
					cfg = newConfig
				}
				wg.Go(func() { c.got, c.created, c.err = s.CreateAction(ctx, c.a, cfg) })
				for len(db.queue) < i+1 {
					time.Sleep(time.Millisecond)
				}
			}
			release()
			wg.Wait()
			for _, c := range calls {
				what := fmt.Sprintf("CreateAction(%s, %s)", c.a.IdempotencyKey, c.a.RequestHash)
				wantCode(t, what, c.err, c.wantCode)
				if c.wantCode != "" {
					continue
				}
				if c.created != c.wantNew {
					t.Errorf("%s created = %v, want %v", what, c.created, c.wantNew)
				}
				stored, err := s.FindActionByKey(ctx, c.a.IdempotencyKey)
				if err != nil || c.got == nil || c.got.ID != stored.ID || !c.got.CreatedAt.Equal(stored.CreatedAt) {
					t.Errorf("%s = %+v; stored %+v, %v", what, c.got, stored, err)
				}
			}
			if d.name == DialectSQLite && len(db.coalesced) == 0 {
				t.Error("no coalesced insert ran; the test no longer exercises that path")
			}
			if c, err := cs.FindActionConfig(ctx, "newCode"); err != nil || !c.LastActionCreatedAt.Equal(calls[len(calls)-1].got.CreatedAt) {
				t.Errorf("the configuration created with its action: %+v, %v", c, err)
			}
			users := NewUserService(db)
			for _, u := range []string{"u1", "u2", "u3"} {
				if _, err := users.FindUserByID(ctx, u); err != nil {
					t.Errorf("user %s: %v", u, err)
				}
			}
			var devices int
			if err := db.read.QueryRowContext(ctx, db.rebind(`SELECT COUNT(*) FROM user_devices WHERE tenant_id = ? AND user_id = ? AND device_id = ?`),
				"t", "u1", "d1").Scan(&devices); err != nil || devices != 1 {
				t.Errorf("user_devices rows for u1/d1 = %d, %v; want 1", devices, err)
			}
			cfg, err := cs.FindActionConfig(ctx, "pay")
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.LastActionCreatedAt.Equal(calls[2].got.CreatedAt) && !cfg.LastActionCreatedAt.Equal(calls[0].got.CreatedAt) {
				t.Errorf("LastActionCreatedAt = %v, want the batch's time %v", cfg.LastActionCreatedAt, calls[0].got.CreatedAt)
			}
		})
	}
}

// TestBatchedUpdateActionState queues administrative state changes into one
// batch (on PostgreSQL, one statement per run of distinct actions): two
// actions of one user and device moved to CHALLENGE_SUCCEEDED, the same
// action moved twice, and an action that does not exist. Each caller gets
// its own answer, and the verification is recorded once per device and IP.
func TestBatchedUpdateActionState(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t, Options{Writers: 1})
			ctx := mustTenant(t, db, "t")
			s := NewActionService(db)
			mk := func(user, key string) *vigil.Action {
				a := newAction(user, "pay", key, "h-"+key)
				a.Context.DeviceID, a.Context.IPAddress = "d1", "203.0.113.7"
				if _, _, err := s.CreateAction(ctx, a, nil); err != nil {
					t.Fatal(err)
				}
				return a
			}
			a1, a2, b := mk("u1", "k1"), mk("u1", "k2"), mk("u2", "k3")
			type call struct {
				user, key string
				state     vigil.ActionState
				wantCode  string
				got       *vigil.Action
				err       error
			}
			calls := []*call{
				{user: "u1", key: a1.IdempotencyKey, state: vigil.StateChallengeSucceeded},
				{user: "u1", key: a2.IdempotencyKey, state: vigil.StateChallengeSucceeded},
				{user: "u2", key: b.IdempotencyKey, state: vigil.StateChallengeSucceeded},
				{user: "u2", key: b.IdempotencyKey, state: vigil.StateChallengeFailed}, // the same action again
				{user: "u1", key: "missing", state: vigil.StateAllow, wantCode: vigil.ENOTFOUND},
				{user: "u2", key: a1.IdempotencyKey, state: vigil.StateAllow, wantCode: vigil.ENOTFOUND}, // another user's
			}
			release := holdWriter(t, ctx, db)
			var wg sync.WaitGroup
			for i, c := range calls {
				wg.Go(func() { c.got, c.err = s.UpdateActionState(ctx, c.user, "pay", c.key, c.state) })
				for len(db.queue) < i+1 {
					time.Sleep(time.Millisecond)
				}
			}
			release()
			wg.Wait()
			for _, c := range calls {
				what := fmt.Sprintf("UpdateActionState(%s, %s, %s)", c.user, c.key, c.state)
				wantCode(t, what, c.err, c.wantCode)
				if c.wantCode == "" && (c.got == nil || c.got.State != c.state || c.got.IdempotencyKey != c.key) {
					t.Errorf("%s = %+v", what, c.got)
				}
			}
			if got, err := s.FindActionByKey(ctx, b.IdempotencyKey); err != nil || got.State != vigil.StateChallengeFailed {
				t.Errorf("the action moved twice ends %+v, %v; want the later state", got, err)
			}
			rs := NewRiskStateService(db)
			for _, u := range []string{"u1", "u2"} {
				st, err := rs.FindRiskState(ctx, &vigil.RiskQuery{UserID: u, DeviceID: "d1", IPAddress: "203.0.113.7",
					Need: vigil.NeedDevice | vigil.NeedIP | vigil.NeedUser})
				if err != nil {
					t.Fatal(err)
				}
				if !st.DeviceVerified || !st.IPVerified || st.LastVerifiedAt.IsZero() {
					t.Errorf("%s after a successful challenge: %+v", u, st)
				}
			}
		})
	}
}

// TestOrderByUser checks the order of a PostgreSQL batch transaction's
// ops: those that name no user first, then by tenant and user in byte
// order, each user's in queue order.
func TestOrderByUser(t *testing.T) {
	op := func(name, tenant, user string) *writeOp {
		return &writeOp{data: name, user: enrollKey{tenant, user}}
	}
	ops := []*writeOp{
		op("ben1", "t1", "ben"), op("none1", "", ""), op("Zed", "t1", "Zed"), op("ann1", "t1", "ann"),
		op("ben2", "t1", "ben"), op("other", "t0", "zoe"), op("none2", "", ""), op("ann2", "t1", "ann"), op("é", "t1", "é"),
	}
	orderByUser(ops)
	var got []string
	for _, o := range ops {
		got = append(got, o.data.(string))
	}
	want := []string{"none1", "none2", "other", "Zed", "ann1", "ann2", "ben1", "ben2", "é"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

// rejectActionKey makes the database refuse to insert an action with the
// idempotency key key, through a trigger, as it would a row that breaks a
// constraint.
func rejectActionKey(t *testing.T, db *DB, key string) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER reject_key BEFORE INSERT ON actions
		WHEN NEW.idempotency_key = '` + key + `'
		BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END`}
	if db.dialect.name == DialectPostgres {
		stmts = []string{`CREATE FUNCTION reject_key() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'rejected by the test'; END $$`,
			`CREATE TRIGGER reject_key BEFORE INSERT ON actions FOR EACH ROW
			WHEN (NEW.idempotency_key = '` + key + `') EXECUTE FUNCTION reject_key()`}
	}
	for _, q := range stmts {
		if _, err := db.writePool.Exec(q); err != nil {
			t.Fatalf("add the rejecting trigger: %v", err)
		}
	}
}

// TestFreshKeyTaken tracks, in one batch, actions whose idempotency keys
// were made for them, the first of which is given a key that another
// action already holds (which newID never does). Keys are made either by
// the store, for an action without one (db.newKey is made to collide), or
// by its caller, which says so (vigil.Action.KeyMade: the risk service's
// tracks). On PostgreSQL a batch of such actions is inserted by a
// statement without ON CONFLICT, which the taken key makes fail as a
// whole: the other actions must still be created, the colliding one must
// get an error, and the action that held the key must be unchanged.
func TestFreshKeyTaken(t *testing.T) {
	for _, d := range testDialects(t) {
		for _, byCaller := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/byCaller=%v", d.name, byCaller), func(t *testing.T) {
				testFreshKeyTaken(t, d, byCaller)
			})
		}
	}
}

func testFreshKeyTaken(t *testing.T, d testDialect, byCaller bool) {
	db, logs := openLogged(t, d)
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	if err := NewActionConfigService(db).CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "pay", DefaultOutcome: vigil.OutcomeAllow}); err != nil {
		t.Fatal(err)
	}
	held := newAction("u0", "pay", "k-held", "h0")
	if _, _, err := s.CreateAction(ctx, held, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	made := 0
	makeKey := func() string {
		mu.Lock()
		defer mu.Unlock()
		made++
		if made == 1 {
			return "k-held"
		}
		return newID()
	}
	if !byCaller {
		db.newKey = makeKey
	}

	release := holdWriter(t, ctx, db)
	calls := make([]struct {
		a       *vigil.Action
		created bool
		err     error
	}, 4)
	var wg sync.WaitGroup
	for i := range calls {
		calls[i].a = newAction(fmt.Sprintf("u%d", i+1), "pay", "", "h")
		if byCaller {
			calls[i].a.IdempotencyKey, calls[i].a.KeyMade = makeKey(), true
		}
		wg.Go(func() { _, calls[i].created, calls[i].err = s.CreateAction(ctx, calls[i].a, nil) })
		for len(db.queue) < i+1 { // in order: the first made key collides
			time.Sleep(time.Millisecond)
		}
	}
	release()
	wg.Wait()

	for i, c := range calls {
		if i == 0 { // made the taken key
			if c.err == nil {
				t.Errorf("call %d, given the taken key, succeeded (created=%v); want an error", i, c.created)
			}
			continue
		}
		if c.err != nil || !c.created {
			t.Errorf("call %d (key %q) = created %v, %v; want created", i, c.a.IdempotencyKey, c.created, c.err)
			continue
		}
		if got, err := s.FindActionByKey(ctx, c.a.IdempotencyKey); err != nil || got.ID != c.a.ID {
			t.Errorf("call %d stored %+v, %v; want its action", i, got, err)
		}
	}
	if got, err := s.FindActionByKey(ctx, "k-held"); err != nil || got.ID != held.ID || got.UserID != "u0" {
		t.Errorf("the action holding the key is now %+v, %v; want it unchanged", got, err)
	}
	if _, err := NewUserService(db).FindUserByID(ctx, calls[0].a.UserID); vigil.ErrorCode(err) != vigil.ENOTFOUND {
		t.Errorf("the colliding action's user: %v; want none stored", err)
	}
	if d.name == DialectPostgres {
		fresh := false
		for k := range db.coalesced {
			fresh = fresh || (k.fresh && k.n == len(calls))
		}
		if strings.Contains(logs.String(), "direct action insert fell back") {
			t.Errorf("the batch's insert did not go the direct way:\n%s", logs.String())
		}
		if !fresh || !strings.Contains(logs.String(), "action insert alone failed") {
			t.Errorf("the batch's statement without ON CONFLICT did not run and fail (fresh statement cached: %v); the test no longer exercises that path:\n%s",
				fresh, logs.String())
		}
	}
}
