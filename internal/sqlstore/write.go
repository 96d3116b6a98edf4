package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	vigil "github.com/vigil-auth/vigil"
)

// Tx is the write transaction of one group commit, as seen by one op. It
// carries the op's timestamp. A Tx never leaves the package and must not be
// used after the op returns.
type Tx struct {
	tx    *sql.Tx
	db    *DB
	ctx   context.Context
	now   time.Time
	stmts map[*sql.Stmt]*sql.Stmt // SQLite: the transaction's copies of cached statements

	// preInserted, when not nil, holds the IDs of the actions that
	// preInsertActions inserted for this batch, each with its user's
	// history version after the insert; an op with ins set then skips its
	// own insert.
	preInserted map[string]histVer

	// preConsumed, when not nil, holds the actions that preConsumeActions
	// found for this batch, consumed or not; an op with cons set then takes
	// its result from there instead of running its own statements.
	preConsumed map[actionRef]*consumeResult

	// advances are the action configuration timestamps the running op wants
	// advanced; the writer applies them once per batch, in key order, right
	// before the commit (see applyAdvances).
	advances []configAdvance

	// configChanged is set by an op that writes an action configuration
	// (other than its last-action time); the writer then bumps
	// DB.configVersion once the transaction has ended.
	configChanged bool

	// histMayChange is set when an op not marked keepsHistory ran in the
	// transaction; end then advances DB.histGen (see historyCache and
	// enrollCache).
	histMayChange bool
}

// configAdvance asks for action_configs.last_action_created_at of one
// configuration to become at least at.
type configAdvance struct {
	tenantID, code string
	at             int64
}

// stmt returns the transaction's copy of the cached statement for q, or
// nil when q is not prepared yet (SQLite only).
func (t *Tx) stmt(q string) *sql.Stmt {
	if t.db.stmts == nil {
		return nil
	}
	s := t.db.stmts.lookup(q)
	if s == nil {
		return nil
	}
	if ts, ok := t.stmts[s]; ok {
		return ts
	}
	ts := t.tx.StmtContext(t.ctx, s)
	t.stmts[s] = ts
	return ts
}

// exec runs a statement already rebound for the dialect.
func (t *Tx) exec(q string, args ...any) (sql.Result, error) {
	if s := t.stmt(q); s != nil {
		return s.ExecContext(t.ctx, args...)
	}
	return t.tx.ExecContext(t.ctx, q, args...)
}

// query runs a query already rebound for the dialect.
func (t *Tx) query(q string, args ...any) (*sql.Rows, error) {
	if s := t.stmt(q); s != nil {
		return s.QueryContext(t.ctx, args...)
	}
	return t.tx.QueryContext(t.ctx, q, args...)
}

// queryRow runs a one-row query already rebound for the dialect.
func (t *Tx) queryRow(q string, args ...any) *sql.Row {
	if s := t.stmt(q); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

// changedConfig records that the running op writes an action
// configuration, so that caches keyed on ActionConfigVersion drop it.
func (t *Tx) changedConfig() { t.configChanged = true }

// end bumps the configuration version after a commit or rollback of a
// transaction in which an op wrote a configuration: bumping after a
// rollback too is harmless (a cache reloads), and it keeps the bump after
// the commit in every path.
//
// Likewise it advances the history generation after a transaction that ran
// an op not known to leave users' history (authenticators included) alone:
// after the commit and before any op is answered, so that a caller told its
// enrollment committed never meets a cached "not enrolled" afterwards.
func (t *Tx) end() {
	if t.configChanged {
		t.db.configVersion.Add(1)
	}
	if t.histMayChange {
		t.db.histGen.Add(1)
	}
}

// advanceConfig asks for the configuration's last_action_created_at to
// become at least at, if the configuration exists, when the op commits.
func (t *Tx) advanceConfig(tenantID, code string, at time.Time) {
	t.advances = append(t.advances, configAdvance{tenantID, code, micros(at)})
}

// writeOp is one queued write.
type writeOp struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error // buffered: the writer never blocks on a caller

	// ins, when set, is the action row fn inserts first. On PostgreSQL the
	// writer inserts the rows of every such op of a batch in one statement
	// before running the ops (see preInsertActions), and fn learns from
	// Tx.preInserted whether its row went in.
	ins *actionInsert

	// cons, when set, is the action fn consumes first; likewise the writer
	// consumes those of a PostgreSQL batch in one statement (see
	// preConsumeActions) and fn claims its row from Tx.preConsumed.
	cons *actionRef

	// claim, when set with cons, sets the op's outputs from what the
	// writer's consume found for cons, as fn does from Tx.preConsumed; the
	// writer then consumes in a statement of its own (commitAlone) and calls claim
	// instead of running fn.
	claim func(a *vigil.Action, consumed, found bool) error

	// group, when set, commits the op on PostgreSQL in a self-committing
	// statement shared with the batch's other ops of the same group (see
	// commitAlone); data is the op's part of that statement. fn runs only
	// on SQLite, or when the group falls back to a transaction per op.
	group opGroup
	data  any

	// keepsHistory says that fn changes no user's history as the risk state
	// reads it, authenticators included (a validation's consume), or only as
	// track says (a track's insert), so its transaction leaves cached
	// history and enrollment valid (see historyCache and enrollCache).
	keepsHistory bool
	// track, for a track's insert, is what it adds to its user's history.
	track *trackNote

	// ownTx, on PostgreSQL, runs the op in a transaction of its own after
	// the batch's, instead of in the batch's with the others.
	ownTx bool

	// user, when set, is the one user whose rows fn writes. On PostgreSQL
	// the batch's transaction runs such ops in user order (see
	// orderByUser).
	user enrollKey
}

