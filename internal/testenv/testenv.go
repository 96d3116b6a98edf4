// Package testenv decides what a test does when a component it needs
// (PostgreSQL, Chromium, Node.js packages) is absent: on a developer's bare
// machine it skips with a message naming the component; in CI, where
// VIGIL_TEST_REQUIRE_ALL=1, it fails, so that no test silently stops running.
package testenv

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create a test schema
)

// RequireAllVar is the environment variable that turns skips into failures.
const RequireAllVar = "VIGIL_TEST_REQUIRE_ALL"

// Missing reports that component is unavailable: t.Skip with why, or t.Fatal
// when RequireAllVar is "1".
func Missing(t testing.TB, component, why string) {
	t.Helper()
	if os.Getenv(RequireAllVar) == "1" {
		t.Fatalf("%s is required (%s=1) but unavailable: %s", component, RequireAllVar, why)
	}
	t.Skipf("skipping: %s unavailable: %s", component, why)
}

// PostgresURL returns VIGIL_TEST_POSTGRES_URL, or calls Missing when unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("VIGIL_TEST_POSTGRES_URL")
	if u == "" {
		Missing(t, "PostgreSQL", "set VIGIL_TEST_POSTGRES_URL to run the PostgreSQL suite")
	}
	return u
}

// PostgresSchemaURL creates a schema of its own, named after prefix, in the
// database that VIGIL_TEST_POSTGRES_URL names (calling Missing when it is
// unset) and returns a URL whose connections use it; Cleanup drops it.
func PostgresSchemaURL(t testing.TB, prefix string) string {
	t.Helper()
	base := PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
