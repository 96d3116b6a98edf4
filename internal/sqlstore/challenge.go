package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.ChallengeService = (*ChallengeService)(nil)

// ChallengeService implements vigil.ChallengeService for the tenant in the
// context. TOTP seeds of enrollments in flight are sealed with the DB's
// Cipher, bound to "challenges|secret|tenantID/challengeID".
type ChallengeService struct {
	db    *DB
	auths *AuthenticatorService

	insert, supersede, find, findPending, findLink, update, markLink      string
	countUser, countDest, fail, failAction                                string
	use, findAction, succeed, touchAuth, touchTOTP, touchCount            string
	useCode, deleteCodes, insertCode, hasCodes, findCredential, findCodes string
	markVerifiedSQL, findLive, findCred                                   string
	verify                                                                verificationSQL

	// lockUser is, on PostgreSQL, the user's lock (see userLockSQL), which
	// a completion takes first; use and fail then take it themselves
	// before they touch the challenge: "" on SQLite.
	lockUser string

	// PostgreSQL: CreateChallenge and MarkVerified/MarkLinkVerified of a
	// batch are one self-committing statement each (see commitGroup).
	creates, marks *statementGroup
	mu             sync.Mutex     // guards stmts
	stmts          map[any]string // createStatement and markStatement texts
}

const challengeCols = `tenant_id, id, user_id, action_code, idempotency_key, method, purpose, authenticator_id,
	destination, code_hash, link_hash, secret, session, attempts, state, created_at, expires_at, verified_at`

// useSQL marks a challenge used; failSQL, with failReturning, counts a
// failed attempt. PostgreSQL adds to each the lock of the challenge's user
// (see NewChallengeService).
const (
	useSQL = `UPDATE challenges SET state = 'used', verified_at = COALESCE(verified_at, ?)
		WHERE tenant_id = ? AND id = ? AND state IN ('pending', 'verified') AND expires_at > ?`
	failSQL = `UPDATE challenges SET attempts = attempts + 1,
		state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE state END
		WHERE tenant_id = ? AND id = ? AND user_id = ? AND state = 'pending'`
	failReturning = `
		RETURNING attempts, state, user_id, action_code, idempotency_key`
)

