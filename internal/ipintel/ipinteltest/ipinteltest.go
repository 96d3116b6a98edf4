// Package ipinteltest builds small MaxMind-format databases for tests of
// the packages that read IP intelligence, so that they exercise the real
// MMDB reader rather than a stand-in. It is imported by tests only.
package ipinteltest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// City is one network of a test City database.
type City struct {
	CIDR        string // e.g. "203.0.113.0/24"
	CountryCode string // ISO 3166-1 alpha-2
	City        string // English name
	Region      string // English name of the largest subdivision
	RegionCode  string // ISO 3166-2 code without the country prefix, e.g. "AUK"
	Latitude    float64
	Longitude   float64
}

// ASN is one network of a test ASN database.
type ASN struct {
	CIDR   string
	Number uint32
	Org    string
}

// Anonymous is one network of a test Anonymous-IP database.
type Anonymous struct {
	CIDR                                   string
	VPN, Tor, PublicProxy, HostingProvider bool
}

// WriteCity writes a GeoLite2-City layout database to dir/city.mmdb and
// returns its path.
func WriteCity(t testing.TB, dir string, recs ...City) string {
	t.Helper()
	var rs []rec
	for _, c := range recs {
		v := mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(c.CountryCode),
				"names": mmdbtype.Map{"en": mmdbtype.String(c.CountryCode)}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(c.Latitude), "longitude": mmdbtype.Float64(c.Longitude),
				"accuracy_radius": mmdbtype.Uint16(20)},
		}
		if c.City != "" {
			v["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(c.City)}}
		}
		if c.Region != "" {
			v["subdivisions"] = mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String(c.RegionCode),
				"names": mmdbtype.Map{"en": mmdbtype.String(c.Region)}}}
		}
		rs = append(rs, rec{c.CIDR, v})
	}
	return write(t, filepath.Join(dir, "city.mmdb"), "GeoLite2-City", rs)
}

// WriteASN writes a GeoLite2-ASN layout database to dir/asn.mmdb and
// returns its path.
func WriteASN(t testing.TB, dir string, recs ...ASN) string {
	t.Helper()
	var rs []rec
	for _, a := range recs {
		rs = append(rs, rec{a.CIDR, mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(a.Number),
			"autonomous_system_organization": mmdbtype.String(a.Org),
		}})
	}
	return write(t, filepath.Join(dir, "asn.mmdb"), "GeoLite2-ASN", rs)
}

// WriteAnonymous writes a GeoIP2-Anonymous-IP layout database to
// dir/anonymous.mmdb and returns its path.
func WriteAnonymous(t testing.TB, dir string, recs ...Anonymous) string {
	t.Helper()
	var rs []rec
	for _, a := range recs {
		v := mmdbtype.Map{"is_anonymous": mmdbtype.Bool(true)}
		for k, on := range map[string]bool{"is_anonymous_vpn": a.VPN, "is_tor_exit_node": a.Tor,
			"is_public_proxy": a.PublicProxy, "is_hosting_provider": a.HostingProvider} {
			if on {
				v[mmdbtype.String(k)] = mmdbtype.Bool(true)
			}
		}
		rs = append(rs, rec{a.CIDR, v})
	}
	return write(t, filepath.Join(dir, "anonymous.mmdb"), "GeoIP2-Anonymous-IP", rs)
}

type rec struct {
	cidr  string
	value mmdbtype.Map
}

func write(t testing.TB, path, dbType string, recs []rec) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType,
		Languages:    []string{"en"},
		RecordSize:   28,
		// Tests use documentation ranges (RFC 5737, RFC 3849).
		IncludeReservedNetworks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		_, n, err := net.ParseCIDR(r.cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, r.value); err != nil {
			t.Fatalf("insert %s: %v", r.cidr, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
