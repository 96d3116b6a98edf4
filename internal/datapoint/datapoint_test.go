package datapoint_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/datapoint"
	"github.com/vigil-auth/vigil/internal/ipintel"
	"github.com/vigil-auth/vigil/internal/ipintel/ipinteltest"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/rules"
)

// The fixed clock of every case: a Monday, 23:30 UTC.
var now = time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC)

const (
	aucklandIP = "203.0.113.7"  // NZ, Auckland
	londonIP   = "198.51.100.9" // GB, London
	tehranIP   = "192.0.2.44"   // IR
	torIP      = "198.18.0.5"   // in the anonymous list file
	chromeUA   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.60 Safari/537.36"
)

var (
	auckland = vigil.GeoPoint{Latitude: -36.85, Longitude: 174.76}
	london   = vigil.GeoPoint{Latitude: 51.51, Longitude: -0.13}
)

func sources(t *testing.T) *datapoint.Sources {
	t.Helper()
	dir := t.TempDir()
	city := ipinteltest.WriteCity(t, dir,
		ipinteltest.City{CIDR: "203.0.113.0/24", CountryCode: "NZ", City: "Auckland", Region: "Auckland", RegionCode: "AUK",
			Latitude: auckland.Latitude, Longitude: auckland.Longitude},
		ipinteltest.City{CIDR: "198.51.100.0/24", CountryCode: "GB", City: "London", Region: "England", RegionCode: "ENG",
			Latitude: london.Latitude, Longitude: london.Longitude},
		ipinteltest.City{CIDR: "192.0.2.0/24", CountryCode: "IR", City: "Tehran", Latitude: 35.69, Longitude: 51.39},
	)
	asn := ipinteltest.WriteASN(t, dir, ipinteltest.ASN{CIDR: "203.0.113.0/24", Number: 64500, Org: "Example NZ"})
	list := filepath.Join(dir, "tor.txt")
	if err := os.WriteFile(list, []byte("# Tor exits\n198.18.0.0/15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := ipintel.Open(ipintel.Config{CityDB: city, ASNDB: asn, AnonymousLists: []string{list}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &datapoint.Sources{IP: db}
}

// input is the base track of the cases; each case changes a copy.
func input() *datapoint.Input {
	return &datapoint.Input{
		Track: &vigil.TrackInput{UserID: "u1", ActionCode: "withdraw", Context: vigil.ActionContext{
			IPAddress: aucklandIP, UserAgent: chromeUA, DeviceID: "dev-1", Email: "Track@Example.org",
			PhoneNumber: "+64211234567", Custom: json.RawMessage(`{"amount": 1200, "tags": ["a", "b"], "nested": {"x": true}}`),
		}},
		Now: now,
	}
}

func TestDataPoints(t *testing.T) {
	src := sources(t)
	nz, _ := time.LoadLocation("Pacific/Auckland")
	tests := []struct {
		name  string
		point string
		edit  func(in *datapoint.Input)
		want  string // JSON; "" means unavailable
	}{
		{"ip.address", "ip.address", nil, `"203.0.113.7"`},
		{"ip.address/none", "ip.address", func(in *datapoint.Input) { in.Track.Context.IPAddress = "" }, ""},
		{"ip.isAnonymous/no", "ip.isAnonymous", nil, `false`},
		{"ip.isAnonymous/list", "ip.isAnonymous", func(in *datapoint.Input) { in.Track.Context.IPAddress = torIP }, `true`},
		{"ip.isAnonymous/invalid IP", "ip.isAnonymous", func(in *datapoint.Input) { in.Track.Context.IPAddress = "not-an-ip" }, ""},
		{"ip.anonymousReasons", "ip.anonymousReasons", func(in *datapoint.Input) { in.Track.Context.IPAddress = torIP }, `["list"]`},
		{"countryCode", "ip.location.country.countryCode", nil, `"NZ"`},
		{"countryCode alias", "ip.countryCode", nil, `"NZ"`},
		{"countryCode/unknown network", "ip.countryCode", func(in *datapoint.Input) { in.Track.Context.IPAddress = "10.1.2.3" }, ""},
		{"city", "ip.location.city", nil, `"Auckland"`},
		{"region", "ip.location.region", nil, `"Auckland"`},
		{"latitude", "ip.location.latitude", nil, `-36.85`},
		{"longitude", "ip.location.longitude", nil, `174.76`},
		{"asn", "ip.asn", nil, `64500`},
		{"asOrganization", "ip.asOrganization", nil, `"Example NZ"`},
		{"ofac/no", "ip.countryCodeInOfacList", nil, `false`},
		{"ofac/yes", "ip.countryCodeInOfacList", func(in *datapoint.Input) { in.Track.Context.IPAddress = tehranIP }, `true`},
		{"location object", "ip.location.country", nil, `{"countryCode":"NZ"}`},

		{"isUnrecognized/never verified", "ip.isUnrecognized", nil, `true`},
		{"isUnrecognized/verified", "ip.isUnrecognized", func(in *datapoint.Input) { in.State.IPVerified = true }, `false`},
		{"impossibleTravel/no history", "ip.impossibleTravel", nil, `false`},
		{"impossibleTravel/London an hour ago", "ip.impossibleTravel", func(in *datapoint.Input) {
			in.State.VerifiedLocations = []vigil.VerifiedLocation{{GeoPoint: london, At: now.Add(-time.Hour)}}
		}, `true`},
		{"impossibleTravel/London two days ago", "ip.impossibleTravel", func(in *datapoint.Input) {
			in.State.VerifiedLocations = []vigil.VerifiedLocation{{GeoPoint: london, At: now.Add(-48 * time.Hour)}}
		}, `false`},
		{"impossibleTravel/nearby a second ago", "ip.impossibleTravel", func(in *datapoint.Input) {
			in.State.VerifiedLocations = []vigil.VerifiedLocation{{GeoPoint: vigil.GeoPoint{Latitude: -37.2, Longitude: 174.9}, At: now.Add(-time.Second)}}
		}, `false`},
		{"travelSpeedKmh", "ip.travelSpeedKmh", func(in *datapoint.Input) {
			// Auckland-London is about 18,350 km.
			in.State.VerifiedLocations = []vigil.VerifiedLocation{{GeoPoint: london, At: now.Add(-10 * time.Hour)}}
		}, `1834`},
		{"atypicalTravel/near a verified place", "ip.atypicalTravel", func(in *datapoint.Input) {
			in.State.VerifiedLocations = []vigil.VerifiedLocation{
				{GeoPoint: london, At: now.Add(-time.Hour)},
				{GeoPoint: vigil.GeoPoint{Latitude: -36.9, Longitude: 174.8}, At: now.Add(-30 * 24 * time.Hour)},
			}
		}, `false`},
		{"atypicalTravel/far from all", "ip.atypicalTravel", func(in *datapoint.Input) {
			in.State.VerifiedLocations = []vigil.VerifiedLocation{{GeoPoint: london, At: now.Add(-30 * 24 * time.Hour)}}
		}, `true`},
		{"atypicalTravel/no history", "ip.atypicalTravel", nil, `false`},

		{"device.id", "device.id", nil, `"dev-1"`},
		{"device.isNew/yes", "device.isNew", nil, `true`},
		{"device.isNew/seen", "device.isNew", func(in *datapoint.Input) { in.State.DeviceSeen = true }, `false`},
		{"device.isNew/no device", "device.isNew", func(in *datapoint.Input) { in.Track.Context.DeviceID = "" }, ""},
		{"device.isRemembered/no", "device.isRemembered", func(in *datapoint.Input) { in.State.DeviceSeen = true }, `false`},
		{"device.isRemembered/yes", "device.isRemembered", func(in *datapoint.Input) { in.State.DeviceSeen, in.State.DeviceVerified = true, true }, `true`},
		{"device.count/new device", "device.count", func(in *datapoint.Input) { in.State.DeviceCount = 2 }, `3`},
		{"device.count/known device", "device.count", func(in *datapoint.Input) { in.State.DeviceCount, in.State.DeviceSeen = 2, true }, `2`},
		{"device.isBot/browser", "device.isBot", nil, `false`},
		{"device.isBot/curl", "device.isBot", func(in *datapoint.Input) { in.Track.Context.UserAgent = "curl/8.5.0" }, `true`},
		{"device.browser", "device.browser", nil, `"Chrome"`},
		{"device.os", "device.os", nil, `"Windows"`},
		{"device.type", "device.type", nil, `"desktop"`},

		{"user.id", "user.id", nil, `"u1"`},
		{"user.isEnrolled/no", "user.isEnrolled", nil, `false`},
		{"user.isEnrolled/yes", "user.isEnrolled", func(in *datapoint.Input) {
			in.Authenticators = []*vigil.Authenticator{{Method: vigil.MethodSMS}}
		}, `true`},
		{"enrolledVerificationMethods", "user.enrolledVerificationMethods", func(in *datapoint.Input) {
			in.Authenticators = []*vigil.Authenticator{{Method: vigil.MethodSMS}, {Method: vigil.MethodPasskey}, {Method: vigil.MethodSMS}}
		}, `["SMS","PASSKEY"]`},
		{"hasPreviouslyVerified/no", "user.hasPreviouslyVerified", nil, `false`},
		{"hasPreviouslyVerified/yes", "user.hasPreviouslyVerified", func(in *datapoint.Input) { in.State.LastVerifiedAt = now.Add(-time.Hour) }, `true`},
		{"user.email/from track", "user.email", nil, `"Track@Example.org"`},
		{"user.email/stored wins", "user.email", func(in *datapoint.Input) { in.State.User = &vigil.User{Email: "stored@example.com"} }, `"stored@example.com"`},
		{"user.emailDomain", "user.emailDomain", nil, `"example.org"`},
		{"user.emailDomain/no email", "user.emailDomain", func(in *datapoint.Input) { in.Track.Context.Email = "" }, ""},
		{"user.phoneNumber", "user.phoneNumber", nil, `"+64211234567"`},
		{"accountAgeDays/new user", "user.accountAgeDays", nil, `0`},
		{"accountAgeDays/40.5 days", "user.accountAgeDays", func(in *datapoint.Input) {
			in.State.User = &vigil.User{CreatedAt: now.Add(-(40*24 + 12) * time.Hour)}
		}, `40`},
		{"user.custom", "user.custom.tier", func(in *datapoint.Input) {
			in.State.User = &vigil.User{Custom: map[string]any{"tier": "gold"}}
		}, `"gold"`},
		{"user.custom/absent", "user.custom.tier", nil, ""},
		{"failedChallengesLastHour", "user.failedChallengesLastHour", func(in *datapoint.Input) { in.State.FailedChallengesLastHour = 4 }, `4`},
		{"distinctIpsLastDay", "user.distinctIpsLastDay", func(in *datapoint.Input) { in.State.DistinctIPsLastDay = 3 }, `3`},
		{"action.code", "action.code", nil, `"withdraw"`},
		{"countLastHour", "action.countLastHour", func(in *datapoint.Input) { in.State.ActionsLastHour = 5 }, `5`},
		{"countLastDay", "action.countLastDay", func(in *datapoint.Input) { in.State.ActionsLastDay = 21 }, `21`},

		{"custom number", "custom.amount", nil, `1200`},
		{"custom array", "custom.tags", nil, `["a","b"]`},
		{"custom nested", "custom.nested.x", nil, `true`},
		{"custom absent", "custom.nope", nil, ""},
		{"custom/none sent", "custom.amount", func(in *datapoint.Input) { in.Track.Context.Custom = nil }, ""},

		{"hourOfDay/UTC", "time.hourOfDay", nil, `23`},
		{"dayOfWeek/UTC Monday", "time.dayOfWeek", nil, `1`},
		{"hourOfDay/Auckland", "time.hourOfDay", func(in *datapoint.Input) { in.TimeZone = nz }, `12`},
		{"dayOfWeek/Auckland Tuesday", "time.dayOfWeek", func(in *datapoint.Input) { in.TimeZone = nz }, `2`},

		{"not a data point", "nothing.here", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input()
			in.State = &vigil.RiskState{}
			if tt.edit != nil {
				tt.edit(in)
			}
			plan := datapoint.NewPlan([]string{tt.point})
			v, ok := src.Points(plan, in).Var(0)
			got := ""
			if ok {
				got = v.String()
			}
			if got != tt.want {
				t.Errorf("%s = %s (available %v), want %q", tt.point, got, ok, tt.want)
			}
		})
	}
}

// TestNeeds checks that a plan asks for exactly the history its variables
// read, and nothing for track-only data points.
func TestNeeds(t *testing.T) {
	tests := []struct {
		vars []string
		want vigil.RiskNeeds
	}{
		{[]string{"ip.countryCode", "device.isBot", "custom.amount", "time.hourOfDay"}, 0},
		{[]string{"device.isNew"}, vigil.NeedDevice},
		{[]string{"ip.impossibleTravel", "user.email"}, vigil.NeedIP | vigil.NeedUser},
		{[]string{"action.countLastDay", "user.failedChallengesLastHour", "user.distinctIpsLastDay"},
			vigil.NeedActionCounts | vigil.NeedFailedChallenges | vigil.NeedDistinctIPs},
		{[]string{"user.custom.tier"}, vigil.NeedUser},
		{[]string{"device"}, vigil.NeedDevice},
	}
	for _, tt := range tests {
		if got := datapoint.NewPlan(tt.vars).Need(); got != tt.want {
			t.Errorf("NewPlan(%q).Need() = %b, want %b", tt.vars, got, tt.want)
		}
	}
}

// TestLazyAndOnce proves laziness: a data point that no rule reads is never
// computed, and one read several times is computed once.
func TestLazyAndOnce(t *testing.T) {
	src := sources(t)
	set, err := rules.Compile([]*vigil.Rule{
		{ID: "r1", Name: "a", IsActive: true, Priority: 0, Type: vigil.OutcomeBlock,
			Conditions: json.RawMessage(`{"and":[{"==":[{"var":"custom.amount"},1]},{"==":[{"var":"custom.amount"},2]}]}`)},
		{ID: "r2", Name: "b", IsActive: true, Priority: 1, Type: vigil.OutcomeReview,
			Conditions: json.RawMessage(`{">":[{"var":"custom.amount"},1000]}`)},
		// An inactive rule's data points are neither computed nor is the
		// history they need read.
		{ID: "r3", Name: "off", IsActive: false, Priority: 2, Type: vigil.OutcomeBlock,
			Conditions: json.RawMessage(`{"and":[{"==":[{"var":"device.isNew"},true]},{">":[{"var":"action.countLastHour"},1]}]}`)},
	}, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plan := datapoint.NewPlan(set.VarTable().Names())
	if plan.Need() != 0 {
		t.Errorf("need = %b, want none", plan.Need())
	}
	in := input()
	pts := src.Points(plan, in)
	dec, err := set.DecideTrace(&vigil.ActionConfig{DefaultOutcome: vigil.OutcomeAllow}, pts)
	if err != nil {
		t.Fatal(err)
	}
	if dec.Outcome != vigil.OutcomeReview {
		t.Errorf("outcome = %s, want REVIEW", dec.Outcome)
	}
	var out rules.Output
	if err := json.Unmarshal(dec.Output, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"custom.amount"}, slices.Sorted(maps.Keys(out.DataPoints))); diff != "" {
		t.Errorf("stored data points (-want +got):\n%s", diff)
	}
	// Changing the input after the first read does not change the value:
	// it was computed once.
	in.Track.Context.Custom = json.RawMessage(`{"amount": 1}`)
	v, _ := pts.Var(0)
	if v.String() != "1200" {
		t.Errorf("custom.amount re-read = %s, want the first value 1200", v)
	}
}

// TestNoGeoIP checks that without a GeoIP source the geo data points are
// unavailable and the others still work.
func TestNoGeoIP(t *testing.T) {
	src := &datapoint.Sources{}
	plan := datapoint.NewPlan([]string{"ip.countryCode", "ip.isAnonymous", "ip.address", "device.browser"})
	p := src.Points(plan, input())
	var got []string
	for i := range 4 {
		v, ok := p.Var(i)
		got = append(got, v.String()+map[bool]string{true: "", false: "(unavailable)"}[ok])
	}
	want := []string{"null(unavailable)", "false", `"203.0.113.7"`, `"Chrome"`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if p.Location() != nil {
		t.Errorf("Location = %v without a City database", p.Location())
	}
}

// TestDocumented keeps docs/data-points.md in step with the catalogue.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/data-points.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range datapoint.Catalogue() {
		row := "| `" + d.Name + "` | " + d.Type + " |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/data-points.md has no row starting %q", row)
		}
	}
}