// NewChallengeService returns a ChallengeService backed by db.
func NewChallengeService(db *DB) *ChallengeService {
	r := db.rebind
	ref := ` tenant_id = ? AND user_id = ? AND action_code = ? AND idempotency_key = ?`
	s := &ChallengeService{
		db:    db,
		auths: NewAuthenticatorService(db),
		stmts: make(map[any]string),
		insert: r(`INSERT INTO challenges (` + challengeCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		supersede: r(`UPDATE challenges SET state = 'superseded'
			WHERE` + ref + ` AND method = ? AND state IN ('pending', 'verified')`),
		find: r(`SELECT ` + challengeCols + ` FROM challenges WHERE tenant_id = ? AND id = ?`),
		findPending: r(`SELECT ` + challengeCols + ` FROM challenges
			WHERE` + ref + ` AND method = ? AND state IN ('pending', 'verified') AND expires_at > ?
			ORDER BY created_at DESC LIMIT 1`),
		findLink: r(`SELECT ` + challengeCols + ` FROM challenges WHERE tenant_id = ? AND link_hash = ?`),
		update: r(`UPDATE challenges SET user_id = CASE WHEN user_id = '' THEN ? ELSE user_id END, session = ?
			WHERE tenant_id = ? AND id = ? AND state = 'pending' AND expires_at > ?`),
		markLink: r(`UPDATE challenges SET state = 'verified', verified_at = ?
			WHERE tenant_id = ? AND id = ? AND state = 'pending' AND expires_at > ? AND link_hash IS NOT NULL`),
		countUser: r(`SELECT COUNT(*) FROM challenges
			WHERE tenant_id = ? AND user_id = ? AND method = ? AND created_at > ?
			AND (code_hash IS NOT NULL OR link_hash IS NOT NULL)`),
		countDest: r(`SELECT COUNT(*) FROM challenges WHERE tenant_id = ? AND destination = ? AND created_at > ?`),
		fail:      r(failSQL + failReturning),
		failAction: r(`UPDATE actions SET state = 'CHALLENGE_FAILED', state_updated_at = ?, updated_at = ?
			WHERE` + ref + ` AND state = 'CHALLENGE_REQUIRED'`),
		use:        r(useSQL),
		findAction: r(`SELECT ` + actionCols + ` FROM actions WHERE` + ref),
		succeed: r(`UPDATE actions SET state = 'CHALLENGE_SUCCEEDED', state_updated_at = ?, updated_at = ?,
			verification_method = ?, verified_by_authenticator_id = ?
			WHERE` + ref + ` RETURNING ` + actionCols),
		touchAuth: r(`UPDATE authenticators SET last_verified_at = ? WHERE tenant_id = ? AND user_id = ? AND id = ?`),
		touchTOTP: r(`UPDATE authenticators SET last_verified_at = ?, otp_last_step = ?
			WHERE tenant_id = ? AND user_id = ? AND id = ? AND otp_last_step < ?`),
		touchCount: r(`UPDATE authenticators SET credential = ? WHERE tenant_id = ? AND user_id = ? AND id = ?`),
		useCode: r(`UPDATE recovery_codes SET used_at = ?
			WHERE tenant_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL`),
		deleteCodes: r(`DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`),
		insertCode:  r(`INSERT INTO recovery_codes (tenant_id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?)`),
		hasCodes:    r(`SELECT COUNT(*) FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL`),
		findCredential: r(`SELECT ` + authenticatorCols + ` FROM authenticators
			WHERE tenant_id = ? AND credential_id = ?`),
		findCodes: r(`SELECT code_hash FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL
			ORDER BY created_at, code_hash`),
		findCred: r(`SELECT credential FROM authenticators WHERE tenant_id = ? AND user_id = ? AND id = ?`),
		markVerifiedSQL: r(`UPDATE challenges SET state = 'verified', verified_at = ?
			WHERE tenant_id = ? AND id = ? AND state = 'pending' AND expires_at > ?`),
		findLive: r(`SELECT ` + challengeCols + ` FROM challenges
			WHERE tenant_id = ? AND user_id = ? AND action_code = ? AND (? = '' OR method = ?)
			AND state IN ('pending', 'verified') AND expires_at > ?
			ORDER BY created_at DESC LIMIT 1`),
		verify: newVerificationSQL(r),
	}
	if db.dialect.name == DialectPostgres {
		// The lookup by ID on the primary key whatever the statistics
		// (see createStatement's comment): the verify path's read.
		s.find = `SELECT ` + challengeCols + ` FROM (SELECT ` + challengeCols + ` FROM challenges
			WHERE (tenant_id, id) >= ($1, $2) ORDER BY tenant_id, id LIMIT 1) AS c
			WHERE tenant_id = $1 AND id = $2`
		// A completion and a failure lock the challenge's user before its
		// challenge, action and user rows, as a user's deletion and a
		// state update do (see userLockSQL): use and fail take the lock of
		// their user (two more parameters, tenant and user).
		s.lockUser = lockUserSQL(db)
		s.use = r(useSQL + ` AND ` + userLockGate)
		s.fail = r(failSQL + ` AND ` + userLockGate + failReturning)
	}
	s.creates = &statementGroup{db: db, what: "challenge send", keys: createKeys, commit: s.commitCreates}
	s.marks = &statementGroup{db: db, what: "challenge check", keys: markKeys, commit: s.commitMarks}
	return s
}

func (s *ChallengeService) scan(sc rowScanner) (*vigil.Challenge, error) {
	var c vigil.Challenge
	var method, purpose, state string
	var created, expires int64
	var verified sql.NullInt64
	if err := sc.Scan(&c.TenantID, &c.ID, &c.Action.UserID, &c.Action.ActionCode, &c.Action.IdempotencyKey, &method,
		&purpose, &c.AuthenticatorID, &c.Destination, &c.CodeHash, &c.LinkHash, &c.Secret, &c.Session, &c.Attempts,
		&state, &created, &expires, &verified); err != nil {
		return nil, err
	}
	c.Method, c.Purpose, c.State = vigil.VerificationMethod(method), vigil.ChallengePurpose(purpose), vigil.ChallengeState(state)
	if c.Secret != nil {
		plain, err := s.db.cipher.Open(c.Secret, aad("challenges", "secret", c.TenantID, c.ID))
		if err != nil {
			return nil, fmt.Errorf("open secret of challenge %s: %w", c.ID, err)
		}
		c.Secret = plain
	}
	c.CreatedAt, c.ExpiresAt, c.VerifiedAt = fromMicros(created), fromMicros(expires), fromNullMicros(verified)
	return &c, nil
}

// CreateChallenge stores c as the pending challenge of its action and
// method, superseding earlier ones, after checking the send limits, all in
// one transaction.
//
// The send limits are exact because writes are serialized: on SQLite by
// the one writer; on PostgreSQL by the one writer too (the default; with
// Options.Writers above 1 two writers may each pass the last slot, as
// before), and within a batch by committing challenges that share an
// action, a user and method, or a destination in separate statements, in
// queue order (see statementGroup). On PostgreSQL the check, the
// supersession and the insert are one statement (createStatement).
func (s *ChallengeService) CreateChallenge(ctx context.Context, c *vigil.Challenge, limit vigil.SendLimit) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	if !c.Method.Valid() || (c.Purpose != vigil.PurposeVerify && c.Purpose != vigil.PurposeEnroll) {
		return vigil.Errorf(vigil.EINVALID, "Invalid challenge.")
	}
	id := c.ID
	if id == "" {
		id = newID()
	}
	var sealed []byte
	if c.Secret != nil {
		if sealed, err = s.db.cipher.Seal(c.Secret, aad("challenges", "secret", tenantID, id)); err != nil {
			return fmt.Errorf("seal challenge secret: %w", err)
		}
	}
	ttl := c.ExpiresAt.Sub(c.CreatedAt)
	if c.ExpiresAt.IsZero() || ttl <= 0 {
		ttl = vigil.DefaultChallengeTTL
	}
	row := &createRow{tenantID: tenantID, id: id, c: *c, sealed: sealed, ttl: ttl}
	if limit.Max > 0 && (c.CodeHash != nil || c.LinkHash != nil) {
		row.limit = limit
	}
	fn := s.createSteps
	if s.db.dialect.name == DialectPostgres {
		fn = s.createOne
	}
	if err := s.db.run(ctx, &writeOp{fn: func(tx *Tx) error { return fn(tx, row) }, group: s.creates, data: row}); err != nil {
		return err
	}
	c.ID, c.TenantID, c.State, c.Attempts = id, tenantID, vigil.ChallengePending, 0
	c.CreatedAt, c.ExpiresAt = fromMicros(micros(row.now)), fromMicros(micros(row.now.Add(ttl)))
	return nil
}

