package sqlstore

import (
	"fmt"
	"strings"
	"time"
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
