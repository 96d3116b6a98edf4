package ipintel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Config says where the IP intelligence sources are. Every path is optional:
// an empty path disables that source without a warning, a path that cannot
// be opened disables it with a warning.
type Config struct {
	// CityDB is the path of a City MMDB in MaxMind's layout: GeoLite2-City,
	// GeoIP2-City or DB-IP City (Lite). It fills the country, city, region
	// and location fields of [Info].
	CityDB string `yaml:"cityDB"`
	// ASNDB is the path of an ASN MMDB: GeoLite2-ASN or DB-IP ASN (Lite).
	// It fills [Info.ASN] and [Info.ASOrg].
	ASNDB string `yaml:"asnDB"`
	// AnonymousDB is the path of an optional MaxMind GeoIP2-Anonymous-IP
	// MMDB. It sets the VPN, Tor, proxy and hosting reasons.
	AnonymousDB string `yaml:"anonymousDB"`
	// AnonymousLists are paths of text files listing anonymous networks
	// (Tor exit lists, VPN or hosting ranges), one IPv4 or IPv6 address or
	// CIDR prefix a line. Blank lines are ignored; '#' starts a comment,
	// on its own line or after an entry. A prefix with host bits set
	// (10.1.2.3/8) is masked; an IPv4-mapped IPv6 entry (::ffff:1.2.3.0/120)
	// is stored as IPv4. A match sets [ReasonList]. A missing file is a
	// warning; a malformed line is an error naming the file and line.
	AnonymousLists []string `yaml:"anonymousLists"`
	// OFACCountries are ISO 3166-1 alpha-2 codes (case-insensitive) whose
	// IPs get [Info.CountryInOFACList]. Nil means [DefaultOFACCountries]; a
	// non-nil empty list disables the check.
	OFACCountries []string `yaml:"ofacCountries"`
}

// DefaultOFACCountries returns the country codes used when
// [Config.OFACCountries] is nil: the comprehensively sanctioned
// jurisdictions that a country code can express (Cuba, Iran, North Korea,
// Syria). The package documentation explains what is left out and why.
func DefaultOFACCountries() []string {
	return []string{"CU", "IR", "KP", "SY"}
}

// Status reports which sources the current generation of a [DB] loaded.
type Status struct {
	// City, ASN and Anonymous are true when that MMDB is loaded.
	City, ASN, Anonymous bool
	// ListPrefixes is the number of distinct prefixes loaded from
	// [Config.AnonymousLists].
	ListPrefixes int
	// Warnings lists the sources that are configured but disabled, and why.
	Warnings []string
}

// DB answers IP look-ups from the configured sources. Lookup and Reload are
// safe for concurrent use; Close is not safe to call concurrently with them.
type DB struct {
	cfg    Config
	logger *slog.Logger
	ofac   countrySet

	reloadMu sync.Mutex // serializes Reload and Close
	cur      atomic.Pointer[generation]
}

// generation is one immutable loaded set of sources.
type generation struct {
	city, asn, anon *maxminddb.Reader
	lists           *prefixSet
	status          Status
}

// Open loads the sources in cfg. A missing or unreadable MMDB disables the
// data points it feeds and logs a warning; it is not an error. Open returns
// an error only for a malformed anonymous-list file or an invalid OFAC
// country code. A nil logger discards log output.
func Open(cfg Config, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	codes := cfg.OFACCountries
	if codes == nil {
		codes = DefaultOFACCountries()
	}
	ofac, err := newCountrySet(codes)
	if err != nil {
		return nil, err
	}
	db := &DB{cfg: cfg, logger: logger, ofac: ofac}
	g, err := db.load(nil)
	if err != nil {
		return nil, err
	}
	db.cur.Store(g)
	return db, nil
}

// Reload re-reads every configured file and atomically replaces the current
// sources, so an operator can install a new GeoLite2 file without a restart.
// A malformed list file makes Reload return its error and keep the current
// sources unchanged. An MMDB that cannot be opened keeps the reader that was
// loaded before, if any, and logs a warning. Reload is safe to call
// concurrently with Lookup.
func (db *DB) Reload() error {
	db.reloadMu.Lock()
	defer db.reloadMu.Unlock()
	old := db.cur.Load()
	if old == nil {
		return errors.New("ipintel: reload of a closed DB")
	}
	g, err := db.load(old)
	if err != nil {
		return err
	}
	db.cur.Store(g)
	// The readers of old that g did not keep are released by the MMDB
	// library's cleanup once no Lookup holds them (see the package doc).
	return nil
}

// Close releases the readers. Lookup after Close returns an Info with only
// Valid set. Close must not be called concurrently with Lookup or Reload.
func (db *DB) Close() error {
	db.reloadMu.Lock()
	defer db.reloadMu.Unlock()
	g := db.cur.Swap(nil)
	if g == nil {
		return nil
	}
	var errs []error
	for _, r := range []*maxminddb.Reader{g.city, g.asn, g.anon} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	return errors.Join(errs...)
}

