package jsonlogic

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func evalJSON(t *testing.T, rule, data string, opts Options) (Value, error) {
	t.Helper()
	p, err := Compile([]byte(rule), opts)
	if err != nil {
		t.Fatalf("Compile(%s) error: %v", rule, err)
	}
	return p.Eval(NewValueData(p, MustParseJSON(data)))
}

func TestCompileErrors(t *testing.T) {
	deep := strings.Repeat(`{"!":`, 33) + "true" + strings.Repeat("}", 33)
	okDeep := strings.Repeat(`{"!":`, 31) + "true" + strings.Repeat("}", 31)
	big := `{"in":["x",[` + strings.Repeat(`"aaaaaaaaaa",`, 6000) + `"b"]]}`
	lists := func(alias string) (*List, bool) {
		if alias == "blocked" {
			return NewStringList("a"), true
		}
		return nil, false
	}
	tests := []struct {
		name string
		rule string
		want *CompileError // nil: compiles
	}{
		{"invalid JSON", `{"==":[1,`, &CompileError{Path: "", Message: "invalid JSON: unexpected EOF"}},
		{"trailing data", `{"==":[1,1]} x`, &CompileError{Path: "", Message: "invalid JSON: trailing data after the condition"}},
		{"unknown operator", `{"and":[true,{"foo":[1]}]}`, &CompileError{Path: "/and/1", Message: `unknown operator "foo"`}},
		{"wrong arity", `{"and":[{"==":[1,2,3]}]}`, &CompileError{Path: "/and/0/==", Message: `operator "==" takes 2 arguments, got 3`}},
		{"too few", `{"!":[]}`, &CompileError{Path: "/!", Message: `operator "!" takes 1 argument, got 0`}},
		{"between arity", `{"<":[1,2,3,4]}`, &CompileError{Path: "/<", Message: `operator "<" takes 2 to 3 arguments, got 4`}},
		{"path escaping", `{"/":[1,{"x":1}]}`, &CompileError{Path: "/~1/1", Message: `unknown operator "x"`}},
		{"in path", `{"and":[true,{"in":[{"bad":1},["a"]]}]}`, &CompileError{Path: "/and/1/in/0", Message: `unknown operator "bad"`}},
		{"map over scalar", `{"map":[5,{"var":""}]}`, &CompileError{Path: "/map/0", Message: "map needs an array or an expression, got the number 5"}},
		{"in scalar", `{"in":["a",5]}`, &CompileError{Path: "/in/1", Message: "in needs an array or a string, got the number 5"}},
		{"missing_some scalar", `{"missing_some":[1,true]}`, &CompileError{Path: "/missing_some/1", Message: "missing_some needs an array of paths, got a boolean"}},
		{"multi-key object", `{"==":[1,1],"!=":[1,2]}`, &CompileError{Path: "", Message: `an operation must be an object with exactly one key, got "!=", "=="`}},
		{"too deep", deep, &CompileError{Path: strings.Repeat("/!", 32), Message: "nesting deeper than 32 levels"}},
		{"deep but ok", okDeep, nil},
		{"too large", big, &CompileError{Path: "", Message: fmt.Sprintf("condition is %d bytes, more than the limit of 65536", len(big))}},
		{"unknown list", `{"in":[{"var":"ip.address"},{"var":"valueLists.nope"}]}`, &CompileError{Path: "/in/1", Message: `unknown value list "nope"`}},
		{"known list", `{"in":[{"var":"ip.address"},{"var":"valueLists.blocked"}]}`, nil},
		{"list outside in", `{"==":[{"var":"valueLists.blocked"},1]}`, &CompileError{Path: "/==/0/var", Message: `value list "blocked" can only be used as the second argument of in`}},
		{"bad cidr", `{"cidr":[{"var":"ip.address"},"10.0.0.0/33"]}`, &CompileError{Path: "/cidr/1", Message: `invalid CIDR range "10.0.0.0/33"`}},
		{"cidr non-literal", `{"cidr":[{"var":"ip.address"},{"var":"r"}]}`, &CompileError{Path: "/cidr/1", Message: "cidr needs a literal CIDR range or an array of them, got a value"}},
		{"empty object", `{}`, nil},
		{"null", `null`, nil},
		{"nothing", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.rule), Options{Lists: lists})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Compile error: %v", err)
				}
				return
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile error = %v, want *CompileError", err)
			}
			if diff := cmp.Diff(tt.want, ce); diff != "" {
				t.Errorf("CompileError mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmptyConditionMatches(t *testing.T) {
	for _, raw := range []string{"", "  ", "null", "{}"} {
		p, err := Compile([]byte(raw), Options{})
		if err != nil {
			t.Fatalf("Compile(%q) error: %v", raw, err)
		}
		ok, err := p.Match(nil)
		if err != nil || !ok || !p.Empty() {
			t.Errorf("Compile(%q).Match = %v, %v (Empty %v), want true", raw, ok, err, p.Empty())
		}
		v, tr := p.EvalTrace(nil)
		if !tr.Matched || !v.Truthy() {
			t.Errorf("Compile(%q).EvalTrace = %v, matched %v, want true", raw, v, tr.Matched)
		}
	}
}

// TestSemantics covers coercions and operators beyond the official suite.
func TestSemantics(t *testing.T) {
	tests := []struct {
		name, rule, data, want string
	}{
		{"or returns deciding operand", `{"or":[0,"",{"var":"x"},"late"]}`, `{"x":"hit"}`, `"hit"`},
		{"and returns first falsy", `{"and":[1,{"var":"x"},2]}`, `{"x":""}`, `""`},
		{"== null only null", `{"==":[null,0]}`, `{}`, `false`},
		{"== bool coerces", `{"==":[true,"1"]}`, `{}`, `true`},
		{"== array to string", `{"==":[[1,2],"1,2"]}`, `{}`, `true`},
		{"== arrays by reference", `{"==":[[1],[1]]}`, `{}`, `false`},
		{"== same var is same reference", `{"==":[{"var":"a"},{"var":"a"}]}`, `{"a":[1]}`, `true`},
		{"< strings lexicographic", `{"<":["10","9"]}`, `{}`, `true`},
		{"< mixed numeric", `{"<":["10",9]}`, `{}`, `false`},
		{"<= NaN false", `{"<=":["abc",1]}`, `{}`, `false`},
		{"> null is 0", `{">":[1,null]}`, `{}`, `true`},
		{"+ parseFloat prefix", `{"+":["3px",1]}`, `{}`, `4`},
		{"+ bool is NaN", `{"+":[true,1]}`, `{}`, `null`},
		{"- Number coercion", `{"-":["3px",1]}`, `{}`, `null`},
		{"unary minus string", `{"-":"5"}`, `{}`, `-5`},
		{"* single returns operand", `{"*":["7"]}`, `{}`, `"7"`},
		{"/ by zero", `{"/":[1,0]}`, `{}`, `null`},
		{"% negative", `{"%":[-7,3]}`, `{}`, `-1`},
		{"max of strings", `{"max":["3",1,"2"]}`, `{}`, `3`},
		{"in null in string", `{"in":[null,"a null b"]}`, `{}`, `true`},
		{"in empty string", `{"in":["","" ]}`, `{}`, `false`},
		{"in strict on arrays", `{"in":["1",[1,2]]}`, `{}`, `false`},
		{"in large literal set", `{"in":[{"var":"c"},["AA","BB","CC","DD","EE","FF","GG","HH","NZ","AU"]]}`, `{"c":"NZ"}`, `true`},
		{"in large literal set numbers", `{"in":[3,[1,2,3,4,5,6,7,8,9,10]]}`, `{}`, `true`},
		{"in large literal set miss", `{"in":["3",[1,2,3,4,5,6,7,8,9,10]]}`, `{}`, `false`},
		{"cat null and arrays", `{"cat":[null,[1,[2,3]],true,0.5]}`, `{}`, `"1,2,3true0.5"`},
		{"cat big number", `{"cat":[1e21, 1e-7, 123456789012345680000]}`, `{}`, `"1e+211e-7123456789012345680000"`},
		{"substr unicode", `{"substr":["héllo",1,3]}`, `{}`, `"éll"`},
		{"substr string length", `{"substr":["jsonlogic",1,"-5"]}`, `{}`, `""`},
		{"var default when absent", `{"var":["a.b",{"cat":["d","ef"]}]}`, `{"a":{}}`, `"def"`},
		{"var null is not absent", `{"var":["a",5]}`, `{"a":null}`, `null`},
		{"var array index and length", `{"+":[{"var":"xs.1"},{"var":"xs.length"}]}`, `{"xs":[10,20,30]}`, `23`},
		{"var computed path", `{"var":{"cat":["user.",{"var":"field"}]}}`, `{"field":"name","user":{"name":"ann"}}`, `"ann"`},
		{"var number path splits on the dot", `{"var":1.5}`, `[0,[5,6,7,8,9,10]]`, `10`},
		{"missing computed keys", `{"missing":{"merge":["a",{"var":"extra"}]}}`, `{"a":1,"extra":["b","a"]}`, `["b"]`},
		{"missing_some string options", `{"missing_some":[1,{"var":"opts"}]}`, `{"opts":"ab"}`, `[]`},
		{"reduce whole frame", `{"reduce":[[1,2],{"var":""},0]}`, `{}`, `{"accumulator":{"accumulator":0,"current":1},"current":2}`},
		{"map scoped missing", `{"map":[{"var":"xs"},{"missing":["a","b"]}]}`, `{"xs":[{"a":1},{"b":2}]}`, `[["b"],["a"]]`},
		{"nested map sees element", `{"map":[{"var":"xs"},{"map":[{"var":"ys"},{"*":[{"var":""},2]}]}]}`, `{"xs":[{"ys":[1,2]},{"ys":[3]}]}`, `[[2,4],[6]]`},
		{"if else-if chain", `{"if":[{"<":[{"var":"t"},0]},"freezing",{"<":[{"var":"t"},100]},"liquid","gas"]}`, `{"t":55}`, `"liquid"`},
		{"between inclusive", `{"<=":[1,{"var":"x"},10]}`, `{"x":10}`, `true`},
		{"between exclusive", `{"<":[1,{"var":"x"},10]}`, `{"x":10}`, `false`},
		{"log returns operand", `{"log":"apple"}`, `{}`, `"apple"`},
		{"cidr v4", `{"cidr":[{"var":"ip"},"10.0.0.0/8"]}`, `{"ip":"10.1.2.3"}`, `true`},
		{"cidr v4 miss", `{"cidr":[{"var":"ip"},"10.0.0.0/8"]}`, `{"ip":"11.1.2.3"}`, `false`},
		{"cidr v6", `{"cidr":[{"var":"ip"},["192.168.0.0/16","2001:db8::/32"]]}`, `{"ip":"2001:db8:1::5"}`, `true`},
		{"cidr mapped v4", `{"cidr":[{"var":"ip"},"10.0.0.0/8"]}`, `{"ip":"::ffff:10.9.9.9"}`, `true`},
		{"cidr not an ip", `{"cidr":[{"var":"ip"},"10.0.0.0/8"]}`, `{"ip":"banana"}`, `false`},
		{"cidr number", `{"cidr":[{"var":"ip"},"10.0.0.0/8"]}`, `{"ip":10}`, `false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := evalJSON(t, tt.rule, tt.data, Options{})
			if err != nil {
				t.Fatalf("Eval error: %v", err)
			}
			if diff := cmp.Diff(tt.want, got.String()); diff != "" {
				t.Errorf("Eval(%s, %s) mismatch (-want +got):\n%s", tt.rule, tt.data, diff)
			}
			ref, err := referenceEval(tt.rule, tt.data)
			if err != nil || !ref.Equal(got) {
				t.Errorf("referenceEval = %v, %v; engine = %v", ref, err, got)
			}
		})
	}
}

func TestVars(t *testing.T) {
	table := NewVarTable()
	p1 := MustCompile(`{"and":[{"==":[{"var":"device.isNew"},true]},{"missing":["user.email","ip.address"]},{"map":[{"var":"xs"},{"var":"inner"}]}]}`, Options{Vars: table})
	p2 := MustCompile(`{"or":[{"var":"ip.address"},{"var":["custom.amount",0]}]}`, Options{Vars: table})
	if diff := cmp.Diff([]string{"device.isNew", "user.email", "ip.address", "xs"}, p1.Vars()); diff != "" {
		t.Errorf("p1.Vars() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ip.address", "custom.amount"}, p2.Vars()); diff != "" {
		t.Errorf("p2.Vars() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 4}, p2.VarIndexes()); diff != "" {
		t.Errorf("p2.VarIndexes() mismatch (-want +got):\n%s", diff)
	}
	if p1.UsesLookup() || p2.UsesLookup() {
		t.Error("UsesLookup() = true for constant paths")
	}
	if p3 := MustCompile(`{"var":{"cat":["a",".b"]}}`, Options{}); !p3.UsesLookup() {
		t.Error("UsesLookup() = false for a computed path")
	}
	if got := table.Len(); got != 5 {
		t.Errorf("table.Len() = %d, want 5", got)
	}
}

// countingData counts Var calls per index, to check laziness.
type countingData struct {
	vals  map[int]Value
	calls map[int]int
}

func (d *countingData) Var(i int) (Value, bool) {
	d.calls[i]++
	v, ok := d.vals[i]
	return v, ok
}

func (d *countingData) Lookup(string) (Value, bool) { return Value{}, false }

func TestShortCircuitReadsLess(t *testing.T) {
	p := MustCompile(`{"and":[{"var":"a"},{"var":"b"}]}`, Options{})
	d := &countingData{vals: map[int]Value{0: Bool(false)}, calls: map[int]int{}}
	if ok, err := p.Match(d); ok || err != nil {
		t.Fatalf("Match = %v, %v, want false", ok, err)
	}
	if diff := cmp.Diff(map[int]int{0: 1}, d.calls); diff != "" {
		t.Errorf("Var calls mismatch (-want +got):\n%s", diff)
	}
}

func TestValueLists(t *testing.T) {
	items := make([]string, 0, 100_003)
	for i := range 100_000 {
		items = append(items, fmt.Sprintf("user-%d@example.com", i))
	}
	items = append(items, "10.0.0.0/8", "2001:db8::/32", "192.0.2.7")
	blocked := NewStringList(items...)
	numbers := NewList([]Value{Number(42), String("43")})
	lists := func(alias string) (*List, bool) {
		switch alias {
		case "blocked":
			return blocked, true
		case "numbers":
			return numbers, true
		}
		return nil, false
	}
	in := MustCompile(`{"in":[{"var":"x"},{"var":"valueLists.blocked"}]}`, Options{Lists: lists})
	notIn := MustCompile(`{"!":{"in":[{"var":"x"},{"var":"valueLists.blocked"}]}}`, Options{Lists: lists})
	nums := MustCompile(`{"in":[{"var":"x"},{"var":"valueLists.numbers"}]}`, Options{Lists: lists})
	tests := []struct {
		name string
		p    *Program
		x    Value
		want bool
	}{
		{"string member", in, String("user-99999@example.com"), true},
		{"string non-member", in, String("user-100000@example.com"), false},
		{"not in list", notIn, String("nobody@example.com"), true},
		{"not in list member", notIn, String("user-1@example.com"), false},
		{"ipv4 in cidr item", in, String("10.200.3.4"), true},
		{"ipv4 outside", in, String("11.0.0.1"), false},
		{"ipv6 in cidr item", in, String("2001:db8:ffff::1"), true},
		{"plain ip exact", in, String("192.0.2.7"), true},
		{"plain ip neighbour", in, String("192.0.2.8"), false},
		{"mapped plain ip", in, String("::ffff:192.0.2.7"), true},
		{"null", in, Null(), false},
		{"number member", nums, Number(42), true},
		{"number string is strict", nums, String("42"), false},
		{"string item", nums, String("43"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Match(&ValueData{Root: Object(map[string]Value{"x": tt.x}), Paths: tt.p.VarTable().Names()})
			if err != nil || got != tt.want {
				t.Errorf("Match(x=%v) = %v, %v, want %v", tt.x, got, err, tt.want)
			}
		})
	}

	t.Run("Store swaps contents without recompiling", func(t *testing.T) {
		d := &ValueData{Root: MustParseJSON(`{"x":"new@example.com"}`), Paths: in.VarTable().Names()}
		if ok, _ := in.Match(d); ok {
			t.Fatal("matched before Store")
		}
		blocked.StoreStrings([]string{"new@example.com"})
		if ok, _ := in.Match(d); !ok {
			t.Error("did not match after Store")
		}
		if got := blocked.Len(); got != 1 {
			t.Errorf("Len() = %d, want 1", got)
		}
	})
}

func TestTrace(t *testing.T) {
	lists := func(alias string) (*List, bool) { return NewStringList("NZ", "AU"), alias == "countries" }
	p := MustCompile(`{"and":[
		{"==":[{"var":"device.isNew"},true]},
		{"or":[{">":[{"var":"custom.amount"},1000]},{"in":[{"var":"ip.countryCode"},{"var":"valueLists.countries"}]}]}
	]}`, Options{Lists: lists})
	d := NewValueData(p, MustParseJSON(`{"device":{"isNew":true},"custom":{"amount":500},"ip":{"countryCode":"US"}}`))
	v, tr := p.EvalTrace(d)
	if v.Truthy() || tr.Matched {
		t.Fatalf("EvalTrace = %v, want false", v)
	}
	wantVars := []VarRead{
		{Path: "device.isNew", Value: Bool(true), Found: true},
		{Path: "custom.amount", Value: Number(500), Found: true},
		{Path: "ip.countryCode", Value: String("US"), Found: true},
	}
	if diff := cmp.Diff(wantVars, tr.Vars, valueCmp); diff != "" {
		t.Errorf("Trace.Vars mismatch (-want +got):\n%s", diff)
	}
	var failed []string
	for _, f := range tr.Failed {
		b, _ := json.Marshal(f.Args)
		failed = append(failed, f.Path+" "+f.Op+" "+string(b)+" "+f.List)
	}
	want := []string{`/and/1/or/0 > [500,1000] `, `/and/1/or/1 in ["US"] countries`}
	if diff := cmp.Diff(want, failed); diff != "" {
		t.Errorf("Trace.Failed mismatch (-want +got):\n%s", diff)
	}
	if _, err := json.Marshal(tr); err != nil {
		t.Errorf("json.Marshal(trace) error: %v", err)
	}
	got, err := p.Eval(d)
	if err != nil || !got.Equal(v) {
		t.Errorf("Eval = %v, %v; EvalTrace = %v", got, err, v)
	}
}

func TestBadInput(t *testing.T) {
	t.Run("reduce over a large runtime array hits the budget", func(t *testing.T) {
		p := MustCompile(`{"reduce":[{"var":"xs"},{"+":[{"var":"accumulator"},{"var":"current"}]},0]}`, Options{})
		xs := make([]Value, 200_000)
		for i := range xs {
			xs[i] = Number(1)
		}
		_, err := p.Eval(NewValueData(p, Object(map[string]Value{"xs": Array(xs)})))
		if !errors.Is(err, ErrStepBudget) {
			t.Errorf("Eval error = %v, want ErrStepBudget", err)
		}
	})
	t.Run("exponential merge hits the budget", func(t *testing.T) {
		rule := `{"reduce":[[` + strings.Repeat("1,", 60) + `1],{"merge":[{"var":"accumulator"},{"var":"accumulator"}]},[1]]}`
		p := MustCompile(rule, Options{})
		if _, err := p.Eval(nil); !errors.Is(err, ErrStepBudget) {
			t.Errorf("Eval error = %v, want ErrStepBudget", err)
		}
	})
	t.Run("exponential cat is bounded", func(t *testing.T) {
		rule := `{"reduce":[[` + strings.Repeat("1,", 60) + `1],{"cat":[{"var":"accumulator"},{"var":"accumulator"}]},"ab"]}`
		p := MustCompile(rule, Options{})
		if _, err := p.Eval(nil); !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrStepBudget) {
			t.Errorf("Eval error = %v, want ErrTooLarge", err)
		}
	})
	t.Run("exponential sharing is bounded", func(t *testing.T) {
		rule := `{"cat":{"reduce":[[` + strings.Repeat("1,", 60) + `1],[{"var":"accumulator"},{"var":"accumulator"}],[1]]}}`
		p := MustCompile(rule, Options{})
		if _, err := p.Eval(nil); !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrStepBudget) {
			t.Errorf("Eval error = %v, want ErrTooLarge or ErrStepBudget", err)
		}
	})
	t.Run("division by zero marshals as null", func(t *testing.T) {
		p := MustCompile(`[{"/":[1,0]},{"/":[-1,0]},{"/":[0,0]},{"%":[1,0]},{"-":0}]`, Options{})
		v, err := p.Eval(nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		if diff := cmp.Diff(`[null,null,null,null,0]`, string(b)); diff != "" {
			t.Errorf("marshal mismatch (-want +got):\n%s", diff)
		}
		if !math.IsInf(v.Index(0).AsNumber(), 1) {
			t.Errorf("1/0 = %v, want +Inf", v.Index(0).AsNumber())
		}
	})
	t.Run("strings where numbers are expected", func(t *testing.T) {
		got, err := evalJSON(t, `{">":[{"var":"n"},1000]}`, `{"n":"abc"}`, Options{})
		if err != nil || got.Truthy() {
			t.Errorf("Eval = %v, %v, want false", got, err)
		}
	})
	t.Run("custom step budget", func(t *testing.T) {
		p := MustCompile(`{"map":[{"var":"xs"},{"var":""}]}`, Options{MaxSteps: 10})
		_, err := p.Eval(NewValueData(p, MustParseJSON(`{"xs":[1,2,3,4,5,6,7,8,9,10]}`)))
		if !errors.Is(err, ErrStepBudget) {
			t.Errorf("Eval error = %v, want ErrStepBudget", err)
		}
	})
	t.Run("panicking Data is recovered", func(t *testing.T) {
		p := MustCompile(`{"var":"x"}`, Options{})
		_, err := p.Eval(panicData{})
		if err == nil || !strings.Contains(err.Error(), "internal error") {
			t.Errorf("Eval error = %v, want internal error", err)
		}
	})
}

type panicData struct{}

func (panicData) Var(int) (Value, bool)       { panic("boom") }
func (panicData) Lookup(string) (Value, bool) { panic("boom") }

func TestValueJSON(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{map[string]any{"b": []any{1, "x", true, nil}, "a": 1.5}, `{"a":1.5,"b":[1,"x",true,null]}`},
		{[]string{"a"}, `["a"]`},
		{int64(1) << 53, `9007199254740992`},
		{1e21, `1e+21`},
		{-0.0000001, `-1e-7`},
	}
	for _, tt := range tests {
		v, err := FromGo(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, string(b)); diff != "" {
			t.Errorf("Marshal(%v) mismatch (-want +got):\n%s", tt.in, diff)
		}
		var back Value
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(v) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, back, err, v)
		}
	}
}

func TestListStoreConcurrentWithEval(t *testing.T) {
	l := NewStringList("a")
	p := MustCompile(`{"in":[{"var":"x"},{"var":"valueLists.l"}]}`, Options{Lists: func(string) (*List, bool) { return l, true }})
	d := NewValueData(p, MustParseJSON(`{"x":"b"}`))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if i%2 == 0 {
				l.StoreStrings([]string{"b", "10.0.0.0/8"})
			} else {
				l.StoreStrings([]string{"a"})
			}
		}
	}()
	for range 2000 {
		if _, err := p.Match(d); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}
