package sqlstore

import (
	"fmt"
	"strings"
	"sync"
)

// valuesStatements caches PostgreSQL statements that take a batch's rows as
// a VALUES list named v, one statement per row count: $1 is shared by the
// batch (its time), and each row's values follow, with the casts given.
type valuesStatements struct {
	head  string   // "WITH v (col, ...) AS (VALUES "
	casts []string // a row's casts, e.g. "text", "bigint"
	tail  string   // the rest of the statement, after the VALUES list's ")"

	mu sync.Mutex     // guards m
	m  map[int]string // by row count
}

func newValuesStatements(cols, casts []string, tail string) *valuesStatements {
	return &valuesStatements{head: `WITH v (` + strings.Join(cols, ", ") + `) AS (VALUES `, casts: casts,
		tail: tail, m: make(map[int]string)}
}

// get returns the statement for n rows.
func (s *valuesStatements) get(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.m[n]; ok {
		return q
	}
	var b strings.Builder
	b.WriteString(s.head)
	p := 1
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, c := range s.casts {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			fmt.Fprintf(&b, "$%d::%s", p, c)
		}
		b.WriteByte(')')
	}
	b.WriteString(")")
	b.WriteString(s.tail)
	q := b.String()
	s.m[n] = q
	return q
}
