package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

// actionInsert is one action row for a coalesced insert: the arguments of
// ActionService's insert, in actionCols order.
type actionInsert struct {
	id   string
	args []any // set by the op's setTimes before each run
	// setTimes stamps the row with the time the batch runs it.
	setTimes func(now time.Time)
	// watch says that the track's rules read its user's history, so that
	// the statement watches the user (see upsertUsersFromIns).
	watch bool
	// fresh says that the row's idempotency key was made for it, here
	// (vigil.Action.IdempotencyKey was empty) or by the caller
	// (vigil.Action.KeyMade), so that no other row can hold it: see
	// coalescedKey.fresh.
	fresh bool
	// guard, when not nil, is the version of the user's history the action
	// was decided on (vigil.Action.StateVersion): the row goes in only if
	// the user's history is still at it (see enrollCache).
	guard *histVer
	// devSeen, when not 0, is a lower bound of the last_seen_at of the
	// row's device at the guard's version (historyCache.deviceSeen): the
	// device upsert is left out when it would change nothing.
	devSeen int64
	// finish, when not nil, says the op writes nothing but its row, its
	// user if absent and its configuration's last-action time: the writer
	// may then insert the row in a statement of its own (commitAlone) and, if it went
	// in, call finish (which sets the op's outputs) instead of running fn.
	finish func()
}

// coalescedKey names one cached coalesced statement.
type coalescedKey struct {
	n       int  // rows
	advance bool // with the configurations' last-action times (insert only)
	guarded bool // with rows stored only at the history version they name
	// fresh: every row's key was made for it (actionInsert.fresh), so the
	// statement has no ON CONFLICT clause. PostgreSQL then inserts each row
	// and its index entries once, instead of first probing the key's index
	// for a conflict and inserting speculatively (which also writes a
	// second WAL record per row, to confirm it): with rules, the writer's
	// backend spent 8-12 % less CPU per track and the server made 7-12 %
	// more tracks a second (three alternated pairs). Should a made key
	// ever be taken after all, the statement fails as a whole and its ops
	// go the transactional way, whose inserts check.
	fresh bool
}

// actionColTypes are actionCols' PostgreSQL types, in order, for a VALUES
// list that is not an INSERT's own (whose columns type the parameters).
var actionColTypes = [actionColCount]string{"text", "text", "text", "text", "text", "text", "bigint",
	"bigint", "bigint", "bytea", "text", "text", "boolean", "text",
	"text", "text", "text", "bytea", "bigint",
	"bigint", "bigint", "text", "text", "double precision", "double precision"}

