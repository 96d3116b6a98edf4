package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrations holds migrations/sqlite/NNNN_name.sql and
// migrations/postgres/NNNN_name.sql, with identical file names in both.
//
//go:embed migrations
var migrations embed.FS

// migrationLockID is the pg_advisory_xact_lock key that serializes
// migrations across processes ("vigil" in ASCII).
const migrationLockID = 0x76_69_67_69_6c

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the dialect's migrations in version order.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		b, err := fs.ReadFile(migrations, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// Migrate applies the migrations not yet recorded in schema_migrations, in
// order, each in its own transaction, and returns how many it applied. It is
// idempotent. On PostgreSQL each transaction first takes an advisory lock,
// so two processes starting at once apply each migration once; on SQLite
// BEGIN IMMEDIATE does the same.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	ms, err := loadMigrations(db.dialect.name)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, m := range ms {
		done, err := db.migrate(ctx, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied++
			db.logger.Info("sqlstore: applied migration", "name", m.name)
		}
	}
	return applied, nil
}

// migrate applies m unless it is recorded, in one transaction.
func (db *DB) migrate(ctx context.Context, m migration) (bool, error) {
	tx, err := db.writePool.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate %s: begin: %w", m.name, err)
	}
	defer tx.Rollback()
	if db.dialect.name == DialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockID)); err != nil {
			return false, fmt.Errorf("migrate %s: lock: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT NOT NULL PRIMARY KEY,
		name       TEXT   NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return false, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var one int
	err = tx.QueryRowContext(ctx, db.rebind(`SELECT 1 FROM schema_migrations WHERE version = ?`), m.version).Scan(&one)
	if err == nil {
		return false, nil
	} else if err != sql.ErrNoRows {
		return false, fmt.Errorf("migrate %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.version, m.name, micros(db.now())); err != nil {
		return false, fmt.Errorf("migrate %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate %s: commit: %w", m.name, err)
	}
	return true, nil
}
