package jsonlogic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
)

// This file is a deliberately naive tree-walking JSONLogic interpreter that
// follows json-logic-js's apply() line by line over decoded JSON: no
// compilation, no variable table, no folding, no hash sets, value lists as
// slices scanned linearly and CIDR ranges checked with package net. The
// fuzz tests check that the compiled engine agrees with it. It shares only
// the JavaScript coercion primitives of coerce.go with the engine.

var errRefBudget = errors.New("reference: step budget exceeded")

type refInterp struct {
	lists map[string][]string
	steps int
	max   int
}

func referenceEval(rule, data string) (Value, error) {
	return referenceEvalLists(rule, data, nil)
}

func referenceEvalLists(rule, data string, lists map[string][]string) (v Value, err error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(rule)))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil && strings.TrimSpace(rule) != "" {
		return Value{}, err
	}
	d, err := ParseJSON([]byte(data))
	if err != nil {
		return Value{}, err
	}
	r := &refInterp{lists: lists, max: DefaultMaxSteps}
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok && errors.Is(e, errRefBudget) {
				v, err = Value{}, e
				return
			}
			panic(p)
		}
	}()
	return r.apply(x, d), nil
}

func (r *refInterp) step(n int) {
	r.steps += n
	if r.steps > r.max {
		panic(errRefBudget)
	}
}

func (r *refInterp) apply(logic any, data Value) Value {
	r.step(1)
	switch t := logic.(type) {
	case []any:
		out := make([]Value, len(t))
		for i, e := range t {
			out[i] = r.apply(e, data)
		}
		return Array(out)
	case map[string]any:
		if len(t) != 1 {
			return MustFromGo(t)
		}
		for op, raw := range t {
			vals, ok := raw.([]any)
			if !ok {
				vals = []any{raw}
			}
			return r.op(op, vals, data)
		}
	}
	return MustFromGo(logic)
}

