package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.RiskStateService = (*RiskStateService)(nil)

// RiskStateService implements vigil.RiskStateService for the tenant in the
// context.
type RiskStateService struct {
	db *DB

	mu      sync.Mutex
	queries map[vigil.RiskNeeds]string // by need, rebound

	direct bool // read with a statement of its own: no history cache, no batching (tests)
}

// NewRiskStateService returns a RiskStateService backed by db.
func NewRiskStateService(db *DB) *RiskStateService {
	return &RiskStateService{db: db, queries: map[vigil.RiskNeeds]string{}}
}

// activityRange selects the user's actions between two times through
// actions_user_created_idx. On PostgreSQL that plan needs statistics:
// without them a prepared statement planned while the table was small
// reads the tenant's recent actions through actions_tenant_created_idx
// instead (see statsKeeper). A row-comparison form that only the right
// index serves was tried: the planner then chose it, but its scan stepped
// through far more index pages than the user's entries (157 buffers for one
// action, against 5).
const activityRange = `tenant_id = ? AND user_id = ? AND created_at >= ? AND created_at <= ?`

// activityNeeds are the parts of the state that one scan of the user's
// recent actions answers.
const activityNeeds = vigil.NeedActionCounts | vigil.NeedFailedChallenges | vigil.NeedDistinctIPs

// hour and day in the stored unit (microseconds).
var hour, day = micros(time.Unix(3600, 0)), micros(time.Unix(86400, 0))

// query returns the rebound SQL for need, built once per need: scalar
// subqueries in the select list, the user's row (when needed) by a LEFT
// JOIN, and, for the activity parts, a LEFT JOIN to one aggregate over the
// user's most recent actions (through actions_user_created_idx).
func (s *RiskStateService) query(need vigil.RiskNeeds) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.queries[need]; ok {
		return q
	}
	// Placeholders in the order FindRiskState passes its arguments.
	cols := riskColumns(need, s.db.dialect.name == DialectPostgres, riskRefs{tenant: "?", user: "?", device: "?", ip: "?"})
	if need&activityNeeds != 0 {
		cols = append(cols, `act.h, act.d, act.f, act.ips`)
	}
	q := `SELECT ` + strings.Join(cols, ",\n\t") + `
		FROM (SELECT 1 AS one) AS one`
	if need&vigil.NeedUser != 0 {
		q += ` LEFT JOIN users AS u ON u.tenant_id = ? AND u.id = ?`
	}
	if need&activityNeeds != 0 {
		q += `
		LEFT JOIN (SELECT
			COALESCE(SUM(CASE WHEN action_code = ? AND created_at >= ? THEN 1 ELSE 0 END), 0) AS h,
			COALESCE(SUM(CASE WHEN action_code = ? AND created_at >= ? THEN 1 ELSE 0 END), 0) AS d,
			COALESCE(SUM(CASE WHEN state = '` + string(vigil.StateChallengeFailed) + `' AND state_updated_at >= ? THEN 1 ELSE 0 END), 0) AS f,
			COUNT(DISTINCT CASE WHEN created_at >= ? AND ip_address <> '' THEN ip_address END) AS ips
			FROM (SELECT action_code, created_at, state, state_updated_at, ip_address FROM actions
				WHERE ` + activityRange + `
				ORDER BY tenant_id DESC, user_id DESC, created_at DESC
				LIMIT ` + strconv.Itoa(vigil.MaxVelocityCount) + `) AS r) AS act ON 1 = 1`
	}
	q = s.db.rebind(q)
	s.queries[need] = q
	return q
}

// riskRefs are how the risk state query's columns name the values of the
// track they are read for: "?" placeholders (the statement of one track,
// whose arguments follow the columns' order), or columns of the row of
// unnest that a batched read takes each track's values from.
type riskRefs struct{ tenant, user, device, ip string }

