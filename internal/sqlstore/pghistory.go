package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	vigil "github.com/vigil-auth/vigil"
)

// On PostgreSQL the history cache (historyCache, the same entries and
// bounds as SQLite's) is kept exact by versions instead of by a single
// writer, since other servers may write the same database:
//
//   - Each user row carries a version of the user's history (migration
//     0014): (hist_base, hist_ver), bumped in the transaction of every
//     change to what the risk state reads, a track's included once the
//     user is watched (hist_watch). An absent user is version (0, 0), and
//     an absent user has no history: authenticators reference the user
//     row, a track writes its action, device and user row in one
//     statement, a verification needs an action of the user, and
//     DeleteUser removes all of them in one transaction.
//   - Only watched (or absent) users are cached, so tracks of users whose
//     history no rule reads write nothing to their user row. A read of an
//     unwatched user's history asks this server's next track of the user
//     to watch it (wantWatch); the track statement sets the flag under the
//     row lock it takes anyway, and every track after it sees the flag (it
//     locks the row and reads its latest version) and advances the
//     version.
//   - An entry is the history of one committed version, read in one
//     statement with the version.
//   - A track's read answers from the entry without asking PostgreSQL,
//     and names the entry's version (vigil.RiskState.Version): the
//     action's insert stores the row only if the user's row is still at
//     that version in the statement's snapshot (see enrollCache, whose
//     check it shares). Otherwise CreateAction returns ErrStaleState and
//     the track is decided again with RiskQuery.Fresh. The entry must
//     also be of the current DB.histGen, so that this server's own
//     changes (an enrollment, a verification, a deleted user) are seen at
//     once rather than refused by the write.
//   - A fresh read, or one whose entry is of an older generation, sends
//     the version of the entry it has (histReader). PostgreSQL answers
//     with one index probe of the user row when that is still the user's
//     version (the entry is then of the read's generation), and with the
//     whole history, as of its version, when it is not: one statement
//     either way, batched with other tracks' like every hot read.
//   - A track statement returns the version it left each user at. A
//     server that inserted k actions of a user whose entry it holds at
//     version (b, v) knows that (b, v+k) means nothing else changed, and
//     applies its own actions to the entry (applyVersioned); and, for an
//     entry of an absent user, that (b, k) means the statement created the
//     user. Any other version drops the entry.
//
// A read that sent a version derives from that entry, or from a later
// version of it (which the writer advanced meanwhile): a committed state at
// least as new as the read, which is what a read of the tables would see.
// A read answered from the entry alone may be older than the tables (a
// read that loaded the user just before one of this server's batches
// committed stores the version before it, and another server's writes are
// not seen), which the version check of the action's write catches.

// histVer is a version of one user's history: hist_base and hist_ver of
// the user row, (0, 0) for an absent user.
type histVer struct{ base, ver int64 }

// noHistVer is sent for a user whose entry the server lacks: it matches no
// version.
var noHistVer = histVer{-1, -1}

// histKey is one read of histReader: the user, the start of the window of
// actions to read when the version differs, and the version held.
type histKey struct {
	tenantID, userID string
	from             int64
	held             histVer
}

// histRow is histReader's answer for one key: the user's version, whether
// the user is watched, and unless it is the version held, the history as of
// it (nil history: the user has too much of it to cache).
type histRow struct {
	cur     histVer
	watched bool
	same    bool
	history *history
}

// histReaderSQL returns the statement of histReader: per key, the user's
// version and, when it differs from the one held, what historySQL reads.
// The subqueries run only then, and only for a user whose row exists: an
// absent user has no history (see above), and a track of a user never
// seen before, the first read of every new user, costs one probe of users.
func histReaderSQL() string {
	cols := historyColumns(true, riskRefs{tenant: "r.tenant_id", user: "r.user_id"}, "r.from_at", "$6")
	for i := 1; i < len(cols); i++ { // all but the user row's columns
		cols[i] = `CASE WHEN NOT x.same AND u.id IS NOT NULL THEN ` + cols[i] + ` END`
	}
	return `SELECT r.tenant_id, r.user_id, r.from_at, r.base, r.ver,
	COALESCE(u.hist_base, 0), COALESCE(u.hist_ver, 0), COALESCE(u.hist_watch, FALSE), x.same,
	` + strings.Join(cols, ",\n\t") + `
	FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS r (tenant_id, user_id, from_at, base, ver)
	LEFT JOIN users AS u ON u.tenant_id = r.tenant_id AND u.id = r.user_id
	CROSS JOIN LATERAL (SELECT COALESCE(u.hist_base, 0) = r.base AND COALESCE(u.hist_ver, 0) = r.ver AS same) AS x`
}

