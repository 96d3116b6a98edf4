package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	vigil "github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

var (
	_ vigil.ActionService          = (*ActionService)(nil)
	_ vigil.ReadValidationConsumer = (*ActionService)(nil)
	_ vigil.ActionStateFinder      = (*ActionService)(nil)
)

// maxActions is the most actions FindActions returns at once.
const maxActions = 1000

// ActionService implements vigil.ActionService for the tenant in the
// context.
type ActionService struct {
	db *DB

	insert, insertConfig                                        string
	insertWithUser                                              string // PostgreSQL: the insert, its user and its device in one round trip
	find, findState, findByKey, findMany, findManyCodes, update string
	consume, consumeRead, scan                                  string
	verify                                                      verificationSQL
	// updateVerified is PostgreSQL's UpdateActionState in one statement:
	// the update and, on a move to CHALLENGE_SUCCEEDED, the verification
	// record (device, IP address, user), instead of five round trips.
	updateVerified string
	updates        *actionUpdates // PostgreSQL: a batch's updates in one statement
	readConsumes   *readConsumes  // PostgreSQL: a batch's ConsumeReadValidations in one statement
}

const actionCols = `tenant_id, id, user_id, action_code, idempotency_key, state, state_updated_at,
	created_at, updated_at, decision, allowed_methods, default_method, is_enrolled, enrolled_methods,
	context, verification_method, verified_by_authenticator_id, request_hash, token_issued_at,
	token_expires_at, validated_at, device_id, ip_address, latitude, longitude`

// actionStateCols are the columns FindActionState reads (see
// rawAction.scanState): an action's identity and state.
const actionStateCols = `tenant_id, id, user_id, action_code, idempotency_key, state, state_updated_at,
	created_at, updated_at, verification_method, validated_at`

// actionColCount is the number of columns in actionCols.
const actionColCount = 25

const actionWhere = ` WHERE tenant_id = ? AND user_id = ? AND action_code = ? AND idempotency_key = ?`