// riskColumns returns the risk state query's columns for need, up to the
// activity aggregate (whose join differs between the two forms): the user's
// row (from a join aliased u), then the authenticators' aggregate, the
// device's two and the IP address's two scalar subqueries. With refs of
// "?", the placeholders come in the order tenant, user (authenticators);
// tenant, user, device, tenant, user (device); tenant, user, ip, tenant,
// user (IP address).
func riskColumns(need vigil.RiskNeeds, pg bool, ref riskRefs) []string {
	agg := func(expr, order string) string {
		if pg {
			return `string_agg(` + expr + `, ',' ORDER BY ` + order + `)`
		}
		return `group_concat(` + expr + `, ',' ORDER BY ` + order + `)`
	}
	var cols []string
	if need&vigil.NeedUser != 0 {
		cols = append(cols, `u.id IS NOT NULL, COALESCE(u.email, ''), COALESCE(u.phone_number, ''),
			COALESCE(u.username, ''), u.custom, COALESCE(u.created_at, 0), u.last_verified_at`)
	}
	if need&vigil.NeedAuthenticators != 0 {
		cols = append(cols, `(SELECT `+agg(`a.method || ':' || CASE WHEN a.is_default THEN '1' ELSE '0' END`, `a.created_at, a.id`)+`
			FROM authenticators AS a WHERE a.tenant_id = `+ref.tenant+` AND a.user_id = `+ref.user+`)`)
	}
	if need&vigil.NeedDevice != 0 {
		cols = append(cols, `(SELECT CASE WHEN d.verified_at IS NULL THEN 1 ELSE 2 END FROM user_devices AS d
				WHERE d.tenant_id = `+ref.tenant+` AND d.user_id = `+ref.user+` AND d.device_id = `+ref.device+`),
			(SELECT COUNT(*) FROM user_devices AS d WHERE d.tenant_id = `+ref.tenant+` AND d.user_id = `+ref.user+`)`)
	}
	if need&vigil.NeedIP != 0 {
		// Newest first; addresses verified at the same time in address
		// order, as the history cache orders them.
		cols = append(cols, `(SELECT 1 FROM user_ips AS i
				WHERE i.tenant_id = `+ref.tenant+` AND i.user_id = `+ref.user+` AND i.ip_address = `+ref.ip+`),
			(SELECT `+agg(`CAST(l.latitude AS TEXT) || ' ' || CAST(l.longitude AS TEXT) || ' ' || CAST(l.last_verified_at AS TEXT)`,
			`l.last_verified_at DESC, l.ip_address`)+`
				FROM (SELECT i.ip_address, i.latitude, i.longitude, i.last_verified_at FROM user_ips AS i
					WHERE i.tenant_id = `+ref.tenant+` AND i.user_id = `+ref.user+`
					AND i.latitude IS NOT NULL AND i.longitude IS NOT NULL
					ORDER BY i.last_verified_at DESC, i.ip_address LIMIT `+strconv.Itoa(vigil.MaxVerifiedLocations)+`) AS l)`)
	}
	return cols
}