// newHistReader batches, on PostgreSQL, the history reads of tracks whose
// rules read the user's history (see histReaderSQL). Every key has a row.
func newHistReader(db *DB) *batchReader[histKey, *histRow] {
	args := func(keys []histKey) []any {
		tenants, users := make([]string, len(keys)), make([]string, len(keys))
		froms, bases, vers := make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))
		for i, k := range keys {
			tenants[i], users[i], froms[i], bases[i], vers[i] = k.tenantID, k.userID, k.from, k.held.base, k.held.ver
		}
		return []any{tenants, users, froms, bases, vers, int64(maxHistoryRows + 1)}
	}
	scan := func(rows *sql.Rows) (histKey, *histRow, error) {
		var k histKey
		r := &histRow{}
		var h history // escapes only for a stale version
		var auths, rawDevices, rawIPs, rawActions sql.NullString
		if err := rows.Scan(&k.tenantID, &k.userID, &k.from, &k.held.base, &k.held.ver,
			&r.cur.base, &r.cur.ver, &r.watched, &r.same,
			&h.userExists, &h.email, &h.phone, &h.username, &h.custom, &h.created, &h.lastVerified,
			&auths, &rawDevices, &rawIPs, &rawActions); err != nil {
			return k, nil, err
		}
		if r.same {
			return k, r, nil
		}
		h.from, h.ver, h.auths = k.from, r.cur, auths.String
		ok, err := h.decode(jsonArray(rawDevices), jsonArray(rawIPs), jsonArray(rawActions))
		if err != nil {
			return k, nil, err
		}
		if ok {
			r.history = &h
		}
		return k, r, nil
	}
	return newBatchReader("find risk history", db.batchRead, histReaderSQL(), args, scan)
}

// jsonArray returns one of histReaderSQL's arrays: NULL, not read, is an
// absent user's, empty.
func jsonArray(s sql.NullString) string {
	if !s.Valid {
		return "[]"
	}
	return s.String
}

// fromVersioned fills st from the history cache on PostgreSQL, checking
// the entry's version in the same batched statement that reads the user's
// history when it is stale; false when the user has too much history to
// cache.
func (s *RiskStateService) fromVersioned(ctx context.Context, k enrollKey, q *vigil.RiskQuery, need vigil.RiskNeeds, st *vigil.RiskState) (bool, error) {
	c := s.db.pgHist
	now := micros(q.Now)
	from := now - day - hour
	gen := s.db.histGen.Load()
	if !q.Fresh {
		// The entry as it is, checked by the action's write instead of a
		// read (vigil.RiskState.Version).
		if custom, v, ok := c.deriveHeld(k, gen, from, now, q, need, st); ok {
			if v == (histVer{}) {
				c.wantWatch(k) // as below: the user is absent
			}
			st.Version = formatStateVersion(v)
			return true, fillCustom(custom, st)
		}
	}
	held := c.heldVersion(k, from)
	for {
		r, found, err := s.db.histReads.find(ctx, histKey{tenantID: k.tenantID, userID: k.userID, from: from, held: held})
		if err != nil {
			return false, err
		}
		if !found {
			return false, fmt.Errorf("find risk history: no row for user %q", k.userID)
		}
		absent := r.cur == (histVer{})
		if absent || !r.watched {
			// The track that follows watches the user, so that this
			// server can keep the user's history from the next read on.
			c.wantWatch(k)
		}
		var custom sql.NullString
		switch {
		case r.same:
			var ok bool
			if custom, ok = c.deriveFrom(k, held, gen, now, q, need, st); !ok {
				// The entry went (trimmed, or dropped by the writer)
				// between the read's start and its answer: read again,
				// holding nothing.
				held = noHistVer
				continue
			}
		case r.history == nil:
			c.misses.Add(1)
			c.uncached.Add(1)
			return false, nil
		case absent || r.watched: // only these are kept (see above)
			custom = c.putVersioned(k, r.history, gen, now, q, need, st)
		default:
			// Tracks of an unwatched user do not advance its version: its
			// history is read each time until it is watched. (h is not
			// stored, so it is not changed under the read.)
			c.misses.Add(1)
			custom = r.history.derive(k, now, q, need, st)
		}
		return true, fillCustom(custom, st)
	}
}

// wantWatch records that k's next track should watch its user; takeWatch
// says whether it should, and forgets it. A server that loses the record
// (the set is bounded) only reads that user's history once more.
func (c *historyCache) wantWatch(k enrollKey) {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if c.watch == nil || len(c.watch) >= maxHistoryEntries {
		c.watch = make(map[enrollKey]struct{})
	}
	c.watch[k] = struct{}{}
}