// createRow is one CreateChallenge: the row to insert and the send limit it
// must pass (Max 0: none). now is set by whichever path inserts the row.
type createRow struct {
	tenantID, id string
	c            vigil.Challenge
	sealed       []byte
	ttl          time.Duration
	limit        vigil.SendLimit
	now          time.Time
}

// createSteps is CreateChallenge's transaction on SQLite, where a statement
// costs no round trip: the counts, the supersession and the insert.
func (s *ChallengeService) createSteps(tx *Tx, r *createRow) error {
	r.now = tx.now
	tenantID, a := r.tenantID, r.c.Action
	if r.limit.Max > 0 {
		since := micros(r.now.Add(-r.limit.Window))
		var n int
		if a.UserID != "" { // a server-side challenge may have no user yet
			if err := tx.queryRow(s.countUser, tenantID, a.UserID, string(r.c.Method), since).Scan(&n); err != nil {
				return fmt.Errorf("count challenges: %w", err)
			}
		}
		if n < r.limit.Max && r.c.Destination != "" {
			if err := tx.queryRow(s.countDest, tenantID, r.c.Destination, since).Scan(&n); err != nil {
				return fmt.Errorf("count challenges: %w", err)
			}
		}
		if n >= r.limit.Max {
			return errTooMany()
		}
	}
	if _, err := tx.exec(s.supersede, tenantID, a.UserID, a.ActionCode, a.IdempotencyKey, string(r.c.Method)); err != nil {
		return fmt.Errorf("supersede challenges: %w", err)
	}
	if _, err := tx.exec(s.insert, tenantID, r.id, a.UserID, a.ActionCode, a.IdempotencyKey, string(r.c.Method),
		string(r.c.Purpose), r.c.AuthenticatorID, r.c.Destination, r.c.CodeHash, r.c.LinkHash, r.sealed, r.c.Session,
		0, string(vigil.ChallengePending), micros(r.now), micros(r.now.Add(r.ttl)), nil); err != nil {
		return s.db.mapErr("insert challenge", err, "", "The challenge already exists.")
	}
	return nil
}

// createOne is CreateChallenge's transaction on PostgreSQL when it runs on
// its own (after its batch's statement failed): createStatement for one
// row.
func (s *ChallengeService) createOne(tx *Tx, r *createRow) error {
	r.now = tx.now
	passed, err := s.runCreate(tx.ctx, tx.tx, []*createRow{r}, r.now)
	if err != nil {
		return s.db.mapErr("create challenge", err, "", "The challenge already exists.")
	}
	if !passed[0] {
		return errTooMany()
	}
	return nil
}

func errTooMany() error {
	return clean(vigil.Errorf(vigil.ETOOMANY, "Too many codes were sent. Try again later."))
}

// commitCreates creates the challenges of ops (none sharing a key) in one
// self-committing statement.
func (s *ChallengeService) commitCreates(ops []*writeOp) error {
	rows := make([]*createRow, len(ops))
	for i, op := range ops {
		rows[i] = op.data.(*createRow)
	}
	now := s.db.now()
	passed, err := s.runCreate(context.Background(), s.db.writePool, rows, now)
	if err != nil {
		return fmt.Errorf("create challenges: %w", err)
	}
	for i, op := range ops {
		if !passed[i] {
			op.done <- errTooMany()
			continue
		}
		rows[i].now = now
		op.done <- nil
	}
	return nil
}

