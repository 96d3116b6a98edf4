package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.UserService = (*UserService)(nil)

// maxUsers is the most users FindUsers returns at once.
const maxUsers = 1000

// UserService implements vigil.UserService for the tenant in the context.
type UserService struct {
	db *DB

	find, findMany, ensure, update  string
	deleteActions, deleteAuths, del string
	deleteDevices, deleteIPs        string
	deleteChallenges, deleteCodes   string
	// lock are the statements DeleteUser runs first: on PostgreSQL the
	// user's lock (see userLockSQL), then its row; none on SQLite.
	lock []string
}

const userCols = `tenant_id, id, email, email_verified, phone_number, phone_number_verified,
	username, display_name, locale, custom, created_at, updated_at`

// ensureUserSQL creates a user row if absent; it never locks an existing one.
const ensureUserSQL = `INSERT INTO users (tenant_id, id, created_at, updated_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (tenant_id, id) DO NOTHING`

// NewUserService returns a UserService backed by db.
func NewUserService(db *DB) *UserService {
	r := db.rebind
	s := &UserService{
		db:   db,
		find: r(`SELECT ` + userCols + ` FROM users WHERE tenant_id = ? AND id = ?`),
		findMany: r(`SELECT ` + userCols + ` FROM users
			WHERE tenant_id = ?
			AND (? = '' OR username = ?) AND (? = '' OR email = ?) AND (? = '' OR phone_number = ?)
			AND id > ?
			ORDER BY id LIMIT ?`),
		ensure: r(ensureUserSQL),
		update: r(`UPDATE users SET
			email = COALESCE(?, email),
			email_verified = COALESCE(?, email_verified),
			phone_number = COALESCE(?, phone_number),
			phone_number_verified = COALESCE(?, phone_number_verified),
			username = COALESCE(?, username),
			display_name = COALESCE(?, display_name),
			locale = COALESCE(?, locale),
			custom = COALESCE(?, custom),
			updated_at = ?
			WHERE tenant_id = ? AND id = ?
			RETURNING ` + userCols),
		deleteActions:    r(`DELETE FROM actions WHERE tenant_id = ? AND user_id = ?`),
		deleteAuths:      r(`DELETE FROM authenticators WHERE tenant_id = ? AND user_id = ?`),
		del:              r(`DELETE FROM users WHERE tenant_id = ? AND id = ?`),
		deleteDevices:    r(`DELETE FROM user_devices WHERE tenant_id = ? AND user_id = ?`),
		deleteIPs:        r(`DELETE FROM user_ips WHERE tenant_id = ? AND user_id = ?`),
		deleteChallenges: r(`DELETE FROM challenges WHERE tenant_id = ? AND user_id = ?`),
		deleteCodes:      r(`DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`),
	}
	if db.dialect.name == DialectPostgres {
		s.lock = []string{lockUserSQL(db), r(`SELECT 1 FROM users WHERE tenant_id = ? AND id = ? FOR UPDATE`)}
	}
	return s
}

func scanUser(s rowScanner) (*vigil.User, error) {
	var u vigil.User
	var custom sql.NullString
	var created, updated int64
	if err := s.Scan(&u.TenantID, &u.ID, &u.Email, &u.EmailVerified, &u.PhoneNumber, &u.PhoneNumberVerified,
		&u.Username, &u.DisplayName, &u.Locale, &custom, &created, &updated); err != nil {
		return nil, err
	}
	if custom.Valid {
		if err := json.Unmarshal([]byte(custom.String), &u.Custom); err != nil {
			return nil, fmt.Errorf("decode custom of user: %w", err)
		}
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &u, nil
}

// FindUserByID returns a user. ENOTFOUND if none.
func (s *UserService) FindUserByID(ctx context.Context, id string) (*vigil.User, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	u, err := scanUser(s.db.readRow(ctx, s.find, tenantID, id))
	if err != nil {
		return nil, unclean(noRows("find user", err, "User not found."))
	}
	return u, nil
}

// FindUsers returns the users matching f, ordered by ID, at most f.Limit
// (or 1000) of them.
func (s *UserService) FindUsers(ctx context.Context, f vigil.UserFilter) ([]*vigil.User, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 || limit > maxUsers {
		limit = maxUsers
	}
	rows, err := s.db.readRows(ctx, s.findMany, tenantID,
		f.Username, f.Username, f.Email, f.Email, f.PhoneNumber, f.PhoneNumber, f.After, limit)
	if err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	defer rows.Close()
	users := []*vigil.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("find users: %w", err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find users: %w", err)
	}
	return users, nil
}

// UpsertUser creates the user if absent and applies upd, in one
// transaction, and returns the result.
func (s *UserService) UpsertUser(ctx context.Context, id string, upd vigil.UserUpdate) (*vigil.User, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, vigil.Errorf(vigil.EINVALID, "User ID is required.")
	}
	var custom *string
	if upd.Custom != nil {
		b, err := json.Marshal(upd.Custom)
		if err != nil {
			return nil, vigil.Errorf(vigil.EINVALID, "Custom data is not valid JSON.")
		}
		c := string(b)
		custom = &c
	}
	var out *vigil.User
	err = s.db.writeUser(ctx, tenantID, id, func(tx *Tx) error {
		now := micros(tx.now)
		if _, err := tx.exec(s.ensure, tenantID, id, now, now); err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		u, err := scanUser(tx.queryRow(s.update, upd.Email, upd.EmailVerified, upd.PhoneNumber, upd.PhoneNumberVerified,
			upd.Username, upd.DisplayName, upd.Locale, custom, now, tenantID, id))
		if err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		out = u
		return nil
	})
	return out, err
}