func (c *historyCache) takeWatch(k enrollKey) bool {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	_, ok := c.watch[k]
	delete(c.watch, k)
	return ok
}

// heldVersion returns the version of k's entry if it holds every action
// from from on; else noHistVer.
func (c *historyCache) heldVersion(k enrollKey, from int64) histVer {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if h := c.m[k]; h != nil && h.from <= from {
		return h.ver
	}
	return noHistVer
}

// deriveHeld fills st from k's entry if it is of generation gen and holds
// every action from from on, and returns the entry's version.
func (c *historyCache) deriveHeld(k enrollKey, gen uint64, from, now int64, q *vigil.RiskQuery, need vigil.RiskNeeds, st *vigil.RiskState) (sql.NullString, histVer, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h := c.m[k]
	if h == nil || h.gen != gen || h.from > from {
		return sql.NullString{}, noHistVer, false
	}
	c.hits.Add(1)
	return h.derive(k, now, q, need, st), h.ver, true
}

// deriveFrom fills st from k's entry if it is still at version v or a
// later one of the same user row, v having been confirmed by a read that
// loaded generation gen before it started: the entry is then of gen too.
func (c *historyCache) deriveFrom(k enrollKey, v histVer, gen uint64, now int64, q *vigil.RiskQuery, need vigil.RiskNeeds, st *vigil.RiskState) (sql.NullString, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.m[k]
	if h == nil || h.ver.base != v.base || h.ver.ver < v.ver || h.from > now-day-hour {
		return sql.NullString{}, false
	}
	c.hits.Add(1)
	h.gen = max(h.gen, gen)
	return h.derive(k, now, q, need, st), true
}

// putVersioned stores h, just read, as k's entry unless the entry is
// already at a later version of the same user row, and fills st from h.
// h may be shared by reads of the same key in one batch, so it is read and
// stored under the lock, like every entry.
func (c *historyCache) putVersioned(k enrollKey, h *history, gen uint64, now int64, q *vigil.RiskQuery, need vigil.RiskNeeds, st *vigil.RiskState) sql.NullString {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.misses.Add(1)
	custom := h.derive(k, now, q, need, st)
	if old := c.m[k]; old != h && (old == nil || old.ver.base != h.ver.base || old.ver.ver < h.ver.ver) {
		c.remove(k)
		h.gen = gen
		c.m[k] = h
		c.rows += h.rows()
		c.trim()
	}
	return custom
}

// applyVersioned applies the actions that one committed track statement
// inserted to their users' entries, before any of their ops is answered:
// ops are the statement's track ops in queue order, vers the versions it
// returned by action ID (ops absent from it inserted nothing). An entry
// whose user changed otherwise goes.
func (c *historyCache) applyVersioned(ops []*writeOp, vers map[string]histVer) {
	type change struct {
		notes []*trackNote
		to    histVer
	}
	var changes map[enrollKey]*change
	for _, op := range ops {
		n := op.track
		v, ok := vers[op.ins.id]
		if n == nil || !ok || v == noHistVer {
			continue
		}
		if changes == nil {
			changes = make(map[enrollKey]*change)
		}
		ch := changes[n.key]
		if ch == nil {
			ch = &change{}
			changes[n.key] = ch
		}
		ch.notes, ch.to = append(ch.notes, n), v
	}
	if changes == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, ch := range changes {
		h := c.m[k]
		if h == nil {
			continue
		}
		n := int64(len(ch.notes))
		ok := (h.ver == histVer{} && ch.to.ver == n) || // the statement created the user
			(h.ver.base == ch.to.base && h.ver.ver+n == ch.to.ver)
		before := h.rows()
		for _, note := range ch.notes {
			if !ok {
				break
			}
			ok = h.add(note)
		}
		c.rows += h.rows() - before
		if !ok {
			c.remove(k)
			continue
		}
		h.ver = ch.to
	}
	c.trim()
}

// deviceSeen returns a lower bound of the last_seen_at of user k's device
// at version v of k's history, when this server's entry of k is at v and
// holds the device; 0 otherwise. A track decided at v whose row goes in
// (its guard holds, so the user is still at v: a device's deletion, like
// any change to the history but this server's own tracks, advances the
// version) finds the device's row there with last_seen_at at least that,
// as the column only grows. If that is within the grain of the batch's
// time, the track's device upsert would change nothing, and the writer
// leaves it out (see insertArgs).
func (c *historyCache) deviceSeen(k enrollKey, v histVer, device string) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h := c.m[k]
	if h == nil || h.ver != v {
		return 0
	}
	return h.devices[device].seen
}