// coalescedInsertSQL returns the PostgreSQL statement that inserts n action
// rows (skipping taken idempotency keys), creates their users if absent
// (and advances the history versions of those watched), and returns the
// IDs of the rows inserted, each with its user's history version after the
// statement if the user is watched. Its last three parameters are the
// tenants and users to watch, and the IDs of the rows whose device upsert
// to leave out (see actionInsert.devSeen). With advance it also advances
// last_action_created_at of each configuration it inserted rows for, so
// that the statement alone is a whole batch of CreateAction (see
// insertActionsAlone). With guarded, each row has two more parameters, the
// history version (base, version) it was decided on, or NULLs: a row with
// a version goes in only if its user's history is at that version in the
// statement's snapshot (a scalar subquery, which the planner cannot turn
// into a join over users, probes the user's row). With fresh, it does not
// skip taken keys but fails (see coalescedKey). Statements are cached by
// key.
func (db *DB) coalescedInsertSQL(key coalescedKey) string {
	db.coalesceMu.Lock()
	defer db.coalesceMu.Unlock()
	n, advance, guarded, fresh := key.n, key.advance, key.guarded, key.fresh
	if q, ok := db.coalesced[key]; ok {
		return q
	}
	var b strings.Builder
	if guarded {
		b.WriteString(`WITH ins AS (INSERT INTO actions (` + actionCols + `) SELECT ` + actionCols + ` FROM (VALUES `)
	} else {
		b.WriteString(`WITH ins AS (INSERT INTO actions (` + actionCols + `) VALUES `)
	}
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range actionColCount {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			fmt.Fprintf(&b, "$%d", p)
			if guarded {
				b.WriteString("::" + actionColTypes[j])
			}
		}
		if guarded {
			fmt.Fprintf(&b, ", $%d::bigint, $%d::bigint", p+1, p+2)
			p += 2
		}
		b.WriteByte(')')
	}
	if guarded {
		b.WriteString(`) AS v (` + actionCols + `, guard_base, guard_ver)
			WHERE v.guard_base IS NULL OR COALESCE((SELECT x.hist_base = v.guard_base AND x.hist_ver = v.guard_ver
				FROM users AS x WHERE x.tenant_id = v.tenant_id AND x.id = v.user_id),
				v.guard_base = 0 AND v.guard_ver = 0)`)
	}
	if !fresh {
		b.WriteString(` ON CONFLICT (tenant_id, idempotency_key) DO NOTHING`)
	}
	b.WriteString(`
		RETURNING id, tenant_id, user_id, action_code, device_id, created_at),
		u AS (` + upsertUsersFromIns(fmt.Sprintf(`bool_or(EXISTS (SELECT 1 FROM unnest($%d::text[], $%d::text[]) AS w (tenant_id, user_id)
			WHERE w.tenant_id = ins.tenant_id AND w.user_id = ins.user_id))`, p+1, p+2)) + `),
		dev AS (` + upsertDevicesFromIns(fmt.Sprintf(`$%d::text[]`, p+3)) + `)`)
	if advance {
		// lk locks the configurations to advance in key order (a locking
		// clause applies after ORDER BY), and adv updates only rows lk
		// returned, hence already locked: concurrent writers therefore
		// take configuration locks in one order and cannot deadlock on
		// them (applyAdvances keeps the same order). lk rechecks its
		// condition on the locked row version, so a configuration another
		// writer advanced past this batch is neither locked nor updated.
		b.WriteString(`,
		lk AS (SELECT c.tenant_id, c.action_code, x.at FROM action_configs AS c
			JOIN (SELECT tenant_id, action_code, MAX(created_at) AS at FROM ins
				GROUP BY tenant_id, action_code) AS x
			ON c.tenant_id = x.tenant_id AND c.action_code = x.action_code
			WHERE c.last_action_created_at IS NULL OR c.last_action_created_at < x.at
			ORDER BY c.tenant_id, c.action_code
			FOR NO KEY UPDATE OF c),
		adv AS (UPDATE action_configs AS c SET last_action_created_at = lk.at FROM lk
			WHERE c.tenant_id = lk.tenant_id AND c.action_code = lk.action_code)`)
	}
	b.WriteString(`
		SELECT ins.id, u.hist_base, u.hist_ver FROM ins
		LEFT JOIN u ON u.tenant_id = ins.tenant_id AND u.id = ins.user_id AND u.hist_watch`)
	q := b.String()
	db.coalesced[key] = q
	return q
}

// insertActions runs the coalesced insert of ins on q (the batch's
// transaction, or the write pool for a statement of its own), stamping the
// rows with now, and returns the IDs of the rows that went in, each with
// its user's history version once the statement is committed (noHistVer
// if the user is not watched). A row that did not go in either has a taken
// key or, if guarded, a user whose history moved (see actionInsert.guard).
func (db *DB) insertActions(ctx context.Context, q querier, ins []*actionInsert, advance bool) (map[string]histVer, error) {
	args, key := db.insertArgs(ins, advance)
	rows, err := q.QueryContext(ctx, db.coalescedInsertSQL(key), args...)
	if err != nil {
		return nil, fmt.Errorf("insert actions: %w", err)
	}
	defer rows.Close()
	inserted := make(map[string]histVer, len(ins))
	for rows.Next() {
		var id string
		var base, ver sql.NullInt64
		if err := rows.Scan(&id, &base, &ver); err != nil {
			return nil, fmt.Errorf("insert actions: %w", err)
		}
		v := noHistVer // the user is not watched
		if base.Valid && ver.Valid {
			v = histVer{base.Int64, ver.Int64}
		}
		inserted[id] = v
	}
	// In autocommit mode the statement's commit is over only once the
	// driver has read past its last row: an error there (the commit's
	// included) shows in Err or Close.
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert actions: %w", err)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("insert actions: %w", err)
	}
	return inserted, nil
}

