package datapoint

import (
	"math"
	"slices"
	"strings"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/useragent"
)

// Types of data points, as documented.
const (
	TypeBoolean = "boolean"
	TypeNumber  = "number"
	TypeString  = "string"
	TypeStrings = "string[]"
)

// Def is one built-in data point.
type Def struct {
	Name string
	Type string
	// Need is the history it reads; 0 for data points computed from the
	// track alone.
	Need vigil.RiskNeeds
	// Doc says how it is computed.
	Doc string
	fn  resolver
}

// Catalogue returns the built-in data points in documentation order.
// Besides these, custom.<path> reads the track's custom object and
// user.custom.<path> the user's.
func Catalogue() []Def { return slices.Clone(catalogue) }

var byName = map[string]*Def{}

func init() {
	for i := range catalogue {
		byName[catalogue[i].Name] = &catalogue[i]
	}
}

func str(s string) (jsonlogic.Value, bool) {
	if s == "" {
		return jsonlogic.Null(), false
	}
	return jsonlogic.String(s), true
}

func boolean(b bool) (jsonlogic.Value, bool) { return jsonlogic.Bool(b), true }

func num(f float64) (jsonlogic.Value, bool) { return jsonlogic.Number(f), true }

// withIP gives f the IP information when the track has a valid IP address.
func withIP(f func(p *Points, hasIntel bool) (jsonlogic.Value, bool)) resolver {
	return func(p *Points) (jsonlogic.Value, bool) {
		if !p.ip().Valid {
			return jsonlogic.Null(), false
		}
		return f(p, p.src.IP != nil)
	}
}

// withDevice gives f control only when the track has a device ID.
func withDevice(f resolver) resolver {
	return func(p *Points) (jsonlogic.Value, bool) {
		if p.in.Track.Context.DeviceID == "" {
			return jsonlogic.Null(), false
		}
		return f(p)
	}
}