// opGroup commits, on PostgreSQL, the ops of a batch that name it, in
// queue order, outside any transaction, and answers every one of them
// (when a statement fails, by running its ops through commitSingle). The
// writer calls it with no transaction open.
type opGroup interface {
	commitGroup(ops []*writeOp)
}

// statementGroup is the opGroup of a kind of op (a challenge send, a code
// check, an action state update) whose batch commits in self-committing
// statements: one round trip and one commit for many ops, instead of a
// transaction (BEGIN, the op's statements, COMMIT) through the writer. Ops
// that share a key (keys) must see each other's writes, as they would in
// the batch's transaction: they go in successive statements, in queue
// order; in the common case a batch is one statement.
type statementGroup struct {
	db     *DB
	what   string // for the log
	keys   func(op *writeOp) []string
	commit func(ops []*writeOp) error // answers every op, or returns an error and none
}

// commitGroup implements opGroup. When a statement fails on the server
// (it rolled back: a constraint, a deadlock), its ops run one by one in
// transactions of their own, so that each gets its own result; any other
// error (the connection broke) leaves the outcome unknown and is every
// op's answer, as a failed COMMIT is.
func (g *statementGroup) commitGroup(ops []*writeOp) {
	for _, part := range splitByKeys(ops, g.keys) {
		err := g.commit(part)
		switch {
		case err == nil:
		case isServerError(err):
			g.db.logger.Debug("sqlstore: "+g.what+" statement failed", "err", err)
			for _, op := range part {
				g.db.commitSingle(op)
			}
		default:
			failAll(part, nil, err)
		}
	}
}

// cleanError marks an op's error as returned before the op changed
// anything, so that the batch it ran in needs no rollback.
type cleanError struct{ err error }

func (e *cleanError) Error() string { return e.err.Error() }
func (e *cleanError) Unwrap() error { return e.err }

// clean marks err as returned by an op that wrote nothing and whose
// statements all succeeded.
func clean(err error) error { return &cleanError{err} }

func unclean(err error) error {
	var c *cleanError
	if errors.As(err, &c) {
		return c.err
	}
	return err
}

// write runs fn in a group-committed write transaction and returns its
// result once that transaction has committed durably (or failed).
//
// fn may run more than once (PostgreSQL replays a failed batch op by op),
// so it must set its outputs from scratch each time, and must not touch
// anything but its own locals: the caller reads them only after write
// returns nil. fn's changes are atomic on their own: if fn returns an
// error, none of them persist, whatever the other ops of the batch do.
func (db *DB) write(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, &writeOp{fn: fn})
}

// writeUser is write for an fn that writes the rows of one user only
// (and rows of no other user's): on PostgreSQL its batch's transaction runs
// it in user order (see orderByUser).
func (db *DB) writeUser(ctx context.Context, tenantID, userID string, fn func(*Tx) error) error {
	return db.run(ctx, &writeOp{fn: fn, user: enrollKey{tenantID, userID}})
}

// run queues a prepared op and waits for its result; see write.
func (db *DB) run(ctx context.Context, op *writeOp) error {
	if _, err := db.enqueueOp(ctx, op); err != nil {
		return err
	}
	return op.wait(ctx)
}

// enqueue queues fn for the next group commit without waiting for it; see
// write.
func (db *DB) enqueue(ctx context.Context, fn func(*Tx) error) (*writeOp, error) {
	return db.enqueueOp(ctx, &writeOp{fn: fn})
}

