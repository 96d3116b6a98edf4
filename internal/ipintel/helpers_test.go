package ipintel

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// record is one network and its MMDB value for a test database.
type record struct {
	cidr  string
	value mmdbtype.Map
}

// writeMMDB builds an MMDB of dbType holding recs in dir and returns its
// path.
func writeMMDB(t testing.TB, dir, name, dbType string, recs []record) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: dbType,
		Languages:    []string{"en", "de"},
		RecordSize:   28,
		// The tests use documentation ranges (RFC 5737, RFC 3849).
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
	path := filepath.Join(dir, name)
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

func localized(en, de string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(de)}
}

// cityValue is a record in MaxMind's GeoIP2/GeoLite2-City layout.
func cityValue(country, countryDE, continent, city, subISO, sub string, geo uint32, lat, lon float64, tz string) mmdbtype.Map {
	countryMap := mmdbtype.Map{
		"geoname_id": mmdbtype.Uint32(geo + 1),
		"iso_code":   mmdbtype.String(country),
		"names":      localized(countryDE, countryDE),
	}
	return mmdbtype.Map{
		"city": mmdbtype.Map{
			"geoname_id": mmdbtype.Uint32(geo),
			"names":      localized(city, city+"-de"),
		},
		"continent": mmdbtype.Map{
			"code":       mmdbtype.String(continent),
			"geoname_id": mmdbtype.Uint32(6255151),
			"names":      localized("Oceania", "Ozeanien"),
		},
		"country": countryMap,
		"location": mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(20),
			"latitude":        mmdbtype.Float64(lat),
			"longitude":       mmdbtype.Float64(lon),
			"time_zone":       mmdbtype.String(tz),
		},
		"postal":             mmdbtype.Map{"code": mmdbtype.String("1010")},
		"registered_country": countryMap,
		"subdivisions": mmdbtype.Slice{
			mmdbtype.Map{
				"geoname_id": mmdbtype.Uint32(geo + 2),
				"iso_code":   mmdbtype.String(subISO),
				"names":      localized(sub, sub+"-de"),
			},
		},
	}
}

// testData writes a City, ASN and Anonymous-IP database and a list file
// into a fresh temporary directory.
type testData struct {
	dir, city, asn, anon, list string
}

func newTestData(t testing.TB) testData {
	t.Helper()
	dir := t.TempDir()
	d := testData{dir: dir}
	d.city = writeMMDB(t, dir, "city.mmdb", "GeoLite2-City", []record{
		{"203.0.113.0/24", cityValue("NZ", "New Zealand", "OC", "Auckland", "AUK", "Auckland", 2193733, -36.8485, 174.7633, "Pacific/Auckland")},
		{"198.51.100.0/24", cityValue("IR", "Iran", "AS", "Tehran", "23", "Tehran", 112931, 35.6892, 51.389, "Asia/Tehran")},
		{"2001:db8:1::/48", cityValue("AU", "Australia", "OC", "Sydney", "NSW", "New South Wales", 2147714, -33.8688, 151.2093, "Australia/Sydney")},
		// A country-only record: no city, no subdivisions, no location,
		// only registered_country (as for some anycast networks).
		{"192.0.2.0/24", mmdbtype.Map{
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("US"), "geoname_id": mmdbtype.Uint32(6252001)},
		}},
	})
	d.asn = writeMMDB(t, dir, "asn.mmdb", "GeoLite2-ASN", []record{
		{"203.0.113.0/24", mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(9500),
			"autonomous_system_organization": mmdbtype.String("One New Zealand"),
		}},
		{"2001:db8::/32", mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(64496),
			"autonomous_system_organization": mmdbtype.String("Example Net"),
		}},
	})
	d.anon = writeMMDB(t, dir, "anon.mmdb", "GeoIP2-Anonymous-IP", []record{
		{"198.51.100.7/32", mmdbtype.Map{
			"is_anonymous":     mmdbtype.Bool(true),
			"is_anonymous_vpn": mmdbtype.Bool(true),
		}},
		{"198.51.100.8/32", mmdbtype.Map{
			"is_anonymous":     mmdbtype.Bool(true),
			"is_tor_exit_node": mmdbtype.Bool(true),
		}},
		{"198.51.100.9/32", mmdbtype.Map{
			"is_anonymous":         mmdbtype.Bool(true),
			"is_residential_proxy": mmdbtype.Bool(true),
			"is_hosting_provider":  mmdbtype.Bool(true),
		}},
	})
	d.list = writeFile(t, dir, "tor-exits.txt", `# Tor exit list
203.0.113.66
203.0.113.128/25  # hosting range
2001:db8:dead::/48
::ffff:192.0.2.16/124
`)
	return d
}

func (d testData) config() Config {
	return Config{CityDB: d.city, ASNDB: d.asn, AnonymousDB: d.anon, AnonymousLists: []string{d.list}}
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustOpen(t testing.TB, cfg Config) *DB {
	t.Helper()
	db, err := Open(cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
