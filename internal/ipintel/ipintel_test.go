package ipintel

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func TestLookup(t *testing.T) {
	d := newTestData(t)
	db := mustOpen(t, d.config())
	auckland := Info{
		Valid: true, CountryCode: "NZ", City: "Auckland", Region: "Auckland", RegionCode: "NZ-AUK",
		Latitude: -36.8485, Longitude: 174.7633, HasLocation: true,
		ASN: 9500, ASOrg: "One New Zealand",
	}
	withList := auckland
	withList.IsAnonymous, withList.AnonymousReasons = true, ReasonList
	tehran := Info{
		Valid: true, CountryCode: "IR", City: "Tehran", Region: "Tehran", RegionCode: "IR-23",
		Latitude: 35.6892, Longitude: 51.389, HasLocation: true, CountryInOFACList: true,
	}
	anon := func(i Info, r Reasons) Info { i.IsAnonymous, i.AnonymousReasons = true, r; return i }
	sydney := Info{
		Valid: true, CountryCode: "AU", City: "Sydney", Region: "New South Wales", RegionCode: "AU-NSW",
		Latitude: -33.8688, Longitude: 151.2093, HasLocation: true, ASN: 64496, ASOrg: "Example Net",
	}
	tests := []struct {
		name string
		ip   string
		want Info
	}{
		{"IPv4 city and ASN", "203.0.113.10", auckland},
		{"IPv4-mapped IPv6", "::ffff:203.0.113.10", auckland},
		{"list single address", "203.0.113.66", withList},
		{"list CIDR", "203.0.113.200", withList},
		{"list CIDR via mapped address", "::ffff:203.0.113.129", withList},
		{"OFAC country", "198.51.100.1", tehran},
		{"anonymous VPN", "198.51.100.7", anon(tehran, ReasonVPN)},
		{"anonymous Tor", "198.51.100.8", anon(tehran, ReasonTor)},
		{"residential proxy and hosting", "198.51.100.9", anon(tehran, ReasonProxy|ReasonHosting)},
		{"IPv6", "2001:db8:1::42", sydney},
		{"IPv6 with zone", "2001:db8:1::42%eth0", sydney},
		{"IPv6 list", "2001:db8:dead:beef::1", Info{Valid: true, ASN: 64496, ASOrg: "Example Net", IsAnonymous: true, AnonymousReasons: ReasonList}},
		{"registered country only, mapped /124 list entry", "192.0.2.17", Info{Valid: true, CountryCode: "US", IsAnonymous: true, AnonymousReasons: ReasonList}},
		{"registered country only", "192.0.2.1", Info{Valid: true, CountryCode: "US"}},
		{"unknown", "10.0.0.1", Info{Valid: true}},
		{"unknown IPv6", "2606:4700::1", Info{Valid: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := db.Lookup(netip.MustParseAddr(tt.ip))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Lookup(%s) mismatch (-want +got):\n%s", tt.ip, diff)
			}
		})
	}
	t.Run("invalid address", func(t *testing.T) {
		if got := db.Lookup(netip.Addr{}); got != (Info{}) {
			t.Errorf("Lookup(zero Addr) = %+v, want zero Info", got)
		}
	})
	if diff := cmp.Diff(Status{City: true, ASN: true, Anonymous: true, ListPrefixes: 4}, db.Status()); diff != "" {
		t.Errorf("Status mismatch (-want +got):\n%s", diff)
	}
}

