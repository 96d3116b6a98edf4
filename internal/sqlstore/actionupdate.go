package sqlstore

import (
	"context"
	"fmt"
	"strings"

	vigil "github.com/vigil-auth/vigil"
)

// On PostgreSQL, a writer batch's UpdateActionStates are one self-committing
// statement (per run of ops on distinct actions), like challenge sends:
// administrative moves to CHALLENGE_SUCCEEDED each record a verification
// (device, IP address, user), and run one by one through the single writer
// they were a round trip each, which under load made a burst of them queue
// for seconds. The statement first takes its users' advisory locks, in key
// order (lk, which the update waits for: PostgreSQL evaluates the gate
// once, before the update's first row), as a user's deletion does (see
// userLockSQL).

// updateRow is one UpdateActionState; out is its result.
type updateRow struct {
	tenantID, userID, code, key string
	state                       vigil.ActionState
	out                         *vigil.Action
}

// actionUpdates builds and runs the statements of a batch's updates; its
// group is the opGroup.
type actionUpdates struct {
	s     *ActionService
	group *statementGroup
	stmts *valuesStatements
}

func newActionUpdates(s *ActionService) *actionUpdates {
	const match = `a.tenant_id = v.tenant_id AND a.user_id = v.user_id AND a.action_code = v.action_code
		AND a.idempotency_key = v.idempotency_key`
	cols := strings.Split(actionCols, ",")
	for i, c := range cols {
		cols[i] = "a." + strings.TrimSpace(c)
	}
	u := &actionUpdates{s: s, stmts: newValuesStatements(
		[]string{"tenant_id", "user_id", "action_code", "idempotency_key", "state"},
		[]string{"text", "text", "text", "text", "text"}, `,
		lk AS (SELECT pg_advisory_xact_lock(k.k) FROM (SELECT DISTINCT `+userLockOf("tenant_id", "user_id")+` AS k
			FROM v ORDER BY 1) AS k),
		old AS (SELECT a.tenant_id, a.id, a.state FROM actions AS a JOIN v ON `+match+`),
		upd AS (UPDATE actions AS a SET state = v.state, state_updated_at = $1, updated_at = $1 FROM v
			WHERE (SELECT count(*) FROM lk) >= 0 AND `+match+`
			RETURNING `+strings.Join(cols, ", ")+`),
		ver AS (SELECT upd.tenant_id, upd.user_id, upd.device_id, upd.ip_address, upd.latitude, upd.longitude
			FROM upd JOIN old ON old.tenant_id = upd.tenant_id AND old.id = upd.id
			WHERE upd.state = '`+string(vigil.StateChallengeSucceeded)+`' AND old.state <> '`+string(vigil.StateChallengeSucceeded)+`'),
		dev AS (INSERT INTO user_devices (tenant_id, user_id, device_id, first_seen_at, last_seen_at, verified_at)
			SELECT DISTINCT ON (tenant_id, user_id, device_id) tenant_id, user_id, device_id, $1, $1, $1
			FROM ver WHERE device_id <> '' ORDER BY tenant_id, user_id, device_id
			ON CONFLICT (tenant_id, user_id, device_id) DO UPDATE SET verified_at = excluded.verified_at),
		ip AS (INSERT INTO user_ips (tenant_id, user_id, ip_address, first_verified_at, last_verified_at, latitude, longitude)
			SELECT DISTINCT ON (tenant_id, user_id, ip_address) tenant_id, user_id, ip_address, $1, $1, latitude, longitude
			FROM ver WHERE ip_address <> '' ORDER BY tenant_id, user_id, ip_address, latitude NULLS LAST
			ON CONFLICT (tenant_id, user_id, ip_address) DO UPDATE SET last_verified_at = excluded.last_verified_at,
				latitude = COALESCE(excluded.latitude, user_ips.latitude),
				longitude = COALESCE(excluded.longitude, user_ips.longitude)),
		usr AS (UPDATE users AS u SET last_verified_at = $1 FROM (SELECT DISTINCT tenant_id, user_id FROM ver) AS x
			WHERE u.tenant_id = x.tenant_id AND u.id = x.user_id)
		SELECT `+actionCols+` FROM upd`)}
	u.group = &statementGroup{db: s.db, what: "action update", keys: updateKeys, commit: u.commit}
	return u
}

func updateKeys(op *writeOp) []string {
	u := op.data.(*updateRow)
	return actionKeys(u.tenantID, u.key)
}

// actionKeys is the statementGroup key of an op on one action (named by
// its tenant and idempotency key, unique together): ops on one action go
// in successive statements.
func actionKeys(tenantID, key string) []string { return []string{tenantID + "\x00" + key} }

// commit updates the actions of ops (all distinct) in one statement and
// answers every op, or returns an error and answers none.
func (g *actionUpdates) commit(ops []*writeOp) error {
	now := g.s.db.now()
	args := make([]any, 0, 1+5*len(ops))
	args = append(args, micros(now))
	for _, op := range ops {
		u := op.data.(*updateRow)
		args = append(args, u.tenantID, u.userID, u.code, u.key, string(u.state))
	}
	rows, err := g.s.db.writePool.QueryContext(context.Background(), g.stmts.get(len(ops)), args...)
	if err != nil {
		return fmt.Errorf("update actions: %w", err)
	}
	defer rows.Close()
	found := make(map[[2]string]*vigil.Action, len(ops))
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return fmt.Errorf("update actions: %w", err)
		}
		found[[2]string{a.TenantID, a.IdempotencyKey}] = a
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("update actions: %w", err)
	}
	// The statement commits once the driver has read past its last row.
	if err := rows.Close(); err != nil {
		return fmt.Errorf("update actions: %w", err)
	}
	for _, op := range ops {
		u := op.data.(*updateRow)
		if a := found[[2]string{u.tenantID, u.key}]; a != nil && a.UserID == u.userID && a.Code == u.code {
			u.out = a
			op.done <- nil
		} else {
			op.done <- vigil.Errorf(vigil.ENOTFOUND, "Action not found.")
		}
	}
	return nil
}

// updateActionStateGrouped is UpdateActionState through the group; fn is
// the op's own transactional path, for a replay.
func (s *ActionService) updateActionStateGrouped(ctx context.Context, row *updateRow, fn func(*Tx) error) (*vigil.Action, error) {
	if err := s.db.run(ctx, &writeOp{fn: fn, group: s.updates.group, data: row}); err != nil {
		return nil, err
	}
	return row.out, nil
}
