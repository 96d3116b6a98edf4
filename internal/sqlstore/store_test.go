package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	vigil "github.com/vigil-auth/vigil"
)

func TestStore(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) { runStoreTests(t, d.open) })
	}
	if len(testDialects(t)) == 1 {
		t.Run("postgres", func(t *testing.T) { t.Skipf("set %s to run the PostgreSQL store tests", postgresEnv) })
	}
}

// runStoreTests is the conformance suite every dialect must pass.
func runStoreTests(t *testing.T, open opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open opener)
	}{
		{"Migrate", testMigrate},
		{"Tenants", testTenants},
		{"SigningKeys", testSigningKeys},
		{"NoTenant", testNoTenant},
		{"Isolation", testIsolation},
		{"Users", testUsers},
		{"Authenticators", testAuthenticators},
		{"SecretsEncrypted", testSecretsEncrypted},
		{"ActionConfigs", testActionConfigs},
		{"UpdateActionConfig", testUpdateActionConfig},
		{"Rules", testRules},
		{"RuleRace", testRuleRace},
		{"ValueLists", testValueLists},
		{"Actions", testActions},
		{"ActionRace", testActionRace},
		{"ConsumeOnce", testConsumeOnce},
		{"ConsumeBatched", testConsumeBatched},
		{"ConfigVersion", testConfigVersion},
		{"BatchIsolation", testBatchIsolation},
		{"CloseDrains", testCloseDrains},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

func TestMigrationNamesIdentical(t *testing.T) {
	names := func(dir string) []string {
		entries, err := fs.ReadDir(migrations, "migrations/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range entries {
			ns = append(ns, e.Name())
		}
		return ns
	}
	sq, pg := names("sqlite"), names("postgres")
	if len(sq) == 0 {
		t.Fatal("no migrations")
	}
	if diff := cmp.Diff(sq, pg); diff != "" {
		t.Errorf("migration names differ between sqlite and postgres (-sqlite +postgres):\n%s", diff)
	}
	for _, d := range []string{"sqlite", "postgres"} {
		if _, err := loadMigrations(d); err != nil {
			t.Errorf("loadMigrations(%s): %v", d, err)
		}
	}
}

func TestSQLiteDurabilitySettings(t *testing.T) {
	db := openSQLite(t, Options{})
	ctx := context.Background()
	var sync int
	var mode string
	var fk, busy int
	// The writer connection is the one whose commits must be durable.
	if err := db.writePool.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := db.writePool.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.writePool.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if err := db.writePool.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if sync != 2 || mode != "wal" || fk != 1 || busy != 5000 {
		t.Errorf("writer synchronous=%d journal_mode=%q foreign_keys=%d busy_timeout=%d, want 2 (FULL), wal, 1, 5000", sync, mode, fk, busy)
	}
	var rsync int
	if err := db.read.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&rsync); err != nil {
		t.Fatal(err)
	}
	if rsync != 2 {
		t.Errorf("reader synchronous = %d, want 2", rsync)
	}
	if db.Dialect() != "sqlite" {
		t.Errorf("Dialect() = %q", db.Dialect())
	}
	if err := db.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestPostgresActionsStorage checks migration 0012 on PostgreSQL: no
// planner statistics for the wide columns that no query filters on, and
// LZ4 for the compressed ones when the server has it.
func TestPostgresActionsStorage(t *testing.T) {
	db := openPostgres(t, Options{})
	ctx := context.Background()
	var lz4 bool
	if err := db.read.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&lz4); err != nil {
		t.Fatal(err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT a.attname, COALESCE(a.attstattarget, -1), a.attcompression::text
		FROM pg_attribute AS a WHERE a.attrelid = 'actions'::regclass AND a.attnum > 0 AND NOT a.attisdropped`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, compression string
		var target int
		if err := rows.Scan(&name, &target, &compression); err != nil {
			t.Fatal(err)
		}
		got[name] = fmt.Sprintf("statistics %d, compression %q", target, compression)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	c := ""
	if lz4 {
		c = "l"
	}
	// The wide columns have no statistics (0012), every other one a
	// sample of 3,000 rows (0013).
	want := map[string]string{}
	for name := range got {
		want[name] = `statistics 10, compression ""`
	}
	want["context"] = fmt.Sprintf("statistics 0, compression %q", c)
	want["decision"] = fmt.Sprintf("statistics 0, compression %q", c)
	want["request_hash"] = `statistics 0, compression ""`
	if len(got) < actionColCount {
		t.Errorf("actions has %d columns, want at least %d", len(got), actionColCount)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("actions columns (-want +got):\n%s", diff)
	}
}

func TestOpenURLForms(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"sqlite://" + dir + "/a/x.db", "sqlite:" + dir + "/b/x.db", dir + "/c/x.db"} {
		db, err := Open(context.Background(), u, Options{Cipher: newTestCipher(t)})
		if err != nil {
			t.Errorf("Open(%q): %v", u, err)
			continue
		}
		if _, err := db.Migrate(context.Background()); err != nil {
			t.Errorf("Migrate(%q): %v", u, err)
		}
		db.Close()
	}
	if _, err := Open(context.Background(), dir+"/x.db", Options{}); err == nil {
		t.Error("Open without a Cipher succeeded")
	}
}

func TestRebind(t *testing.T) {
	got := rebindDollar(`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`)
	want := `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`
	if got != want {
		t.Errorf("rebindDollar = %q, want %q", got, want)
	}
}

func testMigrate(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := context.Background()
	n, err := db.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
	}
	want, _ := loadMigrations(db.Dialect())
	var count int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != len(want) {
		t.Errorf("schema_migrations has %d rows, want %d", count, len(want))
	}
	// Concurrent migrations of a fresh database apply each file once.
	var fresh *DB
	if db.Dialect() == DialectSQLite {
		fresh = rawSQLite(t, Options{})
	} else {
		fresh = rawPostgres(t, Options{})
	}
	var wg sync.WaitGroup
	var total atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := fresh.Migrate(ctx)
			total.Add(int64(n))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	if total.Load() != int64(len(want)) {
		t.Errorf("concurrent Migrate applied %d in total, want %d", total.Load(), len(want))
	}
}

func testTenants(t *testing.T, open opener) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	clock := func() time.Time { return now }
	db := open(t, Options{Now: clock})
	s := NewTenantService(db)
	ctx := context.Background()

	server := &vigil.APIKey{Kind: vigil.KeyServer, Hash: vigil.HashSecret("server-1"), Hint: "er-1"}
	mgmt := &vigil.APIKey{Kind: vigil.KeyManagement, Hash: vigil.HashSecret("mgmt-1"), Hint: "gt-1"}
	ten := &vigil.Tenant{ID: "t1", Name: "One"}
	if err := s.CreateTenant(ctx, ten, []*vigil.APIKey{server, mgmt}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	wantT := &vigil.Tenant{ID: "t1", Name: "One", CreatedAt: now.Truncate(time.Microsecond), UpdatedAt: now.Truncate(time.Microsecond)}
	if diff := cmp.Diff(wantT, ten); diff != "" {
		t.Errorf("CreateTenant filled (-want +got):\n%s", diff)
	}
	if server.ID == "" || server.TenantID != "t1" {
		t.Errorf("key not filled in: %+v", server)
	}
	err := s.CreateTenant(ctx, &vigil.Tenant{ID: "t1", Name: "Dup"}, nil)
	wantCode(t, "CreateTenant(duplicate)", err, vigil.ECONFLICT)

	got, err := s.FindTenantByID(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantT, got); diff != "" {
		t.Errorf("FindTenantByID (-want +got):\n%s", diff)
	}
	_, err = s.FindTenantByID(ctx, "nope")
	wantCode(t, "FindTenantByID(nope)", err, vigil.ENOTFOUND)

	name, ttl := "Renamed", 5*time.Minute
	upd, err := s.UpdateTenant(ctx, "t1", vigil.TenantUpdate{Name: &name, TokenTTL: &ttl})
	if err != nil || upd.Name != name || upd.TokenTTL != ttl {
		t.Errorf("UpdateTenant = %+v, %v", upd, err)
	}
	upd, err = s.UpdateTenant(ctx, "t1", vigil.TenantUpdate{})
	if err != nil || upd.Name != name || upd.TokenTTL != ttl {
		t.Errorf("UpdateTenant(empty) = %+v, %v; want unchanged", upd, err)
	}
	_, err = s.UpdateTenant(ctx, "nope", vigil.TenantUpdate{Name: &name})
	wantCode(t, "UpdateTenant(nope)", err, vigil.ENOTFOUND)

	// Key authentication checks the kind.
	if tt, err := s.AuthenticateKey(ctx, vigil.KeyServer, vigil.HashSecret("server-1")); err != nil || tt.ID != "t1" {
		t.Errorf("AuthenticateKey(server) = %v, %v", tt, err)
	}
	_, err = s.AuthenticateKey(ctx, vigil.KeyManagement, vigil.HashSecret("server-1"))
	wantCode(t, "AuthenticateKey(wrong kind)", err, vigil.EUNAUTHORIZED)
	_, err = s.AuthenticateKey(ctx, vigil.KeyServer, vigil.HashSecret("wrong"))
	wantCode(t, "AuthenticateKey(wrong)", err, vigil.EUNAUTHORIZED)

	// Rotation keeps the old key valid until the overlap ends.
	now = now.Add(time.Hour)
	overlap := now.Add(24 * time.Hour)
	server2 := &vigil.APIKey{TenantID: "t1", Kind: vigil.KeyServer, Hash: vigil.HashSecret("server-2"), Hint: "er-2"}
	if err := s.RotateKey(ctx, server2, overlap); err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	for _, sec := range []string{"server-1", "server-2"} {
		if _, err := s.AuthenticateKey(ctx, vigil.KeyServer, vigil.HashSecret(sec)); err != nil {
			t.Errorf("during overlap AuthenticateKey(%s): %v", sec, err)
		}
	}
	if _, err := s.AuthenticateKey(ctx, vigil.KeyManagement, vigil.HashSecret("mgmt-1")); err != nil {
		t.Errorf("rotation of server keys touched management key: %v", err)
	}
	now = overlap.Add(time.Second)
	_, err = s.AuthenticateKey(ctx, vigil.KeyServer, vigil.HashSecret("server-1"))
	wantCode(t, "after overlap AuthenticateKey(server-1)", err, vigil.EUNAUTHORIZED)
	if _, err := s.AuthenticateKey(ctx, vigil.KeyServer, vigil.HashSecret("server-2")); err != nil {
		t.Errorf("after overlap AuthenticateKey(server-2): %v", err)
	}
	err = s.RotateKey(ctx, &vigil.APIKey{TenantID: "nope", Kind: vigil.KeyServer, Hash: []byte("x")}, overlap)
	wantCode(t, "RotateKey(unknown tenant)", err, vigil.ENOTFOUND)

	keys, err := s.FindAPIKeys(ctx, "t1")
	if err != nil || len(keys) != 3 {
		t.Fatalf("FindAPIKeys = %d keys, %v; want 3", len(keys), err)
	}
	if keys[0].ID != server2.ID {
		t.Errorf("FindAPIKeys[0] = %s, want the newest %s", keys[0].ID, server2.ID)
	}
	for _, k := range keys {
		if k.ID == server.ID && !k.ExpiresAt.Equal(overlap.Truncate(time.Microsecond)) {
			t.Errorf("old key expires at %v, want %v", k.ExpiresAt, overlap)
		}
	}

	// EnsureKey: no change for an active key, a rotation otherwise.
	changed, err := s.EnsureKey(ctx, &vigil.APIKey{TenantID: "t1", Kind: vigil.KeyServer, Hash: vigil.HashSecret("server-2")}, now.Add(time.Hour))
	if err != nil || changed {
		t.Errorf("EnsureKey(active) = %v, %v; want false", changed, err)
	}
	changed, err = s.EnsureKey(ctx, &vigil.APIKey{TenantID: "t1", Kind: vigil.KeyServer, Hash: vigil.HashSecret("server-3")}, now.Add(time.Hour))
	if err != nil || !changed {
		t.Errorf("EnsureKey(new) = %v, %v; want true", changed, err)
	}
	// An expired key with the same hash is made active again by a new row.
	changed, err = s.EnsureKey(ctx, &vigil.APIKey{TenantID: "t1", Kind: vigil.KeyServer, Hash: vigil.HashSecret("server-1")}, now.Add(time.Hour))
	if err != nil || !changed {
		t.Errorf("EnsureKey(expired) = %v, %v; want true", changed, err)
	}
	if _, err := s.AuthenticateKey(ctx, vigil.KeyServer, vigil.HashSecret("server-1")); err != nil {
		t.Errorf("after EnsureKey AuthenticateKey(server-1): %v", err)
	}

	if err := s.CreateTenant(ctx, &vigil.Tenant{ID: "t0", Name: "Zero"}, nil); err != nil {
		t.Fatal(err)
	}
	all, err := s.FindTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range all {
		ids = append(ids, x.ID)
	}
	if diff := cmp.Diff([]string{"t1", "t0"}, ids); diff != "" {
		t.Errorf("FindTenants order (-want +got):\n%s", diff)
	}
}

func testSigningKeys(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "a")
	ctxB := mustTenant(t, db, "b")
	s := NewSigningKeyService(db)
	k1 := &vigil.SigningKey{ID: "k1", Secret: bytes.Repeat([]byte{1}, 32)}
	if err := s.CreateSigningKey(ctx, k1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	k2 := &vigil.SigningKey{ID: "k2", Secret: bytes.Repeat([]byte{2}, 32)}
	if err := s.CreateSigningKey(ctx, k2); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "CreateSigningKey(dup)", s.CreateSigningKey(ctx, &vigil.SigningKey{ID: "k2", Secret: []byte("x")}), vigil.ECONFLICT)
	keys, err := s.FindSigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("FindSigningKeys = %v, %v", keys, err)
	}
	if keys[0].ID != "k2" || !keys[0].RetiredAt.IsZero() || !bytes.Equal(keys[0].Secret, k2.Secret) {
		t.Errorf("newest key = %+v, want k2 active", keys[0])
	}
	if keys[1].ID != "k1" || keys[1].RetiredAt.IsZero() || !bytes.Equal(keys[1].Secret, k1.Secret) {
		t.Errorf("older key = %+v, want k1 retired", keys[1])
	}
	if keys, err := s.FindSigningKeys(ctxB); err != nil || len(keys) != 0 {
		t.Errorf("tenant b FindSigningKeys = %v, %v; want none", keys, err)
	}
	// Same kid in another tenant is independent.
	if err := s.CreateSigningKey(ctxB, &vigil.SigningKey{ID: "k1", Secret: []byte("b-secret")}); err != nil {
		t.Errorf("CreateSigningKey(b, k1): %v", err)
	}
}

func testNoTenant(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := context.Background()
	users, auths := NewUserService(db), NewAuthenticatorService(db)
	cfgs, acts, keys := NewActionConfigService(db), NewActionService(db), NewSigningKeyService(db)
	errs := map[string]error{}
	_, errs["FindUserByID"] = users.FindUserByID(ctx, "u")
	_, errs["FindUsers"] = users.FindUsers(ctx, vigil.UserFilter{})
	_, errs["UpsertUser"] = users.UpsertUser(ctx, "u", vigil.UserUpdate{})
	errs["DeleteUser"] = users.DeleteUser(ctx, "u")
	_, errs["FindAuthenticators"] = auths.FindAuthenticators(ctx, "u")
	errs["CreateAuthenticator"] = auths.CreateAuthenticator(ctx, &vigil.Authenticator{UserID: "u", Method: vigil.MethodSMS})
	_, errs["CreateAuthenticators"] = auths.CreateAuthenticators(ctx, []*vigil.Authenticator{{UserID: "u", Method: vigil.MethodSMS}})
	errs["DeleteAuthenticator"] = auths.DeleteAuthenticator(ctx, "u", "x")
	_, errs["FindActionConfig"] = cfgs.FindActionConfig(ctx, "signIn")
	_, errs["FindActionConfigs"] = cfgs.FindActionConfigs(ctx)
	errs["CreateActionConfig"] = cfgs.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow})
	_, errs["UpsertActionConfig"] = cfgs.UpsertActionConfig(ctx, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow})
	errs["DeleteActionConfig"] = cfgs.DeleteActionConfig(ctx, "signIn")
	_, _, errs["CreateAction"] = acts.CreateAction(ctx, &vigil.Action{UserID: "u", Code: "signIn"}, nil)
	_, errs["FindAction"] = acts.FindAction(ctx, "u", "signIn", "k")
	_, errs["FindActionByKey"] = acts.FindActionByKey(ctx, "k")
	_, errs["FindActions"] = acts.FindActions(ctx, vigil.ActionFilter{UserID: "u"})
	_, errs["UpdateActionState"] = acts.UpdateActionState(ctx, "u", "signIn", "k", vigil.StateAllow)
	_, _, errs["ConsumeValidation"] = acts.ConsumeValidation(ctx, "u", "signIn", "k")
	_, errs["FindSigningKeys"] = keys.FindSigningKeys(ctx)
	errs["CreateSigningKey"] = keys.CreateSigningKey(ctx, &vigil.SigningKey{ID: "k", Secret: []byte("s")})
	for name, err := range errs {
		wantCode(t, name+" without tenant", err, vigil.EUNAUTHORIZED)
	}
}

// testIsolation creates the same IDs in tenants A and B and checks that
// neither sees, changes or deletes the other's rows.
func testIsolation(t *testing.T, open opener) {
	db := open(t, Options{})
	ctxA, ctxB := mustTenant(t, db, "A"), mustTenant(t, db, "B")
	users, auths := NewUserService(db), NewAuthenticatorService(db)
	cfgs, acts := NewActionConfigService(db), NewActionService(db)

	email := "a@example.com"
	if _, err := users.UpsertUser(ctxA, "u1", vigil.UserUpdate{Email: &email}); err != nil {
		t.Fatal(err)
	}
	authA := &vigil.Authenticator{UserID: "u1", Method: vigil.MethodEmailOTP, Email: email}
	if err := auths.CreateAuthenticator(ctxA, authA); err != nil {
		t.Fatal(err)
	}
	if err := cfgs.CreateActionConfig(ctxA, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeChallenge}); err != nil {
		t.Fatal(err)
	}
	actA := &vigil.Action{UserID: "u1", Code: "signIn", IdempotencyKey: "key1", Decision: vigil.Decision{Outcome: vigil.OutcomeChallenge}, RequestHash: []byte("h")}
	if _, _, err := acts.CreateAction(ctxA, actA, nil); err != nil {
		t.Fatal(err)
	}

	// B sees nothing of A's.
	_, err := users.FindUserByID(ctxB, "u1")
	wantCode(t, "B FindUserByID", err, vigil.ENOTFOUND)
	if us, _ := users.FindUsers(ctxB, vigil.UserFilter{Email: email}); len(us) != 0 {
		t.Errorf("B FindUsers found %d of A's users", len(us))
	}
	if as, _ := auths.FindAuthenticators(ctxB, "u1"); len(as) != 0 {
		t.Errorf("B FindAuthenticators found %d of A's", len(as))
	}
	_, err = cfgs.FindActionConfig(ctxB, "signIn")
	wantCode(t, "B FindActionConfig", err, vigil.ENOTFOUND)
	_, err = acts.FindAction(ctxB, "u1", "signIn", "key1")
	wantCode(t, "B FindAction", err, vigil.ENOTFOUND)
	_, err = acts.FindActionByKey(ctxB, "key1")
	wantCode(t, "B FindActionByKey", err, vigil.ENOTFOUND)
	if as, _ := acts.FindActions(ctxB, vigil.ActionFilter{UserID: "u1"}); len(as) != 0 {
		t.Errorf("B FindActions found %d of A's", len(as))
	}

	// B cannot change or delete A's rows.
	_, err = acts.UpdateActionState(ctxB, "u1", "signIn", "key1", vigil.StateChallengeSucceeded)
	wantCode(t, "B UpdateActionState", err, vigil.ENOTFOUND)
	_, _, err = acts.ConsumeValidation(ctxB, "u1", "signIn", "key1")
	wantCode(t, "B ConsumeValidation", err, vigil.ENOTFOUND)
	wantCode(t, "B DeleteAuthenticator", auths.DeleteAuthenticator(ctxB, "u1", authA.ID), vigil.ENOTFOUND)
	wantCode(t, "B DeleteActionConfig", cfgs.DeleteActionConfig(ctxB, "signIn"), vigil.ENOTFOUND)
	if err := users.DeleteUser(ctxB, "u1"); err != nil {
		t.Fatal(err)
	}

	// The same IDs and key in B are independent rows.
	if _, err := users.UpsertUser(ctxB, "u1", vigil.UserUpdate{}); err != nil {
		t.Fatal(err)
	}
	actB := &vigil.Action{UserID: "u1", Code: "signIn", IdempotencyKey: "key1", Decision: vigil.Decision{Outcome: vigil.OutcomeAllow}, RequestHash: []byte("other")}
	if _, created, err := acts.CreateAction(ctxB, actB, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}); err != nil || !created {
		t.Fatalf("B CreateAction same key = %v, %v; want created", created, err)
	}
	if _, err := acts.UpdateActionState(ctxB, "u1", "signIn", "key1", vigil.StateBlock); err != nil {
		t.Fatal(err)
	}
	if err := users.DeleteUser(ctxB, "u1"); err != nil {
		t.Fatal(err)
	}

	// A is untouched.
	u, err := users.FindUserByID(ctxA, "u1")
	if err != nil || u.Email != email {
		t.Errorf("A's user after B's changes = %+v, %v", u, err)
	}
	if as, _ := auths.FindAuthenticators(ctxA, "u1"); len(as) != 1 {
		t.Errorf("A has %d authenticators, want 1", len(as))
	}
	a, err := acts.FindAction(ctxA, "u1", "signIn", "key1")
	if err != nil || a.State != vigil.StateChallengeRequired {
		t.Errorf("A's action = %+v, %v; want CHALLENGE_REQUIRED", a, err)
	}
	c, err := cfgs.FindActionConfig(ctxA, "signIn")
	if err != nil || c.DefaultOutcome != vigil.OutcomeChallenge {
		t.Errorf("A's config = %+v, %v", c, err)
	}
}

func testUsers(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewUserService(db)
	str := func(s string) *string { return &s }
	yes := true

	u, err := s.UpsertUser(ctx, "u1", vigil.UserUpdate{Email: str("a@x.io"), EmailVerified: &yes, Username: str("alice"),
		Custom: map[string]any{"plan": "pro", "n": 2.0}})
	if err != nil {
		t.Fatal(err)
	}
	want := &vigil.User{TenantID: "t", ID: "u1", Email: "a@x.io", EmailVerified: true, Username: "alice",
		Custom: map[string]any{"plan": "pro", "n": 2.0}}
	ignoreTimes := cmpopts.IgnoreFields(vigil.User{}, "CreatedAt", "UpdatedAt")
	if diff := cmp.Diff(want, u, ignoreTimes); diff != "" {
		t.Errorf("UpsertUser (-want +got):\n%s", diff)
	}
	if u.CreatedAt.IsZero() || u.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want a UTC time", u.CreatedAt)
	}

	// A partial update changes only the given fields; "" clears.
	u, err = s.UpsertUser(ctx, "u1", vigil.UserUpdate{PhoneNumber: str("+15550001"), Username: str("")})
	if err != nil {
		t.Fatal(err)
	}
	want.PhoneNumber, want.Username = "+15550001", ""
	if diff := cmp.Diff(want, u, ignoreTimes); diff != "" {
		t.Errorf("partial UpsertUser (-want +got):\n%s", diff)
	}
	got, err := s.FindUserByID(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("FindUserByID (-upsert +find):\n%s", diff)
	}
	_, err = s.FindUserByID(ctx, "nobody")
	wantCode(t, "FindUserByID(nobody)", err, vigil.ENOTFOUND)
	_, err = s.UpsertUser(ctx, "", vigil.UserUpdate{})
	wantCode(t, "UpsertUser(empty id)", err, vigil.EINVALID)

	for i := 2; i <= 5; i++ {
		if _, err := s.UpsertUser(ctx, fmt.Sprintf("u%d", i), vigil.UserUpdate{Email: str("shared@x.io")}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(us []*vigil.User) []string {
		out := []string{}
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    vigil.UserFilter
		want []string
	}{
		{"all", vigil.UserFilter{}, []string{"u1", "u2", "u3", "u4", "u5"}},
		{"email", vigil.UserFilter{Email: "shared@x.io"}, []string{"u2", "u3", "u4", "u5"}},
		{"phone", vigil.UserFilter{PhoneNumber: "+15550001"}, []string{"u1"}},
		{"page1", vigil.UserFilter{Email: "shared@x.io", Limit: 2}, []string{"u2", "u3"}},
		{"page2", vigil.UserFilter{Email: "shared@x.io", Limit: 2, After: "u3"}, []string{"u4", "u5"}},
		{"page3", vigil.UserFilter{Email: "shared@x.io", Limit: 2, After: "u5"}, []string{}},
		{"nomatch", vigil.UserFilter{Username: "bob"}, []string{}},
	}
	for _, tt := range tests {
		us, err := s.FindUsers(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, ids(us)); diff != "" {
			t.Errorf("FindUsers %s (-want +got):\n%s", tt.name, diff)
		}
	}

	// Delete cascades to authenticators and actions.
	auths, acts := NewAuthenticatorService(db), NewActionService(db)
	if err := auths.CreateAuthenticator(ctx, &vigil.Authenticator{UserID: "u1", Method: vigil.MethodSMS, PhoneNumber: "+15550001"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := acts.CreateAction(ctx, &vigil.Action{UserID: "u1", Code: "signIn", IdempotencyKey: "k"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindUserByID(ctx, "u1")
	wantCode(t, "FindUserByID(deleted)", err, vigil.ENOTFOUND)
	if as, _ := auths.FindAuthenticators(ctx, "u1"); len(as) != 0 {
		t.Errorf("deleted user still has %d authenticators", len(as))
	}
	_, err = acts.FindActionByKey(ctx, "k")
	wantCode(t, "FindActionByKey(deleted user)", err, vigil.ENOTFOUND)
	if err := s.DeleteUser(ctx, "u1"); err != nil {
		t.Errorf("DeleteUser(absent) = %v, want nil", err)
	}
}

func testAuthenticators(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewAuthenticatorService(db)
	verified := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

	email := &vigil.Authenticator{UserID: "u1", Method: vigil.MethodEmailOTP, Email: "a@x.io", VerifiedAt: verified}
	if err := s.CreateAuthenticator(ctx, email); err != nil {
		t.Fatal(err)
	}
	if email.ID == "" || email.TenantID != "t" || email.CreatedAt.IsZero() {
		t.Errorf("CreateAuthenticator did not fill in ID/tenant/time: %+v", email)
	}
	// The user was created.
	if _, err := NewUserService(db).FindUserByID(ctx, "u1"); err != nil {
		t.Errorf("user not created: %v", err)
	}
	// Same method and email: the first is updated and returned.
	again := &vigil.Authenticator{UserID: "u1", Method: vigil.MethodEmailOTP, Email: "a@x.io", DisplayName: "Work"}
	if err := s.CreateAuthenticator(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.ID != email.ID || again.DisplayName != "Work" || !again.VerifiedAt.Equal(verified) {
		t.Errorf("dedupe returned %+v, want the first (%s) updated", again, email.ID)
	}
	totp := &vigil.Authenticator{UserID: "u1", Method: vigil.MethodAuthenticatorApp, OTPSecret: []byte("12345678901234567890")}
	if err := s.CreateAuthenticator(ctx, totp); err != nil {
		t.Fatal(err)
	}
	cred := &vigil.WebAuthnCredential{CredentialID: "cred-1", PublicKey: []byte{1, 2, 3}, SignCount: 7, AAGUID: "aaguid",
		Name: "Key", Transports: []string{"usb", "nfc"}, BackupEligible: true, DeviceType: "multiDevice", Attachment: "platform"}
	pk := &vigil.Authenticator{UserID: "u1", Method: vigil.MethodPasskey, Credential: cred}
	if err := s.CreateAuthenticator(ctx, pk); err != nil {
		t.Fatal(err)
	}
	dup := &vigil.Authenticator{UserID: "u2", Method: vigil.MethodPasskey, Credential: &vigil.WebAuthnCredential{CredentialID: "cred-1"}}
	wantCode(t, "CreateAuthenticator(same credential)", s.CreateAuthenticator(ctx, dup), vigil.ECONFLICT)
	if _, err := NewUserService(db).FindUserByID(ctx, "u2"); vigil.ErrorCode(err) != vigil.ENOTFOUND {
		t.Errorf("failed CreateAuthenticator left user u2 behind: %v", err)
	}
	wantCode(t, "CreateAuthenticator(no user)", s.CreateAuthenticator(ctx, &vigil.Authenticator{Method: vigil.MethodSMS}), vigil.EINVALID)

	got, err := s.FindAuthenticators(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	want := []*vigil.Authenticator{again, totp, pk}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindAuthenticators (-want +got):\n%s", diff)
	}
	if as, err := s.FindAuthenticators(ctx, "nobody"); err != nil || as == nil || len(as) != 0 {
		t.Errorf("FindAuthenticators(nobody) = %#v, %v; want empty slice", as, err)
	}

	// Batch: a conflict on one item does not roll back the others.
	batch := []*vigil.Authenticator{
		{UserID: "u3", Method: vigil.MethodPasskey, Credential: &vigil.WebAuthnCredential{CredentialID: "cred-2"}},
		{UserID: "u3", Method: vigil.MethodPasskey, Credential: &vigil.WebAuthnCredential{CredentialID: "cred-1"}},
		{UserID: "u3", Method: vigil.MethodPasskey, Credential: &vigil.WebAuthnCredential{CredentialID: "cred-3"}},
		{UserID: "u3", Method: "NOPE"},
	}
	errs, err := s.CreateAuthenticators(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, e := range errs {
		codes = append(codes, vigil.ErrorCode(e))
	}
	if diff := cmp.Diff([]string{"", vigil.ECONFLICT, "", vigil.EINVALID}, codes); diff != "" {
		t.Errorf("CreateAuthenticators codes (-want +got):\n%s", diff)
	}
	if as, _ := s.FindAuthenticators(ctx, "u3"); len(as) != 2 {
		t.Errorf("after batch u3 has %d authenticators, want 2", len(as))
	}

	if err := s.DeleteAuthenticator(ctx, "u1", totp.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteAuthenticator(again)", s.DeleteAuthenticator(ctx, "u1", totp.ID), vigil.ENOTFOUND)
	wantCode(t, "DeleteAuthenticator(other user)", s.DeleteAuthenticator(ctx, "u3", pk.ID), vigil.ENOTFOUND)
	if as, _ := s.FindAuthenticators(ctx, "u1"); len(as) != 2 {
		t.Errorf("after delete u1 has %d authenticators, want 2", len(as))
	}
}

func testSecretsEncrypted(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	seed := []byte("SEED-PLAINTEXT-1234")
	a := &vigil.Authenticator{UserID: "u", Method: vigil.MethodAuthenticatorApp, OTPSecret: seed}
	if err := NewAuthenticatorService(db).CreateAuthenticator(ctx, a); err != nil {
		t.Fatal(err)
	}
	key := []byte("SIGNING-KEY-PLAINTEXT-0123456789")
	if err := NewSigningKeyService(db).CreateSigningKey(ctx, &vigil.SigningKey{ID: "k", Secret: key}); err != nil {
		t.Fatal(err)
	}
	var rawSeed, rawKey []byte
	if err := db.read.QueryRow(db.rebind(`SELECT otp_secret FROM authenticators WHERE id = ?`), a.ID).Scan(&rawSeed); err != nil {
		t.Fatal(err)
	}
	if err := db.read.QueryRow(`SELECT secret FROM signing_keys`).Scan(&rawKey); err != nil {
		t.Fatal(err)
	}
	if len(rawSeed) == 0 || bytes.Contains(rawSeed, seed) {
		t.Errorf("otp_secret stored in the clear: %q", rawSeed)
	}
	if len(rawKey) == 0 || bytes.Contains(rawKey, key) {
		t.Errorf("signing key stored in the clear: %q", rawKey)
	}
	// The AAD binds the ciphertext to its row: copied to another row, it
	// does not decrypt.
	b := &vigil.Authenticator{UserID: "u", Method: vigil.MethodAuthenticatorApp, OTPSecret: []byte("other")}
	if err := NewAuthenticatorService(db).CreateAuthenticator(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := db.writePool.Exec(db.rebind(`UPDATE authenticators SET otp_secret = ? WHERE id = ?`), rawSeed, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAuthenticatorService(db).FindAuthenticators(ctx, "u"); err == nil {
		t.Error("a ciphertext moved to another row decrypted")
	}
	// API secrets are stored only as their hash.
	var n int
	if err := db.read.QueryRow(`SELECT COUNT(*) FROM api_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
}

func testActionConfigs(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewActionConfigService(db)
	c := &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeChallenge,
		VerificationMethods:       []vigil.VerificationMethod{vigil.MethodPasskey, vigil.MethodEmailOTP},
		PromptToEnrollMethods:     []vigil.VerificationMethod{},
		DefaultVerificationMethod: vigil.MethodPasskey,
		MessagingTemplates:        json.RawMessage(`{"en":{"subject":"Hi"}}`),
		VerificationWebhookURL:    "https://example.com/hook"}
	if err := s.CreateActionConfig(ctx, c); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "CreateActionConfig(dup)", s.CreateActionConfig(ctx, c), vigil.ECONFLICT)
	wantCode(t, "CreateActionConfig(bad code)", s.CreateActionConfig(ctx, &vigil.ActionConfig{ActionCode: "a b", DefaultOutcome: vigil.OutcomeAllow}), vigil.EINVALID)
	got, err := s.FindActionConfig(ctx, "signIn")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("FindActionConfig (-want +got):\n%s", diff)
	}
	_, err = s.FindActionConfig(ctx, "nope")
	wantCode(t, "FindActionConfig(nope)", err, vigil.ENOTFOUND)

	same := *c
	changed, err := s.UpsertActionConfig(ctx, &same)
	if err != nil || changed {
		t.Errorf("UpsertActionConfig(same) = %v, %v; want false", changed, err)
	}
	diff := *c
	diff.VerificationMethods = nil
	diff.DefaultOutcome = vigil.OutcomeAllow
	changed, err = s.UpsertActionConfig(ctx, &diff)
	if err != nil || !changed {
		t.Errorf("UpsertActionConfig(changed) = %v, %v; want true", changed, err)
	}
	got, _ = s.FindActionConfig(ctx, "signIn")
	if got.VerificationMethods != nil || got.DefaultOutcome != vigil.OutcomeAllow || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("after upsert = %+v", got)
	}
	changed, err = s.UpsertActionConfig(ctx, &vigil.ActionConfig{ActionCode: "a_new", DefaultOutcome: vigil.OutcomeBlock})
	if err != nil || !changed {
		t.Errorf("UpsertActionConfig(new) = %v, %v; want true", changed, err)
	}
	all, err := s.FindActionConfigs(ctx)
	if err != nil || len(all) != 2 || all[0].ActionCode != "a_new" || all[1].ActionCode != "signIn" {
		t.Errorf("FindActionConfigs = %v, %v", all, err)
	}
	if err := s.DeleteActionConfig(ctx, "a_new"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteActionConfig(again)", s.DeleteActionConfig(ctx, "a_new"), vigil.ENOTFOUND)
}

