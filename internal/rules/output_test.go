package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// This file keeps the way decisions were explained before Output was
// written by hand (an Output value, a map of data points, json.Marshal) as
// a reference: Decide and DecideTrace must produce byte-identical output
// and identical decisions.

// refDecideTrace is DecideTrace as it was.
func refDecideTrace(s *Set, cfg *vigil.ActionConfig, data jsonlogic.Data) *vigil.Decision {
	if s == nil {
		s = emptySet
	}
	var rec *lookupRecorder
	if s.usesLookup && data != nil {
		rec = &lookupRecorder{inner: data, points: map[string]jsonlogic.Value{}}
		data = rec
	}
	res := make([]result, len(s.rules))
	for i, r := range s.rules {
		ok, err := r.prog.Match(data)
		switch {
		case err != nil:
			res[i].err = err.Error()
		case ok:
			res[i].matched = true
		default:
			_, res[i].trace = r.prog.EvalTrace(data)
		}
	}
	points := make(map[string]jsonlogic.Value, len(s.vars))
	for j, name := range s.vars {
		points[name] = readVar(data, s.varIDs[j])
	}
	if rec != nil {
		for p, v := range rec.points {
			if _, ok := points[p]; !ok {
				points[p] = v
			}
		}
	}
	return refDecision(s, refBuild(s, res, points), cfg)
}

// refDecide is Decide as it was, without the cache.
func refDecide(s *Set, cfg *vigil.ActionConfig, data jsonlogic.Data) *vigil.Decision {
	if s == nil {
		s = emptySet
	}
	res := make([]result, len(s.rules))
	for i, r := range s.rules {
		ok, err := r.prog.Match(data)
		if err != nil {
			res[i].err = err.Error()
		} else {
			res[i].matched = ok
		}
	}
	return refDecision(s, refBuild(s, res, nil), cfg)
}