func TestOpenMissingAndCorrupt(t *testing.T) {
	d := newTestData(t)
	garbage := writeFile(t, d.dir, "garbage.mmdb", "this is not an MMDB file")
	empty := writeFile(t, d.dir, "empty.mmdb", "")
	missing := filepath.Join(d.dir, "GeoLite2-City.mmdb")
	tests := []struct {
		name       string
		cfg        Config
		wantStatus Status
		wantWarn   []string // substrings of the log output
	}{
		{
			name:       "nothing configured",
			cfg:        Config{},
			wantStatus: Status{},
		},
		{
			name:       "missing city",
			cfg:        Config{CityDB: missing, ASNDB: d.asn},
			wantStatus: Status{ASN: true, Warnings: []string{"city database " + missing}},
			wantWarn:   []string{"cannot open city database", missing},
		},
		{
			name:       "corrupt city and empty ASN",
			cfg:        Config{CityDB: garbage, ASNDB: empty, AnonymousDB: d.anon},
			wantStatus: Status{Anonymous: true, Warnings: []string{"city database " + garbage, "ASN database " + empty}},
			wantWarn:   []string{garbage, empty},
		},
		{
			name:       "missing list file",
			cfg:        Config{AnonymousLists: []string{filepath.Join(d.dir, "nope.txt"), d.list}},
			wantStatus: Status{ListPrefixes: 4, Warnings: []string{"anonymous list " + filepath.Join(d.dir, "nope.txt")}},
			wantWarn:   []string{"nope.txt"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			db, err := Open(tt.cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("Open: %v, want a usable DB", err)
			}
			defer db.Close()
			got := db.Status()
			// Compare warnings by prefix: the rest is the OS error text.
			if len(got.Warnings) != len(tt.wantStatus.Warnings) {
				t.Fatalf("Status().Warnings = %q, want %d warnings", got.Warnings, len(tt.wantStatus.Warnings))
			}
			for i, w := range tt.wantStatus.Warnings {
				if !strings.HasPrefix(got.Warnings[i], w) {
					t.Errorf("warning %d = %q, want prefix %q", i, got.Warnings[i], w)
				}
			}
			got.Warnings, tt.wantStatus.Warnings = nil, nil
			if diff := cmp.Diff(tt.wantStatus, got); diff != "" {
				t.Errorf("Status mismatch (-want +got):\n%s", diff)
			}
			for _, w := range tt.wantWarn {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log %q does not mention %q", logs.String(), w)
				}
			}
			if len(tt.wantWarn) > 0 && !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("log %q has no warning", logs.String())
			}
			// Lookups still work, with the disabled fields zero.
			info := db.Lookup(netip.MustParseAddr("203.0.113.10"))
			if !info.Valid || info.City != "" && !got.City {
				t.Errorf("Lookup with disabled city = %+v", info)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		list    string
		ofac    []string
		wantErr string
	}{
		{"bad address", "1.2.3.4\n\n# c\n1.2.3.999\n", nil, "bad.txt:4: invalid IP address \"1.2.3.999\""},
		{"bad prefix", "10.0.0.0/33\n", nil, "bad.txt:1: invalid CIDR prefix \"10.0.0.0/33\""},
		{"two fields", "10.0.0.1 10.0.0.2\n", nil, "bad.txt:1: \"10.0.0.1 10.0.0.2\": want one address"},
		{"zone", "\n\nfe80::1%eth0\n", nil, "bad.txt:3: IP address \"fe80::1%eth0\" has a zone"},
		{"line too long", "1.2.3.4\n" + strings.Repeat("1", 5000) + "\n", nil, "bad.txt:2: line longer than 4096 bytes"},
		{"bad OFAC code", "", []string{"IR", "Iran"}, `OFAC country "Iran"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, "bad.txt", tt.list)
			_, err := Open(Config{AnonymousLists: []string{path}, OFACCountries: tt.ofac}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open() error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestOFACCountries(t *testing.T) {
	d := newTestData(t)
	tests := []struct {
		name      string
		countries []string
		ip        string
		want      bool
	}{
		{"default includes IR", nil, "198.51.100.1", true},
		{"default excludes NZ", nil, "203.0.113.1", false},
		{"custom lower case", []string{"nz"}, "203.0.113.1", true},
		{"custom replaces default", []string{"NZ"}, "198.51.100.1", false},
		{"empty disables", []string{}, "198.51.100.1", false},
		{"no country", nil, "10.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := mustOpen(t, Config{CityDB: d.city, OFACCountries: tt.countries})
			if got := db.Lookup(netip.MustParseAddr(tt.ip)).CountryInOFACList; got != tt.want {
				t.Errorf("CountryInOFACList(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestReload(t *testing.T) {
	d := newTestData(t)
	cityPath := filepath.Join(d.dir, "GeoLite2-City.mmdb")
	listPath := filepath.Join(d.dir, "list.txt")
	db := mustOpen(t, Config{CityDB: cityPath, AnonymousLists: []string{listPath}})
	ip := netip.MustParseAddr("203.0.113.10")
	if got := db.Lookup(ip); got.City != "" || got.IsAnonymous {
		t.Fatalf("before files exist: Lookup = %+v", got)
	}

	// The operator installs the files: Reload picks them up.
	rename(t, d.city, cityPath)
	writeFile(t, d.dir, "list.txt", "203.0.113.0/24\n")
	if err := db.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := db.Lookup(ip); got.City != "Auckland" || !got.IsAnonymous {
		t.Errorf("after install: Lookup = %+v, want Auckland and anonymous", got)
	}

	// A new City file replaces the old one by rename.
	newCity := writeMMDB(t, t.TempDir(), "new.mmdb", "GeoLite2-City", []record{
		{"203.0.113.0/24", cityValue("NZ", "New Zealand", "OC", "Wellington", "WGN", "Wellington", 2179537, -41.2866, 174.7756, "Pacific/Auckland")},
	})
	rename(t, newCity, cityPath)
	if err := db.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := db.Lookup(ip).City; got != "Wellington" {
		t.Errorf("after replace: City = %q, want Wellington", got)
	}

	// A malformed list keeps everything as it was.
	writeFile(t, d.dir, "list.txt", "203.0.113.0/24\nnot-an-ip\n")
	if err := db.Reload(); err == nil || !strings.Contains(err.Error(), "list.txt:2") {
		t.Errorf("Reload with malformed list: error = %v, want list.txt:2", err)
	}
	if got := db.Lookup(ip); got.City != "Wellington" || !got.IsAnonymous {
		t.Errorf("after failed reload: Lookup = %+v", got)
	}

	// A City file removed mid-update keeps the loaded reader, with a warning.
	writeFile(t, d.dir, "list.txt", "")
	if err := os.Remove(cityPath); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	got := db.Lookup(ip)
	if got.City != "Wellington" || got.IsAnonymous {
		t.Errorf("after removal: Lookup = %+v, want Wellington, not anonymous", got)
	}
	if st := db.Status(); !st.City || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "keeping the previously loaded file") {
		t.Errorf("Status = %+v", st)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestReloadConcurrent runs look-ups while files are replaced and reloaded;
// run with -race.
func TestReloadConcurrent(t *testing.T) {
	d := newTestData(t)
	db := mustOpen(t, d.config())
	cities := []string{"Auckland", "Hamilton"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			ip := netip.MustParseAddr("203.0.113.10")
			for {
				select {
				case <-stop:
					return
				default:
				}
				got := db.Lookup(ip)
				if got.City != cities[0] && got.City != cities[1] {
					t.Errorf("Lookup during reload: City = %q", got.City)
					return
				}
			}
		})
	}
	for i := range 20 {
		name := cities[i%2]
		p := writeMMDB(t, t.TempDir(), "c.mmdb", "GeoLite2-City", []record{
			{"203.0.113.0/24", cityValue("NZ", "New Zealand", "OC", name, "WKO", "Waikato", 1, -37.78, 175.28, "Pacific/Auckland")},
		})
		rename(t, p, d.city)
		if err := db.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestClose(t *testing.T) {
	d := newTestData(t)
	db, err := Open(d.config(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if got := db.Lookup(netip.MustParseAddr("203.0.113.10")); got != (Info{Valid: true}) {
		t.Errorf("Lookup after Close = %+v", got)
	}
	if err := db.Reload(); err == nil {
		t.Error("Reload after Close: want error")
	}
}

func TestPrefixSet(t *testing.T) {
	s := newPrefixSet()
	for _, p := range []string{"10.0.0.0/8", "10.1.2.3/32", "0.0.0.0/0", "2001:db8::/32", "2001:db8::1/128", "2001:db8:ffff:ffff:ffff:ffff:ffff:ff00/120", "10.9.9.9/8"} {
		s.add(netip.MustParsePrefix(p))
	}
	if s.len() != 6 {
		t.Errorf("len = %d, want 6 (10.9.9.9/8 is 10.0.0.0/8)", s.len())
	}
	v6only := newPrefixSet()
	v6only.add(netip.MustParsePrefix("2001:db8::/65"))
	tests := []struct {
		set  *prefixSet
		ip   string
		want bool
	}{
		{s, "10.200.0.1", true},
		{s, "11.0.0.1", true}, // 0.0.0.0/0
		{s, "2001:db8:1::1", true},
		{s, "2001:db8:ffff:ffff:ffff:ffff:ffff:ff42", true},
		{s, "2001:db9::1", false},
		{v6only, "2001:db8::8000:0:0:1", false},
		{v6only, "2001:db8::7fff:0:0:1", true},
		{v6only, "10.0.0.1", false},
		{nil, "10.0.0.1", false},
	}
	for _, tt := range tests {
		if got := tt.set.contains(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("contains(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestReasons(t *testing.T) {
	r := ReasonTor | ReasonList
	if diff := cmp.Diff([]string{"tor", "list"}, r.Strings()); diff != "" {
		t.Errorf("Strings mismatch (-want +got):\n%s", diff)
	}
	if r.String() != "tor|list" || !r.Has(ReasonTor) || r.Has(ReasonVPN) || Reasons(0).Strings() != nil {
		t.Errorf("Reasons helpers wrong for %v", r)
	}
}

// TestCityLayoutWithoutLocation checks that a record without location is
// not reported at 0°N 0°E.
func TestCityLayoutWithoutLocation(t *testing.T) {
	dir := t.TempDir()
	path := writeMMDB(t, dir, "c.mmdb", "DBIP-City-Lite", []record{
		{"203.0.113.0/24", mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String("NZ")},
			"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Auckland")}},
			// DB-IP Lite stores float32 coordinates in some releases.
			"location": mmdbtype.Map{"latitude": mmdbtype.Float32(-36.8)},
		}},
	})
	db := mustOpen(t, Config{CityDB: path})
	got := db.Lookup(netip.MustParseAddr("203.0.113.1"))
	want := Info{Valid: true, CountryCode: "NZ", City: "Auckland"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Lookup mismatch (-want +got):\n%s", diff)
	}
}
