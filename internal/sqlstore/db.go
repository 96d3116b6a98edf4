package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" driver
	"modernc.org/sqlite"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	vigil "github.com/vigil-auth/vigil"
)

// Dialect names returned by DB.Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// defaultPostgresWriters is the number of group-commit writers on
// PostgreSQL when Options.Writers is 0. With four round trips per batch
// (BEGIN, insert, advance, COMMIT), 1 and 2 writers measured the same end
// to end (vigil-bench track, 64 connections, PostgreSQL on the same 2
// cores: 4.2-4.5k and 4.0-4.3k req/s). Since most batches are one
// autocommit statement (see commitAlone), a second writer mostly splits
// batches in two, each with its own commit and statement to run: on the
// same machine (loaded by other work, interleaved runs) one-statement
// batches made 2.6-5.8k req/s with 2 writers, no better than the
// four-round-trip ones (3.3-5.8k), and 4.0-4.9k (p99 30-40 ms) with 1
// writer against 3.5-4.3k (p99 30-68 ms) for the four-round-trip ones.
// Options.Writers can raise it, e.g. to hide the latency of a remote
// server.
const defaultPostgresWriters = 1

// maxBatch caps how many queued writes one group commit takes.
const maxBatch = 256

// Options configures a DB.
type Options struct {
	// Cipher encrypts Authenticator.OTPSecret and SigningKey.Secret at rest,
	// with additional data "table|column|tenantID/rowID". Required.
	Cipher vigil.Cipher

	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// Writers is the number of concurrent group-commit writers on
	// PostgreSQL, each with its own connection; 0 means 1 (see
	// defaultPostgresWriters). SQLite always
	// has exactly one writer.
	Writers int

	// ReadConns caps the read pool (and on PostgreSQL, separately, the
	// batch readers' pool); 0 means 8 on SQLite and 16 on
	// PostgreSQL.
	ReadConns int
}

// DB is a handle to the Vigil database. It is safe for concurrent use.
type DB struct {
	writePool, read *sql.DB // SQLite: one-connection writer pool and a read pool; PostgreSQL: two pools
	dialect         *dialect
	cipher          vigil.Cipher
	logger          *slog.Logger
	now             func() time.Time
	// newKey makes the idempotency key of an action tracked without one:
	// newID, unique without a check (see actionInsert.fresh). Tests
	// replace it to make one collide.
	newKey func() string

	advanceSQL string // rebound UPDATE of action_configs.last_action_created_at

	ckpt      *checkpointer // SQLite: background WAL checkpoints; nil on PostgreSQL
	stmts     *stmtCache    // SQLite: prepared statements on the writer connection; nil on PostgreSQL (pgx caches its own)
	batchRead *sql.DB       // PostgreSQL: the batch readers' pool (generic plans); nil on SQLite
	readStmts *stmtCache    // SQLite: prepared statements on the read pool; nil on PostgreSQL

	coalesceMu       sync.Mutex              // guards coalesced and coalescedConsume
	coalesced        map[coalescedKey]string // coalesced action inserts by row count (and kind, PostgreSQL)
	coalescedConsume map[int]string          // PostgreSQL: coalesced validation consumes by row count

	queue   chan *writeOp
	writers sync.WaitGroup

	// configVersion counts committed (or possibly committed) writes to
	// action configurations through this DB; see
	// ActionConfigService.ActionConfigVersion.
	configVersion atomic.Uint64

	// histGen counts write transactions that may have changed users'
	// history (authenticators included) other than by tracks; hist caches
	// that history (SQLite only; nil on PostgreSQL, whose history cache is
	// pgHist), and enroll users' authenticators alone (both dialects;
	// checked by version on PostgreSQL), under it. See historyCache and
	// enrollCache.
	histGen atomic.Uint64
	hist    *historyCache
	enroll  *enrollCache

	// enrollReads batches those reads on PostgreSQL, actionReads
	// FindAction and actionStateReads FindActionState (nil on SQLite,
	// whose reads are in-process).
	enrollReads      *batchReader[enrollKey, enrollRead]
	actionReads      *batchReader[actionRef, *rawAction]
	actionStateReads *batchReader[actionRef, *rawAction]
	riskReads        *riskReaders // the risk state reads of tracks with rules (PostgreSQL)

	// pgHist caches users' history on PostgreSQL, checked by version
	// through histReads (see pghistory.go).
	pgHist *historyCache
	// devicesSkipped counts the device upserts coalesced inserts left out
	// (actionInsert.devSeen).
	devicesSkipped atomic.Uint64
	histReads      *batchReader[histKey, *histRow]

	stats *statsKeeper // PostgreSQL; else nil

	closeMu sync.RWMutex // guards closed; held for reading while enqueueing
	closed  bool
}

