package jsonlogic

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	dhojsonlogic "github.com/diegoholiveira/jsonlogic/v3"
)

// decisionRules is a realistic rule set for one action: 10 rules of 2-4
// conditions over Vigil's data points, one membership test against a
// 100,000-item value list (rule 5) and one CIDR test (rule 6).
var decisionRules = []string{
	`{"and":[{"==":[{"var":"device.isNew"},true]},{"in":[{"var":"ip.location.country.countryCode"},["NZ","AU"]]}]}`,
	`{"and":[{"==":[{"var":"ip.isAnonymous"},true]},{">":[{"var":"custom.amount"},1000]}]}`,
	`{"and":[{"<":[{"var":"user.accountAgeDays"},7]},{">=":[{"var":"action.countLastHour"},5]},{"==":[{"var":"user.isEnrolled"},false]}]}`,
	`{"or":[{"==":[{"var":"ip.countryCodeInOfacList"},true]},{"==":[{"var":"ip.impossibleTravel"},true]}]}`,
	`{"and":[{"!=":[{"var":"user.hasPreviouslyVerified"},true]},{"in":[{"var":"user.email"},{"var":"valueLists.blocked_emails"}]}]}`,
	`{"and":[{"cidr":[{"var":"ip.address"},["10.0.0.0/8","192.168.0.0/16","2001:db8::/32"]]},{"==":[{"var":"device.isBot"},false]}]}`,
	`{"and":[{">=":[{"var":"user.failedChallengesLastHour"},3]},{"<=":[0,{"var":"time.hourOfDay"},5]},{"!":{"var":"device.isRemembered"}}]}`,
	`{"and":[{">":[{"var":"user.distinctIpsLastDay"},4]},{"in":[{"var":"device.browser"},["Tor Browser","HeadlessChrome","PhantomJS"]]}]}`,
	`{"and":[{">":[{"var":"custom.amount"},50]},{"==":[{"var":"device.isNew"},true]},{"!":{"var":"user.hasPreviouslyVerified"}},{"<":[{"var":"user.accountAgeDays"},30]}]}`,
	`{"and":[{"==":[{"var":"ip.location.country.countryCode"},"NZ"]},{">":[{"var":"action.countLastDay"},20]}]}`,
}

// decisionData holds the data points of one track.
const decisionData = `{
	"device": {"isNew": true, "isBot": false, "isRemembered": false, "browser": "Firefox"},
	"ip": {"address": "10.20.30.40", "isAnonymous": false, "countryCodeInOfacList": false, "impossibleTravel": false,
		"location": {"country": {"countryCode": "NZ"}}},
	"user": {"email": "someone@example.org", "accountAgeDays": 3, "isEnrolled": false, "hasPreviouslyVerified": false,
		"failedChallengesLastHour": 1, "distinctIpsLastDay": 2},
	"action": {"countLastHour": 6, "countLastDay": 30},
	"custom": {"amount": 1200},
	"time": {"hourOfDay": 3}
}`

// decisionWant is the expected match of each rule over decisionData.
var decisionWant = []bool{true, false, true, false, false, true, false, false, true, true}

func blockedEmails() []string {
	items := make([]string, 100_000)
	for i := range items {
		items[i] = fmt.Sprintf("blocked-%d@example.com", i)
	}
	return items
}

// sliceData is a prepared Data: every data point computed, indexed by the
// shared VarTable.
type sliceData struct {
	vals []Value
	ok   []bool
	root Value
}

func (d *sliceData) Var(i int) (Value, bool)          { return d.vals[i], d.ok[i] }
func (d *sliceData) Lookup(path string) (Value, bool) { return walkPath(d.root, path) }

func compileDecision(tb testing.TB) ([]*Program, *sliceData) {
	tb.Helper()
	list := NewStringList(blockedEmails()...)
	table := NewVarTable()
	opts := Options{Vars: table, Lists: func(alias string) (*List, bool) { return list, alias == "blocked_emails" }}
	progs := make([]*Program, len(decisionRules))
	for i, r := range decisionRules {
		p, err := Compile([]byte(r), opts)
		if err != nil {
			tb.Fatalf("Compile rule %d: %v", i, err)
		}
		progs[i] = p
	}
	root := MustParseJSON(decisionData)
	d := &sliceData{root: root}
	for _, path := range table.Names() {
		v, ok := walkPath(root, path)
		d.vals = append(d.vals, v)
		d.ok = append(d.ok, ok)
	}
	return progs, d
}

func decide(progs []*Program, d Data, matched []bool) error {
	for i, p := range progs {
		ok, err := p.Match(d)
		if err != nil {
			return err
		}
		matched[i] = ok
	}
	return nil
}

