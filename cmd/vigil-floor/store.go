package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// tableRE is what -table accepts: the name is spliced into SQL.
const tableRE = `^[a-z_][a-z0-9_]{0,62}$`

// store is one table of actions behind a group-committing writer: callers
// queue statements, a writer goroutine runs every statement queued so far
// in one transaction, commits once, and only then answers each caller. It
// is safe for concurrent use until close.
type store struct {
	dialect  string // sqlite or postgres
	table    string
	w, r     *sql.DB // writer pool (one connection on SQLite) and reader pool
	maxBatch int

	insert, setState, consume *sql.Stmt // prepared on w
	selectByKey               *sql.Stmt // prepared on r

	ops     chan *writeOp
	writers sync.WaitGroup

	commits, writes atomic.Int64 // statistics, printed on exit
}

// writeOp is one queued statement and the channel that gets its result
// after the commit.
type writeOp struct {
	stmt *sql.Stmt
	args []any
	done chan writeResult
}

// writeResult is the outcome of a writeOp: rows affected, or the error that
// failed its whole batch.
type writeResult struct {
	n   int64
	err error
}

// storeOptions configures openStore.
type storeOptions struct {
	dsn      string // sqlite:PATH or postgres://...
	table    string
	writers  int // PostgreSQL only; SQLite has one writer
	readers  int
	maxBatch int
}

// openStore opens the database, creates the table and starts the writers.
// It returns a description of the durability settings it verified.
func openStore(ctx context.Context, o storeOptions) (*store, string, error) {
	if !regexp.MustCompile(tableRE).MatchString(o.table) {
		return nil, "", fmt.Errorf("-table %q: want %s", o.table, tableRE)
	}
	s := &store{table: o.table, maxBatch: o.maxBatch}
	var (
		ddl     string
		durable string
		err     error
	)
	switch {
	case strings.HasPrefix(o.dsn, "sqlite:"):
		s.dialect = "sqlite"
		path := strings.TrimPrefix(strings.TrimPrefix(o.dsn, "sqlite:"), "//")
		if path == "" {
			return nil, "", errors.New("-db sqlite:PATH needs a path")
		}
		const common = "_pragma=busy_timeout(5000)&_pragma=synchronous(FULL)"
		if s.w, err = sql.Open("sqlite", "file:"+path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate"); err != nil {
			return nil, "", err
		}
		s.w.SetMaxOpenConns(1)
		s.w.SetMaxIdleConns(1)
		s.w.SetConnMaxLifetime(0)
		o.writers = 1
		// Create the file in WAL mode before the readers open it read-only.
		var mode string
		var syncMode int
		if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			s.w.Close()
			return nil, "", fmt.Errorf("open %s: %w", path, err)
		}
		if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
			s.w.Close()
			return nil, "", err
		}
		if mode != "wal" || syncMode != 2 {
			s.w.Close()
			return nil, "", fmt.Errorf("sqlite: journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, syncMode)
		}
		durable = "sqlite journal_mode=wal synchronous=FULL, 1 writer connection"
		if s.r, err = sql.Open("sqlite", "file:"+path+"?"+common+"&_pragma=query_only(1)"); err != nil {
			s.w.Close()
			return nil, "", err
		}
		ddl = `CREATE TABLE IF NOT EXISTS ` + o.table + ` (
			tenant_id TEXT NOT NULL, idempotency_key TEXT NOT NULL,
			user_id TEXT NOT NULL, action_code TEXT NOT NULL, state TEXT NOT NULL,
			created_at TIMESTAMP NOT NULL, state_updated_at TIMESTAMP NOT NULL, consumed_at TIMESTAMP,
			body TEXT NOT NULL,
			PRIMARY KEY (tenant_id, idempotency_key))`
	case strings.HasPrefix(o.dsn, "postgres://"), strings.HasPrefix(o.dsn, "postgresql://"):
		s.dialect = "postgres"
		cfg, err := pgx.ParseConfig(o.dsn)
		if err != nil {
			return nil, "", fmt.Errorf("-db: %w", err)
		}
		cfg.RuntimeParams["synchronous_commit"] = "on"
		s.w = stdlib.OpenDB(*cfg)
		s.w.SetMaxOpenConns(o.writers)
		s.w.SetMaxIdleConns(o.writers)
		s.r = stdlib.OpenDB(*cfg)
		var syncCommit, fsync string
		if err := s.w.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&syncCommit); err != nil {
			s.close(false)
			return nil, "", fmt.Errorf("postgres: %w", err)
		}
		if err := s.w.QueryRowContext(ctx, "SHOW fsync").Scan(&fsync); err != nil {
			s.close(false)
			return nil, "", err
		}
		if syncCommit != "on" {
			s.close(false)
			return nil, "", fmt.Errorf("postgres: synchronous_commit=%s, want on", syncCommit)
		}
		durable = fmt.Sprintf("postgres synchronous_commit=%s fsync=%s, %d writer connections", syncCommit, fsync, o.writers)
		ddl = `CREATE TABLE IF NOT EXISTS ` + o.table + ` (
			tenant_id TEXT NOT NULL, idempotency_key TEXT NOT NULL,
			user_id TEXT NOT NULL, action_code TEXT NOT NULL, state TEXT NOT NULL,
			created_at TIMESTAMPTZ NOT NULL, state_updated_at TIMESTAMPTZ NOT NULL, consumed_at TIMESTAMPTZ,
			body TEXT NOT NULL,
			PRIMARY KEY (tenant_id, idempotency_key))`
	default:
		return nil, "", fmt.Errorf("-db %q: want sqlite:PATH or postgres://...", o.dsn)
	}
	s.r.SetMaxOpenConns(o.readers)
	s.r.SetMaxIdleConns(o.readers)
	if _, err := s.w.ExecContext(ctx, ddl); err != nil {
		s.close(false)
		return nil, "", fmt.Errorf("create table: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		s.close(false)
		return nil, "", err
	}
	s.ops = make(chan *writeOp, 16*o.maxBatch)
	for range o.writers {
		s.writers.Go(s.writer)
	}
	return s, durable, nil
}