// insertArgs stamps ins with the time and returns the arguments of their
// coalesced insert, with or without advance, and the statement's shape (see
// coalescedInsertSQL).
func (db *DB) insertArgs(ins []*actionInsert, advance bool) (args []any, key coalescedKey) {
	now := db.now()
	guarded, fresh := false, true
	for _, in := range ins {
		guarded, fresh = guarded || in.guard != nil, fresh && in.fresh
	}
	width := actionColCount
	if guarded {
		width += 2
	}
	args = make([]any, 0, len(ins)*width+3)
	var watchTenants, watchUsers, skipDevices []string
	for _, in := range ins {
		in.setTimes(now)
		if in.guard != nil && in.devSeen != 0 && in.devSeen >= micros(now)-lastSeenGrainMicros {
			// The upsert's condition, last_seen_at < now - grain, is false:
			// the row is there (the guard) with last_seen_at >= devSeen.
			skipDevices = append(skipDevices, in.id)
		}
		args = append(args, in.args...)
		if guarded {
			if in.guard != nil {
				args = append(args, in.guard.base, in.guard.ver)
			} else {
				args = append(args, nil, nil)
			}
		}
		if in.watch {
			watchTenants, watchUsers = append(watchTenants, in.args[0].(string)), append(watchUsers, in.args[2].(string))
		}
	}
	db.devicesSkipped.Add(uint64(len(skipDevices)))
	return append(args, watchTenants, watchUsers, skipDevices), coalescedKey{len(ins), advance, guarded, fresh}
}

// querier is what insertActions and consumeActions need of a *sql.Tx or
// *sql.DB.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// preInsertActions inserts the action rows of every op of a PostgreSQL
// batch that has one, in one statement, and records which went in. With
// fewer than two such ops it does nothing and the ops insert their own. If
// it fails, the caller replays the batch op by op.
func (t *Tx) preInsertActions(ops []*writeOp) error {
	var ins []*actionInsert
	for _, op := range ops {
		if op.ins != nil {
			ins = append(ins, op.ins)
		}
	}
	if len(ins) < 2 {
		return nil
	}
	inserted, err := t.db.insertActions(t.ctx, t.tx, ins, false)
	if err != nil {
		return err
	}
	t.preInserted = inserted
	return nil
}

// actionRef names one action the way validate does.
type actionRef struct{ tenantID, userID, code, key string }