func (r *refInterp) op(op string, values []any, data Value) Value {
	switch op {
	case "if", "?:":
		i := 0
		for ; i < len(values)-1; i += 2 {
			if r.apply(values[i], data).Truthy() {
				return r.apply(values[i+1], data)
			}
		}
		if len(values) == i+1 {
			return r.apply(values[i], data)
		}
		return Null()
	case "and", "or":
		var cur Value
		for _, v := range values {
			cur = r.apply(v, data)
			if cur.Truthy() == (op == "or") {
				return cur
			}
		}
		return cur
	case "filter", "map", "all", "none", "some":
		scoped := r.apply(values[0], data)
		if scoped.Kind() != KindArray {
			switch op {
			case "filter", "map":
				return Array(nil)
			case "none":
				return Bool(true)
			}
			return Bool(false)
		}
		out := []Value{}
		for _, d := range scoped.Elems() {
			res := r.apply(values[1], d)
			switch op {
			case "filter":
				if res.Truthy() {
					out = append(out, d)
				}
			case "map":
				out = append(out, res)
			case "all":
				if !res.Truthy() {
					return Bool(false)
				}
			case "none":
				if res.Truthy() {
					return Bool(false)
				}
			case "some":
				if res.Truthy() {
					return Bool(true)
				}
			}
		}
		switch op {
		case "all":
			return Bool(scoped.Len() > 0)
		case "none":
			return Bool(true)
		case "some":
			return Bool(false)
		}
		return Array(out)
	case "reduce":
		scoped := r.apply(values[0], data)
		initial := Null()
		if len(values) > 2 {
			initial = r.apply(values[2], data)
		}
		if scoped.Kind() != KindArray {
			return initial
		}
		acc := initial
		for _, cur := range scoped.Elems() {
			acc = r.apply(values[1], Object(map[string]Value{"current": cur, "accumulator": acc}))
		}
		return acc
	case "in":
		if m, ok := values[1].(map[string]any); ok {
			if alias, ok := listRef(m); ok {
				return Bool(r.inList(r.apply(values[0], data), r.lists[alias]))
			}
		}
	case "cidr":
		ip := r.apply(values[0], data)
		var ranges []string
		switch t := values[1].(type) {
		case string:
			ranges = []string{t}
		case []any:
			for _, e := range t {
				ranges = append(ranges, e.(string))
			}
		}
		return Bool(ip.Kind() == KindString && refCIDR(ip.AsString(), ranges))
	}

	args := make([]Value, len(values))
	for i, v := range values {
		args[i] = r.apply(v, data)
	}
	arg := func(i int) Value {
		if i < len(args) {
			return args[i]
		}
		return Null()
	}
	switch op {
	case "==":
		return Bool(looseEqual(arg(0), arg(1)))
	case "===":
		return Bool(strictEqual(arg(0), arg(1)))
	case "!=":
		return Bool(!looseEqual(arg(0), arg(1)))
	case "!==":
		return Bool(!strictEqual(arg(0), arg(1)))
	case ">":
		return Bool(lessThan(arg(1), arg(0)) == cmpTrue)
	case ">=":
		return Bool(lessThan(arg(0), arg(1)) == cmpFalse)
	case "<":
		if len(args) < 3 {
			return Bool(lessThan(arg(0), arg(1)) == cmpTrue)
		}
		return Bool(lessThan(arg(0), arg(1)) == cmpTrue && lessThan(arg(1), arg(2)) == cmpTrue)
	case "<=":
		if len(args) < 3 {
			return Bool(lessThan(arg(1), arg(0)) == cmpFalse)
		}
		return Bool(lessThan(arg(1), arg(0)) == cmpFalse && lessThan(arg(2), arg(1)) == cmpFalse)
	case "!!":
		return Bool(arg(0).Truthy())
	case "!":
		return Bool(!arg(0).Truthy())
	case "%":
		return Number(math.Mod(toNumber(arg(0)), toNumber(arg(1))))
	case "log":
		return arg(0)
	case "in":
		b := arg(1)
		switch b.Kind() {
		case KindString:
			return Bool(b.AsString() != "" && strings.Contains(b.AsString(), toString(arg(0))))
		case KindArray:
			r.step(b.Len() / 16)
			for _, x := range b.Elems() {
				if strictEqual(arg(0), x) {
					return Bool(true)
				}
			}
		}
		return Bool(false)
	case "cat":
		var sb strings.Builder
		for _, a := range args {
			if !a.IsNull() {
				sb.WriteString(toString(a))
			}
		}
		if sb.Len() > MaxStringLen {
			panic(errRefBudget)
		}
		return String(sb.String())
	case "substr":
		if len(args) > 2 {
			l := arg(2)
			return String(jsSubstr(arg(0), arg(1), &l))
		}
		return String(jsSubstr(arg(0), arg(1), nil))
	case "+":
		sum := 0.0
		for _, a := range args {
			sum += parseFloat(a)
		}
		return Number(sum)
	case "*":
		acc := args[0]
		for _, a := range args[1:] {
			acc = Number(parseFloat(acc) * parseFloat(a))
		}
		return acc
	case "-":
		if len(args) < 2 {
			return Number(-toNumber(arg(0)))
		}
		return Number(toNumber(arg(0)) - toNumber(arg(1)))
	case "/":
		return Number(toNumber(arg(0)) / toNumber(arg(1)))
	case "min", "max":
		res := math.Inf(1)
		if op == "max" {
			res = math.Inf(-1)
		}
		for _, a := range args {
			x := toNumber(a)
			if math.IsNaN(x) || math.IsNaN(res) {
				res = math.NaN()
			} else if (op == "min" && x < res) || (op == "max" && x > res) {
				res = x
			}
		}
		return Number(res)
	case "merge":
		out := []Value{}
		for _, a := range args {
			if a.Kind() == KindArray {
				r.step(a.Len())
				out = append(out, a.Elems()...)
			} else {
				out = append(out, a)
			}
		}
		return Array(out)
	case "var":
		notFound := Null()
		if len(args) > 1 {
			notFound = args[1]
		}
		a := arg(0)
		if len(args) == 0 || a.IsNull() || (a.Kind() == KindString && a.AsString() == "") {
			return data
		}
		v, ok := refWalk(data, toString(a))
		if !ok {
			return notFound
		}
		return v
	case "missing":
		keys := args
		if len(args) > 0 && args[0].Kind() == KindArray {
			keys = args[0].Elems()
		}
		out := []Value{}
		for _, k := range keys {
			r.step(1)
			v := r.op("var", []any{k.Interface()}, data)
			if v.IsNull() || (v.Kind() == KindString && v.AsString() == "") {
				out = append(out, k)
			}
		}
		return Array(out)
	case "missing_some":
		need, opts := arg(0), arg(1)
		missing := r.op("missing", []any{opts.Interface()}, data)
		length := math.NaN()
		switch opts.Kind() {
		case KindArray:
			length = float64(opts.Len())
		case KindString:
			length = float64(utf16Len(opts.AsString()))
		}
		if lessThan(Number(length-float64(missing.Len())), need) == cmpFalse {
			return Array(nil)
		}
		return missing
	}
	panic(fmt.Sprintf("reference: unknown operator %q", op))
}

// refWalk is json-logic-js var's loop: split on "." and index.
func refWalk(data Value, path string) (Value, bool) {
	for _, seg := range strings.Split(path, ".") {
		if data.IsNull() {
			return Value{}, false
		}
		var ok bool
		data, ok = property(data, seg)
		if !ok {
			return Value{}, false
		}
	}
	return data, true
}

func (r *refInterp) inList(v Value, items []string) bool {
	for _, it := range items {
		r.step(0)
		if v.Kind() == KindString && v.AsString() == it {
			return true
		}
	}
	return v.Kind() == KindString && refCIDR(v.AsString(), items)
}

// refCIDR checks an address against ranges with package net, by scanning.
func refCIDR(s string, ranges []string) bool {
	if strings.Contains(s, "/") {
		return false
	}
	ip := net.ParseIP(s)
	if ip == nil {
		return false
	}
	for _, rg := range ranges {
		if !strings.Contains(rg, "/") {
			if other := net.ParseIP(rg); other != nil && other.Equal(ip) {
				return true
			}
			continue
		}
		_, n, err := net.ParseCIDR(rg)
		if err == nil && n.Contains(ip) {
			return true
		}
	}
	return false
}