// runCreate runs createStatement for rows on q, stamped with now, and
// reports which rows it created, by index.
func (s *ChallengeService) runCreate(ctx context.Context, q querier, rows []*createRow, now time.Time) (map[int]bool, error) {
	size, limit := sizeClass(len(rows)), minCountLimit
	args := make([]any, 0, 1+createCols*size)
	args = append(args, micros(now))
	for i, r := range rows {
		limit = max(limit, sizeClass(r.limit.Max))
		a := r.c.Action
		args = append(args, i, r.tenantID, r.id, a.UserID, a.ActionCode, a.IdempotencyKey, string(r.c.Method),
			string(r.c.Purpose), r.c.AuthenticatorID, r.c.Destination, r.c.CodeHash, r.c.LinkHash, r.sealed,
			r.c.Session, micros(now.Add(r.ttl)), r.limit.Max, micros(now.Add(-r.limit.Window)))
	}
	for range size - len(rows) { // padding: row -1, never created
		args = append(args, -1, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, 0, nil)
	}
	res, err := q.QueryContext(ctx, s.statement(createStatement{size, limit}), args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	passed := make(map[int]bool, len(rows))
	for res.Next() {
		var i int
		if err := res.Scan(&i); err != nil {
			return nil, err
		}
		passed[i] = true
	}
	// As in insertActions: the end of the rows covers an autocommit's
	// commit.
	if err := res.Err(); err != nil {
		return nil, err
	}
	return passed, res.Close()
}

// createKeys names what a CreateChallenge reads or writes that another
// CreateChallenge of its batch may also: its action and method
// (supersession), its user and method (the user's send count) and its
// destination (the destination's count). A server-side challenge with no
// user counts no user's sends.
func createKeys(op *writeOp) []string {
	r := op.data.(*createRow)
	a, m := r.c.Action, string(r.c.Method)
	keys := []string{"a\x00" + r.tenantID + "\x00" + a.UserID + "\x00" + a.ActionCode + "\x00" + a.IdempotencyKey + "\x00" + m}
	if a.UserID != "" {
		keys = append(keys, "u\x00"+r.tenantID+"\x00"+a.UserID+"\x00"+m)
	}
	if r.c.Destination != "" {
		keys = append(keys, "d\x00"+r.tenantID+"\x00"+r.c.Destination)
	}
	return keys
}

// The PostgreSQL statements of CreateChallenge and MarkVerified
// (createStatement, markStatement) find rows with a row comparison on the
// leading columns of the index meant for the lookup, ordered as that index
// and with a small constant LIMIT, and check the key on what that returns,
// instead of with equality conditions on those columns. Without statistics
// (before a table's first ANALYZE; always, with autovacuum off) the
// planner estimates an equality lookup at one row on every index led by
// tenant_id and picks the smallest, challenges_link_idx (link_hash is
// mostly NULL; partial since migration 0009, which takes it out of such
// plans), or the one with the fewest conditions,
// challenges_user_sends_idx for the supersession: each then reads every
// challenge of the tenant (or of the user "", which all server-side
// challenges have). The prepared statement keeps the plan made while the
// table was small, so each send got slower as the table grew (about 5 ms
// per send at 20,000 challenges). A small LIMIT in the order of one index
// only is cheapest on that index, whatever the statistics; measured over
// plans made at 0 to 40,000 challenges without statistics, and with them.
// The margin shrinks as the LIMIT grows: a LIMIT of 8 or more can lose to
// a sort of the tenant's challenges when the plan is made at a few hundred
// to a few thousand challenges without statistics, so a send count reads
// at most minCountLimit entries, and counts further only when those are
// all of the key (countSQL): that second count may be slow on such a
// plan, but it runs only when a user or destination already had
// minCountLimit sends in the window. Statements come in a few sizes
// (sizeClass), to prepare and plan few.
const (
	// createCols is the number of parameters createStatement takes per
	// row.
	createCols = 17

	// supersedeScan is how many of an action's newest challenges of a
	// method createStatement checks for live ones to supersede: only the
	// newest can be live (unless two writers created challenges for it at
	// once).
	supersedeScan = 4

	// minCountLimit is the least LIMIT of createStatement's send counts.
	minCountLimit = 4
)

// sizeClass returns the power of two at least n (and 1).
func sizeClass(n int) int {
	c := 1
	for c < n {
		c *= 2
	}
	return c
}

// createStatement is the PostgreSQL statement that creates rows
// challenges at once, each as CreateChallenge does (rows with a negative
// number are padding), and returns the number of each row created. Its
// send counts count at most limit challenges, which must be at least the
// largest max_sends of its rows.
//
// v holds the rows; ok those within their send limits: the user's
// challenges of the method with a code or link, and the destination's
// challenges, created after since, each read from
// challenges_user_sends_idx and challenges_destination_idx from the row's
// key on (countSQL); sup supersedes the live ones among the newest
// supersedeScan challenges of each row's action and method, read
// backwards on challenges_action_idx; ins inserts the rows. $1 is the creation time.
// Every sub-statement sees the table as it was before the statement, so
// no two rows may share an action, a user and method or a destination
// (createKeys).
type createStatement struct{ rows, limit int }

func (k createStatement) sql() string {
	live := `('` + string(vigil.ChallengePending) + `', '` + string(vigil.ChallengeVerified) + `')`
	var b strings.Builder
	b.WriteString(`WITH v (i, tenant_id, id, user_id, action_code, idempotency_key, method, purpose, authenticator_id,
		destination, code_hash, link_hash, secret, session, expires_at, max_sends, since) AS (VALUES `)
	types := [createCols]string{"integer", "text", "text", "text", "text", "text", "text", "text", "text", "text",
		"bytea", "bytea", "bytea", "bytea", "bigint", "integer", "bigint"}
	p := 1
	for i := range k.rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, t := range types {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			fmt.Fprintf(&b, "CAST($%d AS %s)", p, t)
		}
		b.WriteByte(')')
	}
	b.WriteString(`),
		ok AS (SELECT * FROM v WHERE v.i >= 0 AND (v.max_sends <= 0 OR (
			(v.user_id = '' OR ` + countSQL([]string{"tenant_id", "user_id", "method"}, "created_at",
		"(p.code_hash IS NOT NULL OR p.link_hash IS NOT NULL)", k.limit) + ` < v.max_sends)
			AND (v.destination = '' OR ` + countSQL([]string{"tenant_id", "destination"}, "created_at", "", k.limit) +
		` < v.max_sends)))),
		sup AS (UPDATE challenges AS c SET state = '` + string(vigil.ChallengeSuperseded) + `'
			FROM ok CROSS JOIN LATERAL (SELECT l.t FROM (
				SELECT p.ctid AS t, p.tenant_id, p.user_id, p.action_code, p.idempotency_key, p.method, p.state
				FROM challenges AS p
				WHERE (p.tenant_id, p.user_id, p.action_code, p.idempotency_key, p.method)
					<= (ok.tenant_id, ok.user_id, ok.action_code, ok.idempotency_key, ok.method)
				ORDER BY p.tenant_id DESC, p.user_id DESC, p.action_code DESC, p.idempotency_key DESC,
					p.method DESC, p.created_at DESC
				LIMIT ` + strconv.Itoa(supersedeScan) + `) AS l
				WHERE l.tenant_id = ok.tenant_id AND l.user_id = ok.user_id AND l.action_code = ok.action_code
				AND l.idempotency_key = ok.idempotency_key AND l.method = ok.method AND l.state IN ` + live + `) AS x
			WHERE c.ctid = x.t AND c.state IN ` + live + `),
		ins AS (INSERT INTO challenges (` + challengeCols + `)
			SELECT tenant_id, id, user_id, action_code, idempotency_key, method, purpose, authenticator_id,
			destination, code_hash, link_hash, secret, session, 0, '` + string(vigil.ChallengePending) + `', $1, expires_at, NULL
			FROM ok)
		SELECT i FROM ok`)
	return b.String()
}

