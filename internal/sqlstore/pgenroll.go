package sqlstore

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	vigil "github.com/vigil-auth/vigil"
)

// pgEnrollCache remembers, on PostgreSQL, the authenticators of users as a
// track without history rules reads them, with the version of the user's
// history they were read at (migration 0014: every change to a user's
// authenticators advances it, in the change's transaction, whichever server
// makes it). A track that finds its user here decides without reading, and
// the write of its action checks the version instead: the coalesced insert
// stores the row only if the user's history is still at that version in the
// statement's snapshot. A guarded row that did not go in and whose key is
// free was refused by that check: CreateAction returns ErrStaleState, the
// entry is dropped, and the track decides again on a read. The answer is
// therefore the one a read in the write's snapshot would have given, as
// with the read it replaces, at the cost of an index probe in the write
// instead of a statement of its own.
//
// Writes through this server are seen at once, as by SQLite's
// enrollCache: an entry is stored under DB.histGen as loaded before its
// read, and used only while that generation lasts, which every write that
// may change a user's authenticators ends before it is acknowledged. The
// version check is for the writes of other servers.
//
// Only users whose row exists and whose history no server watches are
// cached: their version moves only when their history changes, not with
// every track (a watched user's tracks advance it; see upsertUsersFromIns).
// A user becoming watched makes the next check fail once.
type pgEnrollCache struct {
	mu sync.Mutex
	m  map[enrollKey]pgEnrollEntry
}

type pgEnrollEntry struct {
	gen   uint64 // DB.histGen when read
	auths string
	ver   histVer
}

func newPGEnrollCache() *pgEnrollCache {
	return &pgEnrollCache{m: make(map[enrollKey]pgEnrollEntry)}
}

// get returns k's entry if it was read under generation gen.
func (c *pgEnrollCache) get(k enrollKey, gen uint64) (pgEnrollEntry, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	return e, ok && e.gen == gen
}

// put stores a read of k that loaded generation gen before it; one that is
// not cacheable drops k's entry.
func (c *pgEnrollCache) put(k enrollKey, gen uint64, r enrollRead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !r.cacheable {
		delete(c.m, k)
		return
	}
	if len(c.m) >= maxEnrollEntries {
		clear(c.m)
	}
	c.m[k] = pgEnrollEntry{gen: gen, auths: r.auths, ver: r.ver}
}

// drop forgets k's entry.
func (c *pgEnrollCache) drop(k enrollKey) {
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
