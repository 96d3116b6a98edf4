package jsonlogic

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Kind is the JSON type of a Value.
type Kind uint8

// The kinds of Value. The zero Value is KindNull.
const (
	KindNull Kind = iota
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// String returns the JSON name of the kind.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "boolean"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindArray:
		return "array"
	case KindObject:
		return "object"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a JSON value as the engine sees it: a small tagged union, so that
// evaluation never goes through interface{} or reflection. The zero Value is
// JSON null. Values are immutable once built; arrays and objects share their
// backing storage when copied.
type Value struct {
	kind Kind
	num  float64 // KindNumber; KindBool: 1 for true; KindArray, KindObject: weight
	str  string
	ref  *compound // KindArray, KindObject
}

// compound holds an array or object. Its address is the JavaScript object
// identity: copies of a Value share it, separately built values never do.
type compound struct {
	arr []Value
	obj map[string]Value
}

func (v Value) a() []Value {
	if v.ref == nil {
		return nil
	}
	return v.ref.arr
}

func (v Value) o() map[string]Value {
	if v.ref == nil {
		return nil
	}
	return v.ref.obj
}

// Null returns the JSON null value.
func Null() Value { return Value{} }

// Bool returns a JSON boolean.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, num: 1}
	}
	return Value{kind: KindBool}
}

// Number returns a JSON number. NaN and ±Inf are allowed (they arise from
// JavaScript arithmetic, e.g. division by zero) and marshal as null.
func Number(f float64) Value { return Value{kind: KindNumber, num: f} }

// String returns a JSON string.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Array returns a JSON array holding vs (not copied).
func Array(vs []Value) Value {
	if vs == nil {
		vs = []Value{}
	}
	w := 1.0
	for i := range vs {
		w += vs[i].weight()
	}
	return Value{kind: KindArray, ref: &compound{arr: vs}, num: w}
}

// weight is the number of nodes in v counted as a tree (shared sub-values
// count each time they appear): the work that stringifying, comparing or
// marshalling v costs. Evaluation refuses to build values heavier than
// MaxWeight, which stops programs from building exponentially large
// structures out of shared parts.
func (v Value) weight() float64 {
	if v.kind == KindArray || v.kind == KindObject {
		return v.num
	}
	return 1
}

// Object returns a JSON object holding m (not copied).
func Object(m map[string]Value) Value {
	if m == nil {
		m = map[string]Value{}
	}
	w := 1.0
	for _, e := range m {
		w += e.weight()
	}
	return Value{kind: KindObject, ref: &compound{obj: m}, num: w}
}

// Strings returns a JSON array of strings.
func Strings(ss ...string) Value {
	vs := make([]Value, len(ss))
	for i, s := range ss {
		vs[i] = String(s)
	}
	return Array(vs)
}

// Kind reports the JSON type of v.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is JSON null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsBool returns the boolean held by v, and false for other kinds. It does not
// apply JSONLogic truthiness; use Truthy for that.
func (v Value) AsBool() bool { return v.kind == KindBool && v.num != 0 }

// AsNumber returns the number held by v, and 0 for other kinds.
func (v Value) AsNumber() float64 {
	if v.kind == KindNumber {
		return v.num
	}
	return 0
}

// AsString returns the string held by v, and "" for other kinds.
func (v Value) AsString() string { return v.str }

// Len returns the number of elements of an array, or of keys of an object.
func (v Value) Len() int {
	switch v.kind {
	case KindArray:
		return len(v.a())
	case KindObject:
		return len(v.o())
	}
	return 0
}

// Index returns the i-th element of an array, and null when out of range.
func (v Value) Index(i int) Value {
	if v.kind != KindArray || i < 0 || i >= len(v.a()) {
		return Value{}
	}
	return v.a()[i]
}

// Elems returns the elements of an array (shared, do not modify), or nil.
func (v Value) Elems() []Value { return v.a() }

// Field returns the member k of an object.
func (v Value) Field(k string) (Value, bool) {
	if v.kind != KindObject {
		return Value{}, false
	}
	f, ok := v.o()[k]
	return f, ok
}

// Keys returns the keys of an object in sorted order.
func (v Value) Keys() []string {
	keys := make([]string, 0, len(v.o()))
	for k := range v.o() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Truthy reports JSONLogic truthiness (https://jsonlogic.com/truthy.html):
// null, false, 0, NaN, "" and [] are falsy; everything else, including "0"
// and {}, is truthy.
func (v Value) Truthy() bool {
	switch v.kind {
	case KindBool:
		return v.num != 0
	case KindNumber:
		return v.num != 0 && !math.IsNaN(v.num)
	case KindString:
		return v.str != ""
	case KindArray:
		return len(v.a()) > 0
	case KindObject:
		return true
	}
	return false
}

// Equal reports deep structural equality (not JSONLogic ==): numbers compare
// by value with NaN equal to NaN. It is meant for tests and caches.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindNull:
		return true
	case KindBool:
		return v.num == w.num
	case KindNumber:
		return v.num == w.num || (math.IsNaN(v.num) && math.IsNaN(w.num))
	case KindString:
		return v.str == w.str
	case KindArray:
		if len(v.a()) != len(w.a()) {
			return false
		}
		for i := range v.a() {
			if !v.a()[i].Equal(w.a()[i]) {
				return false
			}
		}
		return true
	case KindObject:
		if len(v.o()) != len(w.o()) {
			return false
		}
		for k, x := range v.o() {
			y, ok := w.o()[k]
			if !ok || !x.Equal(y) {
				return false
			}
		}
		return true
	}
	return false
}

