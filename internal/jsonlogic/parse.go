package jsonlogic

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxParseDepth is how deeply ParseJSON nests arrays and objects, as
// encoding/json's own limit.
const maxParseDepth = 10000

// ParseJSON parses one JSON document (surrounded by optional whitespace)
// into a Value, as encoding/json would decode it into an interface{} with
// UseNumber and FromGo would convert that: numbers are float64 (literals
// out of range become ±Inf), a repeated object key keeps its last value,
// and invalid UTF-8 in strings becomes U+FFFD. It reads the bytes directly,
// without the reflection and intermediate maps of that route: a track's
// custom data is parsed this way whenever a rule reads it.
func ParseJSON(data []byte) (Value, error) {
	p := parser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.space()
	if p.i != len(p.data) {
		return Value{}, p.errorf("trailing data after JSON value")
	}
	return v, nil
}

type parser struct {
	data []byte
	i    int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("jsonlogic: invalid JSON at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// literal consumes word (true, false, null) or fails.
func (p *parser) literal(word string) error {
	if len(p.data)-p.i < len(word) || string(p.data[p.i:p.i+len(word)]) != word {
		return p.errorf("want %s", word)
	}
	p.i += len(word)
	return nil
}

func (p *parser) value(depth int) (Value, error) {
	if p.i >= len(p.data) {
		return Value{}, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, err := p.string()
		return String(s), err
	case c == 't':
		return Bool(true), p.literal("true")
	case c == 'f':
		return Bool(false), p.literal("false")
	case c == 'n':
		return Value{}, p.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	default:
		return Value{}, p.errorf("unexpected character %q", c)
	}
}

func (p *parser) array(depth int) (Value, error) {
	vs := []Value{}
	err := p.list(depth, ']', "an array", func() error {
		v, err := p.value(depth)
		vs = append(vs, v)
		return err
	})
	if err != nil {
		return Value{}, err
	}
	return Array(vs), nil
}

func (p *parser) object(depth int) (Value, error) {
	m := map[string]Value{}
	err := p.list(depth, '}', "an object", func() error {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return p.errorf("want an object key")
		}
		k, err := p.string()
		if err != nil {
			return err
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return p.errorf("want : after an object key")
		}
		p.i++
		p.space()
		v, err := p.value(depth)
		m[k] = v
		return err
	})
	if err != nil {
		return Value{}, err
	}
	return Object(m), nil
}

// list consumes an array's or object's bracketed, comma-separated members
// (p is at the opening bracket; end is the closing one), calling member
// with p at the start of each.
func (p *parser) list(depth int, end byte, what string, member func() error) error {
	if depth > maxParseDepth {
		return p.errorf("nested too deeply")
	}
	p.i++ // the opening bracket
	p.space()
	if p.i < len(p.data) && p.data[p.i] == end {
		p.i++
		return nil
	}
	for {
		p.space()
		if err := member(); err != nil {
			return err
		}
		p.space()
		if p.i >= len(p.data) {
			return p.errorf("unexpected end of input in %s", what)
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case end:
			p.i++
			return nil
		default:
			return p.errorf("want , or %c in %s", end, what)
		}
	}
}

// string consumes a string literal. One of plain ASCII without escapes,
// the common case, is taken as it is; any other goes through
// encoding/json, for its escapes and its handling of invalid UTF-8.
func (p *parser) string() (string, error) {
	start := p.i
	p.i++ // "
	plain := true
	for p.i < len(p.data) {
		switch c := p.data[p.i]; {
		case c == '"':
			p.i++
			lit := p.data[start:p.i]
			if plain {
				return string(lit[1 : len(lit)-1]), nil
			}
			var s string
			if err := json.Unmarshal(lit, &s); err != nil {
				return "", p.errorf("%v", err)
			}
			return s, nil
		case c == '\\':
			plain = false
			p.i += 2 // the escaped character cannot end the literal
		case c < 0x20:
			return "", p.errorf("control character in a string")
		case c >= utf8.RuneSelf:
			plain = false
			p.i++
		default:
			p.i++
		}
	}
	return "", p.errorf("unterminated string")
}

// number consumes a number literal of JSON's grammar.
func (p *parser) number() (Value, error) {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.data[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.data) && p.data[p.i] == '0':
		p.i++
	case digits() == 0:
		return Value{}, p.errorf("want a digit")
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return Value{}, p.errorf("want a digit after the decimal point")
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return Value{}, p.errorf("want a digit in the exponent")
		}
	}
	f, err := strconv.ParseFloat(string(p.data[start:p.i]), 64)
	if err != nil {
		// Out-of-range literals overflow to ±Inf, as in JavaScript.
		var ne *strconv.NumError
		if !errors.As(err, &ne) || !errors.Is(ne.Err, strconv.ErrRange) {
			return Value{}, p.errorf("%v", err)
		}
	}
	return Number(f), nil
}