// coalescedConsumeSQL returns the PostgreSQL statement that consumes n
// actions (see ActionService.ConsumeValidation) and returns each of them
// that exists, flagged TRUE if this statement consumed it: the consumed rows
// as updated, then the others as they were. Statements are cached by n.
func (db *DB) coalescedConsumeSQL(n int) string {
	db.coalesceMu.Lock()
	defer db.coalesceMu.Unlock()
	if q, ok := db.coalescedConsume[n]; ok {
		return q
	}
	cols := strings.Split(actionCols, ",")
	for i, c := range cols {
		cols[i] = "a." + strings.TrimSpace(c)
	}
	acols := strings.Join(cols, ", ")
	const match = `a.tenant_id = v.tenant_id AND a.idempotency_key = v.idempotency_key
		AND a.user_id = v.user_id AND a.action_code = v.action_code`
	var b strings.Builder
	b.WriteString(`WITH v (tenant_id, user_id, action_code, idempotency_key) AS (VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		p := 2 + 4*i
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d)", p, p+1, p+2, p+3)
	}
	b.WriteString(`),
		upd AS (UPDATE actions AS a SET validated_at = $1 FROM v WHERE ` + match + `
			AND a.state = '` + string(vigil.StateChallengeSucceeded) + `' AND a.validated_at IS NULL
			RETURNING ` + acols + `)
		SELECT TRUE, upd.* FROM upd
		UNION ALL
		SELECT FALSE, ` + acols + ` FROM actions AS a JOIN v ON ` + match + `
		WHERE NOT EXISTS (SELECT 1 FROM upd WHERE upd.tenant_id = a.tenant_id AND upd.id = a.id)`)
	q := b.String()
	db.coalescedConsume[n] = q
	return q
}

// consumeResult is one action found by preConsumeActions.
type consumeResult struct {
	a        *vigil.Action
	consumed bool // consumed by the batch and not yet claimed by an op
}

// preConsumeActions consumes the actions of every op of a PostgreSQL batch
// that has one (ConsumeValidation) in one statement, instead of one or two
// round trips per op, and keeps the results in t.preConsumed for the ops to
// claim. With fewer than two such ops it does nothing and the ops run their
// own statements. If it fails, the caller replays the batch op by op.
func (t *Tx) preConsumeActions(ops []*writeOp) error {
	var refs []*actionRef
	for _, op := range ops {
		if op.cons != nil {
			refs = append(refs, op.cons)
		}
	}
	if len(refs) < 2 {
		return nil
	}
	found, err := t.db.consumeActions(t.ctx, t.tx, refs)
	if err != nil {
		return err
	}
	t.preConsumed = found
	return nil
}

// consumeActions runs the coalesced consume of refs on q (the batch's
// transaction, or the write pool for a statement of its own) and returns
// the actions found, keyed by reference.
func (db *DB) consumeActions(ctx context.Context, q querier, refs []*actionRef) (map[actionRef]*consumeResult, error) {
	args := make([]any, 0, 1+4*len(refs))
	args = append(args, micros(db.now()))
	for _, r := range refs {
		args = append(args, r.tenantID, r.userID, r.code, r.key)
	}
	rows, err := q.QueryContext(ctx, db.coalescedConsumeSQL(len(refs)), args...)
	if err != nil {
		return nil, fmt.Errorf("consume validations: %w", err)
	}
	defer rows.Close()
	found := make(map[actionRef]*consumeResult, len(refs))
	for rows.Next() {
		var consumed bool
		a, err := scanAction(prefixScanner{rows, &consumed})
		if err != nil {
			return nil, fmt.Errorf("consume validations: %w", err)
		}
		found[actionRef{a.TenantID, a.UserID, a.Code, a.IdempotencyKey}] = &consumeResult{a, consumed}
	}
	// As in insertActions: the end of the rows covers an autocommit's
	// commit.
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consume validations: %w", err)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("consume validations: %w", err)
	}
	return found, nil
}

// claimConsumed returns what preConsumeActions found for r: the action,
// and whether this op consumed it. Of several ops of a batch that consume
// the same action, only the first gets consumed=true. found is false when
// the action does not exist.
func (t *Tx) claimConsumed(r *actionRef) (a *vigil.Action, consumed, found bool) {
	return claimConsumed(t.preConsumed, r)
}

func claimConsumed(m map[actionRef]*consumeResult, r *actionRef) (a *vigil.Action, consumed, found bool) {
	res, ok := m[*r]
	if !ok {
		return nil, false, false
	}
	consumed, res.consumed = res.consumed, false
	return res.a, consumed, true
}

// prefixScanner scans a row's first column into first and the rest into
// the destinations it is given.
type prefixScanner struct {
	s     rowScanner
	first any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.s.Scan(append([]any{p.first}, dest...)...)
}

// sqliteInsertChunk is the most action rows one coalesced SQLite insert
// takes: a batch's rows go in statements of this many and one of the rest,
// so that the writer's statement cache holds at most this many variants.
const sqliteInsertChunk = 16

// sqliteInsertSQL returns the SQLite statement that inserts n action rows,
// skipping taken idempotency keys, and returns the IDs of the rows it
// inserted. The actions_track_user trigger writes their users and devices,
// row by row, as for a single insert (migration 0010).
func (db *DB) sqliteInsertSQL(n int) string {
	db.coalesceMu.Lock()
	defer db.coalesceMu.Unlock()
	key := coalescedKey{n: n}
	if q, ok := db.coalesced[key]; ok {
		return q
	}
	row := "(?" + strings.Repeat(", ?", actionColCount-1) + ")"
	q := `INSERT INTO actions (` + actionCols + `) VALUES ` + row + strings.Repeat(", "+row, n-1) +
		` ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id`
	db.coalesced[key] = q
	return q
}

// preInsertable says whether op's action row may go in through
// preInsertSQLite: a CreateAction that writes nothing but its row (and, by
// trigger, its user and device). One that also writes a configuration
// keeps its own insert, so that a failure rolls back both together.
func preInsertable(op *writeOp) bool { return op.ins != nil && op.ins.finish != nil }

// preInsertSQLite inserts, on SQLite, the action rows of the batch's
// preInsertable ops in statements of up to sqliteInsertChunk rows, and
// returns the IDs of those that went in (the others' keys were taken), as
// preInsertActions does on PostgreSQL. The writer then runs each op whose
// row went in without a savepoint of its own, and its fn without the
// single-row insert: statements, savepoints and statement journals are
// per chunk instead of per op. With fewer than two rows it does nothing.
// On any error it undoes every chunk (a savepoint around them) and returns
// nil, so that each op inserts its own row as before.
func (t *Tx) preInsertSQLite(ops []*writeOp) map[string]histVer {
	var ins []*actionInsert
	for _, op := range ops {
		if preInsertable(op) {
			ins = append(ins, op.ins)
		}
	}
	if len(ins) < 2 {
		return nil
	}
	if _, err := t.exec("SAVEPOINT pre"); err != nil {
		return nil
	}
	inserted, err := t.insertChunks(ins)
	if err != nil {
		t.db.logger.Debug("sqlstore: coalesced action insert failed", "err", err)
		if _, err := t.exec("ROLLBACK TO pre"); err != nil {
			return nil // the caller's next statement meets the transaction's state
		}
	}
	if _, rerr := t.exec("RELEASE pre"); rerr != nil || err != nil {
		return nil
	}
	return inserted
}

// insertChunks runs preInsertSQLite's statements.
func (t *Tx) insertChunks(ins []*actionInsert) (map[string]histVer, error) {
	now := t.db.now()
	inserted := make(map[string]histVer, len(ins))
	args := make([]any, 0, min(len(ins), sqliteInsertChunk)*actionColCount)
	for len(ins) > 0 {
		chunk := ins[:min(len(ins), sqliteInsertChunk)]
		ins = ins[len(chunk):]
		args = args[:0]
		for _, in := range chunk {
			in.setTimes(now)
			args = append(args, in.args...)
		}
		if err := t.insertChunk(len(chunk), args, inserted); err != nil {
			return nil, fmt.Errorf("insert actions: %w", err)
		}
	}
	return inserted, nil
}

// insertChunk inserts n rows whose values are args and adds the IDs of
// those that went in to inserted.
func (t *Tx) insertChunk(n int, args []any, inserted map[string]histVer) error {
	rows, err := t.query(t.db.sqliteInsertSQL(n), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		inserted[id] = noHistVer
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}