func TestDecisionRules(t *testing.T) {
	progs, d := compileDecision(t)
	got := make([]bool, len(progs))
	if err := decide(progs, d, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != decisionWant[i] {
			t.Errorf("rule %d matched = %v, want %v", i, got[i], decisionWant[i])
		}
	}
	rules, data := diegoDecision(t)
	for i, r := range rules {
		res, err := dhojsonlogic.ApplyInterface(r, data)
		if err != nil {
			t.Fatalf("diegoholiveira rule %d: %v", i, err)
		}
		if b, _ := res.(bool); b != decisionWant[i] {
			t.Errorf("diegoholiveira rule %d = %v, want %v", i, res, decisionWant[i])
		}
	}
}

// BenchmarkDecision evaluates all 10 rules of one decision over prepared
// data points (issue 3, item 7: target < 2 µs and ≤ 1 alloc per decision).
func BenchmarkDecision(b *testing.B) {
	progs, d := compileDecision(b)
	matched := make([]bool, len(progs))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := decide(progs, d, matched); err != nil {
			b.Fatal(err)
		}
	}
}

// diegoCIDROnce registers the cidr operator with diegoholiveira's global
// operator table (that library has no CIDR support and no per-call options).
var diegoCIDROnce sync.Once

func diegoDecision(tb testing.TB) ([]any, any) {
	tb.Helper()
	diegoCIDROnce.Do(func() {
		dhojsonlogic.AddOperator("cidr", func(values, _ any) any {
			args, _ := values.([]any)
			if len(args) != 2 {
				return false
			}
			s, _ := args[0].(string)
			ip := net.ParseIP(s)
			if ip == nil {
				return false
			}
			ranges, _ := args[1].([]any)
			for _, r := range ranges {
				rs, _ := r.(string)
				if _, n, err := net.ParseCIDR(rs); err == nil && n.Contains(ip) {
					return true
				}
			}
			return false
		})
	})
	rules := make([]any, len(decisionRules))
	for i, r := range decisionRules {
		if err := json.Unmarshal([]byte(r), &rules[i]); err != nil {
			tb.Fatal(err)
		}
	}
	var data map[string]any
	if err := json.NewDecoder(strings.NewReader(decisionData)).Decode(&data); err != nil {
		tb.Fatal(err)
	}
	emails := blockedEmails()
	list := make([]any, len(emails))
	for i, e := range emails {
		list[i] = e
	}
	data["valueLists"] = map[string]any{"blocked_emails": list}
	return rules, data
}

// BenchmarkDecisionDiegoHOliveira evaluates the same rules over the same
// data with github.com/diegoholiveira/jsonlogic/v3 (rules and data already
// decoded; the value list passed in the data as an array).
func BenchmarkDecisionDiegoHOliveira(b *testing.B) {
	rules, data := diegoDecision(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range rules {
			if _, err := dhojsonlogic.ApplyInterface(r, data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkDecisionTrace measures the explanation path, for comparison.
func BenchmarkDecisionTrace(b *testing.B) {
	progs, d := compileDecision(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, p := range progs {
			p.EvalTrace(d)
		}
	}
}

// BenchmarkDecisionExplain is BenchmarkDecisionTrace without recording the
// variables read: what a stored decision pays per rule that did not match.
func BenchmarkDecisionExplain(b *testing.B) {
	progs, d := compileDecision(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, p := range progs {
			p.Explain(d)
		}
	}
}

// BenchmarkDecisionExplainInto is BenchmarkDecisionExplain with a reused
// TraceBuffer per rule, as the rules engine explains.
func BenchmarkDecisionExplainInto(b *testing.B) {
	progs, d := compileDecision(b)
	bufs := make([]TraceBuffer, len(progs))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, p := range progs {
			p.ExplainInto(d, &bufs[i])
		}
	}
}

// BenchmarkDecisionNoList and BenchmarkDecisionDiegoHOliveiraNoList leave
// out rule 5 (the 100,000-item list, a linear scan for diegoholiveira), to
// show the ratio on the other nine rules alone.
func BenchmarkDecisionNoList(b *testing.B) {
	progs, d := compileDecision(b)
	progs = append(progs[:4:4], progs[5:]...)
	matched := make([]bool, len(progs))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := decide(progs, d, matched); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecisionDiegoHOliveiraNoList(b *testing.B) {
	rules, data := diegoDecision(b)
	rules = append(rules[:4:4], rules[5:]...)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range rules {
			if _, err := dhojsonlogic.ApplyInterface(r, data); err != nil {
				b.Fatal(err)
			}
		}
	}
}
