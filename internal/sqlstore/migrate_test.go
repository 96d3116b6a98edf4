package sqlstore

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHistoryVersionMigrationNoRewrite upgrades a PostgreSQL database that
// already has users to migration 0014 and checks that users kept its file
// (no rewrite under the exclusive lock, which a volatile default would
// force), that the rows there share base 0 at version 1, and that users
// created afterwards draw distinct bases from the sequence.
func TestHistoryVersionMigrationNoRewrite(t *testing.T) {
	ctx := context.Background()
	db := rawPostgres(t, Options{}) // skips, or fails under VIGIL_TEST_REQUIRE_ALL, without PostgreSQL
	ms, err := loadMigrations(DialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	const version = 14
	i := 0
	for ; i < len(ms) && ms[i].version < version; i++ {
		if _, err := db.migrate(ctx, ms[i]); err != nil {
			t.Fatal(err)
		}
	}
	if i == len(ms) || ms[i].version != version {
		t.Fatalf("no migration %04d", version)
	}
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
	for ; i < len(ms); i++ {
		if _, err := db.migrate(ctx, ms[i]); err != nil {
			t.Fatal(err)
		}
	}
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