// Status reports the sources currently loaded and the warnings of the last
// Open or Reload. It is safe for concurrent use.
func (db *DB) Status() Status {
	g := db.cur.Load()
	if g == nil {
		return Status{Warnings: []string{"closed"}}
	}
	s := g.status
	s.Warnings = append([]string(nil), s.Warnings...)
	return s
}

// load builds a new generation. prev, when not nil, supplies readers to keep
// for MMDBs that cannot be opened now.
func (db *DB) load(prev *generation) (*generation, error) {
	lists, listWarnings, err := loadLists(db.cfg.AnonymousLists)
	if err != nil {
		return nil, err
	}
	g := &generation{lists: lists}
	var warnings []string
	var prevCity, prevASN, prevAnon *maxminddb.Reader
	if prev != nil {
		prevCity, prevASN, prevAnon = prev.city, prev.asn, prev.anon
	}
	g.city, warnings = db.openMMDB("city", db.cfg.CityDB, prevCity, warnings)
	g.asn, warnings = db.openMMDB("ASN", db.cfg.ASNDB, prevASN, warnings)
	g.anon, warnings = db.openMMDB("anonymous IP", db.cfg.AnonymousDB, prevAnon, warnings)
	for _, w := range listWarnings {
		db.logger.Warn("ipintel: anonymous list disabled", "warning", w)
	}
	warnings = append(warnings, listWarnings...)
	g.status = Status{
		City:         g.city != nil,
		ASN:          g.asn != nil,
		Anonymous:    g.anon != nil,
		ListPrefixes: lists.len(),
		Warnings:     warnings,
	}
	return g, nil
}

// openMMDB opens path. On failure it logs a warning and returns prev (the
// reader of the previous generation, nil at Open).
func (db *DB) openMMDB(kind, path string, prev *maxminddb.Reader, warnings []string) (*maxminddb.Reader, []string) {
	if path == "" {
		return nil, warnings
	}
	r, err := maxminddb.Open(path)
	if err == nil {
		return r, warnings
	}
	w := fmt.Sprintf("%s database %s: %v", kind, path, err)
	if prev != nil {
		w += " (keeping the previously loaded file)"
	} else {
		w += " (its data points are disabled)"
	}
	db.logger.Warn("ipintel: cannot open "+kind+" database", "path", path, "error", err, "keeping_previous", prev != nil)
	return prev, append(warnings, w)
}

// Lookup returns what the sources know about ip. An IPv4-mapped IPv6
// address is looked up as IPv4 and any zone is ignored. Lookup never fails:
// a record that cannot be decoded leaves its fields at their zero values.
// It is safe for concurrent use and does not allocate for the anonymous
// lists and the OFAC check.
func (db *DB) Lookup(ip netip.Addr) Info {
	if !ip.IsValid() {
		return Info{}
	}
	ip = ip.Unmap().WithZone("")
	info := Info{Valid: true}
	g := db.cur.Load()
	if g == nil {
		return info
	}
	// One allocation, made on the first hit, holds all three records:
	// Decode takes an interface, so whatever it decodes into escapes.
	var recs *lookupRecords
	if g.city != nil {
		if res := g.city.Lookup(ip); res.Found() {
			recs = new(lookupRecords)
			if res.Decode(&recs.city) == nil {
				recs.city.fill(&info)
			}
		}
	}
	if g.asn != nil {
		if res := g.asn.Lookup(ip); res.Found() {
			if recs == nil {
				recs = new(lookupRecords)
			}
			if res.Decode(&recs.asn) == nil {
				info.ASN = recs.asn.Number
				info.ASOrg = recs.asn.Org
			}
		}
	}
	if g.anon != nil {
		if res := g.anon.Lookup(ip); res.Found() {
			if recs == nil {
				recs = new(lookupRecords)
			}
			if res.Decode(&recs.anon) == nil {
				info.AnonymousReasons |= recs.anon.reasons()
			}
		}
	}
	if g.lists.contains(ip) {
		info.AnonymousReasons |= ReasonList
	}
	info.IsAnonymous = info.AnonymousReasons != 0
	info.CountryInOFACList = db.ofac.has(info.CountryCode)
	return info
}

// lookupRecords are the decode targets of one Lookup.
type lookupRecords struct {
	city cityRecord
	asn  asnRecord
	anon anonRecord
}

// countrySet is a set of ISO 3166-1 alpha-2 codes, indexed by letter pair so
// a check does not hash.
type countrySet [26 * 26]bool

func newCountrySet(codes []string) (countrySet, error) {
	var s countrySet
	for _, c := range codes {
		u := strings.ToUpper(strings.TrimSpace(c))
		i, ok := countryIndex(u)
		if !ok {
			return s, fmt.Errorf("ipintel: OFAC country %q is not an ISO 3166-1 alpha-2 code", c)
		}
		s[i] = true
	}
	return s, nil
}

func countryIndex(code string) (int, bool) {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return 0, false
	}
	return int(code[0]-'A')*26 + int(code[1]-'A'), true
}

func (s *countrySet) has(code string) bool {
	i, ok := countryIndex(code)
	return ok && s[i]
}