// MarshalJSON encodes v as JSON. Numbers are written as JavaScript writes
// them; NaN and ±Infinity, which JSON cannot represent, become null (as
// JSON.stringify does).
func (v Value) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(nil), nil
}

// AppendJSON appends the JSON encoding of v to b and returns the extended
// buffer. The bytes are MarshalJSON's, which are also what encoding/json
// writes for a Value: object keys sorted, strings escaped as json.Marshal
// escapes them (<, > and & as \u003c etc., U+2028 and U+2029 escaped,
// invalid UTF-8 as \ufffd). It allocates only to grow b and to sort the
// keys of objects of more than 16 members.
func (v Value) AppendJSON(b []byte) []byte {
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
		return appendNumber(b, v.num)
	case KindString:
		return appendString(b, v.str)
	case KindArray:
		b = append(b, '[')
		for i, e := range v.a() {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.AppendJSON(b)
		}
		return append(b, ']')
	case KindObject:
		m := v.o()
		var buf [16]string
		keys := buf[:0]
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = m[k].AppendJSON(b)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

// jsonSafe reports whether json.Marshal writes the ASCII byte c in a string
// as itself (with HTML escaping, its default).
func jsonSafe(c byte) bool {
	return c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string exactly as json.Marshal writes
// it, for encoders that build JSON by appending.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// AppendStrings appends vs as a JSON array of strings exactly as
// json.Marshal writes it (a nil slice too: [], where json.Marshal writes
// null; callers omit empty lists or pass non-nil ones).
func AppendStrings[S ~string](b []byte, vs []S) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, string(v))
	}
	return append(b, ']')
}

// appendString appends s as a JSON string exactly as json.Marshal writes a
// Go string (encoding/json's appendString with escapeHTML).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// UnmarshalJSON decodes JSON into v.
func (v *Value) UnmarshalJSON(data []byte) error {
	x, err := ParseJSON(data)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

// String returns the JSON encoding of v, for debugging and error messages.
func (v Value) String() string { return string(v.AppendJSON(nil)) }

// MustParseJSON is ParseJSON for literals in tests and examples; it panics on
// invalid JSON.
func MustParseJSON(s string) Value {
	v, err := ParseJSON([]byte(s))
	if err != nil {
		panic(err)
	}
	return v
}

// FromGo converts a Go value into a Value: nil, bool, all integer and float
// types, string, json.Number, []any, []string, []Value, map[string]any,
// map[string]string, map[string]Value and Value itself.
func FromGo(x any) (Value, error) {
	switch t := x.(type) {
	case nil:
		return Value{}, nil
	case Value:
		return t, nil
	case bool:
		return Bool(t), nil
	case string:
		return String(t), nil
	case float64:
		return Number(t), nil
	case float32:
		return Number(float64(t)), nil
	case int:
		return Number(float64(t)), nil
	case int8:
		return Number(float64(t)), nil
	case int16:
		return Number(float64(t)), nil
	case int32:
		return Number(float64(t)), nil
	case int64:
		return Number(float64(t)), nil
	case uint:
		return Number(float64(t)), nil
	case uint8:
		return Number(float64(t)), nil
	case uint16:
		return Number(float64(t)), nil
	case uint32:
		return Number(float64(t)), nil
	case uint64:
		return Number(float64(t)), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			// Out-of-range literals overflow to ±Inf, as in JavaScript.
			var ne *strconv.NumError
			if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
				return Number(f), nil
			}
			return Value{}, err
		}
		return Number(f), nil
	case []Value:
		return Array(t), nil
	case []string:
		return Strings(t...), nil
	case []any:
		vs := make([]Value, len(t))
		for i, e := range t {
			v, err := FromGo(e)
			if err != nil {
				return Value{}, err
			}
			vs[i] = v
		}
		return Array(vs), nil
	case map[string]Value:
		return Object(t), nil
	case map[string]string:
		m := make(map[string]Value, len(t))
		for k, s := range t {
			m[k] = String(s)
		}
		return Object(m), nil
	case map[string]any:
		m := make(map[string]Value, len(t))
		for k, e := range t {
			v, err := FromGo(e)
			if err != nil {
				return Value{}, err
			}
			m[k] = v
		}
		return Object(m), nil
	}
	return Value{}, fmt.Errorf("jsonlogic: unsupported Go type %T", x)
}

// MustFromGo is FromGo for literals; it panics on unsupported types.
func MustFromGo(x any) Value {
	v, err := FromGo(x)
	if err != nil {
		panic(err)
	}
	return v
}

// Interface converts v back into plain Go values (nil, bool, float64,
// string, []any, map[string]any), the shape encoding/json produces.
func (v Value) Interface() any {
	switch v.kind {
	case KindBool:
		return v.num != 0
	case KindNumber:
		return v.num
	case KindString:
		return v.str
	case KindArray:
		out := make([]any, len(v.a()))
		for i, e := range v.a() {
			out[i] = e.Interface()
		}
		return out
	case KindObject:
		out := make(map[string]any, len(v.o()))
		for k, e := range v.o() {
			out[k] = e.Interface()
		}
		return out
	}
	return nil
}