// enqueueOp queues a prepared op; see write.
func (db *DB) enqueueOp(ctx context.Context, op *writeOp) (*writeOp, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	op.ctx, op.done = ctx, make(chan error, 1)
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return nil, vigil.Errorf(vigil.EUNAVAILABLE, "The database is closed.")
	}
	db.queue <- op
	return op, nil
}

// wait returns op's result once its transaction has committed or failed.
func (op *writeOp) wait(ctx context.Context) error {
	select {
	case err := <-op.done:
		return unclean(err)
	case <-ctx.Done():
		// The op may still commit; the caller was not told it did.
		return ctx.Err()
	}
}

// runWriter takes the first queued op plus whatever else is queued, up to
// maxBatch, and commits them together; it returns when the queue is closed
// and drained. Batches form while the previous commit is in flight: there is
// no waiting for more ops.
func (db *DB) runWriter() {
	defer db.writers.Done()
	batch := make([]*writeOp, 0, maxBatch)
	for op := range db.queue {
		batch = append(batch[:0], op)
	fill:
		for len(batch) < maxBatch {
			select {
			case op, ok := <-db.queue:
				if !ok {
					break fill
				}
				batch = append(batch, op)
			default:
				break fill
			}
		}
		db.commitBatch(batch)
		clear(batch)
		if db.stmts != nil {
			db.stmts.preparePending(context.Background())
		}
		if db.ckpt != nil {
			db.ckpt.afterCommit(db.writePool)
		}
	}
}

func (db *DB) commitBatch(batch []*writeOp) {
	live := batch[:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- err
			continue
		}
		live = append(live, op)
	}
	var own []*writeOp
	if len(live) > 0 && db.dialect.name == DialectPostgres {
		live = db.commitAlone(live)
		rest := live[:0]
		for _, op := range live {
			if op.ownTx {
				own = append(own, op)
			} else {
				rest = append(rest, op)
			}
		}
		live = rest
	}
	switch {
	case len(live) == 0:
	case db.dialect.savepoints:
		db.commitSavepoints(live)
	case len(live) == 1:
		db.commitSingle(live[0])
	default:
		db.commitOptimistic(live)
	}
	for _, op := range own {
		db.commitSingle(op)
	}
}

// commitAlone commits, on PostgreSQL, the ops of the batch that need no
// transaction of their own, and returns the others, to run as before.
//
// Those are the plain CreateActions (no new configuration), the
// ConsumeValidations and the ops of an opGroup (challenges: see
// ChallengeService). All of a batch's plain CreateActions are one
// statement (insertActions with advance: rows, users, last-action times)
// and all its ConsumeValidations another, each sent alone, outside any
// BEGIN: PostgreSQL runs such a statement as its own transaction and
// commits it before answering (with synchronous_commit on, durably). That
// is one round trip per batch instead of four (BEGIN, insert, advance,
// COMMIT) or three, and three fewer statements for the server to run.
//
// A statement is atomic: if it fails, none of its rows persist. When the
// server reports the failure (a *pgconn.PgError: a constraint, a deadlock,
// a failed commit) the statement's transaction is known to be rolled back,
// and its ops are returned to run through the transactional path, which
// replays them op by op if need be, so that each gets its own result. Any
// other error (the connection broke) leaves the outcome unknown, as a
// failed COMMIT does, and is every op's answer. A CreateAction whose key
// was taken wrote nothing either and is returned too: the transactional
// path finds the existing action.
func (db *DB) commitAlone(ops []*writeOp) []*writeOp {
	var ins []*actionInsert
	var insOps, consOps []*writeOp
	var refs []*actionRef
	var groups []opGroup
	var grouped map[opGroup][]*writeOp
	rest := ops[:0:0]
	for _, op := range ops {
		switch {
		case op.group != nil:
			if grouped == nil {
				grouped = make(map[opGroup][]*writeOp)
			}
			if grouped[op.group] == nil {
				groups = append(groups, op.group)
			}
			grouped[op.group] = append(grouped[op.group], op)
		case op.ins != nil && op.ins.finish != nil:
			insOps = append(insOps, op)
			ins = append(ins, op.ins)
		case op.cons != nil && op.claim != nil:
			consOps = append(consOps, op)
			refs = append(refs, op.cons)
		default:
			rest = append(rest, op)
		}
	}
	ctx := context.Background()
	if len(insOps) > 0 {
		inserted, err := db.insertActionsDirect(ctx, ins)
		switch {
		case err == nil:
			for _, op := range insOps {
				if _, ok := inserted[op.ins.id]; ok {
					op.ins.finish()
				}
			}
			db.pgHist.applyVersioned(insOps, inserted)
			for _, op := range insOps {
				if _, ok := inserted[op.ins.id]; !ok {
					rest = append(rest, op)
					continue
				}
				op.done <- nil
			}
		case isServerError(err):
			db.logger.Debug("sqlstore: action insert alone failed", "err", err)
			rest = append(rest, insOps...)
		default:
			failAll(insOps, nil, err)
		}
	}
	if len(consOps) > 0 {
		found, err := db.consumeActions(ctx, db.writePool, refs)
		switch {
		case err == nil:
			for _, op := range consOps {
				op.done <- op.claim(claimConsumed(found, op.cons))
			}
		case isServerError(err):
			db.logger.Debug("sqlstore: validation consume alone failed", "err", err)
			rest = append(rest, consOps...)
		default:
			failAll(consOps, nil, err)
		}
	}
	for _, g := range groups {
		g.commitGroup(grouped[g])
	}
	return rest
}