// FindRiskState returns the parts of a user's history that q.Need names, in
// one statement. A user never seen gives an empty state.
func (s *RiskStateService) FindRiskState(ctx context.Context, q *vigil.RiskQuery) (*vigil.RiskState, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	st := &vigil.RiskState{}
	need := q.Need
	if q.DeviceID == "" {
		need &^= vigil.NeedDevice
	}
	if q.IPAddress == "" {
		need &^= vigil.NeedIP
	}
	if need == 0 || q.UserID == "" {
		return st, nil
	}
	// A track whose rules read nothing of the user's history needs only
	// the authenticators, which the enrollment cache may hold (SQLite) or
	// which are read together with other tracks' (PostgreSQL).
	if s.db.enrollReads != nil && need == vigil.NeedAuthenticators {
		k, gen := enrollKey{tenantID, q.UserID}, s.db.histGen.Load()
		if e, ok := s.db.enroll.get(k, gen); ok && !s.direct && !q.Fresh {
			// Checked by the action's write (see enrollCache).
			st.Authenticators = parseAuthenticators(tenantID, q.UserID, e.auths)
			st.Version = formatStateVersion(e.ver)
			return st, nil
		}
		r, _, err := s.db.enrollReads.find(ctx, k)
		if err != nil {
			return nil, err
		}
		if r.cacheable {
			s.db.enroll.put(k, enrollEntry{gen: gen, auths: r.auths, ver: r.ver})
		} else {
			s.db.enroll.drop(k)
		}
		st.Authenticators = parseAuthenticators(tenantID, q.UserID, r.auths)
		return st, nil
	}
	var cacheKey enrollKey
	var gen uint64
	cached := s.db.enroll != nil && need == vigil.NeedAuthenticators
	if cached {
		cacheKey, gen = enrollKey{tenantID, q.UserID}, s.db.histGen.Load()
		if e, ok := s.db.enroll.get(cacheKey, gen); ok {
			st.Authenticators = parseAuthenticators(tenantID, q.UserID, e.auths)
			return st, nil
		}
	}

	// Any other need on SQLite: the history cache (cached is set only
	// when the enrollment cache applies).
	if s.db.hist != nil && !s.direct && !cached {
		ok, err := s.fromHistory(ctx, enrollKey{tenantID, q.UserID}, q, need, st)
		if err != nil {
			return nil, err
		}
		if ok {
			return st, nil
		}
	}

	// PostgreSQL: the history cache, checked by version.
	if s.db.pgHist != nil && !s.direct {
		ok, err := s.fromVersioned(ctx, enrollKey{tenantID, q.UserID}, q, need, st)
		if err != nil {
			return nil, err
		}
		if ok {
			return st, nil
		}
	}

	var row riskRow
	if r := s.batched(need); r != nil {
		// PostgreSQL: read with the other tracks waiting.
		k := riskKey{tenantID: tenantID, userID: q.UserID, code: q.ActionCode, deviceID: q.DeviceID,
			ip: q.IPAddress, now: micros(q.Now)}
		got, found, err := r.find(ctx, k)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("find risk state: no row for user %q", q.UserID)
		}
		row = *got
	} else {
		var args []any
		if need&vigil.NeedAuthenticators != 0 {
			args = append(args, tenantID, q.UserID)
		}
		if need&vigil.NeedDevice != 0 {
			args = append(args, tenantID, q.UserID, q.DeviceID, tenantID, q.UserID)
		}
		if need&vigil.NeedIP != 0 {
			args = append(args, tenantID, q.UserID, q.IPAddress, tenantID, q.UserID)
		}
		if need&vigil.NeedUser != 0 {
			args = append(args, tenantID, q.UserID)
		}
		if need&activityNeeds != 0 {
			now := micros(q.Now)
			args = append(args, q.ActionCode, now-hour, q.ActionCode, now-day, now-hour, now-day)
			args = append(args, tenantID, q.UserID, now-activityReach(need), now)
		}
		if err := s.db.readRow(ctx, s.query(need), args...).Scan(row.dest(need, nil)...); err != nil {
			return nil, unclean(fmt.Errorf("find risk state: %w", err))
		}
	}
	if err := row.fill(st, tenantID, q.UserID, need); err != nil {
		return nil, err
	}
	if cached {
		s.db.enroll.put(cacheKey, enrollEntry{gen: gen, auths: row.auths.String})
	}
	return st, nil
}

// fromHistory fills st from the history cache, loading the user's history
// on a miss; false when the user has too much history to cache.
func (s *RiskStateService) fromHistory(ctx context.Context, k enrollKey, q *vigil.RiskQuery, need vigil.RiskNeeds, st *vigil.RiskState) (bool, error) {
	gen := s.db.histGen.Load()
	custom, hit, tok := s.db.hist.lookup(k, gen, q, need, st)
	if !hit {
		h, ok, err := s.loadHistory(ctx, k, micros(q.Now)-day-hour)
		if err != nil || !ok {
			if err == nil {
				s.db.hist.uncached.Add(1)
			}
			return false, err
		}
		h.gen = gen
		custom = h.derive(k, micros(q.Now), q, need, st)
		s.db.hist.put(k, tok, h)
	}
	return true, fillCustom(custom, st)
}