func newAction(user, code, key string, hash string) *vigil.Action {
	return &vigil.Action{UserID: user, Code: code, IdempotencyKey: key, RequestHash: []byte(hash),
		Decision: vigil.Decision{Outcome: vigil.OutcomeChallenge, RuleIDs: []string{"r1"},
			Rules:  []vigil.RuleSnapshot{{ID: "r1", Name: "Rule"}},
			Output: json.RawMessage(`{"score":1}`)},
		AllowedMethods:  []vigil.VerificationMethod{vigil.MethodPasskey},
		DefaultMethod:   vigil.MethodPasskey,
		IsEnrolled:      true,
		EnrolledMethods: []vigil.VerificationMethod{vigil.MethodPasskey},
		Context:         vigil.ActionContext{IPAddress: "192.0.2.1", UserAgent: "UA", Custom: json.RawMessage(`{"k":"v"}`)},
		TokenIssuedAt:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		TokenExpiresAt:  time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC),
	}
}

func testActions(t *testing.T, open opener) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	db := open(t, Options{Now: clock})
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	cfgs := NewActionConfigService(db)

	a := newAction("u1", "signIn", "k1", "hash1")
	newCfg := &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}
	got, created, err := s.CreateAction(ctx, a, newCfg)
	if err != nil || !created {
		t.Fatalf("CreateAction = %v, %v", created, err)
	}
	if a.ID == "" || a.State != vigil.StateChallengeRequired || a.CreatedAt.IsZero() || got != a {
		t.Errorf("CreateAction filled %+v", a)
	}
	cfg, err := cfgs.FindActionConfig(ctx, "signIn")
	if err != nil {
		t.Fatalf("config not created: %v", err)
	}
	if !cfg.LastActionCreatedAt.Equal(a.CreatedAt) || cfg.DefaultOutcome != vigil.OutcomeAllow {
		t.Errorf("config LastActionCreatedAt = %v, want %v", cfg.LastActionCreatedAt, a.CreatedAt)
	}
	if _, err := NewUserService(db).FindUserByID(ctx, "u1"); err != nil {
		t.Errorf("user not created: %v", err)
	}
	stored, err := s.FindAction(ctx, "u1", "signIn", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, stored); diff != "" {
		t.Errorf("FindAction (-created +stored):\n%s", diff)
	}

	// Replay: same key and hash returns the stored action.
	replay, created, err := s.CreateAction(ctx, newAction("u1", "signIn", "k1", "hash1"), newCfg)
	if err != nil || created {
		t.Fatalf("replay CreateAction = %v, %v; want created=false", created, err)
	}
	if diff := cmp.Diff(stored, replay); diff != "" {
		t.Errorf("replay returned (-stored +replay):\n%s", diff)
	}
	_, _, err = s.CreateAction(ctx, newAction("u1", "signIn", "k1", "hash2"), nil)
	wantCode(t, "CreateAction(same key, other payload)", err, vigil.EUNPROCESSABLE)

	// A second action advances the config; an existing config is kept.
	b := newAction("u1", "signIn", "k2", "h")
	b.Decision = vigil.Decision{Outcome: vigil.OutcomeAllow}
	b.Context = vigil.ActionContext{}
	if _, _, err := s.CreateAction(ctx, b, &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeBlock}); err != nil {
		t.Fatal(err)
	}
	if b.State != vigil.StateAllow || string(b.Decision.Output) != `{}` {
		t.Errorf("b state %s output %s, want ALLOW {}", b.State, b.Decision.Output)
	}
	cfg, _ = cfgs.FindActionConfig(ctx, "signIn")
	if !cfg.LastActionCreatedAt.Equal(b.CreatedAt) || cfg.DefaultOutcome != vigil.OutcomeAllow {
		t.Errorf("config after b: last=%v outcome=%s; want %v ALLOW", cfg.LastActionCreatedAt, cfg.DefaultOutcome, b.CreatedAt)
	}
	// Without newConfig and no config, none is created.
	if _, _, err := s.CreateAction(ctx, newAction("u1", "transfer", "k3", "h"), nil); err != nil {
		t.Fatal(err)
	}
	_, err = cfgs.FindActionConfig(ctx, "transfer")
	wantCode(t, "FindActionConfig(transfer)", err, vigil.ENOTFOUND)
	if _, _, err := s.CreateAction(ctx, newAction("u2", "signIn", "k4", "h"), nil); err != nil {
		t.Fatal(err)
	}
	// An empty key gets one generated.
	gen := newAction("u1", "signIn", "", "h")
	if _, _, err := s.CreateAction(ctx, gen, nil); err != nil || gen.IdempotencyKey == "" {
		t.Fatalf("CreateAction(no key) key=%q err=%v", gen.IdempotencyKey, err)
	}

	byKey, err := s.FindActionByKey(ctx, "k2")
	if err != nil || byKey.ID != b.ID {
		t.Errorf("FindActionByKey = %v, %v", byKey, err)
	}
	_, err = s.FindAction(ctx, "u1", "transfer", "k1")
	wantCode(t, "FindAction(wrong code)", err, vigil.ENOTFOUND)

	keys := func(as []*vigil.Action) []string {
		out := []string{}
		for _, a := range as {
			out = append(out, a.IdempotencyKey)
		}
		return out
	}
	tests := []struct {
		name string
		f    vigil.ActionFilter
		want []string
	}{
		{"user", vigil.ActionFilter{UserID: "u1"}, []string{gen.IdempotencyKey, "k3", "k2", "k1"}},
		{"limit", vigil.ActionFilter{UserID: "u1", Limit: 2}, []string{gen.IdempotencyKey, "k3"}},
		{"codes", vigil.ActionFilter{UserID: "u1", Codes: []string{"transfer"}}, []string{"k3"}},
		{"two codes", vigil.ActionFilter{UserID: "u1", Codes: []string{"transfer", "signIn"}, Limit: 3}, []string{gen.IdempotencyKey, "k3", "k2"}},
		{"state", vigil.ActionFilter{UserID: "u1", State: vigil.StateAllow}, []string{"k2"}},
		{"from", vigil.ActionFilter{UserID: "u1", FromDate: b.CreatedAt}, []string{gen.IdempotencyKey, "k3", "k2"}},
		{"other user", vigil.ActionFilter{UserID: "u2"}, []string{"k4"}},
		{"nobody", vigil.ActionFilter{UserID: "nobody"}, []string{}},
	}
	for _, tt := range tests {
		as, err := s.FindActions(ctx, tt.f)
		if err != nil {
			t.Fatalf("FindActions %s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, keys(as)); diff != "" {
			t.Errorf("FindActions %s (-want +got):\n%s", tt.name, diff)
		}
	}

	// State updates and consume-once.
	_, consumed, err := s.ConsumeValidation(ctx, "u1", "signIn", "k1")
	if err != nil || consumed {
		t.Errorf("ConsumeValidation(CHALLENGE_REQUIRED) consumed=%v err=%v; want false", consumed, err)
	}
	up, err := s.UpdateActionState(ctx, "u1", "signIn", "k1", vigil.StateChallengeSucceeded)
	if err != nil || up.State != vigil.StateChallengeSucceeded || !up.StateUpdatedAt.After(a.StateUpdatedAt) {
		t.Fatalf("UpdateActionState = %+v, %v", up, err)
	}
	_, err = s.UpdateActionState(ctx, "u1", "signIn", "nope", vigil.StateAllow)
	wantCode(t, "UpdateActionState(nope)", err, vigil.ENOTFOUND)
	_, err = s.UpdateActionState(ctx, "u1", "signIn", "k1", "BOGUS")
	wantCode(t, "UpdateActionState(bogus)", err, vigil.EINVALID)
	c1, consumed, err := s.ConsumeValidation(ctx, "u1", "signIn", "k1")
	if err != nil || !consumed || c1.ValidatedAt.IsZero() {
		t.Fatalf("ConsumeValidation = %+v, %v, %v; want consumed", c1, consumed, err)
	}
	c2, consumed, err := s.ConsumeValidation(ctx, "u1", "signIn", "k1")
	if err != nil || consumed || !c2.ValidatedAt.Equal(c1.ValidatedAt) {
		t.Errorf("second ConsumeValidation = %v, %v; want not consumed", consumed, err)
	}
	_, _, err = s.ConsumeValidation(ctx, "u1", "signIn", "nope")
	wantCode(t, "ConsumeValidation(nope)", err, vigil.ENOTFOUND)
}