// countSQL returns the expression that counts, up to limit, the
// challenges with v's values of the columns key, created after v.since,
// and matching filter (if not ""), on the index (key..., at): it reads
// the first entries from (v's key, v.since) on, at most minCountLimit of
// them (the robust lookup: see createStatement), and counts those of the
// key; only if all of them are, it counts again, up to limit.
func countSQL(key []string, at, filter string, limit int) string {
	var cols, vals, match []string
	for _, c := range key {
		cols = append(cols, "p."+c)
		vals = append(vals, "v."+c)
		match = append(match, "s."+c+" = v."+c)
	}
	where := `(` + strings.Join(cols, ", ") + `, p.` + at + `) > (` + strings.Join(vals, ", ") + `, v.since)`
	if filter != "" {
		where += ` AND ` + filter
	}
	count := func(n int) string {
		return `(SELECT COUNT(*) FROM (SELECT ` + strings.Join(cols, ", ") + ` FROM challenges AS p
			WHERE ` + where + `
			ORDER BY ` + strings.Join(cols, ", ") + `, p.` + at + `
			LIMIT ` + strconv.Itoa(n) + `) AS s
			WHERE ` + strings.Join(match, " AND ") + `)`
	}
	if limit <= minCountLimit {
		return count(minCountLimit)
	}
	return `(SELECT CASE WHEN f.n < ` + strconv.Itoa(minCountLimit) + ` THEN f.n ELSE ` + count(limit) + ` END
		FROM (SELECT ` + count(minCountLimit) + ` AS n OFFSET 0) AS f)` // OFFSET 0: count once
}

// markStatement is the PostgreSQL statement that marks rows challenges
// verified, as markVerifiedSQL does (and markLink, for a row whose link
// is true), and returns those it changed; rows with a NULL ID are padding.
// $1 is the time. It finds each challenge on the primary key with a row
// comparison (see createStatement's comment).
type markStatement struct{ rows int }

