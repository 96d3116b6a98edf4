package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// enrollReader reads users' authenticators for the risk state of tracks
// whose rules need nothing else, on PostgreSQL, where each read would
// otherwise be a round trip and a statement of its own per track. Like
// group commit, it batches: each of its goroutines takes the first waiting
// request and whatever else is waiting (up to maxEnrollBatch) and answers
// them all with one statement, and requests pile up while a statement is
// in flight. A request is read no earlier than it was made, so it sees
// every write acknowledged before it, as a read of its own would.
type enrollReader struct {
	db   *DB
	q    string
	reqs chan *enrollReq

	stop chan struct{}
	wg   sync.WaitGroup
}

type enrollReq struct {
	tenantID, userID string
	auths            string // the risk state aggregate, "method:isDefault,..."
	err              error
	done             chan struct{}
}

const (
	maxEnrollBatch = 128
	enrollReaders  = 2
)

func newEnrollReader(db *DB) *enrollReader {
	r := &enrollReader{
		db: db,
		// One row per requested user, in any order; a correlated
		// subquery per user through authenticators_user_idx.
		q: `SELECT r.tenant_id, r.user_id, (SELECT string_agg(a.method || ':' || CASE WHEN a.is_default THEN '1' ELSE '0' END,
				',' ORDER BY a.created_at, a.id)
			FROM authenticators AS a WHERE a.tenant_id = r.tenant_id AND a.user_id = r.user_id)
			FROM unnest($1::text[], $2::text[]) AS r (tenant_id, user_id)`,
		reqs: make(chan *enrollReq, 4*maxEnrollBatch),
		stop: make(chan struct{}),
	}
	for range enrollReaders {
		r.wg.Add(1)
		go r.run()
	}
	return r
}

// find returns the authenticator aggregate of a user ("" for none).
func (r *enrollReader) find(ctx context.Context, tenantID, userID string) (string, error) {
	req := &enrollReq{tenantID: tenantID, userID: userID, done: make(chan struct{})}
	select {
	case r.reqs <- req:
	case <-r.stop:
		return "", errors.New("sqlstore: the database is closed")
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case <-req.done:
		return req.auths, req.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func (r *enrollReader) run() {
	defer r.wg.Done()
	batch := make([]*enrollReq, 0, maxEnrollBatch)
	for {
		select {
		case <-r.stop:
			return
		case req := <-r.reqs:
			batch = append(batch[:0], req)
		}
	fill:
		for len(batch) < maxEnrollBatch {
			select {
			case req := <-r.reqs:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		r.read(batch)
		clear(batch)
	}
}

// read answers every request of batch.
func (r *enrollReader) read(batch []*enrollReq) {
	err := r.query(batch)
	for _, req := range batch {
		if err != nil {
			req.err = err
		}
		close(req.done)
	}
}

func (r *enrollReader) query(batch []*enrollReq) error {
	tenants, users := make([]string, len(batch)), make([]string, len(batch))
	byKey := make(map[enrollKey][]*enrollReq, len(batch))
	for i, req := range batch {
		tenants[i], users[i] = req.tenantID, req.userID
		k := enrollKey{req.tenantID, req.userID}
		byKey[k] = append(byKey[k], req)
	}
	rows, err := r.db.read.QueryContext(context.Background(), r.q, tenants, users)
	if err != nil {
		return fmt.Errorf("find authenticators: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k enrollKey
		var auths *string
		if err := rows.Scan(&k.tenantID, &k.userID, &auths); err != nil {
			return fmt.Errorf("find authenticators: %w", err)
		}
		for _, req := range byKey[k] {
			if auths != nil {
				req.auths = *auths
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find authenticators: %w", err)
	}
	return nil
}

// close stops the goroutines; requests still waiting get an error.
func (r *enrollReader) close() {
	close(r.stop)
	r.wg.Wait()
	for {
		select {
		case req := <-r.reqs:
			req.err = errors.New("sqlstore: the database is closed")
			close(req.done)
		default:
			return
		}
	}
}