// fillCustom sets the custom data of st's user, if any, from the
// users.custom column of the history entry st was derived from.
func fillCustom(custom sql.NullString, st *vigil.RiskState) error {
	if st.User == nil {
		return nil
	}
	return decodeCustom(custom, st.User)
}

// decodeCustom sets u.Custom from the users.custom column (NULL: unset).
func decodeCustom(custom sql.NullString, u *vigil.User) error {
	if !custom.Valid {
		return nil
	}
	if err := json.Unmarshal([]byte(custom.String), &u.Custom); err != nil {
		return fmt.Errorf("decode custom of user: %w", err)
	}
	return nil
}

// batched returns the reader that batches reads of need on PostgreSQL; nil
// on SQLite, whose reads are in-process.
func (s *RiskStateService) batched(need vigil.RiskNeeds) *batchReader[riskKey, *riskRow] {
	if s.db.riskReads == nil || s.direct {
		return nil
	}
	return s.db.riskReads.reader(need)
}

// activityReach is how far back before now the scan of a user's actions
// reaches: a day, and an hour more when failed challenges are counted (a
// challenge fails within its token's lifetime, so generously).
func activityReach(need vigil.RiskNeeds) int64 {
	if need&vigil.NeedFailedChallenges != 0 {
		return day + hour
	}
	return day
}

// riskRow is the risk state query's row, as scanned.
type riskRow struct {
	userExists             bool
	email, phone, username string
	custom, auths, locs    sql.NullString
	created                int64
	lastVerified           sql.NullInt64
	device, ipOK           sql.NullInt64
	devCount               int64
	hourCount, dayCount    int64
	failed, ips            int64
}

// dest appends to dest the scan destinations of the columns that the
// query for need selects, in their order.
func (r *riskRow) dest(need vigil.RiskNeeds, dest []any) []any {
	if need&vigil.NeedUser != 0 {
		dest = append(dest, &r.userExists, &r.email, &r.phone, &r.username, &r.custom, &r.created, &r.lastVerified)
	}
	if need&vigil.NeedAuthenticators != 0 {
		dest = append(dest, &r.auths)
	}
	if need&vigil.NeedDevice != 0 {
		dest = append(dest, &r.device, &r.devCount)
	}
	if need&vigil.NeedIP != 0 {
		dest = append(dest, &r.ipOK, &r.locs)
	}
	if need&activityNeeds != 0 {
		dest = append(dest, &r.hourCount, &r.dayCount, &r.failed, &r.ips)
	}
	return dest
}

// fill sets the parts of st that need names from the row.
func (r *riskRow) fill(st *vigil.RiskState, tenantID, userID string, need vigil.RiskNeeds) error {
	if need&vigil.NeedUser != 0 && r.userExists {
		u := &vigil.User{TenantID: tenantID, ID: userID, Email: r.email, PhoneNumber: r.phone, Username: r.username,
			CreatedAt: fromMicros(r.created)}
		if err := decodeCustom(r.custom, u); err != nil {
			return err
		}
		st.User = u
		st.LastVerifiedAt = fromNullMicros(r.lastVerified)
	}
	st.Authenticators = parseAuthenticators(tenantID, userID, r.auths.String)
	st.DeviceSeen, st.DeviceVerified, st.DeviceCount = r.device.Valid, r.device.Int64 == 2, int(r.devCount)
	st.IPVerified = r.ipOK.Valid
	if r.locs.Valid {
		var err error
		if st.VerifiedLocations, err = parseLocations(r.locs.String); err != nil {
			return err
		}
	}
	if need&vigil.NeedActionCounts != 0 {
		st.ActionsLastHour, st.ActionsLastDay = int(r.hourCount), int(r.dayCount)
	}
	if need&vigil.NeedFailedChallenges != 0 {
		st.FailedChallengesLastHour = int(r.failed)
	}
	if need&vigil.NeedDistinctIPs != 0 {
		st.DistinctIPsLastDay = int(r.ips)
	}
	return nil
}

