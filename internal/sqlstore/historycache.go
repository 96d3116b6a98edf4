package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	vigil "github.com/vigil-auth/vigil"
)

// historyCache keeps, on SQLite, what each recently tracked user's risk
// state is derived from (the user row, authenticators, devices, verified IP
// addresses and the actions of the last day and hour), so that a track
// whose rules read the user's history usually reads no table at all. Data
// points decide whether an action is allowed, so the cache is exact, never
// merely recent:
//
//   - Every write on SQLite goes through the one writer. A transaction that
//     ran any op other than a track's insert or a validation's consume (the
//     safe default for any new kind of write) advances DB.histGen after it
//     commits or rolls back and before any of its ops is answered (Tx.end);
//     an entry is used only under the generation it was loaded in.
//   - A track changes its user's history in a way known in advance: one
//     more action, perhaps a new device and a new user row. The writer
//     applies exactly that to the user's entry after the commit and before
//     answering (leave), so that the next track of the user counts it.
//   - A read that misses loads the user's history and stores it only if no
//     track of a user in the same stripe was in the writer between just
//     before the read and the store: enter marks the stripes of a batch's
//     tracks busy before its transaction runs, and leave advances their
//     version once it has applied them. So an entry never lacks a
//     committed track, nor holds one twice.
//
// Users with more than maxHistoryRows devices, verified IP addresses or
// actions in the window are not cached; their reads go to the table. On
// PostgreSQL, where other servers write the same database, entries are
// kept exact by versions instead (see pghistory.go); the stripes are
// SQLite's alone.
type historyCache struct {
	// mu guards m, rows, stripes and the entries. Reads that only derive
	// a risk state from an entry (lookup, deriveHeld, heldVersion) share
	// it; changes take it alone (deriveFrom too, as it stamps the entry's
	// generation). Shared, the tracks' reads do not queue
	// behind one another, nor the writer (enter, leave) behind a queue of
	// them: SQLite track with rules gained 0.5-3.5 % over a plain mutex.
	mu      sync.RWMutex
	m       map[enrollKey]*history
	rows    int // the rows of every entry of m (history.rows)
	stripes [historyStripes]historyStripe
	seed    maphash.Seed

	watchMu sync.Mutex
	watch   map[enrollKey]struct{} // PostgreSQL: users whose next track should watch them (wantWatch)

	// hits, misses and uncached count risk state reads: answered from an
	// entry, loaded (and stored if no track interfered), and read from the
	// tables because the user has too much history to cache.
	hits, misses, uncached atomic.Uint64
}

// historyStripes is the number of stripes whose versions guard stores: a
// read whose stripe saw a track during the read does not store.
const historyStripes = 4096

type historyStripe struct {
	busy int    // tracks of the stripe's users in the writer's open transaction
	ver  uint64 // advanced whenever such a transaction ends
}

// maxHistoryEntries and maxHistoryCacheRows bound the cache: the users it
// holds, and the actions, devices and IP addresses of all of them together
// (a few tens of bytes each, so tens of MiB at most). When either is
// reached, an eighth of the entries go.
const (
	maxHistoryEntries   = 1 << 16
	maxHistoryCacheRows = 1 << 20
)

// maxHistoryRows is how many devices, verified IP addresses or actions in
// the window a cached user may have.
const maxHistoryRows = 256

// history is what one user's risk state is derived from. It is read under
// historyCache.mu, shared or not, and changed only with it held alone
// (derive changes nothing).
type history struct {
	gen  uint64  // DB.histGen when loaded (PostgreSQL: or when last confirmed)
	ver  histVer // PostgreSQL: the version of the user's history it is
	from int64   // actions holds every action of the user created at or after from

	userExists             bool
	email, phone, username string
	custom                 sql.NullString
	created                int64
	lastVerified           sql.NullInt64

	auths     string                     // the risk state query's aggregate
	devices   map[string]historyDevState // by device ID
	ips       map[string]bool            // verified IP addresses
	locations []vigil.VerifiedLocation
	actions   []recentAction
}

// historyDevState is what an entry knows of one of the user's devices.
type historyDevState struct {
	verified bool
	// seen is a lower bound of the device's last_seen_at at the entry's
	// version: what the load read, advanced by add as the track statement
	// advances the column (see historyCache.deviceSeen).
	seen int64
}

type recentAction struct {
	code, state, ip       string
	created, stateUpdated int64
}

// historyToken is what a missed lookup hands to put.
type historyToken struct {
	stripe int
	ver    uint64
	ok     bool // no track of the stripe was in the writer at the lookup
}

