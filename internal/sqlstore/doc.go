// Package sqlstore implements every service interface of package vigil on
// database/sql, for SQLite (modernc.org/sqlite, pure Go) and PostgreSQL
// (pgx). The SQL is written once with "?" placeholders and rebound for
// PostgreSQL when a service is constructed; the few statements that differ
// live in the dialect value.
//
// Every public method is one transaction or one read statement, and every
// method of a tenant-scoped service takes the tenant from the context with
// vigil.RequireTenant, failing closed with EUNAUTHORIZED when there is none.
//
// Writes are group-committed: each write method hands its transaction body
// to a writer goroutine that runs whatever writes are queued in one
// database transaction and commits once, and each caller gets its own result
// only after that commit is durable. Each write still succeeds or fails on
// its own (see DB.write). On PostgreSQL a batch's plain action inserts, and
// its validation consumes, are each one statement sent without BEGIN and
// COMMIT, which the server runs and commits as a transaction of its own:
// one round trip instead of four (see DB.commitAlone). Reads go straight to a read pool. Nothing here is
// safe to call while holding a Tx: a Tx never leaves the package.
package sqlstore