// dialect holds the few differences between SQLite and PostgreSQL.
type dialect struct {
	name string
	// rebind turns "?" placeholders into the dialect's.
	rebind func(query string) string
	// savepoints says whether a group commit isolates each op in a
	// savepoint (SQLite, where they cost nothing) or runs the batch
	// optimistically and replays it op by op on failure (PostgreSQL).
	savepoints bool
	// codesIn matches action_code against a JSON array of codes bound to
	// one placeholder.
	codesIn string
	// isUniqueViolation reports a unique or primary key violation from the
	// driver's error code.
	isUniqueViolation func(error) bool
}

func newSQLiteDialect() *dialect {
	return &dialect{
		name:       DialectSQLite,
		rebind:     func(q string) string { return q },
		savepoints: true,
		codesIn:    "action_code IN (SELECT value FROM json_each(?))",
		isUniqueViolation: func(err error) bool {
			var e *sqlite.Error
			if errors.As(err, &e) {
				// SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
				return e.Code() == 2067 || e.Code() == 1555
			}
			return false
		},
	}
}

func newPostgresDialect() *dialect {
	return &dialect{
		name:       DialectPostgres,
		rebind:     rebindDollar,
		savepoints: false,
		codesIn:    "action_code IN (SELECT json_array_elements_text(CAST(? AS json)))",
		isUniqueViolation: func(err error) bool {
			var e *pgconn.PgError
			return errors.As(err, &e) && e.Code == "23505"
		},
	}
}

// rebindDollar replaces each "?" with $1, $2, ... The shared SQL has no "?"
// inside literals.
func rebindDollar(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Open connects to the database at url: "postgres://..." or
// "postgresql://..." selects PostgreSQL; "sqlite://PATH", "sqlite:PATH" or
// a plain file path selects SQLite, creating the parent directory. It does
// not migrate; call Migrate.
//
// SQLite connections use:
//   - journal_mode(WAL), so readers never block the writer;
//   - synchronous(FULL), so a commit survives power loss (durability is not
//     traded for speed; group commit buys the throughput);
//   - foreign_keys(1);
//   - busy_timeout(5000);
//   - a single-connection writer pool with _txlock=immediate (BEGIN
//     IMMEDIATE: no lock upgrades, no SQLITE_BUSY between writers) and a
//     separate read pool with query_only(1);
//   - temp_store(MEMORY) on the writer, whose group commit runs each op in
//     a savepoint: the savepoint journal (the pages an op changes, as they
//     were) stays in memory instead of going to a temporary file with a
//     write per page;
//   - wal_autocheckpoint(0) on the writer, whose commits therefore never
//     checkpoint: a background goroutine does, on a connection of its
//     own, and the writer completes a checkpoint between batches only when
//     the WAL has passed its bound (see checkpoint.go; the WAL file stays
//     at about 64 MiB, 256 MiB at most).
//
// PostgreSQL keeps the server's synchronous_commit (on by default); it is
// never turned off here.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	if opts.Cipher == nil {
		return nil, errors.New("sqlstore: Options.Cipher is required")
	}
	db := &DB{
		cipher: opts.Cipher,
		logger: opts.Logger,
		now:    opts.Now,
		queue:  make(chan *writeOp, 4*maxBatch),

		newKey: newID,

		coalesced:        make(map[coalescedKey]string),
		coalescedConsume: make(map[int]string),
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	if db.now == nil {
		db.now = time.Now
	}
	var writers int
	var err error
	if strings.HasPrefix(rawURL, "postgres://") || strings.HasPrefix(rawURL, "postgresql://") {
		writers = opts.Writers
		if writers <= 0 {
			writers = defaultPostgresWriters
		}
		err = db.openPostgres(ctx, rawURL, writers, opts.ReadConns)
	} else {
		writers = 1
		err = db.openSQLite(ctx, rawURL, opts.ReadConns)
	}
	if err != nil {
		return nil, err
	}
	db.advanceSQL = db.rebind(`UPDATE action_configs SET last_action_created_at = ?
		WHERE tenant_id = ? AND action_code = ?
		AND (last_action_created_at IS NULL OR last_action_created_at < ?)`)
	for i := 0; i < writers; i++ {
		db.writers.Add(1)
		go db.runWriter()
	}
	if db.dialect.name == DialectPostgres {
		db.enrollReads, db.riskReads = newEnrollReader(db), newRiskReaders(db)
		db.enroll = newEnrollCache()
		db.actionReads = newActionReader(db, actionCols, (*rawAction).scan)
		db.actionStateReads = newActionReader(db, actionStateCols, (*rawAction).scanState)
		db.pgHist, db.histReads = newHistoryCache(), newHistReader(db)
		db.stats = db.startStatsKeeper(ctx)
	}
	return db, nil
}