// parseAuthenticators decodes the risk state query's authenticator
// aggregate, "method:isDefault,..." in creation order ("" for none).
func parseAuthenticators(tenantID, userID, s string) []*vigil.Authenticator {
	if s == "" {
		return nil
	}
	var out []*vigil.Authenticator
	for item := range strings.SplitSeq(s, ",") {
		m, def, _ := strings.Cut(item, ":")
		out = append(out, &vigil.Authenticator{
			TenantID: tenantID, UserID: userID, Method: vigil.VerificationMethod(m), IsDefault: def == "1"})
	}
	return out
}

// parseLocations decodes "lat lon micros,..." into locations, newest first.
func parseLocations(s string) ([]vigil.VerifiedLocation, error) {
	var out []vigil.VerifiedLocation
	for item := range strings.SplitSeq(s, ",") {
		f := strings.Fields(item)
		if len(f) != 3 {
			return nil, fmt.Errorf("decode verified location %q", item)
		}
		lat, err1 := strconv.ParseFloat(f[0], 64)
		lon, err2 := strconv.ParseFloat(f[1], 64)
		at, err3 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("decode verified location %q", item)
		}
		out = append(out, vigil.VerifiedLocation{GeoPoint: vigil.GeoPoint{Latitude: lat, Longitude: lon}, At: fromMicros(at)})
	}
	slices.SortStableFunc(out, func(a, b vigil.VerifiedLocation) int { return b.At.Compare(a.At) })
	return out, nil
}

// verificationSQL are the statements that record a successful challenge of
// an action (see recordVerification).
type verificationSQL struct {
	device, ip, user string
}

func newVerificationSQL(r func(string) string) verificationSQL {
	return verificationSQL{
		device: r(`INSERT INTO user_devices (tenant_id, user_id, device_id, first_seen_at, last_seen_at, verified_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, user_id, device_id) DO UPDATE SET verified_at = excluded.verified_at`),
		ip: r(`INSERT INTO user_ips (tenant_id, user_id, ip_address, first_verified_at, last_verified_at, latitude, longitude)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, user_id, ip_address) DO UPDATE SET last_verified_at = excluded.last_verified_at,
				latitude = COALESCE(excluded.latitude, user_ips.latitude),
				longitude = COALESCE(excluded.longitude, user_ips.longitude)`),
		user: r(`UPDATE users SET last_verified_at = ? WHERE tenant_id = ? AND id = ?`),
	}
}

// recordVerification records, in tx, that a's challenge succeeded at now:
// its device is remembered, its IP address (with its location) verified,
// and its user has verified.
func (v verificationSQL) record(tx *Tx, a *vigil.Action, now int64) error {
	if d := a.Context.DeviceID; d != "" {
		if _, err := tx.exec(v.device, a.TenantID, a.UserID, d, now, now, now); err != nil {
			return fmt.Errorf("record verified device: %w", err)
		}
	}
	if ip := a.Context.IPAddress; ip != "" {
		var lat, lon any
		if a.Location != nil {
			lat, lon = a.Location.Latitude, a.Location.Longitude
		}
		if _, err := tx.exec(v.ip, a.TenantID, a.UserID, ip, now, now, lat, lon); err != nil {
			return fmt.Errorf("record verified IP address: %w", err)
		}
	}
	if _, err := tx.exec(v.user, now, a.TenantID, a.UserID); err != nil {
		return fmt.Errorf("record verification: %w", err)
	}
	return nil
}