func (k markStatement) sql() string {
	var b strings.Builder
	b.WriteString(`UPDATE challenges AS c SET state = '` + string(vigil.ChallengeVerified) + `', verified_at = $1
		FROM (VALUES `)
	for i := range k.rows {
		if i > 0 {
			b.WriteString(", ")
		}
		p := 2 + 3*i
		fmt.Fprintf(&b, "(CAST($%d AS text), CAST($%d AS text), CAST($%d AS boolean))", p, p+1, p+2)
	}
	b.WriteString(`) AS v (tenant_id, id, link)
		CROSS JOIN LATERAL (SELECT l.t FROM (
			SELECT p.ctid AS t, p.tenant_id, p.id FROM challenges AS p
			WHERE (p.tenant_id, p.id) >= (v.tenant_id, v.id)
			ORDER BY p.tenant_id, p.id
			LIMIT 1) AS l
			WHERE l.tenant_id = v.tenant_id AND l.id = v.id) AS x
		WHERE c.ctid = x.t AND c.state = '` + string(vigil.ChallengePending) + `'
		AND c.expires_at > $1 AND (NOT v.link OR c.link_hash IS NOT NULL)
		RETURNING c.tenant_id, c.id`)
	return b.String()
}

// statement returns the text of a PostgreSQL statement, cached.
func (s *ChallengeService) statement(k interface{ sql() string }) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.stmts[k]; ok {
		return q
	}
	q := k.sql()
	s.stmts[k] = q
	return q
}

// FindChallenge returns one challenge. ENOTFOUND if none.
func (s *ChallengeService) FindChallenge(ctx context.Context, id string) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.find, tenantID, id))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// FindPendingChallenge returns the newest live challenge of an action and
// method. ENOTFOUND if none.
func (s *ChallengeService) FindPendingChallenge(ctx context.Context, a vigil.ActionRef, m vigil.VerificationMethod) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.findPending, tenantID, a.UserID, a.ActionCode, a.IdempotencyKey,
		string(m), micros(s.db.now())))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// FindChallengeByLink returns the challenge of a magic link. ENOTFOUND if
// none.
func (s *ChallengeService) FindChallengeByLink(ctx context.Context, linkHash []byte) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.findLink, tenantID, linkHash))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// UpdateChallenge sets a pending challenge's user (when it had none) and
// WebAuthn session. ENOTFOUND unless it is pending and unexpired.
func (s *ChallengeService) UpdateChallenge(ctx context.Context, id, userID string, session []byte) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	return s.db.write(ctx, func(tx *Tx) error {
		res, err := tx.exec(s.update, userID, session, tenantID, id, micros(tx.now))
		if err != nil {
			return fmt.Errorf("update challenge: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update challenge: %w", err)
		} else if n == 0 {
			return clean(vigil.Errorf(vigil.ENOTFOUND, "Challenge not found."))
		}
		return nil
	})
}

// MarkLinkVerified moves a pending magic-link challenge to verified.
func (s *ChallengeService) MarkLinkVerified(ctx context.Context, id string) (bool, error) {
	return s.markVerified(ctx, true, id)
}

// MarkVerified moves a pending challenge to verified.
func (s *ChallengeService) MarkVerified(ctx context.Context, id string) (bool, error) {
	return s.markVerified(ctx, false, id)
}

// markVerified moves a pending challenge (a magic link's, with link) to
// verified and reports whether it changed it: markLink or markVerifiedSQL
// in a transaction, or on PostgreSQL markStatement, one self-committing
// statement for the batch's challenges.
func (s *ChallengeService) markVerified(ctx context.Context, link bool, id string) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	q := s.markVerifiedSQL
	if link {
		q = s.markLink
	}
	m := &markRow{tenantID: tenantID, id: id, link: link}
	fn := func(tx *Tx) error {
		now := micros(tx.now)
		res, err := tx.exec(q, now, tenantID, id, now)
		if err != nil {
			return fmt.Errorf("mark challenge verified: %w", err)
		}
		n, err := res.RowsAffected()
		m.ok = n == 1
		return err
	}
	err = s.db.run(ctx, &writeOp{fn: fn, group: s.marks, data: m})
	return m.ok, err
}

// markRow is one MarkVerified (or MarkLinkVerified, with link); ok is its
// result.
type markRow struct {
	tenantID, id string
	link         bool
	ok           bool
}

// markKeys names the challenge a MarkVerified changes.
func markKeys(op *writeOp) []string {
	m := op.data.(*markRow)
	return []string{m.tenantID + "\x00" + m.id}
}

// commitMarks marks the challenges of ops (all different) verified in
// one self-committing statement.
func (s *ChallengeService) commitMarks(ops []*writeOp) error {
	size := sizeClass(len(ops))
	args := make([]any, 0, 1+3*size)
	args = append(args, micros(s.db.now()))
	for _, op := range ops {
		m := op.data.(*markRow)
		args = append(args, m.tenantID, m.id, m.link)
	}
	for range size - len(ops) {
		args = append(args, nil, nil, false)
	}
	rows, err := s.db.writePool.QueryContext(context.Background(), s.statement(markStatement{size}), args...)
	if err != nil {
		return fmt.Errorf("mark challenges verified: %w", err)
	}
	defer rows.Close()
	marked := make(map[[2]string]bool, len(ops))
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			return fmt.Errorf("mark challenges verified: %w", err)
		}
		marked[k] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("mark challenges verified: %w", err)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("mark challenges verified: %w", err)
	}
	for _, op := range ops {
		m := op.data.(*markRow)
		m.ok = marked[[2]string{m.tenantID, m.id}]
		op.done <- nil
	}
	return nil
}

