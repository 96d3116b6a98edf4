package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

// batchReader runs, on PostgreSQL, the point reads of the hot paths (a
// track's authenticators, a validation's action) for many requests in one
// statement, where each would otherwise be a round trip and a statement of
// its own. Like group commit it batches without waiting: each of its
// goroutines takes the first waiting request and whatever else is waiting
// (up to maxReadBatch), and requests pile up while a statement is in
// flight. A request is read no earlier than it was made, so it sees every
// write acknowledged before it, as a read of its own would.
//
// The statement takes one array parameter per key field and returns, per
// key found, the key and the value (rows for keys not found are absent).
type batchReader[K comparable, V any] struct {
	what string // for errors
	read *sql.DB
	q    string
	args func(keys []K) []any               // the statement's arguments for the keys
	scan func(rows *sql.Rows) (K, V, error) // one returned row

	reqs chan *readReq[K, V]
	stop chan struct{}
	wg   sync.WaitGroup
}

type readReq[K comparable, V any] struct {
	key   K
	val   V
	found bool
	err   error
	done  chan struct{}
}

const (
	maxReadBatch = 128
	// batchReaders is the goroutines per batchReader. One makes the
	// largest batches: against two, PostgreSQL spent 57-66 µs of CPU per
	// track instead of 66-86 at the same throughput.
	batchReaders = 1
)

var errReadClosed = errors.New("sqlstore: the database is closed")

// batchReadTimeout bounds one batched statement, so that a stuck server
// cannot hold a reader (and Close) forever.
const batchReadTimeout = 30 * time.Second

func newBatchReader[K comparable, V any](what string, read *sql.DB, q string, args func([]K) []any,
	scan func(*sql.Rows) (K, V, error)) *batchReader[K, V] {
	r := &batchReader[K, V]{what: what, read: read, q: q, args: args, scan: scan,
		reqs: make(chan *readReq[K, V], 4*maxReadBatch), stop: make(chan struct{})}
	for range batchReaders {
		r.wg.Add(1)
		go r.run()
	}
	return r
}

// find returns the value stored under key, and whether there is one.
func (r *batchReader[K, V]) find(ctx context.Context, key K) (V, bool, error) {
	var zero V
	req := &readReq[K, V]{key: key, done: make(chan struct{})}
	select {
	case r.reqs <- req:
	case <-r.stop:
		return zero, false, errReadClosed
	case <-ctx.Done():
		return zero, false, ctx.Err()
	}
	select {
	case <-req.done:
		return req.val, req.found, req.err
	case <-ctx.Done():
		return zero, false, ctx.Err()
	}
}