// trackNote is how a track's op tells the writer what its insert adds to
// its user's history.
type trackNote struct {
	key          enrollKey
	code, state  string
	deviceID, ip string
	created      int64 // set by the op when it inserted the action; 0 if it did not
}

func newHistoryCache() *historyCache {
	return &historyCache{m: make(map[enrollKey]*history), seed: maphash.MakeSeed()}
}

func (c *historyCache) stripe(k enrollKey) int {
	return int(maphash.Comparable(c.seed, k) % historyStripes)
}

// lookup fills st from k's entry if it is current (generation gen) and
// covers q; else it returns a token for put.
func (c *historyCache) lookup(k enrollKey, gen uint64, q *vigil.RiskQuery, need vigil.RiskNeeds, st *vigil.RiskState) (custom sql.NullString, hit bool, tok historyToken) {
	now := micros(q.Now)
	c.mu.RLock()
	defer c.mu.RUnlock()
	if h := c.m[k]; h != nil && h.gen == gen && h.from <= now-day-hour {
		c.hits.Add(1)
		return h.derive(k, now, q, need, st), true, historyToken{}
	}
	c.misses.Add(1)
	i := c.stripe(k)
	return sql.NullString{}, false, historyToken{stripe: i, ver: c.stripes[i].ver, ok: c.stripes[i].busy == 0}
}

// put stores what a read that took tok and then loaded h found, unless a
// track of the stripe may have committed meanwhile.
func (c *historyCache) put(k enrollKey, tok historyToken, h *history) {
	if !tok.ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stripes[tok.stripe]; s.busy != 0 || s.ver != tok.ver {
		return
	}
	c.remove(k)
	c.m[k] = h
	c.rows += h.rows()
	c.trim()
}

// remove drops k's entry, if any.
func (c *historyCache) remove(k enrollKey) {
	if h := c.m[k]; h != nil {
		c.rows -= h.rows()
		delete(c.m, k)
	}
}

// trim drops an eighth of the entries (whichever the map yields first) when
// the cache has outgrown a bound.
func (c *historyCache) trim() {
	if len(c.m) <= maxHistoryEntries && c.rows <= maxHistoryCacheRows {
		return
	}
	n := max(1, len(c.m)/8)
	for k := range c.m {
		if n--; n < 0 {
			break
		}
		c.remove(k)
	}
}

// rows counts what h holds, for the cache's bound.
func (h *history) rows() int {
	return 1 + len(h.actions) + len(h.devices) + len(h.ips) + len(h.locations)
}

// enter marks the stripes of the batch's tracks busy, before the writer
// runs them.
func (c *historyCache) enter(ops []*writeOp) {
	c.mu.Lock()
	for _, op := range ops {
		if op.track != nil {
			c.stripes[c.stripe(op.track.key)].busy++
		}
	}
	c.mu.Unlock()
}

// leave ends what enter began: when the batch committed, it adds each
// inserted action (results[i] nil) to its user's entry; then it releases
// the stripes. The writer calls it before answering any op of the batch.
func (c *historyCache) leave(ops []*writeOp, results []error, committed bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, op := range ops {
		n := op.track
		if n == nil {
			continue
		}
		s := &c.stripes[c.stripe(n.key)]
		s.busy--
		s.ver++
		if !committed || results[i] != nil || n.created == 0 {
			continue
		}
		if h := c.m[n.key]; h != nil {
			before := h.rows()
			if h.gen != gen || !h.add(n) {
				c.rows += h.rows() - before
				c.remove(n.key)
				continue
			}
			c.rows += h.rows() - before
		}
	}
	c.trim()
}

// add applies a committed track to h, as the actions_track_user trigger
// does to the tables; false if h would grow past maxHistoryRows.
func (h *history) add(n *trackNote) bool {
	if !h.userExists {
		h.userExists, h.created = true, n.created
	}
	if n.deviceID != "" {
		// As upsertDevicesFromIns: a device first seen, or last seen
		// longer than the grain before, is now last seen at the track.
		if d, ok := h.devices[n.deviceID]; !ok || d.seen < n.created-lastSeenGrainMicros {
			d.seen = n.created
			h.devices[n.deviceID] = d
		}
	}
	h.actions = append(h.actions, recentAction{code: n.code, state: n.state, ip: n.ip, created: n.created, stateUpdated: n.created})
	if len(h.actions) > maxHistoryRows {
		// Drop what no query from now on looks at.
		from := n.created - day - hour
		h.actions = slices.DeleteFunc(h.actions, func(a recentAction) bool { return a.created < from })
		h.from = max(h.from, from)
	}
	return len(h.actions) <= maxHistoryRows && len(h.devices) <= maxHistoryRows
}