// testActionRace sends concurrent CreateActions for one key: exactly one
// creates it, the others see the winner's row; a different payload gets
// EUNPROCESSABLE.
func testActionRace(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	const n = 32
	var wg sync.WaitGroup
	ids := make([]string, n)
	createdN := atomic.Int64{}
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hash := "same"
			if i == n-1 {
				hash = "different"
			}
			a, created, err := s.CreateAction(ctx, newAction("u", "signIn", "race", hash), &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow})
			errs[i] = err
			if err == nil {
				ids[i] = a.ID
				if created {
					createdN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	winner := ""
	for i := range n {
		if i == n-1 {
			// The different payload either lost (422) or won; if it won,
			// every "same" call must have failed.
			continue
		}
		if errs[i] == nil {
			if winner == "" {
				winner = ids[i]
			} else if ids[i] != winner {
				t.Errorf("call %d got action %s, another got %s", i, ids[i], winner)
			}
		}
	}
	if createdN.Load() != 1 {
		t.Errorf("%d calls created the action, want 1", createdN.Load())
	}
	if errs[n-1] == nil {
		for i := range n - 1 {
			wantCode(t, fmt.Sprintf("call %d after a different payload won", i), errs[i], vigil.EUNPROCESSABLE)
		}
	} else {
		wantCode(t, "different payload", errs[n-1], vigil.EUNPROCESSABLE)
		for i := range n - 1 {
			if errs[i] != nil {
				t.Errorf("call %d: %v", i, errs[i])
			}
		}
	}
	as, _ := s.FindActions(ctx, vigil.ActionFilter{UserID: "u"})
	if len(as) != 1 {
		t.Errorf("%d actions stored, want 1", len(as))
	}
}

func testConsumeOnce(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	if _, _, err := s.CreateAction(ctx, newAction("u", "signIn", "k", "h"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateActionState(ctx, "u", "signIn", "k", vigil.StateChallengeSucceeded); err != nil {
		t.Fatal(err)
	}
	const n = 50
	var wg sync.WaitGroup
	var consumedN, failed atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, consumed, err := s.ConsumeValidation(ctx, "u", "signIn", "k")
			if err != nil || a == nil {
				failed.Add(1)
				return
			}
			if consumed {
				consumedN.Add(1)
			}
		}()
	}
	wg.Wait()
	if consumedN.Load() != 1 || failed.Load() != 0 {
		t.Errorf("%d of %d concurrent ConsumeValidation consumed (%d failed), want exactly 1", consumedN.Load(), n, failed.Load())
	}
}

// testConsumeBatched queues ConsumeValidations of every kind into one group
// commit (on PostgreSQL they then run as one statement) and checks that each
// gets the result it would get alone.
func testConsumeBatched(t *testing.T, open opener) {
	db := open(t, Options{Writers: 1})
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		if _, _, err := s.CreateAction(ctx, newAction("u", "signIn", k, "h"), nil); err != nil {
			t.Fatal(err)
		}
		if k == "k3" {
			continue // stays CHALLENGE_REQUIRED
		}
		if _, err := s.UpdateActionState(ctx, "u", "signIn", k, vigil.StateChallengeSucceeded); err != nil {
			t.Fatal(err)
		}
	}
	if _, consumed, err := s.ConsumeValidation(ctx, "u", "signIn", "k4"); err != nil || !consumed {
		t.Fatalf("ConsumeValidation(k4) = %v, %v; want consumed", consumed, err)
	}

	// Hold the writer so that every call below lands in one batch.
	release := holdWriter(t, ctx, db)
	type call struct {
		user, key string
		a         *vigil.Action
		consumed  bool
		err       error
	}
	calls := []*call{{user: "u", key: "k1"}, {user: "u", key: "k1"}, {user: "u", key: "k1"},
		{user: "u", key: "k2"}, {user: "u", key: "k3"}, {user: "u", key: "k4"},
		{user: "u", key: "missing"}, {user: "other", key: "k2"}}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.a, c.consumed, c.err = s.ConsumeValidation(ctx, c.user, "signIn", c.key)
		}()
	}
	for len(db.queue) < len(calls) {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()

	k1 := 0
	for _, c := range calls {
		what := fmt.Sprintf("ConsumeValidation(%s, %s)", c.user, c.key)
		switch c.key {
		case "k1", "k2", "k3", "k4":
			if c.user != "u" {
				wantCode(t, what, c.err, vigil.ENOTFOUND)
				continue
			}
			if c.err != nil || c.a == nil || c.a.IdempotencyKey != c.key {
				t.Errorf("%s = %+v, %v; want the action", what, c.a, c.err)
				continue
			}
			if c.key == "k1" && c.consumed {
				k1++
			}
			wantConsumed, wantValidated := c.key == "k2", c.key != "k3"
			if c.key == "k1" {
				wantConsumed = c.consumed
			}
			if c.consumed != wantConsumed || c.a.ValidatedAt.IsZero() == wantValidated {
				t.Errorf("%s consumed=%v validatedAt=%v; want consumed=%v validated=%v", what, c.consumed, c.a.ValidatedAt, wantConsumed, wantValidated)
			}
		default:
			wantCode(t, what, c.err, vigil.ENOTFOUND)
		}
	}
	if k1 != 1 {
		t.Errorf("%d of 3 ConsumeValidation(k1) in one batch consumed, want 1", k1)
	}
}

