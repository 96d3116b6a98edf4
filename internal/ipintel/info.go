package ipintel

import "strings"

// Info is what the sources know about one IP address. Fields whose source is
// disabled or has no record for the address are zero.
type Info struct {
	// Valid is true when the address looked up was a valid IP address.
	Valid bool
	// CountryCode is the ISO 3166-1 alpha-2 code of the country the address
	// is located in (country.iso_code, or registered_country.iso_code when
	// the database has no located country), for example "NZ".
	CountryCode string
	// City is the English city name (city.names.en).
	City string
	// Region is the English name of the largest subdivision
	// (subdivisions[0].names.en), for example "Auckland".
	Region string
	// RegionCode is the ISO 3166-2 code of that subdivision, including the
	// country prefix, for example "NZ-AUK" (empty when the database has no
	// subdivision code).
	RegionCode string
	// Latitude and Longitude are the approximate location in degrees (WGS
	// 84), meaningful only when HasLocation is true.
	Latitude, Longitude float64
	// HasLocation is true when the City record has both a latitude and a
	// longitude.
	HasLocation bool
	// ASN is the autonomous system number (autonomous_system_number).
	ASN uint32
	// ASOrg is the autonomous system organization
	// (autonomous_system_organization).
	ASOrg string
	// IsAnonymous is true when AnonymousReasons is not empty.
	IsAnonymous bool
	// AnonymousReasons says which sources consider the address anonymous.
	AnonymousReasons Reasons
	// CountryInOFACList is true when CountryCode is in the configured OFAC
	// country list.
	CountryInOFACList bool
}

// Reasons is a set of reasons an address is considered anonymous.
type Reasons uint8

// The reasons. VPN, Tor, Proxy and Hosting come from the anonymous-IP MMDB
// (is_anonymous_vpn, is_tor_exit_node, is_public_proxy or
// is_residential_proxy, is_hosting_provider); List from the list files.
const (
	ReasonVPN Reasons = 1 << iota
	ReasonTor
	ReasonProxy
	ReasonHosting
	ReasonList
)

var reasonNames = [...]string{"vpn", "tor", "proxy", "hosting", "list"}

// Has reports whether every reason in r2 is in r.
func (r Reasons) Has(r2 Reasons) bool { return r&r2 == r2 }

// Strings returns the names of the reasons in r ("vpn", "tor", "proxy",
// "hosting", "list"), in that order; nil when r is empty.
func (r Reasons) Strings() []string {
	var out []string
	for i, name := range reasonNames {
		if r&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// String returns the reasons joined with "|", or "" when r is empty.
func (r Reasons) String() string { return strings.Join(r.Strings(), "|") }