func (r *batchReader[K, V]) run() {
	defer r.wg.Done()
	batch := make([]*readReq[K, V], 0, maxReadBatch)
	for {
		select {
		case <-r.stop:
			return
		case req := <-r.reqs:
			batch = append(batch[:0], req)
		}
	fill:
		for len(batch) < maxReadBatch {
			select {
			case req := <-r.reqs:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		err := r.query(batch)
		for _, req := range batch {
			if err != nil {
				req.err = err
			}
			close(req.done)
		}
		clear(batch)
	}
}

// query sets the values of the requests of batch that it finds.
func (r *batchReader[K, V]) query(batch []*readReq[K, V]) error {
	keys := make([]K, len(batch))
	byKey := make(map[K][]*readReq[K, V], len(batch))
	for i, req := range batch {
		keys[i] = req.key
		byKey[req.key] = append(byKey[req.key], req)
	}
	// The requests' own contexts stay with them (a caller gone early gets
	// its context's error); the statement itself is bounded.
	ctx, cancel := context.WithTimeout(context.Background(), batchReadTimeout)
	defer cancel()
	rows, err := r.read.QueryContext(ctx, r.q, r.args(keys)...)
	if err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	defer rows.Close()
	for rows.Next() {
		k, v, err := r.scan(rows)
		if err != nil {
			return fmt.Errorf("%s: %w", r.what, err)
		}
		for _, req := range byKey[k] {
			req.val, req.found = v, true
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", r.what, err)
	}
	return nil
}

// close stops the goroutines; requests still waiting get an error.
func (r *batchReader[K, V]) close() {
	close(r.stop)
	r.wg.Wait()
	for {
		select {
		case req := <-r.reqs:
			req.err = errReadClosed
			close(req.done)
		default:
			return
		}
	}
}

// newEnrollReader batches the authenticator reads of tracks whose rules
// need nothing else of the user's history. The value holds the risk state
// query's aggregate, "method:isDefault,..." in creation order, and the
// version of the user's history it was read at (see enrollRead); a user
// with none has a row with NULL, so every key is found.
func newEnrollReader(db *DB) *batchReader[enrollKey, enrollRead] {
	q := `SELECT r.tenant_id, r.user_id, (SELECT string_agg(a.method || ':' || CASE WHEN a.is_default THEN '1' ELSE '0' END,
			',' ORDER BY a.created_at, a.id)
		FROM authenticators AS a WHERE a.tenant_id = r.tenant_id AND a.user_id = r.user_id),
		u.hist_base, u.hist_ver, u.hist_watch
		FROM unnest($1::text[], $2::text[]) AS r (tenant_id, user_id)
		LEFT JOIN users AS u ON u.tenant_id = r.tenant_id AND u.id = r.user_id`
	args := func(keys []enrollKey) []any {
		tenants, users := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			tenants[i], users[i] = k.tenantID, k.userID
		}
		return []any{tenants, users}
	}
	scan := func(rows *sql.Rows) (enrollKey, enrollRead, error) {
		var k enrollKey
		var auths sql.NullString
		var base, ver sql.NullInt64
		var watch sql.NullBool
		err := rows.Scan(&k.tenantID, &k.userID, &auths, &base, &ver, &watch)
		r := enrollRead{auths: auths.String}
		if base.Valid && ver.Valid && !watch.Bool {
			r.ver, r.cacheable = histVer{base.Int64, ver.Int64}, true
		}
		return k, r, err
	}
	return newBatchReader("find authenticators", db.batchRead, q, args, scan)
}

// enrollRead is what newEnrollReader reads of one user: the authenticators
// ("method:isDefault,...", "" for none) and, when the user's row exists and
// no server watches the user's history (so that tracks leave its version
// alone), the version of the user's history that they belong to.
type enrollRead struct {
	auths     string
	ver       histVer
	cacheable bool
}

// newActionReader batches FindAction, the read of every validation. The
// LATERAL subquery makes PostgreSQL probe the unique key index once per
// requested key, whatever its statistics say about the table. Rows are
// decoded by the requester, not by the reader's goroutine.
// With cols actionStateCols and scan scanState it batches FindActionState.
func newActionReader(db *DB, cols string, scan func(*rawAction, rowScanner) error) *batchReader[actionRef, *rawAction] {
	q := `SELECT x.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
			AS r (tenant_id, user_id, action_code, idempotency_key)
		CROSS JOIN LATERAL (SELECT ` + cols + ` FROM actions AS a
			WHERE a.tenant_id = r.tenant_id AND a.idempotency_key = r.idempotency_key
			AND a.user_id = r.user_id AND a.action_code = r.action_code) AS x`
	args := func(keys []actionRef) []any {
		cols := [4][]string{}
		for i := range cols {
			cols[i] = make([]string, len(keys))
		}
		for i, k := range keys {
			cols[0][i], cols[1][i], cols[2][i], cols[3][i] = k.tenantID, k.userID, k.code, k.key
		}
		return []any{cols[0], cols[1], cols[2], cols[3]}
	}
	scanRow := func(rows *sql.Rows) (actionRef, *rawAction, error) {
		var r rawAction
		if err := scan(&r, rows); err != nil {
			return actionRef{}, nil, err
		}
		return actionRef{r.a.TenantID, r.a.UserID, r.a.Code, r.a.IdempotencyKey}, &r, nil
	}
	return newBatchReader("find action", db.batchRead, q, args, scanRow)
}

// riskKey is one risk state read as riskReaders batch it: the user, the
// parts of the query that vary by track, and the track's time.
type riskKey struct {
	tenantID, userID, code, deviceID, ip string
	now                                  int64 // micros
}

// riskReaders batches, on PostgreSQL, the risk state reads of tracks whose
// rules read the user's history: one reader per set of needs, made on first
// use (a deployment's rules make few distinct sets).
type riskReaders struct {
	db *DB

	mu      sync.Mutex
	readers map[vigil.RiskNeeds]*batchReader[riskKey, *riskRow]
	closed  bool
}

func newRiskReaders(db *DB) *riskReaders {
	return &riskReaders{db: db, readers: make(map[vigil.RiskNeeds]*batchReader[riskKey, *riskRow])}
}

// reader returns the batch reader of need; nil once closed.
func (rr *riskReaders) reader(need vigil.RiskNeeds) *batchReader[riskKey, *riskRow] {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.closed {
		return nil
	}
	r, ok := rr.readers[need]
	if !ok {
		r = newRiskReader(rr.db, need)
		rr.readers[need] = r
	}
	return r
}

func (rr *riskReaders) close() {
	rr.mu.Lock()
	rr.closed = true
	readers := rr.readers
	rr.mu.Unlock()
	for _, r := range readers {
		r.close()
	}
}

// newRiskReader batches the risk state reads of one set of needs: the risk
// state query (RiskStateService.query) with each track's values taken from
// a row of unnest instead of parameters, and its subqueries correlated to
// that row, so that PostgreSQL probes the same indexes once per track in
// one statement.
func newRiskReader(db *DB, need vigil.RiskNeeds) *batchReader[riskKey, *riskRow] {
	cols := append([]string{`r.tenant_id, r.user_id, r.action_code, r.device_id, r.ip_address, r.now`},
		riskColumns(need, true, riskRefs{tenant: "r.tenant_id", user: "r.user_id", device: "r.device_id", ip: "r.ip_address"})...)
	if need&activityNeeds != 0 {
		cols = append(cols, `act.h, act.d, act.f, act.ips`)
	}
	q := `SELECT ` + strings.Join(cols, ",\n\t") + `
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
			AS r (tenant_id, user_id, action_code, device_id, ip_address, now)`
	if need&vigil.NeedUser != 0 {
		q += `
		LEFT JOIN users AS u ON u.tenant_id = r.tenant_id AND u.id = r.user_id`
	}
	if need&activityNeeds != 0 {
		h, d := strconv.FormatInt(hour, 10), strconv.FormatInt(day, 10)
		q += `
		CROSS JOIN LATERAL (SELECT
			COALESCE(SUM(CASE WHEN x.action_code = r.action_code AND x.created_at >= r.now - ` + h + ` THEN 1 ELSE 0 END), 0) AS h,
			COALESCE(SUM(CASE WHEN x.action_code = r.action_code AND x.created_at >= r.now - ` + d + ` THEN 1 ELSE 0 END), 0) AS d,
			COALESCE(SUM(CASE WHEN x.state = '` + string(vigil.StateChallengeFailed) + `' AND x.state_updated_at >= r.now - ` + h + ` THEN 1 ELSE 0 END), 0) AS f,
			COUNT(DISTINCT CASE WHEN x.created_at >= r.now - ` + d + ` AND x.ip_address <> '' THEN x.ip_address END) AS ips
			FROM (SELECT a.action_code, a.created_at, a.state, a.state_updated_at, a.ip_address FROM actions AS a
				WHERE a.tenant_id = r.tenant_id AND a.user_id = r.user_id
				AND a.created_at >= r.now - ` + strconv.FormatInt(activityReach(need), 10) + ` AND a.created_at <= r.now
				ORDER BY a.tenant_id DESC, a.user_id DESC, a.created_at DESC
				LIMIT ` + strconv.Itoa(vigil.MaxVelocityCount) + `) AS x) AS act`
	}
	args := func(keys []riskKey) []any {
		var cols [5][]string
		for i := range cols {
			cols[i] = make([]string, len(keys))
		}
		nows := make([]int64, len(keys))
		for i, k := range keys {
			cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], nows[i] = k.tenantID, k.userID, k.code, k.deviceID, k.ip, k.now
		}
		return []any{cols[0], cols[1], cols[2], cols[3], cols[4], nows}
	}
	scan := func(rows *sql.Rows) (riskKey, *riskRow, error) {
		var k riskKey
		row := &riskRow{}
		err := rows.Scan(row.dest(need, []any{&k.tenantID, &k.userID, &k.code, &k.deviceID, &k.ip, &k.now})...)
		return k, row, err
	}
	return newBatchReader("find risk state", db.batchRead, q, args, scan)
}