// DeleteUser removes the user with its authenticators and actions, in one
// transaction. It is not an error if the user does not exist.
func (s *UserService) DeleteUser(ctx context.Context, id string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	fn := func(tx *Tx) error {
		// On PostgreSQL the locks first: the user's, then its row, which
		// a track locks before its device (see userLockSQL).
		stmts := append(slices.Clip(s.lock), s.deleteActions, s.deleteAuths, s.deleteDevices, s.deleteIPs, s.deleteChallenges, s.deleteCodes, s.del)
		for _, q := range stmts {
			if _, err := tx.exec(q, tenantID, id); err != nil {
				return fmt.Errorf("delete user: %w", err)
			}
		}
		return nil
	}
	// In a transaction of its own: an earlier op of a batch's transaction
	// could hold rows of this user before the lock (see userLockSQL).
	return s.db.run(ctx, &writeOp{fn: fn, ownTx: true})
}

// userLockSQL returns, on PostgreSQL, the statement that takes the
// transaction-level advisory lock of one user (parameters: tenant and user
// ID), and "" on SQLite, whose single writer needs none.
//
// Writes that change several of one user's rows (actions, authenticators,
// challenges, devices, IP addresses, the user row) do not all take them in
// one order: a deletion's statements run one after another, each with its
// triggers; a state update is one statement whose parts PostgreSQL runs in
// an order of its own; a completion takes its challenge and authenticator
// before the action and the user. From two servers (or writers) a deletion
// and a state update deadlocked (seen in TestNoDeadlocks). So a user's
// deletion, an action state update (its group's statement and its
// replay), a challenge's completion and failure, and an authenticator's
// deletion take this lock first: in a statement of their own, or gated on
// it before their first statement touches a row (see userLockGate). For a
// given user, one of them then waits for another holding nothing. A track,
// the hot path, takes no such lock: it locks the user's row, then its
// device; so a deletion, after this lock, locks the user's row before
// anything else (it deadlocked with a track when its device delete came
// first).
func lockUserSQL(db *DB) string {
	if db.dialect.name != DialectPostgres {
		return ""
	}
	return db.rebind(userLockQuery)
}

// userLockQuery takes the advisory lock of the user its two parameters
// name, tenant then user ID: a 64-bit hash of the user ID seeded by the
// tenant's. Two users that share a key only wait for each other. As a
// subquery, gated on by a statement's WHERE (... FROM (userLockQuery) AS
// lk) >= 0, PostgreSQL runs it once before the statement touches a row.
const userLockQuery = `SELECT pg_advisory_xact_lock(hashtextextended(x.u, hashtext(x.t)))
	FROM (SELECT CAST(? AS TEXT) AS t, CAST(? AS TEXT) AS u) AS x`

// userLockGate is a WHERE condition that holds once the user named by its
// two parameters (tenant, user) is locked (see userLockQuery).
const userLockGate = `(SELECT count(*) FROM (` + userLockQuery + `) AS lk) >= 0`

// userLockOf is the lock key of userLockQuery as an expression over SQL
// expressions of the tenant and user IDs, for statements that lock the
// users of many rows.
func userLockOf(tenantID, userID string) string {
	return `hashtextextended(` + userID + `, hashtext(` + tenantID + `))`
}
