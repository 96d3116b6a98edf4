package token

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// payload is the decoded claims set.
type payload struct {
	Aud   string `json:"aud"`
	Sub   string `json:"sub"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
	Jti   string `json:"jti"`
	Scope string `json:"scope"`
	Kind  Kind   `json:"kind"`
	Other struct {
		TenantID       string `json:"tenantId"`
		UserID         string `json:"userId"`
		ActionCode     string `json:"actionCode"`
		IdempotencyKey string `json:"idempotencyKey"`
		Username       string `json:"username"`
	} `json:"other"`
}

// parsePayload decodes a claims set. It is a small strict JSON (RFC 8259)
// reader specialised for the claims, about four times faster than
// encoding/json on the validate hot path. It accepts any key order and
// white space and skips unknown members (so that a newer Vigil may add
// claims), and rejects what encoding/json would quietly accept or alter:
// duplicate members, members whose names differ from a claim's only in case, invalid UTF-8, non-integer or out-of-range times, and
// claims of the wrong type. It only ever sees payloads whose MAC verified.
func parsePayload(b []byte, p *payload) bool {
	r := reader{b: b}
	var seen uint16
	ok := r.object(func(name []byte) bool {
		var bit uint16
		var ok bool
		switch string(name) {
		case "aud":
			bit, ok = 1<<0, r.str(&p.Aud)
		case "sub":
			bit, ok = 1<<1, r.str(&p.Sub)
		case "iat":
			bit, ok = 1<<2, r.int(&p.Iat)
		case "exp":
			bit, ok = 1<<3, r.int(&p.Exp)
		case "jti":
			bit, ok = 1<<4, r.str(&p.Jti)
		case "scope":
			bit, ok = 1<<5, r.str(&p.Scope)
		case "kind":
			var k string
			bit, ok = 1<<6, r.str(&k)
			p.Kind = Kind(k)
		case "other":
			bit, ok = 1<<7, r.other(p)
		default:
			return !foldsTo(name, "aud", "sub", "iat", "exp", "jti", "scope", "kind", "other") && r.skip(0)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return ok
	})
	r.ws()
	return ok && r.i == len(r.b)
}

func (r *reader) other(p *payload) bool {
	var seen uint8
	return r.object(func(name []byte) bool {
		var bit uint8
		var ok bool
		switch string(name) {
		case "tenantId":
			bit, ok = 1<<0, r.str(&p.Other.TenantID)
		case "userId":
			bit, ok = 1<<1, r.str(&p.Other.UserID)
		case "actionCode":
			bit, ok = 1<<2, r.str(&p.Other.ActionCode)
		case "idempotencyKey":
			bit, ok = 1<<3, r.str(&p.Other.IdempotencyKey)
		case "username":
			bit, ok = 1<<4, r.str(&p.Other.Username)
		default:
			return !foldsTo(name, "tenantId", "userId", "actionCode", "idempotencyKey", "username") && r.skip(0)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return ok
	})
}

// foldsTo reports whether name equals one of names under Unicode case
// folding. Such a member is refused rather than skipped: encoding/json would
// take "AUD" for "aud", and no reader of a Vigil token should disagree with
// another about what it says.
func foldsTo(name []byte, names ...string) bool {
	for _, n := range names {
		if bytes.EqualFold(name, []byte(n)) {
			return true
		}
	}
	return false
}

// reader walks a JSON text. Every method reports false on malformed input
// and never panics.
type reader struct {
	b []byte
	i int
}

const maxDepth = 32

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) consume(c byte) bool {
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// object reads an object, calling member with each member name positioned
// before its value.
func (r *reader) object(member func(name []byte) bool) bool {
	if !r.consume('{') {
		return false
	}
	if r.consume('}') {
		return true
	}
	var buf [32]byte
	for {
		r.ws()
		name, ok := r.raw(buf[:0])
		if !ok || !r.consume(':') {
			return false
		}
		r.ws()
		if !member(name) {
			return false
		}
		if r.consume(',') {
			continue
		}
		return r.consume('}')
	}
}

func (r *reader) str(dst *string) bool {
	r.ws()
	start := r.i + 1
	// Fast path: no escapes.
	if r.i < len(r.b) && r.b[r.i] == '"' {
		for j := start; j < len(r.b); j++ {
			c := r.b[j]
			if c == '"' {
				if !utf8.Valid(r.b[start:j]) {
					return false
				}
				*dst = string(r.b[start:j])
				r.i = j + 1
				return true
			}
			if c == '\\' || c < 0x20 {
				break
			}
		}
	}
	s, ok := r.raw(nil)
	if ok {
		*dst = string(s)
	}
	return ok
}

// raw reads a string and appends its unescaped bytes to buf.
func (r *reader) raw(buf []byte) ([]byte, bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false
	}
	r.i++
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return buf, utf8.Valid(buf)
		case c < 0x20:
			return nil, false
		case c != '\\':
			buf = append(buf, c)
			r.i++
			continue
		}
		// An escape (RFC 8259 §7).
		if r.i+1 >= len(r.b) {
			return nil, false
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r1, ok := r.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r1) {
				// A high surrogate must be followed by an escaped low one.
				if r.i+1 >= len(r.b) || r.b[r.i] != '\\' || r.b[r.i+1] != 'u' {
					return nil, false
				}
				r.i += 2
				r2, ok := r.hex4()
				if !ok {
					return nil, false
				}
				r1 = utf16.DecodeRune(r1, r2)
				if r1 == utf8.RuneError {
					return nil, false
				}
			}
			buf = utf8.AppendRune(buf, r1)
		default:
			return nil, false
		}
	}
	return nil, false
}

func (r *reader) hex4() (rune, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// int reads a JSON integer without fraction or exponent that fits in 53
// bits (any NumericDate Vigil writes, and exactly representable wherever a
// JavaScript SDK decodes it).
func (r *reader) int(dst *int64) bool {
	r.ws()
	neg := r.i < len(r.b) && r.b[r.i] == '-'
	if neg {
		r.i++
	}
	start := r.i
	var v int64
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		v = v*10 + int64(r.b[r.i]-'0')
		r.i++
		if r.i-start > 16 {
			return false
		}
	}
	n := r.i - start
	if n == 0 || (n > 1 && r.b[start] == '0') || v > 1<<53 {
		return false
	}
	if r.i < len(r.b) {
		switch r.b[r.i] {
		case '.', 'e', 'E':
			return false
		}
	}
	if neg {
		v = -v
	}
	*dst = v
	return true
}

// skip reads and discards any JSON value.
func (r *reader) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	r.ws()
	if r.i >= len(r.b) {
		return false
	}
	switch c := r.b[r.i]; {
	case c == '"':
		_, ok := r.raw(nil)
		return ok
	case c == '{':
		return r.object(func([]byte) bool { return r.skip(depth + 1) })
	case c == '[':
		r.i++
		if r.consume(']') {
			return true
		}
		for {
			if !r.skip(depth + 1) {
				return false
			}
			if r.consume(',') {
				continue
			}
			return r.consume(']')
		}
	case c == '-' || '0' <= c && c <= '9':
		return r.number()
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
				r.i += len(lit)
				return true
			}
		}
		return false
	}
}

// number reads any JSON number (RFC 8259 §6).
func (r *reader) number() bool {
	digits := func() int {
		n := 0
		for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.b[r.i] == '-' {
		r.i++
	}
	if r.i < len(r.b) && r.b[r.i] == '0' {
		r.i++
	} else if digits() == 0 {
		return false
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			return false
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}