// derive fills st as the risk state query would for q at now, and returns
// the user's custom attributes (JSON) for the caller to decode.
func (h *history) derive(k enrollKey, now int64, q *vigil.RiskQuery, need vigil.RiskNeeds, st *vigil.RiskState) sql.NullString {
	var custom sql.NullString
	if need&vigil.NeedUser != 0 && h.userExists {
		st.User = &vigil.User{TenantID: k.tenantID, ID: k.userID, Email: h.email, PhoneNumber: h.phone,
			Username: h.username, CreatedAt: fromMicros(h.created)}
		st.LastVerifiedAt = fromNullMicros(h.lastVerified)
		custom = h.custom
	}
	if need&vigil.NeedAuthenticators != 0 {
		st.Authenticators = parseAuthenticators(k.tenantID, k.userID, h.auths)
	}
	if need&vigil.NeedDevice != 0 {
		d, seen := h.devices[q.DeviceID]
		st.DeviceSeen, st.DeviceVerified, st.DeviceCount = seen, d.verified, len(h.devices)
	}
	if need&vigil.NeedIP != 0 {
		st.IPVerified = h.ips[q.IPAddress]
		st.VerifiedLocations = slices.Clone(h.locations)
	}
	if need&activityNeeds != 0 {
		// As the query: the scan reaches back a day, and an hour more when
		// failed challenges are counted.
		from := now - day
		if need&vigil.NeedFailedChallenges != 0 {
			from -= hour
		}
		var hourCount, dayCount, failed int
		var ips []string
		for _, a := range h.actions {
			if a.created < from || a.created > now {
				continue
			}
			if a.code == q.ActionCode && a.created >= now-hour {
				hourCount++
			}
			if a.code == q.ActionCode && a.created >= now-day {
				dayCount++
			}
			if a.state == string(vigil.StateChallengeFailed) && a.stateUpdated >= now-hour {
				failed++
			}
			if a.created >= now-day && a.ip != "" && !slices.Contains(ips, a.ip) {
				ips = append(ips, a.ip)
			}
		}
		if need&vigil.NeedActionCounts != 0 {
			st.ActionsLastHour, st.ActionsLastDay = hourCount, dayCount
		}
		if need&vigil.NeedFailedChallenges != 0 {
			st.FailedChallengesLastHour = failed
		}
		if need&vigil.NeedDistinctIPs != 0 {
			st.DistinctIPsLastDay = len(ips)
		}
	}
	return custom
}

// historySQL reads what a history holds, in one statement: the user row,
// the authenticators' aggregate, and JSON arrays of the user's devices, verified
// IP addresses and actions created at or after ?3, each cut at ?4 rows
// (maxHistoryRows+1, so that an uncacheable user shows as one).
var historySQL = `SELECT ` + strings.Join(historyColumns(false, riskRefs{tenant: "?1", user: "?2"}, "?3", "?4"), ",\n\t") + `
	FROM (SELECT 1 AS one) AS one LEFT JOIN users AS u ON u.tenant_id = ?1 AND u.id = ?2`

// historyColumns returns the columns of a history read, historySQL's and,
// on PostgreSQL, histReaderSQL's: the risk state query's user and
// authenticator columns (riskColumns, from a join aliased u), then JSON
// arrays of the user's devices, verified IP addresses and actions created
// at or after from, each cut at limit rows.
func historyColumns(pg bool, ref riskRefs, from, limit string) []string {
	array := func(obj, rows string) string {
		if pg {
			return `(SELECT COALESCE(json_agg(json_build_object(` + obj + `)), '[]') FROM (` + rows + `) AS l)`
		}
		return `(SELECT json_group_array(json_object(` + obj + `)) FROM (` + rows + `))`
	}
	users := `tenant_id = ` + ref.tenant + ` AND user_id = ` + ref.user
	return append(riskColumns(vigil.NeedUser|vigil.NeedAuthenticators, pg, ref),
		array(`'id', device_id, 'verified', CASE WHEN verified_at IS NULL THEN 0 ELSE 1 END, 'seen', last_seen_at`,
			`SELECT device_id, verified_at, last_seen_at FROM user_devices WHERE `+users+` LIMIT `+limit),
		array(`'ip', ip_address, 'lat', latitude, 'lon', longitude, 'at', last_verified_at`,
			`SELECT ip_address, latitude, longitude, last_verified_at FROM user_ips WHERE `+users+` LIMIT `+limit),
		array(`'code', action_code, 'at', created_at, 'state', state, 'stateAt', state_updated_at, 'ip', ip_address`,
			`SELECT action_code, created_at, state, state_updated_at, ip_address FROM actions WHERE `+users+
				` AND created_at >= `+from+` ORDER BY tenant_id DESC, user_id DESC, created_at DESC LIMIT `+limit))
}