// splitByKeys splits ops into runs that share no key, keeping queue order
// between ops that do: an op goes in the run after the last one holding
// any of its keys.
func splitByKeys(ops []*writeOp, keys func(*writeOp) []string) [][]*writeOp {
	if len(ops) == 1 {
		return [][]*writeOp{ops}
	}
	var parts [][]*writeOp
	last := make(map[string]int)
	for _, op := range ops {
		ks := keys(op)
		p := 0
		for _, k := range ks {
			if q, ok := last[k]; ok && q >= p {
				p = q + 1
			}
		}
		for _, k := range ks {
			last[k] = p
		}
		if p == len(parts) {
			parts = append(parts, nil)
		}
		parts[p] = append(parts[p], op)
	}
	return parts
}

// FindLiveChallenge returns the newest live challenge of a user and action
// code (and method, unless m is "").
func (s *ChallengeService) FindLiveChallenge(ctx context.Context, userID, actionCode string, m vigil.VerificationMethod) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.findLive, tenantID, userID, actionCode, string(m), string(m), micros(s.db.now())))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// FailChallenge counts a wrong answer and fails the challenge, and its
// action if CHALLENGE_REQUIRED, at maxAttempts, in one transaction.
func (s *ChallengeService) FailChallenge(ctx context.Context, userID, id string, maxAttempts int) (int, bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return 0, false, err
	}
	if maxAttempts <= 0 {
		maxAttempts = vigil.DefaultMaxAttempts
	}
	var attempts int
	var failed bool
	err = s.db.writeUser(ctx, tenantID, userID, func(tx *Tx) error {
		var state string
		var a vigil.ActionRef
		args := []any{maxAttempts, tenantID, id, userID}
		if s.lockUser != "" {
			args = append(args, tenantID, userID)
		}
		err := tx.queryRow(s.fail, args...).Scan(&attempts, &state, &a.UserID, &a.ActionCode, &a.IdempotencyKey)
		if errors.Is(err, sql.ErrNoRows) {
			// Not pending: already failed, used or superseded.
			attempts, failed = maxAttempts, true
			return nil
		} else if err != nil {
			return fmt.Errorf("fail challenge: %w", err)
		}
		failed = state == string(vigil.ChallengeFailed)
		if failed && a.ActionCode != "" {
			now := micros(tx.now)
			if _, err := tx.exec(s.failAction, now, now, tenantID, a.UserID, a.ActionCode, a.IdempotencyKey); err != nil {
				return fmt.Errorf("fail action: %w", err)
			}
		}
		return nil
	})
	return attempts, failed, err
}

// errNotCompletable is the one answer a client gets for every way a
// verification cannot complete: the detail is the server's to log.
func errNotCompletable(detail string) error {
	return clean(fmt.Errorf("%s: %w", detail, vigil.Errorf(vigil.EINVALID, "The verification could not be completed.")))
}

