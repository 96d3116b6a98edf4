package sqlstore

import "sync"

// enrollCache remembers, on SQLite, each user's authenticators as the risk
// state read returns them (method and default flag), so that a track whose
// rules need nothing else skips that read. Whether a user is enrolled
// decides whether a track's token may enroll a first factor without a
// challenge, so a stale "not enrolled" must never be served. The cache is
// therefore exact, not time-bounded:
//
//   - Every write transaction on SQLite goes through the one writer. A
//     transaction that ran any op not known to leave users' history alone
//     (every op but a track's insert and a validation's consume: the safe
//     default for any new kind of write) advances DB.histGen, the history
//     cache's generation, after it commits or rolls back and before any of
//     its ops is answered (Tx.end). Neither a track nor a consume touches
//     authenticators.
//   - A reader loads histGen before its read and stores what it read under
//     that generation; an entry is used only while the generation is
//     unchanged. A write that commits after the load advances the
//     generation, so the entry is never used; a write that committed
//     before the load is visible to the read, which starts after it.
//
// So any enrollment, deletion or user removal empties the cache in effect,
// and a load of tracks alone keeps it warm. On PostgreSQL, where other
// servers write the same database, there is no cache.
type enrollCache struct {
	mu sync.Mutex
	m  map[enrollKey]enrollEntry
}

type enrollKey struct{ tenantID, userID string }

type enrollEntry struct {
	gen   uint64
	auths string // the risk state query's aggregate: "method:isDefault,..."; "" for none
}

// maxEnrollEntries bounds the cache; when full it starts over.
const maxEnrollEntries = 1 << 16

func newEnrollCache() *enrollCache { return &enrollCache{m: make(map[enrollKey]enrollEntry)} }

// get returns the entry of k if it was stored under generation gen.
func (c *enrollCache) get(k enrollKey, gen uint64) (string, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	return e.auths, ok && e.gen == gen
}

// put stores what a read that loaded generation gen before it returned.
func (c *enrollCache) put(k enrollKey, gen uint64, auths string) {
	c.mu.Lock()
	if len(c.m) >= maxEnrollEntries {
		clear(c.m)
	}
	c.m[k] = enrollEntry{gen: gen, auths: auths}
	c.mu.Unlock()
}