// The JSON rows of historySQL's arrays.
type (
	historyDevice struct {
		ID       string `json:"id"`
		Verified int    `json:"verified"`
		Seen     int64  `json:"seen"` // last_seen_at
	}
	historyIP struct {
		IP  string   `json:"ip"`
		Lat *float64 `json:"lat"` // nil: location unknown
		Lon *float64 `json:"lon"`
		At  int64    `json:"at"`
	}
	historyAction struct {
		Code    string `json:"code"`
		At      int64  `json:"at"`
		State   string `json:"state"`
		StateAt int64  `json:"stateAt"`
		IP      string `json:"ip"`
	}
)

// loadHistory reads k's history with the actions created at or after from;
// ok is false when the user has too much of it to cache.
func (s *RiskStateService) loadHistory(ctx context.Context, k enrollKey, from int64) (h *history, ok bool, err error) {
	h = &history{from: from}
	var auths sql.NullString
	var rawDevices, rawIPs, rawActions string
	if err := s.db.readRow(ctx, historySQL, k.tenantID, k.userID, from, maxHistoryRows+1).Scan(
		&h.userExists, &h.email, &h.phone, &h.username, &h.custom, &h.created, &h.lastVerified,
		&auths, &rawDevices, &rawIPs, &rawActions); err != nil {
		return nil, false, unclean(fmt.Errorf("find risk history: %w", err))
	}
	h.auths = auths.String
	if ok, err = h.decode(rawDevices, rawIPs, rawActions); err != nil || !ok {
		return nil, false, err
	}
	return h, true, nil
}

// decode sets h's devices, IP addresses and actions from the JSON arrays
// that historySQL (or, on PostgreSQL, histReaderSQL) reads; false when
// there are too many of any to cache.
func (h *history) decode(rawDevices, rawIPs, rawActions string) (bool, error) {
	var devices []historyDevice
	var ips []historyIP
	var actions []historyAction
	for _, c := range []struct {
		what string
		raw  string
		into any
	}{{"devices", rawDevices, &devices}, {"IP addresses", rawIPs, &ips}, {"actions", rawActions, &actions}} {
		if err := json.Unmarshal([]byte(c.raw), c.into); err != nil {
			return false, fmt.Errorf("decode %s of risk history: %w", c.what, err)
		}
	}
	if len(devices) > maxHistoryRows || len(ips) > maxHistoryRows || len(actions) > maxHistoryRows {
		return false, nil
	}

	h.devices = make(map[string]historyDevState, len(devices))
	for _, d := range devices {
		h.devices[d.ID] = historyDevState{verified: d.Verified != 0, seen: d.Seen}
	}
	h.ips = make(map[string]bool, len(ips))
	// Locations newest first, those of the same time in address order (as
	// the risk state query's).
	slices.SortFunc(ips, func(a, b historyIP) int {
		if c := cmp.Compare(b.At, a.At); c != 0 {
			return c
		}
		return strings.Compare(a.IP, b.IP)
	})
	for _, ip := range ips {
		h.ips[ip.IP] = true
		if ip.Lat != nil && ip.Lon != nil {
			h.locations = append(h.locations, vigil.VerifiedLocation{
				GeoPoint: vigil.GeoPoint{Latitude: *ip.Lat, Longitude: *ip.Lon}, At: fromMicros(ip.At)})
		}
	}
	h.locations = h.locations[:min(len(h.locations), vigil.MaxVerifiedLocations)]
	h.actions = make([]recentAction, len(actions))
	for i, a := range actions {
		h.actions[i] = recentAction{code: a.Code, created: a.At, state: a.State, stateUpdated: a.StateAt, ip: a.IP}
	}
	return true, nil
}

// RiskCacheStats counts the risk state reads that the history cache
// answered (Hits), that missed it and read the user's history (Misses), and,
// among those, the users with too much history to cache (Uncached).
type RiskCacheStats struct {
	Hits, Misses, Uncached uint64
}

// RiskCacheStats returns the history cache's counts since the DB opened.
func (db *DB) RiskCacheStats() RiskCacheStats {
	c := db.hist
	if c == nil {
		c = db.pgHist
	}
	return RiskCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Uncached: c.uncached.Load()}
}
