// Package ipintel is the raw source of Vigil's IP data points: geolocation
// and network owner from MaxMind-format databases, anonymity (VPN, Tor,
// proxy, hosting) from an anonymous-IP database and from CIDR list files, the
// OFAC country check, and the great-circle helpers behind the travel data
// points.
//
// The invariant callers rely on: a GeoIP source never stops the server. A
// source that is not configured, missing or unreadable when [Open] or
// [DB.Reload] runs is disabled with a warning (logged and reported by
// [DB.Status]); [DB.Lookup] then leaves the fields that source fills at their
// zero values. The only errors Open returns are configuration mistakes that
// would otherwise weaken detection silently: a malformed anonymous-list file
// (the error names the file and line) or an invalid OFAC country code.
//
// # Sources
//
//   - City: a MaxMind GeoIP2/GeoLite2-City or DB-IP City (Lite) MMDB. The
//     record layout read is MaxMind's published City layout: country.iso_code
//     (falling back to registered_country.iso_code), city.names.en, the first
//     (largest) subdivisions[0].names.en and .iso_code, and
//     location.latitude/longitude.
//   - ASN: a GeoLite2-ASN or DB-IP ASN MMDB: autonomous_system_number and
//     autonomous_system_organization.
//   - Anonymous IP (optional, commercial): a GeoIP2-Anonymous-IP MMDB with
//     is_anonymous_vpn, is_tor_exit_node, is_public_proxy,
//     is_residential_proxy and is_hosting_provider.
//   - Anonymous lists: text files of IP addresses and CIDR prefixes, one a
//     line; see [Config.AnonymousLists].
//
// # Anonymity
//
// [Info.IsAnonymous] is true when any reason is set. Unlike MaxMind's own
// is_anonymous flag it includes hosting providers, because Vigil's
// ip.isAnonymous data point is defined as "VPN, Tor, proxy or hosting"
// (issue 3). Residential proxies count as [ReasonProxy].
//
// # OFAC
//
// [DefaultOFACCountries] is the set of jurisdictions under comprehensive US
// sanctions (31 CFR chapter V: the Cuban, Iranian, North Korean and Syrian
// sanctions regulations) that can be expressed by a country code: CU, IR, KP
// and SY. The Russian-occupied regions of Ukraine under comprehensive
// sanctions (Crimea, Executive Order 13685; the so-called Donetsk and Luhansk
// People's Republics, Executive Order 14065) are not countries: GeoIP
// databases place them in UA (some in RU), and their subdivision accuracy is
// poor, so listing UA or RU would block whole countries for an IP guess.
// They are therefore not in the default; [Info.RegionCode] (ISO 3166-2, for
// example UA-43 for Crimea and UA-40 for Sevastopol) is exposed so a tenant
// rule can act on them explicitly. Russia, Belarus, Venezuela and others are
// under list-based (not comprehensive) sanctions and are also not included.
// The list is a starting point, not legal advice; operators set
// [Config.OFACCountries] to replace it.
//
// # Reload and concurrency
//
// [DB.Lookup] and [DB.Reload] are safe for concurrent use: Reload builds a
// complete new set of readers and swaps it in atomically, so a Lookup sees
// either the old or the new set, never a mix. Readers that Reload replaces
// are not closed explicitly (a Lookup may still be using them); the MMDB
// library unmaps them when they become unreachable. Replace database files
// by renaming a new file over the old one (as geoipupdate does), never by
// rewriting them in place: the files are memory-mapped.
// [DB.Close] must not be called concurrently with Lookup or Reload.
package ipintel