// isServerError reports whether PostgreSQL answered err, so that the
// statement that got it is known to have been rolled back.
func isServerError(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e)
}

func (db *DB) begin() (*Tx, error) {
	ctx := context.Background()
	tx, err := db.writePool.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	t := &Tx{tx: tx, db: db, ctx: ctx}
	if db.stmts != nil {
		t.stmts = make(map[*sql.Stmt]*sql.Stmt)
	}
	return t, nil
}

// runOp runs one op in t, with a fresh timestamp and advance list.
func (t *Tx) runOp(op *writeOp) error {
	if !op.keepsHistory {
		t.histMayChange = true
	}
	t.now = t.db.now()
	t.advances = t.advances[:0]
	return op.fn(t)
}

// commitSavepoints runs the batch in one transaction, each op inside its own
// savepoint (SQLite: in-process, so nearly free).
func (db *DB) commitSavepoints(ops []*writeOp) {
	results := make([]error, len(ops))
	if db.hist != nil {
		db.hist.enter(ops)
	}
	committed := false
	leave := func() {
		if db.hist != nil {
			db.hist.leave(ops, results, committed, db.histGen.Load())
		}
	}
	t, err := db.begin()
	if err != nil {
		leave()
		failAll(ops, nil, err)
		return
	}
	var adv []configAdvance
	abort := func(err error) {
		t.tx.Rollback()
		t.end()
		leave()
		failAll(ops, nil, err)
	}
	pre := t.preInsertSQLite(ops)
	for i, op := range ops {
		// An op the coalesced insert took sees its outcome (t.preInserted);
		// any other inserts its own row.
		t.preInserted = nil
		if pre != nil && preInsertable(op) {
			t.preInserted = pre
			if _, ok := pre[op.ins.id]; ok {
				// Its row is in, and it writes nothing else: its fn runs
				// no statement (see CreateAction), so needs no savepoint.
				if results[i] = t.runOp(op); results[i] == nil {
					adv = append(adv, t.advances...)
				}
				continue
			}
		}
		if _, err := t.exec("SAVEPOINT op"); err != nil {
			abort(fmt.Errorf("savepoint: %w", err))
			return
		}
		err := t.runOp(op)
		if err != nil {
			if _, rerr := t.exec("ROLLBACK TO op"); rerr != nil {
				abort(fmt.Errorf("rollback to savepoint: %w (after %w)", rerr, err))
				return
			}
		} else {
			adv = append(adv, t.advances...)
		}
		if _, rerr := t.exec("RELEASE op"); rerr != nil {
			abort(fmt.Errorf("release savepoint: %w", rerr))
			return
		}
		results[i] = err
	}
	if err := t.applyAdvances(adv); err != nil {
		abort(err)
		return
	}
	err = t.tx.Commit()
	t.end()
	committed = err == nil
	leave()
	if err != nil {
		failAll(ops, results, fmt.Errorf("commit: %w", err))
		return
	}
	for i, op := range ops {
		op.done <- results[i]
	}
}

