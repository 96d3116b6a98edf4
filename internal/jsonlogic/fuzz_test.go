package jsonlogic

import (
	"errors"
	"testing"
)

var fuzzLists = map[string][]string{
	"blocked": {"a", "bad@example.com", "10.0.0.0/8", "2001:db8::/32", "192.0.2.7", "1"},
}

func fuzzOptions() Options {
	return Options{Lists: func(alias string) (*List, bool) {
		items, ok := fuzzLists[alias]
		if !ok {
			return nil, false
		}
		return NewStringList(items...), true
	}}
}

func addSeeds(f *testing.F, withData bool) {
	for _, g := range officialSuite {
		for _, tc := range g.cases {
			if withData {
				f.Add(tc.rule, tc.data)
			} else {
				f.Add([]byte(tc.rule))
			}
		}
	}
	extra := [][2]string{
		{`{"in":[{"var":"x"},{"var":"valueLists.blocked"}]}`, `{"x":"10.2.3.4"}`},
		{`{"!":{"in":[{"var":"x"},{"var":"valueLists.blocked"}]}}`, `{"x":"2001:db8::1"}`},
		{`{"cidr":[{"var":"ip"},["10.0.0.0/8","::/0"]]}`, `{"ip":"::1"}`},
		{`{"reduce":[{"var":"xs"},{"cat":[{"var":"accumulator"},{"var":"current"}]},""]}`, `{"xs":["a",1,null,[2]]}`},
		{`{"substr":[{"var":"s"},{"var":"a"},{"var":"b"}]}`, `{"s":"héllo wörld","a":-3,"b":"-1"}`},
		{`{"in":[{"var":"c"},["AA","BB","CC","DD","EE","FF","GG","HH","NZ","AU",1,true,null]]}`, `{"c":null}`},
		{`{"missing_some":[{"var":"n"},{"var":"keys"}]}`, `{"n":"1","keys":["a","b.c"],"a":""}`},
		{`{"var":{"var":"p"}}`, `{"p":"a.0","a":["z"]}`},
	}
	for _, e := range extra {
		if withData {
			f.Add(e[0], e[1])
		} else {
			f.Add([]byte(e[0]))
		}
	}
}

// FuzzCompile checks that no input makes Compile, Eval or EvalTrace panic.
func FuzzCompile(f *testing.F) {
	addSeeds(f, false)
	f.Add([]byte(`{"and":[{"==":[1,1]},{"<":[1,2,3]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Compile(raw, fuzzOptions())
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile error %T is not a *CompileError: %v", err, err)
			}
			return
		}
		d := NewValueData(p, MustParseJSON(`{"a":[1,"2",{"b":null}],"x":"10.1.1.1","s":"str"}`))
		_, _ = p.Eval(d)
		_, _ = p.EvalTrace(d)
		_, _ = p.Match(nil)
	})
}

// FuzzEval checks that a compiled program over arbitrary data never panics,
// agrees with the reference interpreter of reference_test.go, and traces as
// the reference tracer of encode_test.go does.
func FuzzEval(f *testing.F) {
	addSeeds(f, true)
	var buf TraceBuffer // reused across inputs, as the rules engine reuses one per rule
	f.Fuzz(func(t *testing.T, rule, data string) {
		p, err := Compile([]byte(rule), fuzzOptions())
		if err != nil {
			return
		}
		root, err := ParseJSON([]byte(data))
		if err != nil {
			return
		}
		checkTrace(t, p, func() Data { return NewValueData(p, root) }, rule+" over "+data, &buf)
		got, err := p.Eval(NewValueData(p, root))
		if err != nil {
			if !errors.Is(err, ErrStepBudget) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Eval(%s, %s) error: %v", rule, data, err)
			}
			return
		}
		if m, err := p.Match(NewValueData(p, root)); err == nil && !p.Empty() && m != got.Truthy() {
			t.Fatalf("Match(%s, %s) = %v, Eval = %v", rule, data, m, got)
		}
		traced, tr := p.EvalTrace(NewValueData(p, root))
		if tr.Err == "" && !traced.Equal(got) && !p.Empty() {
			t.Fatalf("EvalTrace(%s, %s) = %v, Eval = %v", rule, data, traced, got)
		}
		want, err := referenceEvalLists(rule, data, fuzzLists)
		if err != nil {
			return // the reference counts steps differently
		}
		if !want.Equal(got) {
			t.Fatalf("Eval(%s, %s) = %v, reference = %v", rule, data, got, want)
		}
	})
}