// NewActionService returns an ActionService backed by db.
func NewActionService(db *DB) *ActionService {
	r := db.rebind
	findMany := `SELECT ` + actionCols + ` FROM actions
		WHERE tenant_id = ? AND user_id = ? AND (? = '' OR state = ?) AND created_at >= ?`
	order := ` ORDER BY created_at DESC, id DESC LIMIT ?`
	// consume marks an action validated if it is CHALLENGE_SUCCEEDED and not
	// yet validated.
	consume := `UPDATE actions SET validated_at = ?` + actionWhere +
		` AND state = '` + string(vigil.StateChallengeSucceeded) + `' AND validated_at IS NULL`
	insert := `INSERT INTO actions (` + actionCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, idempotency_key) DO NOTHING`
	s := &ActionService{
		db:            db,
		insert:        r(insert),
		insertConfig:  r(insertActionConfigSQL + ` ON CONFLICT (tenant_id, action_code) DO NOTHING`),
		find:          r(`SELECT ` + actionCols + ` FROM actions` + actionWhere),
		findState:     r(`SELECT ` + actionStateCols + ` FROM actions` + actionWhere),
		findByKey:     r(`SELECT ` + actionCols + ` FROM actions WHERE tenant_id = ? AND idempotency_key = ?`),
		findMany:      r(findMany + order),
		findManyCodes: r(findMany + ` AND ` + db.dialect.codesIn + order),
		update: r(`UPDATE actions SET state = ?, state_updated_at = ?, updated_at = ?` + actionWhere +
			` RETURNING ` + actionCols),
		verify: newVerificationSQL(r),
		scan: r(`SELECT ` + actionCols + ` FROM actions
			WHERE tenant_id = ? AND action_code = ? AND created_at >= ? AND created_at <= ?
			ORDER BY created_at DESC, id DESC LIMIT ?`),
		consumeRead: r(consume + ` AND updated_at = ?`),
		consume:     r(consume + ` RETURNING ` + actionCols),
	}
	if db.dialect.name == DialectPostgres {
		s.updates = newActionUpdates(s)
		s.readConsumes = newReadConsumes(db)
		// All CTEs of a statement see the snapshot taken before it, so
		// old is the action as it was; ver is the updated row when this
		// update moved it to CHALLENGE_SUCCEEDED.
		s.updateVerified = r(`WITH old AS (SELECT state FROM actions` + actionWhere + `),
			upd AS (UPDATE actions SET state = ?, state_updated_at = ?, updated_at = ?` + actionWhere + `
				AND ` + userLockGate + `
				RETURNING ` + actionCols + `),
			ver AS (SELECT upd.tenant_id, upd.user_id, upd.device_id, upd.ip_address, upd.latitude, upd.longitude, upd.updated_at
				FROM upd, old WHERE upd.state = '` + string(vigil.StateChallengeSucceeded) + `'
				AND old.state <> '` + string(vigil.StateChallengeSucceeded) + `'),
			dev AS (INSERT INTO user_devices (tenant_id, user_id, device_id, first_seen_at, last_seen_at, verified_at)
				SELECT tenant_id, user_id, device_id, updated_at, updated_at, updated_at FROM ver WHERE device_id <> ''
				ON CONFLICT (tenant_id, user_id, device_id) DO UPDATE SET verified_at = excluded.verified_at),
			ip AS (INSERT INTO user_ips (tenant_id, user_id, ip_address, first_verified_at, last_verified_at, latitude, longitude)
				SELECT tenant_id, user_id, ip_address, updated_at, updated_at, latitude, longitude FROM ver WHERE ip_address <> ''
				ON CONFLICT (tenant_id, user_id, ip_address) DO UPDATE SET last_verified_at = excluded.last_verified_at,
					latitude = COALESCE(excluded.latitude, user_ips.latitude),
					longitude = COALESCE(excluded.longitude, user_ips.longitude)),
			usr AS (UPDATE users AS u SET last_verified_at = ver.updated_at FROM ver
				WHERE u.tenant_id = ver.tenant_id AND u.id = ver.user_id)
			SELECT ` + actionCols + ` FROM upd`)
		// A data-modifying CTE (which SQLite lacks) saves a round trip per
		// track: the user is inserted only if the action was.
		s.insertWithUser = r(`WITH ins AS (` + insert + ` RETURNING tenant_id, user_id, device_id, created_at),
			u AS (` + upsertUsersFromIns(`CAST(? AS BOOLEAN)`) + `),
			dev AS (` + upsertDevicesFromIns("") + `)
			SELECT COUNT(*) FROM ins`)
	}
	return s
}

// upsertUsersFromIns creates, for the rows of a PostgreSQL data-modifying
// CTE named ins (RETURNING tenant_id, user_id, created_at), their users if
// absent, and advances the history version of each watched user by the
// number of its rows (migration 0014). watch is an expression, aggregate
// over a user's rows, that is true for the users to watch from now on (the
// users of tracks whose rules read their history). A user created here
// starts at that number, so that a server holding the user's history at
// version v, or as absent, can tell from the version returned whether
// anything but these rows changed it. It returns the users created or
// updated. Rows are locked in key order, as every writer's are: byte order
// (COLLATE "C"), whatever the database's collation, as orderByUser orders
// a batch transaction's users.
func upsertUsersFromIns(watch string) string {
	return `INSERT INTO users (tenant_id, id, created_at, updated_at, hist_ver, hist_watch)
	SELECT tenant_id, user_id, MIN(created_at), MIN(created_at), COUNT(*), ` + watch + ` FROM ins
	GROUP BY tenant_id, user_id ORDER BY tenant_id COLLATE "C", user_id COLLATE "C"
	ON CONFLICT (tenant_id, id) DO UPDATE SET hist_ver = users.hist_ver + excluded.hist_ver, hist_watch = TRUE
	WHERE users.hist_watch OR excluded.hist_watch
	RETURNING tenant_id, id, hist_base, hist_ver, hist_watch`
}

// upsertDevicesFromIns records, for the rows of a PostgreSQL data-modifying
// CTE named ins (RETURNING tenant_id, user_id, device_id, created_at, and
// id with skip), that a user was seen on a device (device.isNew,
// device.count); SQLite's actions_track_user trigger (migration 0010) does
// the same. skip, when not "", is a text[] expression of the IDs of rows
// to leave out (see actionInsert.devSeen); a NULL array leaves none out.
// DISTINCT ON keeps one row per device, as ON CONFLICT DO UPDATE may not
// touch a row twice in one statement; devices are taken in byte order, as
// their users.
func upsertDevicesFromIns(skip string) string {
	where := `device_id <> ''`
	if skip != "" {
		where += ` AND (ins.id = ANY(` + skip + `)) IS NOT TRUE`
	}
	return `INSERT INTO user_devices (tenant_id, user_id, device_id, first_seen_at, last_seen_at)
	SELECT DISTINCT ON (tenant_id COLLATE "C", user_id COLLATE "C", device_id COLLATE "C") tenant_id, user_id, device_id, created_at, created_at
	FROM ins WHERE ` + where + `
	ORDER BY tenant_id COLLATE "C", user_id COLLATE "C", device_id COLLATE "C", created_at DESC
	ON CONFLICT (tenant_id, user_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
	WHERE user_devices.last_seen_at < excluded.last_seen_at - ` + lastSeenGrain
}

// lastSeenGrain is how stale, in microseconds, a device's last_seen_at may
// get before a track refreshes it: one hour (also in migration 0010).
// Refreshing it on every track would dirty a page of user_devices at a
// random place per track, for a column that nothing decides on
// (device.isNew and device.count read only whether the row exists); an
// hour keeps it useful to an operator at almost no write cost.
const lastSeenGrain = "3600000000"

// lastSeenGrainMicros is lastSeenGrain as a number (TestLastSeenGrain).
const lastSeenGrainMicros int64 = 3600 * 1000 * 1000

// storedDecision and storedContext are how the decision and context columns
// encode vigil.Decision and vigil.ActionContext: the same fields (a
// conversion checks that at compile time), with zero values left out. That
// keeps rows, and so the pages each group commit writes, smaller, and makes
// them quicker to decode. They decode straight into the vigil types; rows
// written with every field decode the same.
type storedDecision struct {
	Outcome                   vigil.Outcome              `json:",omitzero"`
	RuleIDs                   []string                   `json:",omitzero"`
	PriorityRuleID            string                     `json:",omitzero"`
	Rules                     []vigil.RuleSnapshot       `json:",omitzero"`
	VerificationMethods       []vigil.VerificationMethod `json:",omitzero"`
	DefaultVerificationMethod vigil.VerificationMethod   `json:",omitzero"`
	PromptToEnrollMethods     []vigil.VerificationMethod `json:",omitzero"`
	Output                    json.RawMessage            `json:",omitzero"`
}

// encodeDecision encodes dec as json.Marshal(storedDecision(*dec)) does,
// but appends Output, which the caller checked is valid JSON, as it is,
// instead of compacting it: an explanation is a few kilobytes that
// encoding/json would scan twice more on every track.
func encodeDecision(dec *vigil.Decision) string { return string(appendDecision(nil, dec)) }

// decisionBufs pools the buffers CreateAction encodes decisions in: the
// encoding is copied out (packed on SQLite, as a string on PostgreSQL), so
// the buffer, the size of an explanation, need not be allocated per track.
var decisionBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledDecisionBuf is the largest buffer decisionBufs keeps.
const maxPooledDecisionBuf = 64 << 10

// appendDecision appends encodeDecision's encoding of dec to b.
func appendDecision(b []byte, dec *vigil.Decision) []byte {
	w := startObject(slices.Grow(b, 128+len(dec.Output)))
	methods := func(name string, ms []vigil.VerificationMethod) {
		if ms != nil {
			w.field(name)
			w.b = jsonlogic.AppendStrings(w.b, ms)
		}
	}
	w.str("Outcome", string(dec.Outcome))
	if dec.RuleIDs != nil {
		w.field("RuleIDs")
		w.b = jsonlogic.AppendStrings(w.b, dec.RuleIDs)
	}
	w.str("PriorityRuleID", dec.PriorityRuleID)
	if dec.Rules != nil {
		w.field("Rules")
		w.b = append(w.b, '[')
		for i, r := range dec.Rules {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, `{"ID":`...)
			w.b = jsonlogic.AppendString(w.b, r.ID)
			w.b = append(w.b, `,"Name":`...)
			w.b = jsonlogic.AppendString(w.b, r.Name)
			w.b = append(w.b, `,"Description":`...)
			w.b = jsonlogic.AppendString(w.b, r.Description)
			w.b = append(w.b, '}')
		}
		w.b = append(w.b, ']')
	}
	methods("VerificationMethods", dec.VerificationMethods)
	w.str("DefaultVerificationMethod", string(dec.DefaultVerificationMethod))
	methods("PromptToEnrollMethods", dec.PromptToEnrollMethods)
	if dec.Output != nil {
		w.field("Output")
		w.b = append(w.b, dec.Output...)
	}
	return w.end()
}

// objectWriter appends a JSON object's members, as encoding/json writes
// them: startObject, then field and the member's value, or str, and end.
type objectWriter struct {
	b     []byte
	empty bool
}

func startObject(b []byte) objectWriter { return objectWriter{b: append(b, '{'), empty: true} }

// field appends a member's name; its value follows.
func (w *objectWriter) field(name string) {
	if !w.empty {
		w.b = append(w.b, ',')
	}
	w.empty = false
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
}

// str appends a string member, unless v is empty.
func (w *objectWriter) str(name, v string) {
	if v != "" {
		w.field(name)
		w.b = jsonlogic.AppendString(w.b, v)
	}
}

func (w *objectWriter) end() []byte { return append(w.b, '}') }

type storedContext struct {
	IPAddress          string          `json:",omitzero"`
	UserAgent          string          `json:",omitzero"`
	DeviceID           string          `json:",omitzero"`
	Email              string          `json:",omitzero"`
	PhoneNumber        string          `json:",omitzero"`
	Username           string          `json:",omitzero"`
	RedirectURL        string          `json:",omitzero"`
	RedirectToSettings bool            `json:",omitzero"`
	Scope              string          `json:",omitzero"`
	Locale             string          `json:",omitzero"`
	CountryCode        string          `json:",omitzero"`
	Custom             json.RawMessage `json:",omitzero"`
}

// appendContext appends c as storedContext's JSON, as json.Marshal would
// write it but for HTML characters in Custom, left as they are (either
// decodes the same); Custom is compacted, and must be valid JSON.
func appendContext(b []byte, c *vigil.ActionContext) ([]byte, error) {
	w := startObject(b)
	w.str("IPAddress", c.IPAddress)
	w.str("UserAgent", c.UserAgent)
	w.str("DeviceID", c.DeviceID)
	w.str("Email", c.Email)
	w.str("PhoneNumber", c.PhoneNumber)
	w.str("Username", c.Username)
	w.str("RedirectURL", c.RedirectURL)
	if c.RedirectToSettings {
		w.field("RedirectToSettings")
		w.b = append(w.b, "true"...)
	}
	w.str("Scope", c.Scope)
	w.str("Locale", c.Locale)
	w.str("CountryCode", c.CountryCode)
	if c.Custom != nil {
		w.field("Custom")
		buf := bytes.NewBuffer(w.b)
		if err := json.Compact(buf, c.Custom); err != nil {
			return nil, err
		}
		w.b = buf.Bytes()
	}
	return w.end(), nil
}

func scanAction(s rowScanner) (*vigil.Action, error) {
	var r rawAction
	if err := r.scan(s); err != nil {
		return nil, err
	}
	return r.action()
}

// rawAction is an action row as scanned, before its JSON columns are
// decoded: the writer scans rows it returns into one and leaves the
// decoding to the caller, off the serial path.
type rawAction struct {
	a                                           vigil.Action
	state, decision, defMethod, actx, verMethod string
	allowed, enrolled                           sql.NullString
	stateUpdated, created, updated              int64
	issued, expires, validated                  sql.NullInt64
	deviceID, ip                                string
	lat, lon                                    sql.NullFloat64
}

// scan reads the columns of actionCols.
func (r *rawAction) scan(s rowScanner) error {
	a := &r.a
	return s.Scan(&a.TenantID, &a.ID, &a.UserID, &a.Code, &a.IdempotencyKey, &r.state, &r.stateUpdated,
		&r.created, &r.updated, &r.decision, &r.allowed, &r.defMethod, &a.IsEnrolled, &r.enrolled,
		&r.actx, &r.verMethod, &a.VerifiedByAuthenticatorID, &a.RequestHash, &r.issued,
		&r.expires, &r.validated, &r.deviceID, &r.ip, &r.lat, &r.lon)
}

// scanState scans the columns of actionStateCols; action then leaves the
// others zero.
func (r *rawAction) scanState(s rowScanner) error {
	a := &r.a
	return s.Scan(&a.TenantID, &a.ID, &a.UserID, &a.Code, &a.IdempotencyKey, &r.state, &r.stateUpdated,
		&r.created, &r.updated, &r.verMethod, &r.validated)
}

// action decodes the row.
func (r *rawAction) action() (*vigil.Action, error) {
	a := r.a
	if r.lat.Valid && r.lon.Valid {
		a.Location = &vigil.GeoPoint{Latitude: r.lat.Float64, Longitude: r.lon.Float64}
	}
	a.State = vigil.ActionState(r.state)
	a.DefaultMethod = vigil.VerificationMethod(r.defMethod)
	a.VerificationMethod = vigil.VerificationMethod(r.verMethod)
	// Both empty (no stored row has either empty: they are JSON objects)
	// when scanned by scanState.
	if r.decision != "" {
		decision, err := unpack(r.decision)
		if err != nil {
			return nil, fmt.Errorf("decode decision of action %s: %w", a.ID, err)
		}
		if err := json.Unmarshal(decision, &a.Decision); err != nil {
			return nil, fmt.Errorf("decode decision of action %s: %w", a.ID, err)
		}
	}
	if r.actx != "" {
		if err := json.Unmarshal([]byte(r.actx), &a.Context); err != nil {
			return nil, fmt.Errorf("decode context of action %s: %w", a.ID, err)
		}
		if string(a.Context.Custom) == "null" {
			a.Context.Custom = nil
		}
	}
	var err error
	if a.AllowedMethods, err = decodeMethods(r.allowed); err != nil {
		return nil, err
	}
	if a.EnrolledMethods, err = decodeMethods(r.enrolled); err != nil {
		return nil, err
	}
	a.StateUpdatedAt, a.CreatedAt, a.UpdatedAt = fromMicros(r.stateUpdated), fromMicros(r.created), fromMicros(r.updated)
	a.TokenIssuedAt, a.TokenExpiresAt = fromNullMicros(r.issued), fromNullMicros(r.expires)
	a.ValidatedAt = fromNullMicros(r.validated)
	return &a, nil
}

// CreateAction stores a newly tracked action and fills in its ID, tenant
// and timestamps (and its State from the decision's outcome when empty, an
// idempotency key when empty, and an empty object as Decision.Output when
// nil; any other Output is stored as it is, unchecked: it comes from the
// rules engine, whose encoder is fuzzed against encoding/json, and checking
// its 2 KB again cost 3.6 % of the server's CPU on every track). If
// newConfig is not nil and the tenant has no configuration for a.Code,
// newConfig is created in the same transaction; either way the
// configuration's LastActionCreatedAt is advanced. The user is created if
// absent. It returns a itself with created=true.
//
// If an action with a.IdempotencyKey already exists, CreateAction stores
// nothing and returns the existing action with created=false when its
// RequestHash equals a.RequestHash, and EUNPROCESSABLE otherwise. That holds
// for concurrent calls too: the loser of a race on a key sees the winner's
// row. With a.KeyMade the caller vouches that it made a.IdempotencyKey for
// this action: a taken key is then an error, not a replay.
//
// The writes are one group-committed op of three statements: the action
// insert (ON CONFLICT DO NOTHING, which also detects a replay), the user
// insert if absent, and, with newConfig, the configuration insert if
// absent; the last-action time is advanced once per batch and
// configuration (see applyAdvances).
func (s *ActionService) CreateAction(ctx context.Context, a *vigil.Action, newConfig *vigil.ActionConfig) (*vigil.Action, bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, false, err
	}
	if a.UserID == "" {
		return nil, false, vigil.Errorf(vigil.EINVALID, "User ID is required.")
	}
	if !vigil.ValidActionCode(a.Code) {
		return nil, false, vigil.Errorf(vigil.EINVALID, "Invalid action code.")
	}
	state := a.State
	if state == "" {
		state = a.Decision.Outcome.State()
	}
	if !state.Valid() {
		return nil, false, vigil.Errorf(vigil.EINVALID, "Invalid action state.")
	}
	var cfg *actionConfigRow
	if newConfig != nil {
		if newConfig.ActionCode != a.Code {
			return nil, false, vigil.Errorf(vigil.EINVALID, "The new configuration is for another action code.")
		}
		if cfg, err = encodeActionConfig(newConfig); err != nil {
			return nil, false, err
		}
	}
	id, key := a.ID, a.IdempotencyKey
	if id == "" {
		id = newID()
	}
	fresh := key == "" || a.KeyMade
	if key == "" {
		key = s.db.newKey()
	}
	dec := a.Decision
	if dec.Output == nil {
		dec.Output = json.RawMessage(`{}`)
	}
	bp := decisionBufs.Get().(*[]byte)
	enc := appendDecision((*bp)[:0], &dec)
	var decision any
	if s.db.dialect.name == DialectPostgres {
		decision = packBinary(enc)
	} else {
		decision = pack(enc)
	}
	if cap(enc) <= maxPooledDecisionBuf {
		*bp = enc[:0]
		decisionBufs.Put(bp)
	}
	actx, err := appendContext(make([]byte, 0, 256+len(a.Context.Custom)), &a.Context)
	if err != nil {
		return nil, false, vigil.Errorf(vigil.EINVALID, "Custom context data is not valid JSON.")
	}
	hash := bytes.Clone(a.RequestHash)
	// args are the insert's arguments; the four timestamps are set per run.
	args := []any{tenantID, id, a.UserID, a.Code, key, string(state), nil,
		nil, nil, decision, encodeMethods(a.AllowedMethods), string(a.DefaultMethod), a.IsEnrolled,
		encodeMethods(a.EnrolledMethods), string(actx), string(a.VerificationMethod),
		a.VerifiedByAuthenticatorID, hash, nullMicros(a.TokenIssuedAt),
		nullMicros(a.TokenExpiresAt), nullMicros(a.ValidatedAt),
		a.Context.DeviceID, a.Context.IPAddress, nil, nil}
	if a.Location != nil {
		args[23], args[24] = a.Location.Latitude, a.Location.Longitude
	}
	code := a.Code

	var existing *vigil.Action
	var created bool
	var now int64
	setTimes := func(t time.Time) {
		now = micros(t)
		args[6], args[7], args[8] = now, now, now
	}
	note := &trackNote{key: enrollKey{tenantID, a.UserID}, code: a.Code, state: string(state),
		deviceID: a.Context.DeviceID, ip: a.Context.IPAddress}
	// PostgreSQL: watch the user if this server just read the history of
	// an unwatched user for the track (its rules read it).
	watch := s.db.pgHist != nil && s.db.pgHist.takeWatch(note.key)
	ins := &actionInsert{id: id, args: args, setTimes: setTimes, watch: watch, fresh: fresh}
	if a.StateVersion != "" && s.db.dialect.name == DialectPostgres {
		v, err := parseStateVersion(a.StateVersion)
		if err != nil {
			return nil, false, err
		}
		ins.guard = &v
		if a.Context.DeviceID != "" && s.db.pgHist != nil {
			ins.devSeen = s.db.pgHist.deviceSeen(note.key, v, a.Context.DeviceID)
		}
	}
	stale := func() error {
		s.db.enroll.drop(note.key)
		return clean(vigil.ErrStaleState)
	}
	fn := func(tx *Tx) error {
		existing, created, note.created = nil, false, 0
		var n int64
		if tx.preInserted != nil {
			// The writer inserted this batch's actions together (and
			// stamped args through setTimes).
			if _, ok := tx.preInserted[id]; ok {
				n = 1
			}
		} else if ins.guard != nil {
			// The coalesced statement, of one row, checks the version.
			inserted, err := s.db.insertActions(tx.ctx, tx.tx, []*actionInsert{ins}, false)
			if err != nil {
				return err
			}
			if _, ok := inserted[id]; ok {
				n = 1
			}
		} else if setTimes(tx.now); s.insertWithUser != "" {
			if err := tx.queryRow(s.insertWithUser, append(args[:actionColCount:actionColCount], watch)...).Scan(&n); err != nil {
				return fmt.Errorf("insert action: %w", err)
			}
		} else {
			res, err := tx.exec(s.insert, args...)
			if err != nil {
				return fmt.Errorf("insert action: %w", err)
			}
			if n, err = res.RowsAffected(); err != nil {
				return fmt.Errorf("insert action: %w", err)
			}
		}
		if n == 0 {
			// The key is taken, or the row's guard failed; nothing has
			// been written.
			ex, err := scanAction(tx.queryRow(s.findByKey, tenantID, key))
			if ins.guard != nil && errors.Is(err, sql.ErrNoRows) {
				return stale()
			}
			if err != nil {
				return fmt.Errorf("find action by key: %w", err)
			}
			if !bytes.Equal(ex.RequestHash, hash) {
				return clean(vigil.Errorf(vigil.EUNPROCESSABLE,
					"The idempotency key was already used with a different request."))
			}
			existing = ex
			return nil
		}
		// The user and device rows went in with the action: through
		// insertWithUser's CTEs on PostgreSQL, through the actions_track_user
		// trigger on SQLite (migration 0010).
		if cfg != nil {
			tx.changedConfig()
			if _, err := tx.exec(s.insertConfig, cfg.insertArgs(tenantID, code, now, now)...); err != nil {
				return fmt.Errorf("insert action config: %w", err)
			}
		}
		tx.advanceConfig(tenantID, code, fromMicros(now))
		created, note.created = true, now
		return nil
	}
	if cfg == nil {
		// Once its row is in (with its user and last-action time, which
		// the writer's statement takes care of), the op is done.
		ins.finish = func() { existing, created, note.created = nil, true, now }
	}
	if err := s.db.run(ctx, &writeOp{fn: fn, ins: ins, keepsHistory: true, track: note}); err != nil {
		return nil, false, err
	}
	if !created {
		return existing, false, nil
	}
	t := fromMicros(now)
	a.ID, a.TenantID, a.IdempotencyKey, a.State = id, tenantID, key, state
	a.CreatedAt, a.UpdatedAt, a.StateUpdatedAt = t, t, t
	a.Decision.Output = dec.Output
	return a, true, nil
}

// FindAction returns one action. ENOTFOUND if none.
func (s *ActionService) FindAction(ctx context.Context, userID, code, idempotencyKey string) (*vigil.Action, error) {
	return s.findAction(ctx, s.db.actionReads, s.find, (*rawAction).scan, userID, code, idempotencyKey)
}

// FindActionState is FindAction reading only the action's identity and
// state (vigil.ActionStateFinder): TenantID, ID, UserID, Code,
// IdempotencyKey, State, StateUpdatedAt, CreatedAt, UpdatedAt,
// VerificationMethod and ValidatedAt, what validation reports and
// consumes by; the other fields are left zero. The decision, with its
// explanation under rules, is most of a row.
func (s *ActionService) FindActionState(ctx context.Context, userID, code, idempotencyKey string) (*vigil.Action, error) {
	return s.findAction(ctx, s.db.actionStateReads, s.findState, (*rawAction).scanState, userID, code, idempotencyKey)
}

// findAction reads one action through reads (PostgreSQL's batched reader)
// or, on SQLite, with q, whose columns scan reads.
func (s *ActionService) findAction(ctx context.Context, reads *batchReader[actionRef, *rawAction], q string,
	scan func(*rawAction, rowScanner) error, userID, code, idempotencyKey string) (*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if reads != nil {
		raw, found, err := reads.find(ctx, actionRef{tenantID, userID, code, idempotencyKey})
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, vigil.Errorf(vigil.ENOTFOUND, "Action not found.")
		}
		return raw.action()
	}
	var r rawAction
	if err := scan(&r, s.db.readRow(ctx, q, tenantID, userID, code, idempotencyKey)); err != nil {
		return nil, unclean(noRows("find action", err, "Action not found."))
	}
	return r.action()
}

// FindActionByKey returns the action with an idempotency key, whatever its
// user and code. ENOTFOUND if none.
func (s *ActionService) FindActionByKey(ctx context.Context, idempotencyKey string) (*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	a, err := scanAction(s.db.readRow(ctx, s.findByKey, tenantID, idempotencyKey))
	if err != nil {
		return nil, unclean(noRows("find action", err, "Action not found."))
	}
	return a, nil
}

// FindActions returns the actions matching f, newest first, at most f.Limit
// (or 1000) of them.
func (s *ActionService) FindActions(ctx context.Context, f vigil.ActionFilter) ([]*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 || limit > maxActions {
		limit = maxActions
	}
	var from int64
	if !f.FromDate.IsZero() {
		from = micros(f.FromDate)
	}
	q := s.findMany
	args := []any{tenantID, f.UserID, string(f.State), string(f.State), from}
	if len(f.Codes) > 0 {
		codes, err := json.Marshal(f.Codes)
		if err != nil {
			return nil, fmt.Errorf("encode codes: %w", err)
		}
		q = s.findManyCodes
		args = append(args, string(codes))
	}
	args = append(args, limit)
	rows, err := s.db.readRows(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find actions: %w", err)
	}
	defer rows.Close()
	as := []*vigil.Action{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, fmt.Errorf("find actions: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find actions: %w", err)
	}
	return as, nil
}

// ScanActions calls fn with each action with the code created in [from,
// to], newest first, at most limit, streaming them from one read.
func (s *ActionService) ScanActions(ctx context.Context, code string, from, to time.Time, limit int, fn func(*vigil.Action) error) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	rows, err := s.db.readRows(ctx, s.scan, tenantID, code, micros(from), micros(to), limit)
	if err != nil {
		return fmt.Errorf("scan actions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return fmt.Errorf("scan actions: %w", err)
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan actions: %w", err)
	}
	return nil
}

// UpdateActionState sets an action's state (no transition rules: this is
// the administrative override) and returns the action. ENOTFOUND if none;
// EINVALID for an unknown state. A move to CHALLENGE_SUCCEEDED from another
// state records the verification in the same transaction: the action's
// device is remembered, its IP address verified (with its location), and
// the user has verified.
func (s *ActionService) UpdateActionState(ctx context.Context, userID, code, idempotencyKey string, state vigil.ActionState) (*vigil.Action, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	if !state.Valid() {
		return nil, vigil.Errorf(vigil.EINVALID, "Invalid action state.")
	}
	if s.updates != nil {
		row := &updateRow{tenantID: tenantID, userID: userID, code: code, key: idempotencyKey, state: state}
		return s.updateActionStateGrouped(ctx, row, func(tx *Tx) error {
			a, err := s.updateStateVerified(tx, row)
			if err != nil {
				return err
			}
			row.out = a
			return nil
		})
	}
	var out *vigil.Action
	err = s.db.writeUser(ctx, tenantID, userID, func(tx *Tx) error {
		now := micros(tx.now)
		var before vigil.ActionState
		if state == vigil.StateChallengeSucceeded {
			old, err := scanAction(tx.queryRow(s.find, tenantID, userID, code, idempotencyKey))
			if err != nil {
				return noRows("update action state", err, "Action not found.")
			}
			before = old.State
		}
		a, err := scanAction(tx.queryRow(s.update, string(state), now, now, tenantID, userID, code, idempotencyKey))
		if err != nil {
			return noRows("update action state", err, "Action not found.")
		}
		if state == vigil.StateChallengeSucceeded && before != state {
			if err := s.verify.record(tx, a, now); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// updateStateVerified is one PostgreSQL UpdateActionState in tx, outside
// the group's statement (a replay).
func (s *ActionService) updateStateVerified(tx *Tx, u *updateRow) (*vigil.Action, error) {
	now := micros(tx.now)
	a, err := scanAction(tx.queryRow(s.updateVerified, u.tenantID, u.userID, u.code, u.key,
		string(u.state), now, now, u.tenantID, u.userID, u.code, u.key, u.tenantID, u.userID))
	if err != nil {
		return nil, noRows("update action state", err, "Action not found.")
	}
	return a, nil
}

// ConsumeReadValidation implements vigil.ReadValidationConsumer: one
// UPDATE through the writer, guarded by the read's updated_at, which
// neither returns nor decodes the row. On PostgreSQL a batch's are one
// statement (see readConsumes).
func (s *ActionService) ConsumeReadValidation(ctx context.Context, a *vigil.Action) (time.Time, bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	if a.TenantID != tenantID || a.State != vigil.StateChallengeSucceeded || !a.ValidatedAt.IsZero() {
		return time.Time{}, false, nil
	}
	row := &readConsumeRow{tenantID: tenantID, userID: a.UserID, code: a.Code, key: a.IdempotencyKey,
		updatedAt: micros(a.UpdatedAt)}
	fn := func(tx *Tx) error {
		res, err := tx.exec(s.consumeRead, micros(tx.now), row.tenantID, row.userID, row.code, row.key, row.updatedAt)
		if err != nil {
			return fmt.Errorf("consume validation: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("consume validation: %w", err)
		}
		row.at, row.consumed = micros(tx.now), n == 1
		return nil
	}
	op := &writeOp{fn: fn, data: row, keepsHistory: true}
	if s.readConsumes != nil {
		op.group = s.readConsumes.group
	}
	if err := s.db.run(ctx, op); err != nil {
		return time.Time{}, false, err
	}
	return fromMicros(row.at), row.consumed, nil
}

// ConsumeValidation marks a CHALLENGE_SUCCEEDED action as validated if it
// has not been yet, atomically, and returns the action and whether this
// call consumed it. ENOTFOUND if the action does not exist.
//
// The guard is a single UPDATE ... WHERE state = 'CHALLENGE_SUCCEEDED' AND
// validated_at IS NULL RETURNING ...: of any number of concurrent callers,
// exactly one gets the row back.
func (s *ActionService) ConsumeValidation(ctx context.Context, userID, code, idempotencyKey string) (*vigil.Action, bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, false, err
	}
	var out *vigil.Action
	var raw *rawAction // SQLite: the row, decoded below rather than by the writer
	var consumed bool
	ref := &actionRef{tenantID, userID, code, idempotencyKey}
	claim := func(a *vigil.Action, ok, found bool) error {
		if !found {
			return clean(vigil.Errorf(vigil.ENOTFOUND, "Action not found."))
		}
		out, consumed = a, ok
		return nil
	}
	fn := func(tx *Tx) error {
		out, raw, consumed = nil, nil, false
		if tx.preConsumed != nil {
			// The writer ran this batch's consumes together.
			return claim(tx.claimConsumed(ref))
		}
		var r rawAction
		err := r.scan(tx.queryRow(s.consume, micros(tx.now), tenantID, userID, code, idempotencyKey))
		if err == nil {
			raw, consumed = &r, true
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("consume validation: %w", err)
		}
		if err := r.scan(tx.queryRow(s.find, tenantID, userID, code, idempotencyKey)); err != nil {
			return noRows("find action", err, "Action not found.")
		}
		raw = &r
		return nil
	}
	if err := s.db.run(ctx, &writeOp{fn: fn, cons: ref, claim: claim, keepsHistory: true}); err != nil {
		return nil, false, err
	}
	if raw != nil {
		if out, err = raw.action(); err != nil {
			return nil, false, err
		}
	}
	return out, consumed, nil
}
