package sqlstore

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	vigil "github.com/vigil-auth/vigil"
)

// enrollCache remembers each user's authenticators as the risk state read
// returns them (method and default flag), so that a track whose rules need
// nothing else skips that read. Whether a user is enrolled decides whether
// a track's token may enroll a first factor without a challenge, so a stale
// "not enrolled" must never be served. The cache is therefore exact, not
// time-bounded:
//
//   - Every write transaction goes through the writer. A transaction that
//     ran any op not known to leave users' history alone (every op but a
//     track's insert and a validation's consume: the safe default for any
//     new kind of write) advances DB.histGen, the history cache's
//     generation, after it commits or rolls back and before any of its ops
//     is answered (Tx.end). Neither a track nor a consume touches
//     authenticators.
//   - A reader loads histGen before its read and stores what it read under
//     that generation; an entry is used only while the generation is
//     unchanged. A write that commits after the load advances the
//     generation, so the entry is never used; a write that committed
//     before the load is visible to the read, which starts after it.
//
// So any enrollment, deletion or user removal through this process empties
// the cache in effect, and a load of tracks alone keeps it warm. On SQLite
// that is every write.
//
// On PostgreSQL other servers write the same database too, so an entry
// also holds the version of the user's history it was read at (migration
// 0014: every change to a user's authenticators advances it, in the
// change's transaction, whichever server makes it), and an answer from the
// cache carries it (vigil.RiskState.Version). The write of the action
// decided on it checks the version instead of a read: the coalesced insert
// stores the row only if the user's history is still at that version in
// the statement's snapshot. A guarded row that did not go in and whose key
// is free was refused by that check: CreateAction returns ErrStaleState,
// the entry is dropped, and the track decides again on a read. The answer
// is therefore the one a read in the write's snapshot would have given, as
// with the read it replaces, at the cost of an index probe in the write
// instead of a statement of its own. Only users whose row exists and whose
// history no server watches are cached there: their version moves only
// when their history changes, not with every track (a watched user's
// tracks advance it; see upsertUsersFromIns). A user becoming watched
// makes the next check fail once.
type enrollCache struct {
	mu sync.Mutex
	m  map[enrollKey]enrollEntry
}

type enrollKey struct{ tenantID, userID string }

type enrollEntry struct {
	gen   uint64
	auths string  // the risk state query's aggregate: "method:isDefault,..."; "" for none
	ver   histVer // PostgreSQL: the version of the user's history auths were read at
}

// maxEnrollEntries bounds the cache; when full it starts over.
const maxEnrollEntries = 1 << 16

func newEnrollCache() *enrollCache { return &enrollCache{m: make(map[enrollKey]enrollEntry)} }

// get returns the entry of k if it was stored under generation gen.
func (c *enrollCache) get(k enrollKey, gen uint64) (enrollEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	return e, ok && e.gen == gen
}

// put stores e, what a read that loaded generation e.gen before it
// returned, as k's entry.
func (c *enrollCache) put(k enrollKey, e enrollEntry) {
	c.mu.Lock()
	if len(c.m) >= maxEnrollEntries {
		clear(c.m)
	}
	c.m[k] = e
	c.mu.Unlock()
}

// drop forgets k's entry.
func (c *enrollCache) drop(k enrollKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// formatStateVersion and parseStateVersion are how a history version
// travels as vigil.RiskState.Version and vigil.Action.StateVersion.
func formatStateVersion(v histVer) string { return fmt.Sprintf("%d.%d", v.base, v.ver) }

func parseStateVersion(s string) (histVer, error) {
	b, v, ok := strings.Cut(s, ".")
	base, err1 := strconv.ParseInt(b, 10, 64)
	ver, err2 := strconv.ParseInt(v, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return histVer{}, vigil.Errorf(vigil.EINVALID, "Invalid state version.")
	}
	return histVer{base, ver}, nil
}