// refBuild is build as it was: the Output value, marshalled.
func refBuild(s *Set, res []result, points map[string]jsonlogic.Value) *template {
	t := &template{}
	out := Output{
		Version:       OutputVersion,
		Traced:        points != nil,
		DecidedBy:     DecidedByDefault,
		DataPoints:    points,
		Rules:         make([]RuleResult, len(s.rules)),
		ShadowMatches: []ShadowMatch{},
	}
	for i, r := range s.rules {
		rr := &out.Rules[i]
		*rr = RuleResult{RuleID: r.id, Name: r.name, Priority: r.priority, Type: r.typ, Shadow: r.shadow,
			Matched: res[i].matched, Error: res[i].err}
		if res[i].err != "" && !r.shadow {
			rr.Matched = true
		}
		if tr := res[i].trace; tr != nil && !rr.Matched && rr.Error == "" && tr.Err == "" {
			rr.Failed = refFailedConditions(tr)
		}
		if r.shadow || !rr.Matched {
			continue
		}
		t.ruleIDs = append(t.ruleIDs, r.id)
		t.snaps = append(t.snaps, r.snap)
		if t.decider == nil {
			t.decider, t.deciderErr = r, rr.Error != ""
			out.DecidedBy = DecidedByRule
			if t.deciderErr {
				out.DecidedBy = DecidedByRuleError
			}
		}
	}
	for i, r := range s.rules {
		if r.shadow && res[i].matched && res[i].err == "" {
			out.ShadowMatches = append(out.ShadowMatches, ShadowMatch{RuleID: r.id, Name: r.name, Priority: r.priority,
				Outcome: r.typ, WouldDecide: t.decider == nil || r.priority < t.decider.priority})
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	t.output = b
	return t
}

func refFailedConditions(tr *jsonlogic.Trace) []Condition {
	if len(tr.Failed) == 0 {
		return []Condition{{Path: "", Value: refClip(tr.Result)}}
	}
	cs := make([]Condition, len(tr.Failed))
	for i, n := range tr.Failed {
		c := Condition{Path: n.Path, Op: n.Op, List: n.List, Value: refClip(n.Value)}
		for _, a := range n.Args {
			c.Args = append(c.Args, refClip(a))
		}
		cs[i] = c
	}
	return cs
}

// refClip is clip as it was.
func refClip(v jsonlogic.Value) jsonlogic.Value {
	switch v.Kind() {
	case jsonlogic.KindString:
		s := v.AsString()
		if len(s) <= maxArgJSON {
			return v
		}
		cut := maxArgJSON
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return jsonlogic.String(s[:cut] + "…")
	case jsonlogic.KindArray, jsonlogic.KindObject:
		if b, _ := v.MarshalJSON(); len(b) <= maxArgJSON {
			return v
		}
		return jsonlogic.Object(map[string]jsonlogic.Value{
			"truncated": jsonlogic.Bool(true),
			"kind":      jsonlogic.String(v.Kind().String()),
			"length":    jsonlogic.Number(float64(v.Len())),
		})
	}
	return v
}

func refDecision(s *Set, t *template, cfg *vigil.ActionConfig) *vigil.Decision {
	t.ruleIDs, t.snaps = t.ruleIDs[:len(t.ruleIDs):len(t.ruleIDs)], t.snaps[:len(t.snaps):len(t.snaps)]
	return s.decision(t, t.output, cfg)
}

// checkAgainstReference decides data with s under cfg both ways and
// fails on any difference.
func checkAgainstReference(t *testing.T, s *Set, cfg *vigil.ActionConfig, data jsonlogic.Data, label string) {
	t.Helper()
	for _, traced := range []bool{true, false} {
		var got *vigil.Decision
		var err error
		var want *vigil.Decision
		if traced {
			got, err = s.DecideTrace(cfg, data)
			want = refDecideTrace(s, cfg, data)
		} else {
			got, err = s.Decide(cfg, data)
			want = refDecide(s, cfg, data)
		}
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if !bytes.Equal(got.Output, want.Output) {
			t.Fatalf("%s (traced %v): Output differs from json.Marshal\n got: %s\nwant: %s", label, traced, got.Output, want.Output)
		}
		g, w := *got, *want
		g.Output, w.Output = nil, nil // compared above, byte for byte
		if diff := cmp.Diff(w, g); diff != "" {
			t.Fatalf("%s (traced %v): decision differs (-reference +got):\n%s", label, traced, diff)
		}
	}
}

// TestOutputMatchesMarshal holds Decide's and DecideTrace's hand-written
// output to json.Marshal of the Output built the old way, byte for byte,
// over the golden cases, the benchmark set, and random rule sets and data
// points (strings that need escaping, non-ASCII and invalid UTF-8, numbers
// such as 1e21, -0 and 0.1, large values that are clipped, computed paths,
// panicking data points, exhausted step budgets).
func TestOutputMatchesMarshal(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.txtar: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		s, cfg, data := loadGolden(t, parseArchive(raw))
		checkAgainstReference(t, s, cfg, data, file)
	}

	s, data := benchSet(t)
	checkAgainstReference(t, s, testConfig, data, "benchmark set")
	r := rand.New(rand.NewPCG(3, 4))
	names := s.VarTable().Names()
	for i := range 300 {
		p := Points{}
		for _, name := range names {
			if r.IntN(6) > 0 {
				p[name] = randValue(r, 2)
			}
		}
		checkAgainstReference(t, s, testConfig, s.Data(p), fmt.Sprintf("benchmark set, random points %d", i))
	}

	var nilSet *Set
	checkAgainstReference(t, nilSet, testConfig, nil, "nil set")

	// Operands at the clipping boundary: JSON of 256 and 257 bytes, strings
	// of 256 and 257 bytes, cut inside a multi-byte rune.
	bs, err := Compile([]*vigil.Rule{newRule("r", 0, vigil.OutcomeBlock, `{"==":[{"var":"a"},1]}`)}, jsonlogic.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{255, 256, 257} {
		for _, v := range []jsonlogic.Value{
			jsonlogic.Strings(strings.Repeat("x", n-4)),
			jsonlogic.Object(map[string]jsonlogic.Value{"k": jsonlogic.String(strings.Repeat("<", (n-8)/6) + strings.Repeat("y", (n-8)%6))}),
			jsonlogic.String(strings.Repeat("s", n)),
			jsonlogic.String("s" + strings.Repeat("é", n/2)),
			jsonlogic.String("\xff" + strings.Repeat("日", n/3)),
		} {
			checkAgainstReference(t, bs, testConfig, bs.Data(Points{"a": v}), fmt.Sprintf("boundary %d: %s", n, v))
		}
	}

	for i := range 1500 {
		rs, opts := randRules(r)
		s, err := Compile(rs, opts)
		if err != nil {
			t.Fatalf("random rules %d: Compile: %v", i, err)
		}
		p := Points{}
		for _, name := range randVarNames {
			if r.IntN(5) > 0 {
				p[name] = randValue(r, 2)
			}
		}
		p["sel"] = jsonlogic.String(randVarNames[r.IntN(len(randVarNames))])
		if r.IntN(3) == 0 {
			p["sel"] = jsonlogic.String(randString(r))
			p["k"+p["sel"].AsString()] = randValue(r, 1)
		}
		var data jsonlogic.Data = s.Data(p)
		switch r.IntN(8) {
		case 0:
			data = nil
		case 1:
			data = &explodingData{Data: data, names: s.VarTable().Names(), bad: randVarNames[r.IntN(len(randVarNames))]}
		}
		cfg := testConfig
		if r.IntN(2) == 0 {
			cfg = &vigil.ActionConfig{DefaultOutcome: vigil.OutcomeBlock}
		}
		checkAgainstReference(t, s, cfg, data, fmt.Sprintf("random rules %d", i))
		checkAgainstReference(t, s, cfg, data, fmt.Sprintf("random rules %d, again (cached)", i))
	}
}

// explodingData panics when asked for the data point bad.
type explodingData struct {
	jsonlogic.Data
	names []string
	bad   string
}

func (d *explodingData) Var(i int) (jsonlogic.Value, bool) {
	if i < len(d.names) && d.names[i] == d.bad {
		panic("data point exploded")
	}
	return d.Data.Var(i)
}

func (d *explodingData) Lookup(path string) (jsonlogic.Value, bool) {
	if path == d.bad {
		panic("data point exploded")
	}
	return d.Data.Lookup(path)
}

// randVarNames are the data points random rules read, some needing escaping
// as JSON keys and some sorting before or after one another only by bytes.
var randVarNames = []string{
	"a", "b.c", "b.d", "B", "device.isNew", "x<y", "amp&", "é", "e\u2028", "tab\tkey", "z", "ip.address", "10",
	"k<", "ka", "kz",
}

// stringPieces are fragments that exercise every branch of JSON string
// escaping: HTML characters, control characters, U+2028/U+2029, multi-byte
// and invalid UTF-8.
var stringPieces = []string{
	"a", "Z", " ", "<", ">", "&", `"`, `\`, "/", "\x00", "\x01", "\x08", "\x0c", "\n", "\r", "\t", "\x1f", "\x7f",
	"é", "日本", "😀", "\u2028", "\u2029", "\ufffd", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "</script>", "…",
	"10.1.2.3", "NZ",
}

func randString(r *rand.Rand) string {
	var b strings.Builder
	n := r.IntN(6)
	if r.IntN(12) == 0 {
		n = 150 + r.IntN(150) // over 256 bytes: clipped, the cut near multi-byte runes
	}
	for range n {
		if r.IntN(5) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		} else {
			b.WriteString(stringPieces[r.IntN(len(stringPieces))])
		}
	}
	return b.String()
}

var specialNumbers = []float64{
	0, math.Copysign(0, -1), 0.1, -0.1, 1, 3, 7, 20, 1000, 1e15, 1e15 + 2, 1e20, 1e21, -1e21, 1e22, 1e-6, 1e-7,
	5e-324, math.MaxFloat64, 1 << 53, 1<<53 + 2, 123456789012345678, 0.30000000000000004, 2.5e-5,
}

func randNumber(r *rand.Rand) float64 {
	switch r.IntN(3) {
	case 0:
		return specialNumbers[r.IntN(len(specialNumbers))]
	case 1:
		return float64(r.IntN(40) - 10)
	}
	for {
		if f := math.Float64frombits(r.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

func randValue(r *rand.Rand, depth int) jsonlogic.Value {
	k := r.IntN(7)
	if depth <= 0 {
		k %= 5
	}
	switch k {
	case 0:
		return jsonlogic.Null()
	case 1:
		return jsonlogic.Bool(r.IntN(2) == 0)
	case 2:
		return jsonlogic.Number(randNumber(r))
	case 3, 4:
		return jsonlogic.String(randString(r))
	case 5:
		n := r.IntN(4)
		if r.IntN(6) == 0 {
			n = 30 + r.IntN(60) // over 256 bytes: clipped
		}
		vs := make([]jsonlogic.Value, n)
		for i := range vs {
			vs[i] = randValue(r, depth-1)
		}
		return jsonlogic.Array(vs)
	}
	m := map[string]jsonlogic.Value{}
	for range r.IntN(5) {
		m[randString(r)] = randValue(r, depth-1)
	}
	return jsonlogic.Object(m)
}

// randJSON returns a random JSON literal (constants in conditions).
func randJSON(r *rand.Rand) string {
	v := randValue(r, 1)
	if v.Kind() == jsonlogic.KindObject {
		v = jsonlogic.Strings(randString(r)) // an object literal is an operation
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func randVar(r *rand.Rand) string {
	name, _ := json.Marshal(randVarNames[r.IntN(len(randVarNames))])
	return `{"var":` + string(name) + `}`
}

// randCondition returns a random condition of at most depth levels of
// logic.
func randCondition(r *rand.Rand, depth int) string {
	k := r.IntN(16)
	if depth <= 0 {
		k = 4 + r.IntN(12)
	}
	sub := func() string { return randCondition(r, depth-1) }
	switch k {
	case 0:
		parts := []string{sub(), sub()}
		if r.IntN(2) == 0 {
			parts = append(parts, sub())
		}
		return `{"and":[` + strings.Join(parts, ",") + `]}`
	case 1:
		return `{"or":[` + sub() + `,` + sub() + `]}`
	case 2:
		return `{"!":` + sub() + `}`
	case 3:
		return `{"if":[` + sub() + `,` + sub() + `,` + sub() + `]}`
	case 4:
		return `{"!!":[` + randVar(r) + `]}`
	case 5:
		return randVar(r) // a root that is not traced
	case 6:
		ops := []string{"==", "!=", "===", "!==", "<", "<=", ">", ">="}
		return `{"` + ops[r.IntN(len(ops))] + `":[` + randVar(r) + `,` + randJSON(r) + `]}`
	case 7:
		return `{"<":[` + randJSON(r) + `,` + randVar(r) + `,` + randJSON(r) + `]}`
	case 8:
		items := make([]string, 1+r.IntN(12)) // more than 8: a hash set
		for i := range items {
			items[i] = randJSON(r)
		}
		return `{"in":[` + randVar(r) + `,[` + strings.Join(items, ",") + `]]}`
	case 9:
		return `{"in":[` + randJSON(r) + `,` + randVar(r) + `]}`
	case 10:
		return `{"in":[` + randVar(r) + `,{"var":"valueLists.l"}]}`
	case 11:
		return `{"cidr":[` + randVar(r) + `,["10.0.0.0/8","2001:db8::/32"]]}`
	case 12:
		return `{"==":[{"var":{"cat":["k",{"var":"sel"}]}},` + randJSON(r) + `]}` // a computed path
	case 13:
		return `{"missing":[{"var":"sel"},"a"]}`
	case 14:
		return `{"reduce":[` + randVar(r) + `,{"+":[{"var":"accumulator"},1]},0]}`
	}
	return `{"==":[{"cat":[` + randVar(r) + `,` + randJSON(r) + `]},"x"]}`
}

var randOutcomes = []vigil.Outcome{vigil.OutcomeAllow, vigil.OutcomeChallenge, vigil.OutcomeReview, vigil.OutcomeBlock}

// randRules returns a random valid rule set and compile options.
func randRules(r *rand.Rand) ([]*vigil.Rule, jsonlogic.Options) {
	n := r.IntN(8)
	prios := r.Perm(vigil.MaxRulePriority + 1)
	rs := make([]*vigil.Rule, n)
	for i := range rs {
		cond := randCondition(r, 2)
		if r.IntN(15) == 0 {
			cond = `{}`
		}
		rs[i] = &vigil.Rule{
			ID:         "r" + strconv.Itoa(i) + randString(r),
			Name:       "rule " + randString(r),
			IsActive:   r.IntN(8) > 0,
			IsShadow:   r.IntN(4) == 0,
			Priority:   prios[i],
			Type:       randOutcomes[r.IntN(len(randOutcomes))],
			Conditions: json.RawMessage(cond),
		}
	}
	list := jsonlogic.NewStringList("a", "NZ", "10.0.0.0/8", "é")
	opts := jsonlogic.Options{Lists: func(alias string) (*jsonlogic.List, bool) { return list, alias == "l" }}
	if r.IntN(4) == 0 {
		opts.MaxSteps = 3 + r.IntN(15) // some rules exhaust it
	}
	return rs, opts
}