func sqlitePath(rawURL string) string {
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		return strings.TrimPrefix(rawURL, "sqlite://")
	case strings.HasPrefix(rawURL, "sqlite:"):
		return strings.TrimPrefix(rawURL, "sqlite:")
	}
	return rawURL
}

func (db *DB) openSQLite(ctx context.Context, rawURL string, readConns int) error {
	path := sqlitePath(rawURL)
	if path == "" || strings.ContainsRune(path, '?') {
		return fmt.Errorf("sqlstore: invalid SQLite path %q", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create database directory: %w", err)
		}
	}
	common := "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	write, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("open sqlite writer: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// The writer connection sets journal_mode=WAL (persistent in the file)
	// before any reader opens.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return fmt.Errorf("open sqlite writer: %w", err)
	}
	read, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return fmt.Errorf("open sqlite reader: %w", err)
	}
	ckpt, err := sql.Open("sqlite", path+"?"+common)
	if err != nil {
		write.Close()
		read.Close()
		return fmt.Errorf("open sqlite checkpointer: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	ckpt.SetMaxIdleConns(1)
	ckpt.SetConnMaxLifetime(0)
	ckpt.SetConnMaxIdleTime(0)
	if readConns <= 0 {
		readConns = 8
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	read.SetConnMaxIdleTime(0)
	read.SetConnMaxLifetime(0)
	db.writePool, db.read, db.dialect = write, read, newSQLiteDialect()
	db.stmts = newStmtCache(write)
	db.readStmts = newStmtCache(read)
	db.ckpt = newCheckpointer(ckpt)
	db.enroll = newEnrollCache()
	db.hist = newHistoryCache()
	return nil
}

func (db *DB) openPostgres(ctx context.Context, rawURL string, writers, readConns int) error {
	write, err := sql.Open("pgx", rawURL)
	if err != nil {
		return fmt.Errorf("open postgres: %w", err)
	}
	write.SetMaxOpenConns(writers)
	write.SetMaxIdleConns(writers)
	write.SetConnMaxIdleTime(0)
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		return fmt.Errorf("open postgres: %w", err)
	}
	read, err := sql.Open("pgx", rawURL)
	if err != nil {
		write.Close()
		return fmt.Errorf("open postgres: %w", err)
	}
	if readConns <= 0 {
		readConns = 16
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	read.SetConnMaxIdleTime(5 * time.Minute)
	// The batch readers' statements take their keys as arrays. With the
	// arrays' contents known, PostgreSQL's default (plan_cache_mode auto)
	// finds a custom plan cheaper than the generic one at every batch size
	// under ten, the default estimate of an array's length, and plans again
	// on every execution: measured, 45 µs of planning a statement, more
	// than its 22 µs of execution, about 6 µs of PostgreSQL's CPU a track.
	// The plan is the same index probes whatever the keys.
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		write.Close()
		read.Close()
		return fmt.Errorf("open postgres: %w", err)
	}
	cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	batch := stdlib.OpenDB(*cfg)
	batch.SetMaxOpenConns(readConns)
	batch.SetMaxIdleConns(readConns)
	batch.SetConnMaxIdleTime(5 * time.Minute)
	db.writePool, db.read, db.batchRead, db.dialect = write, read, batch, newPostgresDialect()
	return nil
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.name }

// Ping checks that both pools reach the database, for a readiness probe.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	// Do not ping the SQLite writer: its only connection is busy with group
	// commits and a ping would queue behind them.
	if db.dialect.name == DialectPostgres {
		if err := db.writePool.PingContext(ctx); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
	}
	return nil
}