// testConfigVersion checks that every write to an action configuration
// changes ActionConfigVersion, and that tracking an action under an
// existing configuration does not.
func testConfigVersion(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	cs := NewActionConfigService(db)
	as := NewActionService(db)
	v := cs.ActionConfigVersion()
	changed := func(what string, want bool) {
		t.Helper()
		nv := cs.ActionConfigVersion()
		if (nv != v) != want {
			t.Errorf("after %s: version %d -> %d, want changed=%v", what, v, nv, want)
		}
		v = nv
	}
	cfg := &vigil.ActionConfig{ActionCode: "signIn", DefaultOutcome: vigil.OutcomeAllow}
	if err := cs.CreateActionConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	changed("CreateActionConfig", true)
	if _, _, err := as.CreateAction(ctx, newAction("u", "signIn", "k1", "h"), nil); err != nil {
		t.Fatal(err)
	}
	changed("CreateAction", false)
	cfg.DefaultOutcome = vigil.OutcomeBlock
	if _, err := cs.UpsertActionConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	changed("UpsertActionConfig", true)
	newCfg := &vigil.ActionConfig{ActionCode: "transfer", DefaultOutcome: vigil.OutcomeAllow}
	if _, _, err := as.CreateAction(ctx, newAction("u", "transfer", "k2", "h"), newCfg); err != nil {
		t.Fatal(err)
	}
	changed("CreateAction with a new configuration", true)
	if err := cs.DeleteActionConfig(ctx, "transfer"); err != nil {
		t.Fatal(err)
	}
	changed("DeleteActionConfig", true)
}

