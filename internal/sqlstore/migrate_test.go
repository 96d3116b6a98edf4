package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	vigil "github.com/vigil-auth/vigil"
)

// TestHistoryVersionMigrationNoRewrite upgrades a PostgreSQL database that
// already has users to migration 0014 and checks that users kept its file
// (no rewrite under the exclusive lock, which a volatile default would
// force), that the rows there share base 0 at version 1, and that users
// created afterwards draw distinct bases from the sequence.
func TestHistoryVersionMigrationNoRewrite(t *testing.T) {
	ctx := context.Background()
	db := rawPostgres(t, Options{}) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	const version = 14
	rest := migrateBefore(t, db, version)
	exec := func(q string) {
		t.Helper()
		if _, err := db.writePool.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO tenants (id, name, created_at, updated_at) VALUES ('t', 'T', 1, 1)`)
	exec(`INSERT INTO users (tenant_id, id, created_at, updated_at)
		SELECT 't', 'old-' || g, 1, 1 FROM generate_series(1, 100) AS g`)
	fileNode := func() int64 {
		t.Helper()
		var n int64
		if err := db.writePool.QueryRowContext(ctx, `SELECT pg_relation_filenode('users')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := fileNode()
	rest()
	if after := fileNode(); after != before {
		t.Errorf("users was rewritten by the migrations from %04d: file node %d, then %d", version, before, after)
	}
	exec(`INSERT INTO users (tenant_id, id, created_at, updated_at) VALUES ('t', 'new-1', 2, 2), ('t', 'new-2', 2, 2)`)
	rows, err := db.writePool.QueryContext(ctx, `SELECT id LIKE 'old-%', hist_base, hist_ver, COUNT(*) FROM users
		GROUP BY 1, 2, 3 ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type group struct {
		old       bool
		base, ver int64
		n         int
	}
	var got []group
	for rows.Next() {
		var g group
		if err := rows.Scan(&g.old, &g.base, &g.ver, &g.n); err != nil {
			t.Fatal(err)
		}
		got = append(got, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// The sequence is created by the migration, so the two new users
	// draw its first two values.
	want := []group{{false, 1, 1, 1}, {false, 2, 1, 1}, {true, 0, 1, 100}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(group{})); diff != "" {
		t.Errorf("users' history versions (-want +got):\n%s", diff)
	}
}

// TestActionKeyMigration upgrades a database that has actions to
// migration 0015, which makes the idempotency key the actions' primary key
// and drops the index on their IDs (SQLite rebuilds the table), and checks
// that the actions, their indexes and the track's side effects (the user
// and device rows) come through.
func TestActionKeyMigration(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db, tctx, s, rest := actionsBefore(t, d.name, 15)
			var before []*vigil.Action
			for k := range 3 {
				a := newAction(fmt.Sprintf("u%d", k), "signIn", fmt.Sprintf("k%d", k), "h")
				a.Context.DeviceID = "d"
				got, created, err := s.CreateAction(tctx, a, nil)
				if err != nil || !created {
					t.Fatalf("CreateAction before the migration: %v, created %v", err, created)
				}
				before = append(before, got)
			}
			rest()
			for _, a := range before {
				got, err := s.FindAction(tctx, a.UserID, a.Code, a.IdempotencyKey)
				if err != nil {
					t.Fatalf("FindAction(%s) after the migration: %v", a.IdempotencyKey, err)
				}
				if diff := cmp.Diff(a, got); diff != "" {
					t.Errorf("action %s after the migration (-before +after):\n%s", a.IdempotencyKey, diff)
				}
			}
			// A replay still finds its action; a new track still writes
			// its user and device.
			if _, created, err := s.CreateAction(tctx, newAction("u0", "signIn", "k0", "h"), nil); err != nil || created {
				t.Errorf("replay after the migration: created %v, %v; want the existing action", created, err)
			}
			a := newAction("u-new", "signIn", "k-new", "h")
			a.Context.DeviceID = "d-new"
			if _, created, err := s.CreateAction(tctx, a, nil); err != nil || !created {
				t.Fatalf("CreateAction after the migration: %v, created %v", err, created)
			}
			if _, err := NewUserService(db).FindUserByID(tctx, "u-new"); err != nil {
				t.Errorf("the new track's user: %v", err)
			}
			var devices int
			if err := db.writePool.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_devices WHERE tenant_id = 't'`).Scan(&devices); err != nil {
				t.Fatal(err)
			}
			if devices != 4 {
				t.Errorf("%d device rows, want 4", devices)
			}

			q := `SELECT name FROM pragma_index_list('actions') ORDER BY name`
			if d.name == DialectPostgres {
				q = `SELECT indexname FROM pg_indexes WHERE tablename = 'actions' AND schemaname = current_schema() ORDER BY indexname`
			}
			rows, err := db.writePool.QueryContext(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var idx []string
			for rows.Next() {
				var n string
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				idx = append(idx, n)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{"actions_pkey", "actions_tenant_created_idx", "actions_user_created_idx"}
			if d.name == DialectSQLite {
				want = []string{"actions_tenant_created_idx", "actions_user_created_idx", "sqlite_autoindex_actions_1"}
			}
			if diff := cmp.Diff(want, idx); diff != "" {
				t.Errorf("actions' indexes after the migration (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPackedDecisionMigration upgrades a database whose actions hold their
// decisions as JSON text, as PostgreSQL stored them before migration 0016,
// and checks that they read the same afterwards, and that a decision
// stored after it is packed and reads back.
func TestPackedDecisionMigration(t *testing.T) {
	// An explanation of the size ten rules give, well past packMin.
	var out strings.Builder
	out.WriteString(`{"version":1,"traced":true,"rules":[`)
	for i := range 10 {
		if i > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(&out, `{"ruleId":"r%d","name":"r%d","priority":%d,"type":"CHALLENGE","matched":false,`+
			`"failed":[{"path":"/and/0","op":"==","args":[false,true],"value":false}]}`, i, i, i)
	}
	out.WriteString(`]}`)
	explained := json.RawMessage(out.String())
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			ctx := context.Background()
			db, tctx, s, rest := actionsBefore(t, d.name, 16)
			before, _, err := s.CreateAction(tctx, newAction("u", "signIn", "k-old", "h"), nil)
			if err != nil {
				t.Fatal(err)
			}
			before.Decision.Output = explained
			text := string(appendDecision(nil, &before.Decision))
			if _, err := db.writePool.ExecContext(ctx, db.rebind(`UPDATE actions SET decision = ?
				WHERE tenant_id = 't' AND idempotency_key = 'k-old'`), text); err != nil {
				t.Fatal(err)
			}
			rest()

			got, err := s.FindAction(tctx, "u", "signIn", "k-old")
			if err != nil {
				t.Fatalf("FindAction after the migration: %v", err)
			}
			if diff := cmp.Diff(before, got); diff != "" {
				t.Errorf("the action stored as JSON text, after the migration (-before +after):\n%s", diff)
			}

			a := newAction("u", "signIn", "k-new", "h")
			a.Decision.Output = explained
			created, _, err := s.CreateAction(tctx, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			var stored []byte
			if err := db.writePool.QueryRowContext(ctx, `SELECT decision FROM actions
				WHERE tenant_id = 't' AND idempotency_key = 'k-new'`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if len(stored) == 0 || stored[0] != packDictMarker || len(stored) >= len(text)/2 {
				t.Errorf("a decision of %d bytes of JSON was stored as %d bytes starting %#x, want packed (marker %#x)",
					len(text), len(stored), stored[:min(len(stored), 1)], packDictMarker)
			}
			got, err = s.FindAction(tctx, "u", "signIn", "k-new")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(created, got); diff != "" {
				t.Errorf("the action stored packed (-created +found):\n%s", diff)
			}
		})
	}
}

// actionsBefore opens a database of dialect migrated up to, not including,
// version, with tenant "t" (tctx) and its ActionService; rest applies the
// remaining migrations.
func actionsBefore(t *testing.T, dialect string, version int) (db *DB, tctx context.Context, s *ActionService, rest func()) {
	t.Helper()
	open := map[string]func(testing.TB, Options) *DB{DialectSQLite: rawSQLite, DialectPostgres: rawPostgres}[dialect]
	db = open(t, Options{})
	rest = migrateBefore(t, db, version)
	return db, mustTenant(t, db, "t"), NewActionService(db), rest
}

// migrateBefore applies db's migrations up to, not including, version, and
// returns a function that applies the rest.
func migrateBefore(t *testing.T, db *DB, version int) (rest func()) {
	t.Helper()
	ctx := context.Background()
	ms, err := loadMigrations(db.dialect.name)
	if err != nil {
		t.Fatal(err)
	}
	apply := func(ms []migration) {
		t.Helper()
		for _, m := range ms {
			if _, err := db.migrate(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	i := 0
	for i < len(ms) && ms[i].version < version {
		i++
	}
	if i == len(ms) || ms[i].version != version {
		t.Fatalf("no migration %04d", version)
	}
	apply(ms[:i])
	return func() { t.Helper(); apply(ms[i:]) }
}
