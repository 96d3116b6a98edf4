package useragent

import (
	"container/list"
	"hash/maphash"
	"strings"
	"sync"
)

// Parser parses User-Agent strings and caches the results, because a
// server sees the same few hundred strings over and over. It is safe for
// concurrent use.
type Parser struct {
	seed   maphash.Seed
	shards []shard
}

// shard is one independently locked LRU, so that concurrent Parse calls on
// different strings rarely contend.
type shard struct {
	mu    sync.Mutex // guards the fields below
	cap   int
	items map[string]*list.Element
	order list.List // front is most recently used; values are *entry
}

type entry struct {
	key   string
	agent Agent
}

// maxShards bounds the number of cache shards.
const maxShards = 16

// New returns a Parser that caches up to cacheSize results (least recently
// used first out). cacheSize <= 0 disables the cache. Each entry costs at
// most MaxLength bytes of key plus an Agent, so the cache is bounded to
// roughly cacheSize × 5 KiB even for hostile input.
func New(cacheSize int) *Parser {
	p := &Parser{seed: maphash.MakeSeed()}
	if cacheSize <= 0 {
		return p
	}
	n := min(maxShards, cacheSize)
	p.shards = make([]shard, n)
	for i := range p.shards {
		// Spread cacheSize over the shards without exceeding it.
		c := cacheSize / n
		if i < cacheSize%n {
			c++
		}
		p.shards[i].cap = c
		p.shards[i].items = make(map[string]*list.Element, c)
	}
	return p
}

// Parse returns the parsed form of ua. A ua longer than MaxLength bytes is
// cut to MaxLength bytes first. Parse never panics.
func (p *Parser) Parse(ua string) Agent {
	if len(ua) > MaxLength {
		// Clone so that the cache does not pin the caller's long string.
		ua = strings.Clone(ua[:MaxLength])
	}
	if len(p.shards) == 0 {
		return parse(ua)
	}
	s := &p.shards[maphash.String(p.seed, ua)%uint64(len(p.shards))]
	s.mu.Lock()
	if e, ok := s.items[ua]; ok {
		s.order.MoveToFront(e)
		a := e.Value.(*entry).agent
		s.mu.Unlock()
		return a
	}
	s.mu.Unlock()

	// Parse outside the lock; two goroutines may parse the same new string
	// at once, which is harmless.
	a := parse(ua)

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.items[ua]; ok {
		return a
	}
	if s.order.Len() >= s.cap {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.items, old.Value.(*entry).key)
	}
	s.items[ua] = s.order.PushFront(&entry{key: ua, agent: a})
	return a
}

// Len returns the number of cached results.
func (p *Parser) Len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += s.order.Len()
		s.mu.Unlock()
	}
	return n
}
