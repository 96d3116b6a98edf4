package ipintel

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func BenchmarkLookup(b *testing.B) {
	d := newTestData(b)
	// A list of 100,000 /32s and 1,000 /24s, like a large Tor+VPN list.
	var list strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&list, "100.%d.%d.%d\n", i>>16, (i>>8)&0xff, i&0xff)
	}
	for i := range 1000 {
		fmt.Fprintf(&list, "101.%d.%d.0/24\n", i>>8, i&0xff)
	}
	big := writeFile(b, d.dir, "big.txt", list.String())
	cases := []struct {
		name string
		cfg  Config
		ip   string
	}{
		{"all sources IPv4 hit", Config{CityDB: d.city, ASNDB: d.asn, AnonymousDB: d.anon, AnonymousLists: []string{d.list, big}}, "203.0.113.10"},
		{"all sources IPv6 hit", Config{CityDB: d.city, ASNDB: d.asn, AnonymousDB: d.anon, AnonymousLists: []string{d.list, big}}, "2001:db8:1::42"},
		{"all sources miss", Config{CityDB: d.city, ASNDB: d.asn, AnonymousDB: d.anon, AnonymousLists: []string{d.list, big}}, "8.8.8.8"},
		{"city only", Config{CityDB: d.city}, "203.0.113.10"},
		{"lists only", Config{AnonymousLists: []string{d.list, big}}, "100.1.2.3"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			db := mustOpen(b, c.cfg)
			ip := netip.MustParseAddr(c.ip)
			b.ReportAllocs()
			for b.Loop() {
				db.Lookup(ip)
			}
		})
	}
	b.Run("all sources IPv4 hit parallel", func(b *testing.B) {
		db := mustOpen(b, cases[0].cfg)
		ip := netip.MustParseAddr(cases[0].ip)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				db.Lookup(ip)
			}
		})
	})
}