// prepare prepares the four statements the server runs.
func (s *store) prepare(ctx context.Context) error {
	q := func(query string) string {
		query = strings.ReplaceAll(query, "TABLE", s.table)
		if s.dialect == "sqlite" {
			return query
		}
		var b strings.Builder
		n := 0
		for _, c := range query {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	var err error
	prep := func(db *sql.DB, query string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.PrepareContext(ctx, q(query))
		return st
	}
	s.insert = prep(s.w, `INSERT INTO TABLE (tenant_id, idempotency_key, user_id, action_code, state, created_at, state_updated_at, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	s.setState = prep(s.w, `UPDATE TABLE SET state = ?, state_updated_at = ?
		WHERE tenant_id = ? AND idempotency_key = ? AND user_id = ? AND action_code = ?`)
	s.consume = prep(s.w, `UPDATE TABLE SET consumed_at = ?
		WHERE tenant_id = ? AND idempotency_key = ? AND state = 'CHALLENGE_SUCCEEDED' AND consumed_at IS NULL`)
	s.selectByKey = prep(s.r, `SELECT user_id, action_code, state, state_updated_at, consumed_at
		FROM TABLE WHERE tenant_id = ? AND idempotency_key = ?`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	return nil
}

// exec queues one statement for the next group commit and waits until that
// commit is done. It returns the rows the statement affected.
func (s *store) exec(ctx context.Context, stmt *sql.Stmt, args ...any) (int64, error) {
	op := &writeOp{stmt: stmt, args: args, done: make(chan writeResult, 1)}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case res := <-op.done:
		return res.n, res.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// writer takes whatever is queued, up to maxBatch statements, and commits
// it as one transaction, until the queue is closed.
func (s *store) writer() {
	batch := make([]*writeOp, 0, s.maxBatch)
	n := make([]int64, s.maxBatch)
	for op := range s.ops {
		batch = append(batch[:0], op)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case op, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, op)
			default:
				break fill
			}
		}
		err := s.commit(batch, n)
		s.commits.Add(1)
		s.writes.Add(int64(len(batch)))
		for i, op := range batch {
			op.done <- writeResult{n: n[i], err: err}
		}
	}
}

// commit runs batch in one transaction; a failing statement fails the
// batch, and nothing of it is committed.
func (s *store) commit(batch []*writeOp, n []int64) error {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := map[*sql.Stmt]*sql.Stmt{}
	for i := 0; i < len(batch); i++ {
		op := batch[i]
		if s.dialect == "postgres" && op.stmt == s.insert {
			// A round trip per row would cost more than the row: send each
			// run of consecutive inserts as one multi-row INSERT.
			j := i + 1
			for j < len(batch) && batch[j].stmt == s.insert {
				j++
			}
			if err := s.insertRows(ctx, tx, batch[i:j]); err != nil {
				return err
			}
			for k := i; k < j; k++ {
				n[k] = 1 // not known per row, and not used by track
			}
			i = j - 1
			continue
		}
		st, ok := stmts[op.stmt]
		if !ok {
			st = tx.StmtContext(ctx, op.stmt)
			stmts[op.stmt] = st
		}
		res, err := st.ExecContext(ctx, op.args...)
		if err != nil {
			return err
		}
		if n[i], err = res.RowsAffected(); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// insertRows inserts the rows of a run of insert ops with one statement
// (PostgreSQL).
func (s *store) insertRows(ctx context.Context, tx *sql.Tx, ops []*writeOp) error {
	var b strings.Builder
	b.WriteString("INSERT INTO " + s.table + " (tenant_id, idempotency_key, user_id, action_code, state, created_at, state_updated_at, body) VALUES ")
	args := make([]any, 0, 8*len(ops))
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for k := range op.args {
			if k > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "$%d", len(args)+k+1)
		}
		b.WriteByte(')')
		args = append(args, op.args...)
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// action is a row as validate reads it.
type action struct {
	userID, code, state string
	stateUpdatedAt      time.Time
	consumed            bool
}

// find reads the action with the given key; ok is false if there is none.
func (s *store) find(ctx context.Context, tenant, key string) (a action, ok bool, err error) {
	var consumed sql.NullTime
	err = s.selectByKey.QueryRowContext(ctx, tenant, key).Scan(&a.userID, &a.code, &a.state, &a.stateUpdatedAt, &consumed)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	a.consumed = consumed.Valid
	return a, err == nil, err
}

// close stops the writers once the queue is drained (no exec may be
// running or start after close), drops the table if drop is set, and
// closes the pools.
func (s *store) close(drop bool) error {
	if s.ops != nil {
		close(s.ops)
		s.writers.Wait()
	}
	var errs []error
	if drop {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := s.w.ExecContext(ctx, "DROP TABLE IF EXISTS "+s.table)
		cancel()
		errs = append(errs, err)
	}
	for _, st := range []*sql.Stmt{s.insert, s.setState, s.consume, s.selectByKey} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}
