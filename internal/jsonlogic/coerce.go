package jsonlogic

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// This file holds the JavaScript coercions that json-logic-js inherits from
// the language (ECMA-262 §7.1 type conversion, §7.2.14 IsLooselyEqual,
// §7.2.13 IsLessThan). They are the semantics the official JSONLogic test
// suite encodes.

// formatNumber is Number::toString (ECMA-262 §6.1.6.1.20) for finite and
// non-finite numbers.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10) // no allocation below 100
	}
	var buf [32]byte
	return string(appendNumber(buf[:0], f))
}

// appendNumber appends formatNumber(f) to b.
func appendNumber(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	case f == 0:
		return append(b, '0')
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.AppendInt(b, int64(f), 10)
	}
	a := math.Abs(f)
	if a >= 1e-6 && a < 1e21 {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'e', -1, 64)
	// Go writes e-07 / e+21; JavaScript writes e-7 / e+21.
	if i := bytes.IndexByte(b[start:], 'e'); i >= 0 && start+i+2 < len(b) {
		exp := start + i + 2
		z := exp
		for z < len(b) && b[z] == '0' {
			z++
		}
		b = append(b[:exp], b[z:]...)
	}
	return b
}

// toString is the ToString conversion (ECMA-262 §7.1.17), with arrays joined
// by "," as Array.prototype.toString does.
func toString(v Value) string {
	switch v.kind {
	case KindNull:
		return "null"
	case KindBool:
		if v.num != 0 {
			return "true"
		}
		return "false"
	case KindNumber:
		return formatNumber(v.num)
	case KindString:
		return v.str
	case KindArray:
		return joinArray(v.a(), ",")
	}
	return "[object Object]"
}

// joinArray is Array.prototype.join: null elements become "".
func joinArray(vs []Value, sep string) string {
	if len(vs) == 1 {
		return joinElem(vs[0])
	}
	var b strings.Builder
	for i, e := range vs {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(joinElem(e))
	}
	return b.String()
}

func joinElem(v Value) string {
	if v.kind == KindNull {
		return ""
	}
	return toString(v)
}

// toPrimitive is ToPrimitive (ECMA-262 §7.1.1) with the default hint: arrays
// and objects become strings; other values are unchanged.
func toPrimitive(v Value) Value {
	if v.kind == KindArray || v.kind == KindObject {
		return String(toString(v))
	}
	return v
}

// toNumber is the ToNumber conversion (ECMA-262 §7.1.4).
func toNumber(v Value) float64 {
	switch v.kind {
	case KindNumber, KindBool:
		return v.num
	case KindNull:
		return 0
	case KindString:
		return stringToNumber(v.str)
	case KindArray:
		return stringToNumber(toString(v))
	}
	return math.NaN()
}

// isJSSpace reports the StrWhiteSpaceChar set of ECMA-262 §7.1.4.1.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// stringToNumber is StringToNumber (ECMA-262 §7.1.4.1.1).
func stringToNumber(s string) float64 {
	s = strings.TrimFunc(s, isJSSpace)
	if s == "" {
		return 0
	}
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			var f float64
			for _, c := range s[2:] {
				d := digitVal(c)
				if d >= base {
					return math.NaN()
				}
				f = f*float64(base) + float64(d)
			}
			return f
		}
	}
	n := decimalPrefix(s)
	if n != len(s) {
		return math.NaN()
	}
	return parseDecimal(s)
}

func digitVal(c rune) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// decimalPrefix returns the length of the longest prefix of s that is a
// StrDecimalLiteral (sign, digits, fraction, exponent, or Infinity), 0 if none.
func decimalPrefix(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if strings.HasPrefix(s[i:], "Infinity") {
		return i + len("Infinity")
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		frac := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			frac++
		}
		if digits > 0 || frac > 0 {
			i = j
			digits += frac
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return i
}

// parseDecimal parses a string already validated by decimalPrefix.
func parseDecimal(s string) float64 {
	t := strings.TrimLeft(s, "+-")
	if t == "Infinity" {
		if s[0] == '-' {
			return math.Inf(-1)
		}
		return math.Inf(1)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		// Only range errors remain: ParseFloat already returned ±Inf or 0.
		return f
	}
	return f
}

// parseFloat is the global parseFloat (ECMA-262 §19.2.4), which json-logic-js
// uses for + and *: the longest decimal prefix of ToString(v), NaN if none.
func parseFloat(v Value) float64 {
	if v.kind == KindNumber {
		return v.num
	}
	s := strings.TrimLeftFunc(toString(v), isJSSpace)
	n := decimalPrefix(s)
	if n == 0 {
		return math.NaN()
	}
	return parseDecimal(s[:n])
}

// toInteger is ToIntegerOrInfinity (ECMA-262 §7.1.5).
func toInteger(v Value) float64 {
	f := toNumber(v)
	if math.IsNaN(f) {
		return 0
	}
	return math.Trunc(f)
}

// sameRef reports whether two arrays or objects are the same JavaScript
// object. Copies of one Value share it; separately built values never do,
// even when structurally equal (JavaScript compares objects by reference:
// [1] == [1] is false, while a variable equals itself).
func sameRef(a, b Value) bool {
	return (a.kind == KindArray || a.kind == KindObject) && a.kind == b.kind && a.ref == b.ref
}

// strictEqual is IsStrictlyEqual (ECMA-262 §7.2.15), JSONLogic ===.
func strictEqual(a, b Value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case KindNull:
		return true
	case KindBool, KindNumber:
		return a.num == b.num
	case KindString:
		return a.str == b.str
	}
	return sameRef(a, b)
}