var catalogue = []Def{
	// IP and network.
	{Name: "ip.address", Type: TypeString, Doc: "The track's `ipAddress` as given.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.in.Track.Context.IPAddress) }},
	{Name: "ip.isAnonymous", Type: TypeBoolean,
		Doc: "The IP is a VPN, Tor exit, public or residential proxy or hosting provider, according to the anonymous-IP MMDB (when configured) or the anonymous CIDR list files. False when no source lists it.",
		fn:  withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return boolean(p.ipInfo.IsAnonymous) })},
	{Name: "ip.anonymousReasons", Type: TypeStrings,
		Doc: "Why the IP is anonymous: any of `vpn`, `tor`, `proxy`, `hosting`, `list`; empty when it is not.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			return jsonlogic.Strings(p.ipInfo.AnonymousReasons.Strings()...), true
		})},
	{Name: "ip.location.country.countryCode", Type: TypeString,
		Doc: "ISO 3166-1 alpha-2 country of the IP from the City MMDB (the located country, else the registered one).",
		fn:  withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return str(p.ipInfo.CountryCode) })},
	{Name: "ip.countryCode", Type: TypeString, Doc: "Alias of `ip.location.country.countryCode`.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return str(p.ipInfo.CountryCode) })},
	{Name: "ip.location.city", Type: TypeString, Doc: "English city name from the City MMDB.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return str(p.ipInfo.City) })},
	{Name: "ip.location.region", Type: TypeString, Doc: "English name of the largest subdivision (state, region) from the City MMDB.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return str(p.ipInfo.Region) })},
	{Name: "ip.location.regionCode", Type: TypeString, Doc: "ISO 3166-2 code of that subdivision, e.g. `NZ-AUK`.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return str(p.ipInfo.RegionCode) })},
	{Name: "ip.location.latitude", Type: TypeNumber, Doc: "Approximate latitude in degrees.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			if !p.ipInfo.HasLocation {
				return jsonlogic.Null(), false
			}
			return num(p.ipInfo.Latitude)
		})},
	{Name: "ip.location.longitude", Type: TypeNumber, Doc: "Approximate longitude in degrees.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			if !p.ipInfo.HasLocation {
				return jsonlogic.Null(), false
			}
			return num(p.ipInfo.Longitude)
		})},
	{Name: "ip.asn", Type: TypeNumber, Doc: "Autonomous system number from the ASN MMDB.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			if p.ipInfo.ASN == 0 {
				return jsonlogic.Null(), false
			}
			return num(float64(p.ipInfo.ASN))
		})},
	{Name: "ip.asOrganization", Type: TypeString, Doc: "Autonomous system organization from the ASN MMDB.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return str(p.ipInfo.ASOrg) })},
	{Name: "ip.countryCodeInOfacList", Type: TypeBoolean,
		Doc: "The IP's country is in the OFAC list (default CU, IR, KP, SY; configurable). False when the country is unknown.",
		fn:  withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) { return boolean(p.ipInfo.CountryInOFACList) })},
	{Name: "ip.isUnrecognized", Type: TypeBoolean, Need: vigil.NeedIP,
		Doc: "No challenge of this user has succeeded from this IP address before.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			return boolean(!p.st.IPVerified)
		})},
	{Name: "ip.impossibleTravel", Type: TypeBoolean, Need: vigil.NeedIP,
		Doc: "The speed needed to get here from the location of the user's last verification (great-circle distance over elapsed time) exceeds the limit (default 1,000 km/h). Distances under 100 km never count. False without a location for both.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			speed, _, ok := p.travel()
			return boolean(ok && speed > p.src.Settings.impossibleKMH())
		})},
	{Name: "ip.travelSpeedKmh", Type: TypeNumber, Need: vigil.NeedIP,
		Doc: "That speed in km/h (0 under 100 km); unavailable without a location for both.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			speed, _, ok := p.travel()
			if !ok {
				return jsonlogic.Null(), false
			}
			if math.IsInf(speed, 1) {
				speed = math.MaxFloat64
			}
			return num(math.Round(speed))
		})},
	{Name: "ip.atypicalTravel", Type: TypeBoolean, Need: vigil.NeedIP,
		Doc: "The IP is further than the limit (default 500 km) from every location the user verified from recently (the last 50 verified IP addresses). False when the user has no verified location or this IP has none.",
		fn: withIP(func(p *Points, _ bool) (jsonlogic.Value, bool) {
			_, nearest, ok := p.travel()
			return boolean(ok && nearest > p.src.Settings.atypicalKM())
		})},

	// Device.
	{Name: "device.id", Type: TypeString, Doc: "The track's `deviceId`.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.in.Track.Context.DeviceID) }},
	{Name: "device.isNew", Type: TypeBoolean, Need: vigil.NeedDevice,
		Doc: "No earlier action of this user came from this `deviceId`. Unavailable without a `deviceId`.",
		fn:  withDevice(func(p *Points) (jsonlogic.Value, bool) { return boolean(!p.st.DeviceSeen) })},
	{Name: "device.isRemembered", Type: TypeBoolean, Need: vigil.NeedDevice,
		Doc: "A challenge of this user has succeeded on this `deviceId`. Unavailable without a `deviceId`.",
		fn:  withDevice(func(p *Points) (jsonlogic.Value, bool) { return boolean(p.st.DeviceVerified) })},
	{Name: "device.count", Type: TypeNumber, Need: vigil.NeedDevice,
		Doc: "The number of distinct `deviceId`s the user's actions came from, this one included.",
		fn: func(p *Points) (jsonlogic.Value, bool) {
			n := p.st.DeviceCount
			if p.in.Track.Context.DeviceID != "" && !p.st.DeviceSeen {
				n++
			}
			return num(float64(n))
		}},
	{Name: "device.isBot", Type: TypeBoolean,
		Doc: "The user agent is a crawler, an HTTP library, a headless browser, or empty.",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return boolean(p.agent().IsBot) }},
	{Name: "device.browser", Type: TypeString, Doc: "Browser or client name parsed from the user agent, e.g. `Chrome`, `Safari`, `curl`.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.agent().Browser) }},
	{Name: "device.browserVersion", Type: TypeString, Doc: "Its version.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.agent().BrowserVersion) }},
	{Name: "device.os", Type: TypeString, Doc: "Operating system parsed from the user agent, e.g. `Windows`, `iOS`, `Android`.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.agent().OS) }},
	{Name: "device.osVersion", Type: TypeString, Doc: "Its version.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.agent().OSVersion) }},
	{Name: "device.type", Type: TypeString, Doc: "`desktop`, `mobile`, `tablet`, `bot` or `unknown`.",
		fn: func(p *Points) (jsonlogic.Value, bool) {
			t := p.agent().DeviceType
			if t == "" {
				t = useragent.Unknown
			}
			return str(t)
		}},

	// User.
	{Name: "user.id", Type: TypeString, Doc: "The user ID of the track.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.in.Track.UserID) }},
	{Name: "user.isEnrolled", Type: TypeBoolean, Doc: "The user has at least one authenticator.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return boolean(len(p.in.Authenticators) > 0) }},
	{Name: "user.enrolledVerificationMethods", Type: TypeStrings,
		Doc: "The verification methods of the user's authenticators, each once, oldest first.",
		fn: func(p *Points) (jsonlogic.Value, bool) {
			var ms []string
			for _, a := range p.in.Authenticators {
				if !slices.Contains(ms, string(a.Method)) {
					ms = append(ms, string(a.Method))
				}
			}
			return jsonlogic.Strings(ms...), true
		}},
	{Name: "user.hasPreviouslyVerified", Type: TypeBoolean, Need: vigil.NeedUser,
		Doc: "A challenge of this user has succeeded before.",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return boolean(!p.st.LastVerifiedAt.IsZero()) }},
	{Name: "user.email", Type: TypeString, Need: vigil.NeedUser,
		Doc: "The user's stored email, else the track's `email`.",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return str(p.email()) }},
	{Name: "user.emailDomain", Type: TypeString, Need: vigil.NeedUser,
		Doc: "The part of `user.email` after its last `@`, lowercased.",
		fn: func(p *Points) (jsonlogic.Value, bool) {
			e := p.email()
			i := strings.LastIndexByte(e, '@')
			if i < 0 {
				return jsonlogic.Null(), false
			}
			return str(strings.ToLower(e[i+1:]))
		}},
	{Name: "user.phoneNumber", Type: TypeString, Need: vigil.NeedUser,
		Doc: "The user's stored phone number, else the track's `phoneNumber`.",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return str(p.phone()) }},
	{Name: "user.username", Type: TypeString, Need: vigil.NeedUser,
		Doc: "The user's stored username, else the track's `username`.",
		fn: func(p *Points) (jsonlogic.Value, bool) {
			if u := p.st.User; u != nil && u.Username != "" {
				return str(u.Username)
			}
			return str(p.in.Track.Context.Username)
		}},
	{Name: "user.accountAgeDays", Type: TypeNumber, Need: vigil.NeedUser,
		Doc: "Whole days since Vigil first saw the user (0 on the first track).",
		fn: func(p *Points) (jsonlogic.Value, bool) {
			u := p.st.User
			if u == nil || u.CreatedAt.IsZero() || !p.in.Now.After(u.CreatedAt) {
				return num(0)
			}
			return num(math.Floor(p.in.Now.Sub(u.CreatedAt).Hours() / 24))
		}},
	{Name: "user.failedChallengesLastHour", Type: TypeNumber, Need: vigil.NeedFailedChallenges,
		Doc: "The user's actions that moved to CHALLENGE_FAILED in the last hour (over the user's 10,000 most recent actions).",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return num(float64(p.st.FailedChallengesLastHour)) }},
	{Name: "user.distinctIpsLastDay", Type: TypeNumber, Need: vigil.NeedDistinctIPs,
		Doc: "Distinct IP addresses of the user's earlier actions in the last 24 hours (this one not counted; over the user's 10,000 most recent actions).",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return num(float64(p.st.DistinctIPsLastDay)) }},

	// Velocity of this action.
	{Name: "action.code", Type: TypeString, Doc: "The action code being tracked.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return str(p.in.Track.ActionCode) }},
	{Name: "action.countLastHour", Type: TypeNumber, Need: vigil.NeedActionCounts,
		Doc: "Earlier actions of this user with this action code in the last hour (over the user's 10,000 most recent actions).",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return num(float64(p.st.ActionsLastHour)) }},
	{Name: "action.countLastDay", Type: TypeNumber, Need: vigil.NeedActionCounts,
		Doc: "The same over the last 24 hours.",
		fn:  func(p *Points) (jsonlogic.Value, bool) { return num(float64(p.st.ActionsLastDay)) }},

	// Time.
	{Name: "time.hourOfDay", Type: TypeNumber, Doc: "Hour of the track in the tenant's time zone, 0-23.",
		fn: func(p *Points) (jsonlogic.Value, bool) { return num(float64(p.localNow().Hour())) }},
	{Name: "time.dayOfWeek", Type: TypeNumber, Doc: "Day of the week in the tenant's time zone, 0 (Sunday) to 6 (Saturday).",
		fn: func(p *Points) (jsonlogic.Value, bool) { return num(float64(p.localNow().Weekday())) }},
}
