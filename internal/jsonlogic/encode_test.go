package jsonlogic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// This file holds the encoder and the tracer as they were before they were
// rewritten to allocate less, as references: AppendJSON and EvalTrace must
// produce exactly what they produced.

// refFormatNumber is formatNumber as it was.
func refFormatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	a := math.Abs(f)
	if a >= 1e-6 && a < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	if i := strings.IndexByte(s, 'e'); i >= 0 && i+2 < len(s) {
		exp := strings.TrimLeft(s[i+2:], "0")
		s = s[:i+2] + exp
	}
	return s
}

// refAppendJSON is Value.appendJSON as it was: strings and keys through
// json.Marshal.
func refAppendJSON(v Value, b []byte) []byte {
	switch v.kind {
	case KindNull:
		return append(b, "null"...)
	case KindBool:
		if v.num != 0 {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case KindNumber:
		if math.IsNaN(v.num) || math.IsInf(v.num, 0) {
			return append(b, "null"...)
		}
		return append(b, refFormatNumber(v.num)...)
	case KindString:
		q, _ := json.Marshal(v.str)
		return append(b, q...)
	case KindArray:
		b = append(b, '[')
		for i, e := range v.a() {
			if i > 0 {
				b = append(b, ',')
			}
			b = refAppendJSON(e, b)
		}
		return append(b, ']')
	case KindObject:
		b = append(b, '{')
		for i, k := range v.Keys() {
			if i > 0 {
				b = append(b, ',')
			}
			q, _ := json.Marshal(k)
			b = append(b, q...)
			b = append(b, ':')
			b = refAppendJSON(v.o()[k], b)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

// specialNumbers are numbers whose formatting has edge cases.
var specialNumbers = []float64{
	0, math.Copysign(0, -1), 0.1, -0.1, 1, -1, 3.25, 100, 1e15, 1e15 - 1, 1e15 + 2, 999999999999999.9,
	1e20, 1e21, -1e21, 1.5e21, 1e22, 1e-6, 1e-7, -1e-7, 1.234e-7, 5e-324, -5e-324, math.MaxFloat64,
	-math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 2, 123456789012345678, 0.30000000000000004,
	1e100, 1e-100, math.NaN(), math.Inf(1), math.Inf(-1), 2.5e-5, 123.456, -98765.4321e10,
}

// stringPieces are fragments that exercise every branch of JSON string
// escaping: HTML characters, control characters, U+2028/U+2029, multi-byte
// and invalid UTF-8.
var stringPieces = []string{
	"a", "Z", " ", "<", ">", "&", `"`, `\`, "/", "\x00", "\x01", "\x08", "\x0c", "\n", "\r", "\t", "\x1f", "\x7f",
	"é", "日本", "😀", "\u2028", "\u2029", "\u2027", "\u202a", "\ufffd", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80",
	"\xf4\x90\x80\x80", "\xe2\x80\xa8x", "</script>", "…", "~1", ".",
}

func randString(r *rand.Rand) string {
	var b strings.Builder
	n := r.IntN(8)
	if r.IntN(10) == 0 {
		n = 100 + r.IntN(200) // long, for clipping
	}
	for range n {
		if r.IntN(4) == 0 {
			b.WriteByte(byte(r.IntN(256)))
		} else {
			b.WriteString(stringPieces[r.IntN(len(stringPieces))])
		}
	}
	return b.String()
}

func randNumber(r *rand.Rand) float64 {
	switch r.IntN(4) {
	case 0:
		return specialNumbers[r.IntN(len(specialNumbers))]
	case 1:
		return float64(r.Int64N(1<<60) - 1<<59)
	case 2:
		return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(60)-30))
	}
	return math.Float64frombits(r.Uint64())
}

// randValue returns a random Value of at most depth levels of nesting.
func randValue(r *rand.Rand, depth int) Value {
	k := r.IntN(6)
	if depth <= 0 {
		k %= 4
	}
	switch k {
	case 0:
		return Null()
	case 1:
		return Bool(r.IntN(2) == 0)
	case 2:
		return Number(randNumber(r))
	case 3:
		return String(randString(r))
	case 4:
		n := r.IntN(5)
		if depth == 1 && r.IntN(8) == 0 {
			n = 40 + r.IntN(40) // over 256 bytes, for clipping
		}
		vs := make([]Value, n)
		for i := range vs {
			vs[i] = randValue(r, depth-1)
		}
		return Array(vs)
	}
	m := map[string]Value{}
	for range r.IntN(6) {
		m[randString(r)] = randValue(r, depth-1)
	}
	return Object(m)
}

// TestAppendJSON checks that AppendJSON writes what the encoder wrote
// before it was hand-written, and what encoding/json writes for a Value.
func TestAppendJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(v Value) {
		t.Helper()
		want := refAppendJSON(v, nil)
		got := v.AppendJSON([]byte("prefix"))
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("AppendJSON(%#v) = %s, want %s", v, got[len("prefix"):], want)
		}
		viaJSON, err := json.Marshal(map[string]any{"v": v, "vs": []Value{v}})
		if err != nil {
			t.Fatal(err)
		}
		if w := `{"v":` + string(want) + `,"vs":[` + string(want) + `]}`; string(viaJSON) != w {
			t.Fatalf("json.Marshal = %s, want %s", viaJSON, w)
		}
	}
	for _, f := range specialNumbers {
		check(Number(f))
		if got, want := formatNumber(f), refFormatNumber(f); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", f, got, want)
		}
	}
	for _, s := range stringPieces {
		check(String(s))
		check(Object(map[string]Value{s: String(s)}))
	}
	for range 5000 {
		check(randValue(r, 3))
	}
	for range 20000 {
		f := randNumber(r)
		if got, want := formatNumber(f), refFormatNumber(f); got != want {
			t.Fatalf("formatNumber(%v) = %q, want %q", f, got, want)
		}
	}
}

// FuzzAppendJSON checks AppendJSON against json.Marshal for arbitrary
// strings and numbers.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range stringPieces {
		f.Add(s, 1.5)
	}
	for _, x := range specialNumbers {
		f.Add("k", x)
	}
	f.Fuzz(func(t *testing.T, s string, x float64) {
		q, _ := json.Marshal(s)
		if got := String(s).AppendJSON(nil); !bytes.Equal(got, q) {
			t.Fatalf("AppendJSON(%q) = %s, want %s", s, got, q)
		}
		if got, want := formatNumber(x), refFormatNumber(x); got != want {
			t.Fatalf("formatNumber(%v) = %q, want %q", x, got, want)
		}
		v := Object(map[string]Value{s: Number(x), s + "<": Strings(s)})
		if got, want := v.AppendJSON(nil), refAppendJSON(v, nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON = %s, want %s", got, want)
		}
	})
}

// refEvalTrace is EvalTrace as it was before its nodes came from slabs.
func (p *Program) refEvalTrace(d Data) (v Value, t *Trace) {
	t = &Trace{}
	rd := &refRecordingData{inner: d, names: p.table.Names(), seen: map[string]bool{}}
	defer func() {
		if r := recover(); r != nil {
			v = Value{}
			t.Result, t.Matched, t.Err = Value{}, false, fmt.Sprintf("jsonlogic: internal error: %v", r)
		}
	}()
	e := evaluator{data: rd, max: p.maxSteps}
	if d == nil {
		e.data = nil
	}
	var root *TraceNode
	v, root = e.refTrace(p.root)
	t.Vars = rd.reads
	if t.Vars == nil {
		t.Vars = []VarRead{}
	}
	if e.err != nil {
		t.Err = e.err.Error()
		return Value{}, t
	}
	t.Root = root
	t.Result = v
	t.Matched = v.Truthy() || p.empty
	if p.empty {
		t.Result = Bool(true)
	}
	if !t.Matched && root != nil {
		t.Failed = failed(root, nil)
	}
	return t.Result, t
}

func (e *evaluator) refTrace(n *node) (Value, *TraceNode) {
	if !traced(n.op) {
		return e.eval(n, nil), nil
	}
	tn := &TraceNode{Path: n.path, Op: n.name}
	child := func(a *node) Value {
		v, c := e.refTrace(a)
		if c == nil {
			c = &TraceNode{Path: a.path, Op: a.name, Value: v}
			if c.Op == "" {
				c.Op = "value"
			}
		}
		tn.Children = append(tn.Children, c)
		return v
	}
	switch n.op {
	case opAnd:
		for _, a := range n.args {
			tn.Value = child(a)
			if !tn.Value.Truthy() {
				break
			}
		}
	case opOr:
		for _, a := range n.args {
			tn.Value = child(a)
			if tn.Value.Truthy() {
				break
			}
		}
	case opNot:
		tn.Value = Bool(!child(n.args[0]).Truthy())
	case opNotNot:
		tn.Value = Bool(child(n.args[0]).Truthy())
	case opIf:
		i := 0
		done := false
		for ; i+1 < len(n.args); i += 2 {
			if child(n.args[i]).Truthy() {
				tn.Value = child(n.args[i+1])
				done = true
				break
			}
		}
		if !done && i < len(n.args) {
			tn.Value = child(n.args[i])
		}
	default:
		tmp := *n
		tmp.args = make([]*node, len(n.args))
		for i, a := range n.args {
			v := e.eval(a, nil)
			tn.Args = append(tn.Args, v)
			tmp.args[i] = &node{op: opConst, val: v}
		}
		tn.List = n.alias
		tn.Value = e.eval(&tmp, nil)
	}
	return tn.Value, tn
}

type refRecordingData struct {
	inner Data
	names []string
	seen  map[string]bool
	reads []VarRead
}

func (r *refRecordingData) record(path string, v Value, ok bool) {
	if r.seen[path] {
		return
	}
	r.seen[path] = true
	r.reads = append(r.reads, VarRead{Path: path, Value: v, Found: ok})
}

func (r *refRecordingData) Var(i int) (Value, bool) {
	v, ok := r.inner.Var(i)
	name := fmt.Sprintf("#%d", i)
	if i >= 0 && i < len(r.names) {
		name = r.names[i]
	}
	r.record(name, v, ok)
	return v, ok
}

func (r *refRecordingData) Lookup(path string) (Value, bool) {
	v, ok := r.inner.Lookup(path)
	r.record(path, v, ok)
	return v, ok
}

// traceCmp compares traces, Values structurally.
var traceCmp = cmp.Options{valueCmp}

// checkTrace asserts that EvalTrace and Explain over d agree with the
// reference tracer: the same result and the same Trace (Explain without
// Vars), down to nil versus empty slices.
// ExplainInto, into buf (shared by the caller's cases, so that each case
// reuses what another program left in it), must give Explain's trace too.
func checkTrace(t *testing.T, p *Program, d func() Data, label string, buf *TraceBuffer) {
	t.Helper()
	wv, want := p.refEvalTrace(d())
	gv, got := p.EvalTrace(d())
	if !gv.Equal(wv) {
		t.Fatalf("%s: EvalTrace = %v, reference %v", label, gv, wv)
	}
	if diff := cmp.Diff(want, got, traceCmp); diff != "" {
		t.Fatalf("%s: EvalTrace trace mismatch (-reference +got):\n%s", label, diff)
	}
	ev, exp := p.Explain(d())
	if !ev.Equal(wv) {
		t.Fatalf("%s: Explain = %v, reference %v", label, ev, wv)
	}
	want.Vars = nil
	if diff := cmp.Diff(want, exp, traceCmp); diff != "" {
		t.Fatalf("%s: Explain trace mismatch (-reference +got):\n%s", label, diff)
	}
	iv, into := p.ExplainInto(d(), buf)
	if !iv.Equal(wv) {
		t.Fatalf("%s: ExplainInto = %v, reference %v", label, iv, wv)
	}
	if diff := cmp.Diff(want, into, traceCmp); diff != "" {
		t.Fatalf("%s: ExplainInto trace mismatch (-reference +got):\n%s", label, diff)
	}
}

// TestTraceMatchesReference runs the official suite, the decision rules
// and small step budgets through EvalTrace, Explain and the reference
// tracer.
func TestTraceMatchesReference(t *testing.T) {
	var cases [][2]string
	for _, g := range officialSuite {
		for _, tc := range g.cases {
			cases = append(cases, [2]string{tc.rule, tc.data})
		}
	}
	for _, r := range decisionRules {
		cases = append(cases, [2]string{r, decisionData})
	}
	cases = append(cases,
		[2]string{`{"or":[]}`, `{}`},
		[2]string{`{"and":[]}`, `{}`},
		[2]string{`{"<":[1,{"var":"x"},{"var":"y"}]}`, `{"x":5,"y":2}`},
		[2]string{`{"!!":[{"or":[{"var":"a"},{"==":[{"var":{"cat":["b",{"var":"c"}]}},1]}]}]}`, `{"c":"x","bx":2}`},
		[2]string{`{"if":[{"var":"a"},{"==":[1,2]},{"in":["x",{"var":"s"}]}]}`, `{"s":"yyy"}`},
		[2]string{`{"and":[{"missing":["a","b"]},{"==":[{"var":"a"},1]}]}`, `{"b":1}`},
	)
	var buf TraceBuffer
	for _, tc := range cases {
		for _, steps := range []int{0, 3, 7} {
			p, err := Compile([]byte(tc[0]), Options{MaxSteps: steps, Lists: fuzzOptions().Lists})
			if err != nil {
				continue
			}
			root := MustParseJSON(tc[1])
			label := fmt.Sprintf("%s over %s, MaxSteps %d", tc[0], tc[1], steps)
			checkTrace(t, p, func() Data { return NewValueData(p, root) }, label, &buf)
			checkTrace(t, p, func() Data { return nil }, label+", nil data", &buf)
		}
	}
}

// TestTraceSlabs checks that programs with many traced nodes, shared var
// tables and repeated variables trace like the reference.
func TestTraceSlabs(t *testing.T) {
	var parts []string
	for i := range 40 {
		parts = append(parts, fmt.Sprintf(`{"or":[{"==":[{"var":"v%d"},%d]},{"!":{"var":"w%d"}},{"<":[0,{"var":"v%d"},1]}]}`, i%20, i, i%3, i))
	}
	rule := `{"and":[{"!!":1},` + strings.Join(parts, ",") + `]}`
	keys := map[string]Value{}
	for i := range 40 {
		keys["v"+strconv.Itoa(i)] = Number(float64(i))
		keys["w"+strconv.Itoa(i)] = Bool(i%2 == 0)
	}
	table := NewVarTable()
	MustCompile(`{"var":"unrelated"}`, Options{Vars: table})
	p := MustCompile(rule, Options{Vars: table})
	root := Object(keys)
	checkTrace(t, p, func() Data { return NewValueData(p, root) }, "many nodes", &TraceBuffer{})
	_, tr := p.EvalTrace(NewValueData(p, root))
	seen := map[string]bool{}
	for _, v := range tr.Vars {
		if seen[v.Path] {
			t.Errorf("Vars lists %q twice", v.Path)
		}
		seen[v.Path] = true
	}
	if len(seen) <= maxScan {
		t.Errorf("Vars has %d paths, want more than %d to cover the map", len(seen), maxScan)
	}
}

// TestExplainIntoReuse checks that a TraceBuffer explaining the same
// programs again allocates nothing, that a trace it built stays intact
// until the buffer is used again, and that Reset lets go of it.
func TestExplainIntoReuse(t *testing.T) {
	progs, d := compileDecision(t)
	bufs := make([]TraceBuffer, len(progs))
	explainAll := func() {
		for i, p := range progs {
			p.ExplainInto(d, &bufs[i])
		}
	}
	explainAll()
	// The race detector's sync.Pool drops items, among them the programs'
	// comparison scratch.
	if n := testing.AllocsPerRun(50, explainAll); n != 0 && !testenv.RaceDetector {
		t.Errorf("ExplainInto allocates %v times over %d programs after the first round, want 0", n, len(progs))
	}

	p := MustCompile(`{"and":[{"==":[{"var":"a"},1]},{"<":[{"var":"b"},2]}]}`, Options{})
	var buf TraceBuffer
	_, first := p.ExplainInto(NewValueData(p, MustParseJSON(`{"a":2,"b":1}`)), &buf)
	want := fmt.Sprint(first.Failed[0].Args)
	if want != "[2 1]" {
		t.Fatalf("first trace's failed operands = %s, want [2 1]", want)
	}
	_, second := p.ExplainInto(NewValueData(p, MustParseJSON(`{"a":1,"b":5}`)), &buf)
	if got := fmt.Sprint(second.Failed[0].Args); got != "[5 2]" || second.Failed[0].Op != "<" {
		t.Errorf("second trace's failed condition = %s %s, want < [5 2]", second.Failed[0].Op, got)
	}
	buf.Reset()
	if buf.t.Failed != nil || len(buf.nodes) != 0 || buf.nodes[:cap(buf.nodes)][0].Op != "" {
		t.Errorf("Reset kept the last trace: %+v", buf.t)
	}
}
