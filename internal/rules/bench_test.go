package rules

import (
	"fmt"
	"testing"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// benchRules is a realistic rule set for one action: 10 rules of 2-4
// conditions over Vigil's data points, one membership test against a
// 100,000-item value list (priority 40) and one CIDR test (priority 50). It
// is internal/jsonlogic's decisionRules as rules.
var benchRules = []struct {
	typ  vigil.Outcome
	cond string
}{
	{vigil.OutcomeChallenge, `{"and":[{"==":[{"var":"device.isNew"},true]},{"in":[{"var":"ip.location.country.countryCode"},["NZ","AU"]]}]}`},
	{vigil.OutcomeReview, `{"and":[{"==":[{"var":"ip.isAnonymous"},true]},{">":[{"var":"custom.amount"},1000]}]}`},
	{vigil.OutcomeChallenge, `{"and":[{"<":[{"var":"user.accountAgeDays"},7]},{">=":[{"var":"action.countLastHour"},5]},{"==":[{"var":"user.isEnrolled"},false]}]}`},
	{vigil.OutcomeBlock, `{"or":[{"==":[{"var":"ip.countryCodeInOfacList"},true]},{"==":[{"var":"ip.impossibleTravel"},true]}]}`},
	{vigil.OutcomeBlock, `{"and":[{"!=":[{"var":"user.hasPreviouslyVerified"},true]},{"in":[{"var":"user.email"},{"var":"valueLists.blocked_emails"}]}]}`},
	{vigil.OutcomeAllow, `{"and":[{"cidr":[{"var":"ip.address"},["10.0.0.0/8","192.168.0.0/16","2001:db8::/32"]]},{"==":[{"var":"device.isBot"},false]}]}`},
	{vigil.OutcomeChallenge, `{"and":[{">=":[{"var":"user.failedChallengesLastHour"},3]},{"<=":[0,{"var":"time.hourOfDay"},5]},{"!":{"var":"device.isRemembered"}}]}`},
	{vigil.OutcomeBlock, `{"and":[{">":[{"var":"user.distinctIpsLastDay"},4]},{"in":[{"var":"device.browser"},["Tor Browser","HeadlessChrome","PhantomJS"]]}]}`},
	{vigil.OutcomeReview, `{"and":[{">":[{"var":"custom.amount"},50]},{"==":[{"var":"device.isNew"},true]},{"!":{"var":"user.hasPreviouslyVerified"}},{"<":[{"var":"user.accountAgeDays"},30]}]}`},
	{vigil.OutcomeChallenge, `{"and":[{"==":[{"var":"ip.location.country.countryCode"},"NZ"]},{">":[{"var":"action.countLastDay"},20]}]}`},
}

// benchData holds the data points of one track.
const benchData = `{
	"device": {"isNew": true, "isBot": false, "isRemembered": false, "browser": "Firefox"},
	"ip": {"address": "10.20.30.40", "isAnonymous": false, "countryCodeInOfacList": false, "impossibleTravel": false,
		"location": {"country": {"countryCode": "NZ"}}},
	"user": {"email": "someone@example.org", "accountAgeDays": 3, "isEnrolled": false, "hasPreviouslyVerified": false,
		"failedChallengesLastHour": 1, "distinctIpsLastDay": 2},
	"action": {"countLastHour": 6, "countLastDay": 30},
	"custom": {"amount": 1200},
	"time": {"hourOfDay": 3}
}`

// sliceData is data points already computed, indexed by the set's table:
// what the data point layer hands over once every point is computed.
type sliceData struct {
	vals []jsonlogic.Value
	ok   []bool
	p    Points
}

func (d *sliceData) Var(i int) (jsonlogic.Value, bool)          { return d.vals[i], d.ok[i] }
func (d *sliceData) Lookup(path string) (jsonlogic.Value, bool) { return d.p.Lookup(path) }

func benchSet(tb testing.TB) (*Set, *sliceData) {
	tb.Helper()
	items := make([]string, 100_000)
	for i := range items {
		items[i] = fmt.Sprintf("blocked-%d@example.com", i)
	}
	list := jsonlogic.NewStringList(items...)
	rs := make([]*vigil.Rule, len(benchRules))
	for i, br := range benchRules {
		rs[i] = newRule(fmt.Sprintf("rule-%d", i), i*10, br.typ, br.cond)
	}
	s, err := Compile(rs, jsonlogic.Options{Lists: func(alias string) (*jsonlogic.List, bool) { return list, alias == "blocked_emails" }})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := ParsePoints([]byte(benchData))
	if err != nil {
		tb.Fatal(err)
	}
	d := &sliceData{p: p}
	for _, name := range s.VarTable().Names() {
		v, ok := p.Lookup(name)
		d.vals = append(d.vals, v)
		d.ok = append(d.ok, ok)
	}
	return s, d
}

func TestBenchRules(t *testing.T) {
	s, data := benchSet(t)
	d, err := s.DecideTrace(testConfig, data)
	if err != nil {
		t.Fatal(err)
	}
	// Rules 0, 2, 5, 8 and 9 match (as in internal/jsonlogic's benchmark).
	want := []string{"rule-0", "rule-2", "rule-5", "rule-8", "rule-9"}
	if fmt.Sprint(d.RuleIDs) != fmt.Sprint(want) || d.Outcome != vigil.OutcomeChallenge {
		t.Errorf("RuleIDs = %q, Outcome = %v; want %q, CHALLENGE", d.RuleIDs, d.Outcome, want)
	}
}

// BenchmarkDecide is the hot path: 10 rules, data points given.
func BenchmarkDecide(b *testing.B) {
	s, data := benchSet(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Decide(testConfig, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecideParallel is BenchmarkDecide from GOMAXPROCS goroutines,
// through the shared decision cache.
func BenchmarkDecideParallel(b *testing.B) {
	s, data := benchSet(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Decide(testConfig, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDecideTrace is the traced decision stored with an action.
func BenchmarkDecideTrace(b *testing.B) {
	s, data := benchSet(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.DecideTrace(testConfig, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecidePoints is Decide over Set.Data (map look-ups per
// variable), the simulation path.
func BenchmarkDecidePoints(b *testing.B) {
	s, data := benchSet(b)
	pd := s.Data(data.p)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Decide(testConfig, pd); err != nil {
			b.Fatal(err)
		}
	}
}
