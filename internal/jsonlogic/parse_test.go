package jsonlogic

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parseReference is what ParseJSON must agree with: encoding/json's
// validation and decoding (with UseNumber), then FromGo.
func parseReference(data []byte) (Value, error) {
	if !json.Valid(data) {
		return Value{}, errInvalidReference
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return Value{}, err
	}
	return FromGo(x)
}

var errInvalidReference = &json.SyntaxError{}

func TestParseJSON(t *testing.T) {
	cases := []struct {
		in   string
		want any // Interface() of the result; nil with bad
		bad  bool
	}{
		{in: `{"amount": 1200, "tags": ["a", "b"], "ok": true, "none": null}`,
			want: map[string]any{"amount": 1200.0, "tags": []any{"a", "b"}, "ok": true, "none": nil}},
		{in: " \t\r\n 0 \n", want: 0.0},
		{in: `-0.5e+2`, want: -50.0},
		{in: `1E400`, want: math.Inf(1)},
		{in: `-1e400`, want: math.Inf(-1)},
		{in: `"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \n"`, want: "café 😀 \"q\" \\ / \n"},
		{in: "\"\xff\"", want: "\ufffd"},
		{in: `"\ud800"`, want: "\ufffd"},
		{in: "\"naïve\"", want: "naïve"},
		{in: `{"a": 1, "a": 2}`, want: map[string]any{"a": 2.0}},
		{in: `[[], {}, [{}]]`, want: []any{[]any{}, map[string]any{}, []any{map[string]any{}}}},
		{in: ``, bad: true},
		{in: `1 2`, bad: true},
		{in: `1 x`, bad: true},
		{in: `01`, bad: true},
		{in: `1.`, bad: true},
		{in: `.5`, bad: true},
		{in: `+1`, bad: true},
		{in: `1e`, bad: true},
		{in: `-`, bad: true},
		{in: `[1,]`, bad: true},
		{in: `{"a":1,}`, bad: true},
		{in: `{"a" 1}`, bad: true},
		{in: `{a: 1}`, bad: true},
		{in: `"abc`, bad: true},
		{in: `"a\`, bad: true},
		{in: `"\x"`, bad: true},
		{in: "\"a\nb\"", bad: true},
		{in: `tru`, bad: true},
		{in: `nul`, bad: true},
		{in: `NaN`, bad: true},
		{in: strings.Repeat("[", maxParseDepth+1) + strings.Repeat("]", maxParseDepth+1), bad: true},
	}
	for _, c := range cases {
		v, err := ParseJSON([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("ParseJSON(%.40q) = %v, want an error", c.in, v.Interface())
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseJSON(%.40q): %v", c.in, err)
			continue
		}
		if diff := cmp.Diff(c.want, v.Interface()); diff != "" {
			t.Errorf("ParseJSON(%.40q) mismatch (-want +got):\n%s", c.in, diff)
		}
		ref, err := parseReference([]byte(c.in))
		if err != nil || !cmp.Equal(ref.Interface(), v.Interface()) || ref.weight() != v.weight() {
			t.Errorf("ParseJSON(%.40q) = %v (weight %v); encoding/json gives %v (weight %v), %v",
				c.in, v.Interface(), v.weight(), ref.Interface(), ref.weight(), err)
		}
	}
	deep := strings.Repeat("[", maxParseDepth) + strings.Repeat("]", maxParseDepth)
	if _, err := ParseJSON([]byte(deep)); err != nil {
		t.Errorf("ParseJSON of arrays nested %d deep: %v", maxParseDepth, err)
	}
}

// FuzzParseJSON checks that ParseJSON accepts exactly what encoding/json
// does and builds the same value.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"amount":1200,"tags":["a"]}`, `"\u00e9\ud83d"`, `-1.5e3`, `[1,[2,{"a":null}]]`, "\"\xff\"", `1 x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseJSON(data)
		ref, refErr := parseReference(data)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("ParseJSON(%q): error %v; encoding/json: %v", data, err, refErr)
		}
		if err == nil && (!cmp.Equal(ref.Interface(), v.Interface(), cmp.Comparer(sameFloat)) || ref.weight() != v.weight()) {
			t.Fatalf("ParseJSON(%q) = %v; encoding/json gives %v", data, v.Interface(), ref.Interface())
		}
	})
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func BenchmarkParseJSON(b *testing.B) {
	data := []byte(`{"amount":1200,"currency":"NZD","payee":"acct-42","tags":["new","web"]}`)
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseReference(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