// CompleteChallenge records a successful verification in one transaction.
func (s *ChallengeService) CompleteChallenge(ctx context.Context, c *vigil.Completion) (*vigil.Action, *vigil.Authenticator, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, nil, err
	}
	ref := c.Action
	var create func(*Tx) error
	var created *vigil.Authenticator
	if c.NewAuthenticator != nil {
		na := *c.NewAuthenticator
		na.UserID = ref.UserID
		na.VerifiedAt, na.LastVerifiedAt = s.db.now(), s.db.now()
		if create, err = s.auths.prepare(tenantID, &na, &created); err != nil {
			return nil, nil, err
		}
	}
	var outAction *vigil.Action
	var outAuth *vigil.Authenticator
	err = s.db.writeUser(ctx, tenantID, ref.UserID, func(tx *Tx) error {
		outAction, outAuth, created = nil, nil, nil
		now := micros(tx.now)
		if s.lockUser != "" && c.ChallengeID == "" {
			if _, err := tx.exec(s.lockUser, tenantID, ref.UserID); err != nil {
				return fmt.Errorf("lock user: %w", err)
			}
		}
		if c.ChallengeID != "" {
			args := []any{now, tenantID, c.ChallengeID, now}
			if s.lockUser != "" {
				args = append(args, tenantID, ref.UserID)
			}
			res, err := tx.exec(s.use, args...)
			if err != nil {
				return fmt.Errorf("use challenge: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("use challenge: %w", err)
			} else if n == 0 {
				return errNotCompletable("challenge not pending or expired")
			}
		}
		before, err := scanAction(tx.queryRow(s.findAction, tenantID, ref.UserID, ref.ActionCode, ref.IdempotencyKey))
		if errors.Is(err, sql.ErrNoRows) {
			return errNotCompletable("action not found")
		} else if err != nil {
			return fmt.Errorf("find action: %w", err)
		}
		switch before.State {
		case vigil.StateChallengeRequired, vigil.StateAllow, vigil.StateChallengeSucceeded:
		default:
			return clean(vigil.Errorf(vigil.EFORBIDDEN, "This action cannot be completed with a challenge (state %s).", before.State))
		}

		authID := c.AuthenticatorID
		if create != nil {
			if err := create(tx); err != nil {
				return err
			}
			outAuth, authID = created, created.ID
			if c.TOTPStep > 0 {
				// The enrolling code is used: it cannot verify again.
				if _, err := tx.exec(s.touchTOTP, now, c.TOTPStep, tenantID, ref.UserID, authID, c.TOTPStep); err != nil {
					return fmt.Errorf("update authenticator: %w", err)
				}
			}
		} else if authID != "" {
			var res sql.Result
			if c.TOTPStep > 0 {
				res, err = tx.exec(s.touchTOTP, now, c.TOTPStep, tenantID, ref.UserID, authID, c.TOTPStep)
			} else {
				res, err = tx.exec(s.touchAuth, now, tenantID, ref.UserID, authID)
			}
			if err != nil {
				return fmt.Errorf("update authenticator: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("update authenticator: %w", err)
			} else if n == 0 {
				return errNotCompletable("authenticator missing or TOTP step already used")
			}
			if c.SignCount != nil {
				if err := s.setSignCount(tx, tenantID, ref.UserID, authID, *c.SignCount); err != nil {
					return err
				}
			}
		}
		if c.RecoveryCodeHash != nil {
			res, err := tx.exec(s.useCode, now, tenantID, ref.UserID, c.RecoveryCodeHash)
			if err != nil {
				return fmt.Errorf("use recovery code: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("use recovery code: %w", err)
			} else if n == 0 {
				return errNotCompletable("recovery code unknown or used")
			}
		}
		if c.NewRecoveryCodes != nil {
			if _, err := tx.exec(s.deleteCodes, tenantID, ref.UserID); err != nil {
				return fmt.Errorf("replace recovery codes: %w", err)
			}
			for _, h := range c.NewRecoveryCodes {
				if _, err := tx.exec(s.insertCode, tenantID, ref.UserID, h, now); err != nil {
					return fmt.Errorf("store recovery code: %w", err)
				}
			}
		}

		if before.State == vigil.StateChallengeSucceeded {
			outAction = before
			return nil
		}
		a, err := scanAction(tx.queryRow(s.succeed, now, now, string(c.Method), authID,
			tenantID, ref.UserID, ref.ActionCode, ref.IdempotencyKey))
		if err != nil {
			return fmt.Errorf("complete action: %w", err)
		}
		if err := s.verify.record(tx, a, now); err != nil {
			return err
		}
		outAction = a
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return outAction, outAuth, nil
}

// setSignCount rewrites a WebAuthn credential's counter.
func (s *ChallengeService) setSignCount(tx *Tx, tenantID, userID, authID string, count uint32) error {
	var raw sql.NullString
	err := tx.queryRow(s.findCred, tenantID, userID, authID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !raw.Valid) {
		return errNotCompletable("credential missing")
	} else if err != nil {
		return fmt.Errorf("find credential: %w", err)
	}
	var cred vigil.WebAuthnCredential
	if err := json.Unmarshal([]byte(raw.String), &cred); err != nil {
		return fmt.Errorf("decode credential: %w", err)
	}
	cred.SignCount = count
	b, err := json.Marshal(&cred)
	if err != nil {
		return fmt.Errorf("encode credential: %w", err)
	}
	if _, err := tx.exec(s.touchCount, string(b), tenantID, userID, authID); err != nil {
		return fmt.Errorf("update credential: %w", err)
	}
	return nil
}

// FindCredential returns the authenticator with a WebAuthn credential ID.
func (s *ChallengeService) FindCredential(ctx context.Context, credentialID string) (*vigil.Authenticator, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.auths.scan(s.db.readRow(ctx, s.findCredential, tenantID, credentialID))
	if err != nil {
		return nil, unclean(noRows("find credential", err, "Credential not found."))
	}
	return a, nil
}

// FindRecoveryCodes returns the hashes of the user's unused recovery codes.
func (s *ChallengeService) FindRecoveryCodes(ctx context.Context, userID string) ([][]byte, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.findCodes, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("find recovery codes: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("find recovery codes: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find recovery codes: %w", err)
	}
	return out, nil
}

// HasRecoveryCodes reports whether the user has unused recovery codes.
func (s *ChallengeService) HasRecoveryCodes(ctx context.Context, userID string) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	var n int
	if err := s.db.readRow(ctx, s.hasCodes, tenantID, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("count recovery codes: %w", err)
	}
	return n > 0, nil
}
