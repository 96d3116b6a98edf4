package ipintel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// prefixSet holds IPv4 and IPv6 prefixes as one hash set per prefix length.
// A look-up probes one set per length present (a Tor exit list, all /32,
// costs one probe), never scans the entries. IPv4 keys are the masked
// address as a uint32, IPv6 keys the masked address as two uint64s.
type prefixSet struct {
	v4 []v4Level // longest prefix first
	v6 []v6Level
	n  int
}

type v4Level struct {
	bits int
	mask uint32
	set  map[uint32]struct{}
}

type v6Level struct {
	bits   int
	hi, lo uint64 // masks
	set    map[[2]uint64]struct{}
}

func newPrefixSet() *prefixSet { return &prefixSet{} }

// add inserts p, which must be valid.
func (s *prefixSet) add(p netip.Prefix) {
	p = canonicalPrefix(p)
	if p.Addr().Is4() {
		b := p.Bits()
		i := slices.IndexFunc(s.v4, func(l v4Level) bool { return l.bits == b })
		if i < 0 {
			s.v4 = append(s.v4, v4Level{bits: b, mask: v4Mask(b), set: map[uint32]struct{}{}})
			slices.SortFunc(s.v4, func(a, b v4Level) int { return b.bits - a.bits })
			i = slices.IndexFunc(s.v4, func(l v4Level) bool { return l.bits == b })
		}
		k := binary.BigEndian.Uint32(p.Addr().AsSlice())
		if _, dup := s.v4[i].set[k]; !dup {
			s.v4[i].set[k] = struct{}{}
			s.n++
		}
		return
	}
	b := p.Bits()
	i := slices.IndexFunc(s.v6, func(l v6Level) bool { return l.bits == b })
	if i < 0 {
		hi, lo := v6Mask(b)
		s.v6 = append(s.v6, v6Level{bits: b, hi: hi, lo: lo, set: map[[2]uint64]struct{}{}})
		slices.SortFunc(s.v6, func(a, b v6Level) int { return b.bits - a.bits })
		i = slices.IndexFunc(s.v6, func(l v6Level) bool { return l.bits == b })
	}
	a := p.Addr().As16()
	k := [2]uint64{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
	if _, dup := s.v6[i].set[k]; !dup {
		s.v6[i].set[k] = struct{}{}
		s.n++
	}
}

// contains reports whether ip is inside any prefix of s. ip must already be
// unmapped. It does not allocate.
func (s *prefixSet) contains(ip netip.Addr) bool {
	if s == nil {
		return false
	}
	if ip.Is4() {
		if len(s.v4) == 0 {
			return false
		}
		a := ip.As4()
		k := binary.BigEndian.Uint32(a[:])
		for i := range s.v4 {
			if _, ok := s.v4[i].set[k&s.v4[i].mask]; ok {
				return true
			}
		}
		return false
	}
	if len(s.v6) == 0 {
		return false
	}
	a := ip.As16()
	hi, lo := binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
	for i := range s.v6 {
		l := &s.v6[i]
		if _, ok := l.set[[2]uint64{hi & l.hi, lo & l.lo}]; ok {
			return true
		}
	}
	return false
}

func (s *prefixSet) len() int {
	if s == nil {
		return 0
	}
	return s.n
}

func v4Mask(bits int) uint32 {
	if bits == 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

func v6Mask(bits int) (hi, lo uint64) {
	switch {
	case bits == 0:
		return 0, 0
	case bits <= 64:
		return ^uint64(0) << (64 - bits), 0
	case bits == 128:
		return ^uint64(0), ^uint64(0)
	default:
		return ^uint64(0), ^uint64(0) << (128 - bits)
	}
}

// canonicalPrefix masks p and turns an IPv4-mapped IPv6 prefix of at least
// 96 bits into the IPv4 prefix it covers, so that it matches the unmapped
// addresses Lookup probes with.
func canonicalPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// maxListLine bounds one line of a list file.
const maxListLine = 4096

// parseList reads one list file into s. name is used in error messages,
// which have the form "name:line: message".
func parseList(s *prefixSet, r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxListLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		p, err := parseEntry(text)
		if err != nil {
			return fmt.Errorf("ipintel: %s:%d: %w", name, line, err)
		}
		s.add(p)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("ipintel: %s:%d: line longer than %d bytes", name, line+1, maxListLine)
		}
		return fmt.Errorf("ipintel: %s: %w", name, err)
	}
	return nil
}

// parseEntry parses an address or a CIDR prefix.
func parseEntry(text string) (netip.Prefix, error) {
	if strings.ContainsAny(text, " \t") {
		return netip.Prefix{}, fmt.Errorf("%q: want one address or CIDR prefix per line", text)
	}
	if strings.Contains(text, "/") {
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR prefix %q", text)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %q", text)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("IP address %q has a zone", text)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// loadLists reads every list file. A file that does not exist is a warning;
// any other failure is an error.
func loadLists(paths []string) (*prefixSet, []string, error) {
	s := newPrefixSet()
	var warnings []string
	for _, path := range paths {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			warnings = append(warnings, fmt.Sprintf("anonymous list %s: %v (skipped)", path, err))
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("ipintel: anonymous list: %w", err)
		}
		err = parseList(s, f, path)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return s, warnings, nil
}
