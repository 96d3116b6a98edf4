package jsonlogic

import (
	"encoding/binary"
	"math"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
)

// List is a tenant's value list as conditions see it: a set of strings and
// numbers, where string items that are CIDR ranges ("10.0.0.0/8",
// "2001:db8::/32") or IP addresses also match IP addresses by prefix.
// Membership is a hash lookup (one per distinct prefix length for IPs), never
// a scan.
//
// A List's contents can be replaced with Store at any time, concurrently
// with evaluations; compiled programs hold the *List, so edits take effect
// without recompiling. The zero List is empty and ready to use.
type List struct {
	cur atomic.Pointer[listSet]
}

// NewList returns a List holding items.
func NewList(items []Value) *List {
	l := &List{}
	l.Store(items)
	return l
}

// NewStringList returns a List holding the given strings.
func NewStringList(items ...string) *List {
	l := &List{}
	l.StoreStrings(items)
	return l
}

// Store atomically replaces the list's contents with items. Strings and
// numbers are members; other kinds are ignored.
func (l *List) Store(items []Value) {
	s := &listSet{members: newMemberSet(items)}
	for _, it := range items {
		if it.kind != KindString {
			continue
		}
		if p, err := parsePrefix(it.str); err == nil {
			s.prefixes.add(p)
		}
	}
	l.cur.Store(s)
}

// StoreStrings is Store for a list of strings.
func (l *List) StoreStrings(items []string) {
	vs := make([]Value, len(items))
	for i, s := range items {
		vs[i] = String(s)
	}
	l.Store(vs)
}

// Len returns the number of distinct members.
func (l *List) Len() int {
	s := l.cur.Load()
	if s == nil {
		return 0
	}
	return len(s.members.strs) + len(s.members.nums)
}

// Contains reports whether v is a member: a string equal to a string item, a
// number equal to a number item (strictly: "1" does not match 1), or a
// string holding an IP address inside one of the list's CIDR ranges or equal
// to one of its addresses (IPv4-mapped IPv6 addresses match as IPv4).
func (l *List) Contains(v Value) bool {
	s := l.cur.Load()
	if s == nil {
		return false
	}
	if s.members.contains(v) {
		return true
	}
	return v.kind == KindString && s.prefixes.containsString(v.str)
}

type listSet struct {
	members  *memberSet
	prefixes prefixSet
}

// memberSet is strict-equality (===) membership for strings, numbers,
// booleans and null. Arrays and objects are never === to a separately built
// value, so they are not members.
type memberSet struct {
	strs                      map[string]struct{}
	nums                      map[float64]struct{}
	hasTrue, hasFalse, hasNil bool
}

func newMemberSet(items []Value) *memberSet {
	s := &memberSet{strs: map[string]struct{}{}, nums: map[float64]struct{}{}}
	for _, it := range items {
		switch it.kind {
		case KindString:
			s.strs[it.str] = struct{}{}
		case KindNumber:
			if !math.IsNaN(it.num) {
				s.nums[it.num+0] = struct{}{} // +0 folds -0 into 0
			}
		case KindBool:
			if it.num != 0 {
				s.hasTrue = true
			} else {
				s.hasFalse = true
			}
		case KindNull:
			s.hasNil = true
		}
	}
	return s
}

func (s *memberSet) contains(v Value) bool {
	switch v.kind {
	case KindString:
		_, ok := s.strs[v.str]
		return ok
	case KindNumber:
		_, ok := s.nums[v.num+0]
		return ok
	case KindBool:
		if v.num != 0 {
			return s.hasTrue
		}
		return s.hasFalse
	case KindNull:
		return s.hasNil
	}
	return false
}

// prefixSet holds CIDR ranges as one hash set per prefix length, so that a
// lookup costs one hash probe per distinct length (at most 33 for IPv4, 129
// for IPv6), independent of the number of ranges.
type prefixSet struct {
	v4 []v4Bucket // sorted by bits, longest first
	v6 []v6Bucket
}

type v4Bucket struct {
	bits int
	set  map[uint32]struct{}
}

type v6Bucket struct {
	bits int
	set  map[[16]byte]struct{}
}

func (ps *prefixSet) empty() bool { return len(ps.v4) == 0 && len(ps.v6) == 0 }

func (ps *prefixSet) add(p netip.Prefix) {
	p = p.Masked()
	bits := p.Bits()
	if p.Addr().Is4() {
		b := p.Addr().As4()
		key := binary.BigEndian.Uint32(b[:])
		for i := range ps.v4 {
			if ps.v4[i].bits == bits {
				ps.v4[i].set[key] = struct{}{}
				return
			}
		}
		ps.v4 = append(ps.v4, v4Bucket{bits: bits, set: map[uint32]struct{}{key: {}}})
		sort.Slice(ps.v4, func(i, j int) bool { return ps.v4[i].bits > ps.v4[j].bits })
		return
	}
	key := p.Addr().As16()
	for i := range ps.v6 {
		if ps.v6[i].bits == bits {
			ps.v6[i].set[key] = struct{}{}
			return
		}
	}
	ps.v6 = append(ps.v6, v6Bucket{bits: bits, set: map[[16]byte]struct{}{key: {}}})
	sort.Slice(ps.v6, func(i, j int) bool { return ps.v6[i].bits > ps.v6[j].bits })
}

// containsString reports whether s is an IP address inside one of the
// ranges. Strings that are not addresses (or are CIDR ranges themselves)
// never match.
func (ps *prefixSet) containsString(s string) bool {
	if ps.empty() || s == "" || strings.IndexByte(s, '/') >= 0 {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	return ps.containsAddr(a)
}

func (ps *prefixSet) containsAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		x := binary.BigEndian.Uint32(b[:])
		for _, bk := range ps.v4 {
			var mask uint32
			if bk.bits > 0 {
				mask = ^uint32(0) << (32 - bk.bits)
			}
			if _, ok := bk.set[x&mask]; ok {
				return true
			}
		}
		return false
	}
	full := a.As16()
	for _, bk := range ps.v6 {
		key := full
		maskBytes(&key, bk.bits)
		if _, ok := bk.set[key]; ok {
			return true
		}
	}
	return false
}

func maskBytes(b *[16]byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			b[i] &= ^byte(0) << (8 - bits)
			bits = 0
		default:
			b[i] = 0
		}
	}
}