// testBatchIsolation queues failing and succeeding ops together so that they
// share a group commit, and checks that each gets its own result.
func testBatchIsolation(t *testing.T, open opener) {
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	ensure := db.rebind(ensureUserSQL)
	insertFixed := db.rebind(`INSERT INTO users (tenant_id, id, created_at, updated_at) VALUES (?, ?, ?, ?)`)

	// Hold the writer so that everything below lands in one batch.
	release := holdWriter(t, ctx, db)
	var ops []*writeOp
	want := map[int]bool{} // op index -> should succeed
	for i := range 20 {
		i := i
		fail := i%4 == 1
		want[i] = !fail
		op, err := db.enqueue(ctx, func(tx *Tx) error {
			now := micros(tx.now)
			if _, err := tx.exec(ensure, "t", fmt.Sprintf("batch-%d", i), now, now); err != nil {
				return err
			}
			if fail {
				// A constraint violation after a successful write: the
				// op's first write must be undone too.
				_, err := tx.exec(insertFixed, "t", fmt.Sprintf("batch-%d", i), now, now)
				return db.mapErr("insert", err, "", "dup")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	release()
	users := NewUserService(db)
	for i, op := range ops {
		err := op.wait(ctx)
		_, ferr := users.FindUserByID(ctx, fmt.Sprintf("batch-%d", i))
		if want[i] {
			if err != nil || ferr != nil {
				t.Errorf("op %d: %v, find: %v; want success", i, err, ferr)
			}
		} else {
			wantCode(t, fmt.Sprintf("op %d", i), err, vigil.ECONFLICT)
			wantCode(t, fmt.Sprintf("op %d leftover user", i), ferr, vigil.ENOTFOUND)
		}
	}
}

// testCloseDrains queues writes, closes the DB and checks that every queued
// write committed and later writes are refused.
func testCloseDrains(t *testing.T, open opener) {
	// This test closes the DB itself; the Close in Cleanup is then a no-op.
	db := open(t, Options{})
	ctx := mustTenant(t, db, "t")
	users := NewUserService(db)
	const n = 200
	ops := make([]*writeOp, n)
	ensure := db.rebind(ensureUserSQL)
	for i := range n {
		op, err := db.enqueue(ctx, func(tx *Tx) error {
			now := micros(tx.now)
			_, err := tx.exec(ensure, "t", fmt.Sprintf("drain-%d", i), now, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		ops[i] = op
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, op := range ops {
		select {
		case err := <-op.done:
			if err != nil {
				t.Errorf("queued op %d: %v", i, err)
			}
		default:
			t.Fatalf("queued op %d not finished when Close returned", i)
		}
	}
	_, err := users.UpsertUser(ctx, "late", vigil.UserUpdate{})
	wantCode(t, "UpsertUser after Close", err, vigil.EUNAVAILABLE)
}
