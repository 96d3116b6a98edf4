package sqlstore

import (
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
}

// coalescedInsertSQL returns the PostgreSQL statement that inserts n action
// rows (skipping taken idempotency keys), creates their users if absent,
// and returns the IDs of the rows inserted. Statements are cached by n.
func (db *DB) coalescedInsertSQL(n int) string {
	db.coalesceMu.Lock()
	defer db.coalesceMu.Unlock()
	if q, ok := db.coalesced[n]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString(`WITH ins AS (INSERT INTO actions (` + actionCols + `) VALUES `)
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
		}
		b.WriteByte(')')
	}
	b.WriteString(` ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
		RETURNING id, tenant_id, user_id, created_at),
		u AS (INSERT INTO users (tenant_id, id, created_at, updated_at)
			SELECT DISTINCT ON (tenant_id, user_id) tenant_id, user_id, created_at, created_at FROM ins
			ORDER BY tenant_id, user_id
			ON CONFLICT (tenant_id, id) DO NOTHING)
		SELECT id FROM ins`)
	q := b.String()
	db.coalesced[n] = q
	return q
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
	now := t.db.now()
	args := make([]any, 0, len(ins)*actionColCount)
	for _, in := range ins {
		in.setTimes(now)
		args = append(args, in.args...)
	}
	rows, err := t.query(t.db.coalescedInsertSQL(len(ins)), args...)
	if err != nil {
		return fmt.Errorf("insert actions: %w", err)
	}
	defer rows.Close()
	t.preInserted = make(map[string]bool, len(ins))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("insert actions: %w", err)
		}
		t.preInserted[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert actions: %w", err)
	}
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
	args := make([]any, 0, 1+4*len(refs))
	args = append(args, micros(t.db.now()))
	for _, r := range refs {
		args = append(args, r.tenantID, r.userID, r.code, r.key)
	}
	rows, err := t.query(t.db.coalescedConsumeSQL(len(refs)), args...)
	if err != nil {
		return fmt.Errorf("consume validations: %w", err)
	}
	defer rows.Close()
	t.preConsumed = make(map[actionRef]*consumeResult, len(refs))
	for rows.Next() {
		var consumed bool
		a, err := scanAction(prefixScanner{rows, &consumed})
		if err != nil {
			return fmt.Errorf("consume validations: %w", err)
		}
		t.preConsumed[actionRef{a.TenantID, a.UserID, a.Code, a.IdempotencyKey}] = &consumeResult{a, consumed}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("consume validations: %w", err)
	}
	return nil
}

// claimConsumed returns what preConsumeActions found for r: the action,
// and whether this op consumed it. Of several ops of a batch that consume
// the same action, only the first gets consumed=true. found is false when
// the action does not exist.
func (t *Tx) claimConsumed(r *actionRef) (a *vigil.Action, consumed, found bool) {
	res, ok := t.preConsumed[*r]
	if !ok {
		return nil, false, false
	}
	consumed, res.consumed = res.consumed, false
	return res.a, consumed, true
}

// prefixScanner scans a row's first column into first and the rest into
// the destinations it is given.
type prefixScanner struct {
	s     interface{ Scan(...any) error }
	first any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.s.Scan(append([]any{p.first}, dest...)...)
}