// looseEqual is IsLooselyEqual (ECMA-262 §7.2.14), JSONLogic ==.
func looseEqual(a, b Value) bool {
	for range 4 {
		if a.kind == b.kind {
			return strictEqual(a, b)
		}
		if a.kind == KindNull || b.kind == KindNull {
			return false
		}
		switch {
		case a.kind == KindNumber && b.kind == KindString:
			return a.num == stringToNumber(b.str)
		case a.kind == KindString && b.kind == KindNumber:
			return stringToNumber(a.str) == b.num
		case a.kind == KindBool:
			a = Number(a.num)
		case b.kind == KindBool:
			b = Number(b.num)
		case (a.kind == KindArray || a.kind == KindObject) && (b.kind == KindNumber || b.kind == KindString):
			a = toPrimitive(a)
		case (b.kind == KindArray || b.kind == KindObject) && (a.kind == KindNumber || a.kind == KindString):
			b = toPrimitive(b)
		default:
			return false
		}
	}
	return false
}

// Results of lessThan.
const (
	cmpFalse     = 0
	cmpTrue      = 1
	cmpUndefined = -1 // a NaN was involved
)

// lessThan is IsLessThan (ECMA-262 §7.2.13): cmpTrue, cmpFalse or
// cmpUndefined.
func lessThan(a, b Value) int {
	if a.kind == KindNumber && b.kind == KindNumber {
		return numLess(a.num, b.num)
	}
	a, b = toPrimitive(a), toPrimitive(b)
	if a.kind == KindString && b.kind == KindString {
		if compareUTF16(a.str, b.str) < 0 {
			return cmpTrue
		}
		return cmpFalse
	}
	return numLess(toNumber(a), toNumber(b))
}

func numLess(x, y float64) int {
	if math.IsNaN(x) || math.IsNaN(y) {
		return cmpUndefined
	}
	if x < y {
		return cmpTrue
	}
	return cmpFalse
}

// compareUTF16 compares strings by UTF-16 code units, as JavaScript does.
func compareUTF16(a, b string) int {
	if isASCII(a) && isASCII(b) {
		return strings.Compare(a, b)
	}
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			if ua[i] < ub[i] {
				return -1
			}
			return 1
		}
	}
	return len(ua) - len(ub)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func jsLT(a, b Value) bool { return lessThan(a, b) == cmpTrue }
func jsGT(a, b Value) bool { return lessThan(b, a) == cmpTrue }
func jsLE(a, b Value) bool { return lessThan(b, a) == cmpFalse }
func jsGE(a, b Value) bool { return lessThan(a, b) == cmpFalse }

// jsSubstr is the json-logic-js substr operator: String.prototype.substr
// (ECMA-262 Annex B.2.2.1) plus its emulation of PHP's negative length.
func jsSubstr(src, start Value, length *Value) string {
	s := toString(src)
	if length != nil && lessThan(*length, Number(0)) == cmpTrue {
		temp := substrUnits(s, toInteger(start), math.Inf(1))
		n := utf16Len(temp)
		// temp.length + end: JavaScript's + concatenates when end is (or
		// converts to) a string.
		var l float64
		if p := toPrimitive(*length); p.kind == KindString {
			l = toInteger(String(strconv.Itoa(n) + p.str))
		} else {
			l = float64(n) + toInteger(p)
		}
		return substrUnits(temp, 0, l)
	}
	l := math.Inf(1)
	if length != nil {
		l = toInteger(*length)
	}
	return substrUnits(s, toInteger(start), l)
}

func utf16Len(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return len(utf16.Encode([]rune(s)))
}

func substrUnits(s string, start, length float64) string {
	if isASCII(s) {
		a, b := substrBounds(len(s), start, length)
		return s[a:b]
	}
	u := utf16.Encode([]rune(s))
	a, b := substrBounds(len(u), start, length)
	return string(utf16.Decode(u[a:b]))
}

func substrBounds(size int, start, length float64) (int, int) {
	fs := float64(size)
	switch {
	case math.IsInf(start, -1):
		start = 0
	case start < 0:
		start = math.Max(fs+start, 0)
	default:
		start = math.Min(start, fs)
	}
	end := math.Min(start+length, fs)
	if math.IsInf(length, 1) {
		end = fs
	}
	if end <= start {
		return 0, 0
	}
	return int(start), int(end)
}