// commitOptimistic runs the batch in one transaction without savepoints
// (PostgreSQL: each would cost a round trip). If any op fails, other than
// with a clean error, the batch is rolled back and every op is re-run in
// its own transaction, so each gets its own result.
func (db *DB) commitOptimistic(ops []*writeOp) {
	if db.dialect.name == DialectPostgres {
		orderByUser(ops)
	}
	results := make([]error, len(ops))
	t, err := db.begin()
	if err != nil {
		failAll(ops, nil, err)
		return
	}
	var adv []configAdvance
	replay := false
	if err := t.preInsertActions(ops); err != nil {
		db.logger.Debug("sqlstore: coalesced action insert failed", "err", err)
		replay = true
	} else if err := t.preConsumeActions(ops); err != nil {
		db.logger.Debug("sqlstore: coalesced validation consume failed", "err", err)
		replay = true
	}
	for i, op := range ops {
		if replay {
			break
		}
		err := t.runOp(op)
		var c *cleanError
		if err != nil && !errors.As(err, &c) {
			replay = true
			break
		}
		results[i] = err
		if err == nil {
			adv = append(adv, t.advances...)
		}
	}
	if !replay {
		if err := t.applyAdvances(adv); err != nil {
			replay = true
		}
	}
	if replay {
		t.tx.Rollback()
		t.end()
		db.logger.Debug("sqlstore: group commit replayed op by op", "ops", len(ops))
		for _, op := range ops {
			db.commitSingle(op)
		}
		return
	}
	err = t.tx.Commit()
	t.end()
	if err != nil {
		failAll(ops, results, fmt.Errorf("commit: %w", err))
		return
	}
	if t.preInserted != nil {
		// The tracks whose rows went in are the ops of a committed
		// statement: their entries can take them.
		var tracks []*writeOp
		for i, op := range ops {
			if op.ins != nil && op.track != nil && results[i] == nil && op.track.created != 0 {
				tracks = append(tracks, op)
			}
		}
		db.pgHist.applyVersioned(tracks, t.preInserted)
	}
	for i, op := range ops {
		op.done <- results[i]
	}
}

// commitSingle runs one op in its own transaction, retrying a few times
// when PostgreSQL reports a deadlock or serialization failure.
func (db *DB) commitSingle(op *writeOp) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = db.tryCommitSingle(op)
		if !isRetryable(err) {
			break
		}
	}
	op.done <- err
}

func (db *DB) tryCommitSingle(op *writeOp) error {
	t, err := db.begin()
	if err != nil {
		return err
	}
	defer t.end()
	if err := t.runOp(op); err != nil {
		t.tx.Rollback()
		return err
	}
	if err := t.applyAdvances(t.advances); err != nil {
		t.tx.Rollback()
		return err
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isRetryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40P01" || e.Code == "40001")
}

// failAll answers every op with err, except those whose own result is
// already an error.
func failAll(ops []*writeOp, results []error, err error) {
	for i, op := range ops {
		if results != nil && results[i] != nil {
			op.done <- results[i]
			continue
		}
		op.done <- err
	}
}

// applyAdvances sets last_action_created_at once per configuration touched
// by the batch, in key order so that concurrent PostgreSQL writers always
// lock configuration rows in the same order, and last so that the row lock
// is held only for the commit.
func (t *Tx) applyAdvances(adv []configAdvance) error {
	if len(adv) == 0 {
		return nil
	}
	sort.Slice(adv, func(i, j int) bool {
		if adv[i].tenantID != adv[j].tenantID {
			return adv[i].tenantID < adv[j].tenantID
		}
		if adv[i].code != adv[j].code {
			return adv[i].code < adv[j].code
		}
		return adv[i].at > adv[j].at
	})
	q := t.db.advanceSQL
	for i, a := range adv {
		if i > 0 && a.tenantID == adv[i-1].tenantID && a.code == adv[i-1].code {
			continue // the first of each key has the latest time
		}
		if _, err := t.exec(q, a.at, a.tenantID, a.code, a.at); err != nil {
			return fmt.Errorf("advance action config: %w", err)
		}
	}
	return nil
}

// orderByUser orders a PostgreSQL batch's ops for its transaction: the
// ops that name no user first, then the others by tenant and user, each
// user's in queue order. A transaction then takes the rows of the users it
// writes in key order, as a track's statement does (users, then their
// devices); in queue order, a transaction that had created one user's row
// and went on to another's waited for a track that held the second and
// waited for the first: a deadlock (TestNoDeadlocks, two challenge
// completions in one batch). The batch's ops are all in flight at once, so
// any order is one the callers could have seen.
func orderByUser(ops []*writeOp) {
	slices.SortStableFunc(ops, func(a, b *writeOp) int {
		if c := strings.Compare(a.user.tenantID, b.user.tenantID); c != 0 {
			return c
		}
		return strings.Compare(a.user.userID, b.user.userID)
	})
}
