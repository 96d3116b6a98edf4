package sqlstore

import (
	"context"
	"fmt"

	vigil "github.com/vigil-auth/vigil"
)

// On PostgreSQL a writer batch's ConsumeReadValidations are one
// self-committing statement (per run of ops on distinct actions), like the
// batch's tracks and state updates.

// readConsumeRow is one ConsumeReadValidation; consumed is its result.
type readConsumeRow struct {
	tenantID, userID, code, key string
	updatedAt                   int64
	at                          int64 // the validated_at written
	consumed                    bool
}

// readConsumes builds and runs the statements of a batch's read consumes;
// its group is the opGroup.
type readConsumes struct {
	db    *DB
	group *statementGroup
	stmts *valuesStatements
}

func newReadConsumes(db *DB) *readConsumes {
	c := &readConsumes{db: db, stmts: newValuesStatements(
		[]string{"tenant_id", "user_id", "action_code", "idempotency_key", "updated_at"},
		[]string{"text", "text", "text", "text", "bigint"}, `
		UPDATE actions AS a SET validated_at = $1 FROM v
		WHERE a.tenant_id = v.tenant_id AND a.idempotency_key = v.idempotency_key
			AND a.user_id = v.user_id AND a.action_code = v.action_code
			AND a.state = '`+string(vigil.StateChallengeSucceeded)+`' AND a.validated_at IS NULL
			AND a.updated_at = v.updated_at
		RETURNING a.tenant_id, a.idempotency_key`)}
	c.group = &statementGroup{db: db, what: "validation consume", keys: readConsumeKeys, commit: c.commit}
	return c
}

func readConsumeKeys(op *writeOp) []string {
	r := op.data.(*readConsumeRow)
	return actionKeys(r.tenantID, r.key)
}

// commit consumes the actions of ops (all distinct) in one statement and
// answers every op, or returns an error and answers none.
func (c *readConsumes) commit(ops []*writeOp) error {
	now := micros(c.db.now())
	args := make([]any, 0, 1+5*len(ops))
	args = append(args, now)
	for _, op := range ops {
		r := op.data.(*readConsumeRow)
		args = append(args, r.tenantID, r.userID, r.code, r.key, r.updatedAt)
	}
	rows, err := c.db.writePool.QueryContext(context.Background(), c.stmts.get(len(ops)), args...)
	if err != nil {
		return fmt.Errorf("consume validations: %w", err)
	}
	defer rows.Close()
	consumed := make(map[[2]string]bool, len(ops))
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			return fmt.Errorf("consume validations: %w", err)
		}
		consumed[k] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("consume validations: %w", err)
	}
	// The statement commits once the driver has read past its last row.
	if err := rows.Close(); err != nil {
		return fmt.Errorf("consume validations: %w", err)
	}
	for _, op := range ops {
		r := op.data.(*readConsumeRow)
		r.at, r.consumed = now, consumed[[2]string{r.tenantID, r.key}]
		op.done <- nil
	}
	return nil
}