// Close stops accepting writes (they fail with EUNAVAILABLE), waits until
// every queued write has committed or failed, then closes the pools.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return nil
	}
	db.closed = true
	close(db.queue)
	db.closeMu.Unlock()
	db.writers.Wait()

	var errs []error
	if db.enrollReads != nil {
		db.enrollReads.close()
		db.actionReads.close()
		db.actionStateReads.close()
		db.riskReads.close()
		db.histReads.close()
	}
	if db.stats != nil {
		db.stats.close()
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.stmts != nil {
		errs = append(errs, db.stmts.close(), db.readStmts.close())
	}
	errs = append(errs, db.read.Close(), db.writePool.Close())
	if db.batchRead != nil {
		errs = append(errs, db.batchRead.Close())
	}
	return errors.Join(errs...)
}

// stmtCache keeps one prepared statement per query on a pool. On the SQLite
// writer pool, whose single connection makes each a reuse rather than a
// re-prepare, statements are prepared only between transactions (the
// connection is busy during one): lookup reports a miss and remembers the
// query, and preparePending prepares it once the transaction is over.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex // guards m and pending
	m       map[string]*sql.Stmt
	pending map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt), pending: make(map[string]bool)}
}

// get returns the prepared statement for q, preparing it on the pool if
// needed. Not for use while holding the pool's only connection.
func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.m[q]; ok {
		return s, nil
	}
	s, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.m[q] = s
	return s, nil
}

// lookup returns the prepared statement for q, or nil after noting q for
// preparePending.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[q]
	if !ok {
		c.pending[q] = true
	}
	return s
}

// preparePending prepares the queries lookup missed. A query that fails to
// prepare is dropped; the uncached path reports its error.
func (c *stmtCache) preparePending(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q := range c.pending {
		delete(c.pending, q)
		if s, err := c.db.PrepareContext(ctx, q); err == nil {
			c.m[q] = s
		}
	}
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, s := range c.m {
		errs = append(errs, s.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// readRow runs a one-row query, already rebound, on the read pool.
func (db *DB) readRow(ctx context.Context, q string, args ...any) *sql.Row {
	if db.readStmts != nil {
		if s, err := db.readStmts.get(ctx, q); err == nil {
			return s.QueryRowContext(uncancelable(ctx), args...)
		}
	}
	return db.read.QueryRowContext(ctx, q, args...)
}

// readRows runs a query, already rebound, on the read pool.
func (db *DB) readRows(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if db.readStmts != nil {
		if s, err := db.readStmts.get(ctx, q); err == nil {
			return s.QueryContext(uncancelable(ctx), args...)
		}
	}
	return db.read.QueryContext(ctx, q, args...)
}

// uncancelable returns ctx without its cancellation for a SQLite read. For
// a statement whose context can be canceled, modernc.org/sqlite starts a
// goroutine that would interrupt it and installs a progress handler: a
// measurable share of a point lookup's CPU time, to cancel a statement that
// takes microseconds. A context already canceled is kept, so that a
// canceled request does not start a read; one canceled later waits for a
// read connection and its statement, both short.
func uncancelable(ctx context.Context) context.Context {
	if ctx.Err() != nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// rowScanner is what the scan functions read a row from: a *sql.Row or
// *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// rebind adapts a query to the dialect; services call it once, at
// construction.
func (db *DB) rebind(q string) string { return db.dialect.rebind(q) }

// mapErr turns driver errors into domain errors: no rows becomes
// ENOTFOUND with notFound as the message, a unique violation ECONFLICT with
// conflict as the message; anything else is wrapped with op.
func (db *DB) mapErr(op string, err error, notFound, conflict string) error {
	var verr *vigil.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr):
		return err
	case errors.Is(err, sql.ErrNoRows) && notFound != "":
		return vigil.Errorf(vigil.ENOTFOUND, "%s", notFound)
	case db.dialect.isUniqueViolation(err) && conflict != "":
		return vigil.Errorf(vigil.ECONFLICT, "%s", conflict)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// noRows maps sql.ErrNoRows to ENOTFOUND with msg, marked clean (a
// statement that found nothing leaves the transaction usable), and wraps
// any other error with op.
func noRows(op string, err error, msg string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return clean(vigil.Errorf(vigil.ENOTFOUND, "%s", msg))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Time encoding: int64 Unix microseconds, NULL for the zero time.

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// aad returns the additional data that binds a sealed secret to its row.
func aad(table, column, tenantID, id string) []byte {
	return []byte(table + "|" + column + "|" + tenantID + "/" + id)
}
