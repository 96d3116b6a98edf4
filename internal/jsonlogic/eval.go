package jsonlogic

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Data supplies the variables a program reads. Implementations must be safe
// for the program's use during one Eval; they are typically built per
// decision and may compute data points lazily.
type Data interface {
	// Var returns the value of the i-th path of the program's VarTable
	// (Program.VarTable().Names()[i]) and whether it exists. A missing
	// variable takes the var's default value.
	Var(i int) (Value, bool)
	// Lookup returns the value at a dotted path computed at run time
	// ({"var":{"cat":[...]}}) or named by missing/missing_some with computed
	// keys. The path "" means the whole data.
	Lookup(path string) (Value, bool)
}

// ValueData is a Data over one JSON value, for tests, simulation and custom
// data: Var(i) walks Root along Paths[i].
type ValueData struct {
	Root  Value
	Paths []string
}

// NewValueData returns a Data over root for the variables of p's table.
func NewValueData(p *Program, root Value) *ValueData {
	return &ValueData{Root: root, Paths: p.table.Names()}
}

// Var implements Data.
func (d *ValueData) Var(i int) (Value, bool) {
	if i < 0 || i >= len(d.Paths) {
		return Value{}, false
	}
	return walkPath(d.Root, d.Paths[i])
}

// Lookup implements Data.
func (d *ValueData) Lookup(path string) (Value, bool) { return walkPath(d.Root, path) }

// walkPath follows a dotted path the way json-logic-js's var does: property
// access on objects, index (or length) on arrays and strings; "" is v itself.
func walkPath(v Value, path string) (Value, bool) {
	if path == "" {
		return v, true
	}
	for {
		seg, rest, more := strings.Cut(path, ".")
		var ok bool
		if v, ok = property(v, seg); !ok {
			return Value{}, false
		}
		if !more {
			return v, true
		}
		path = rest
	}
}

func property(v Value, key string) (Value, bool) {
	switch v.kind {
	case KindObject:
		f, ok := v.o()[key]
		return f, ok
	case KindArray:
		if key == "length" {
			return Number(float64(len(v.a()))), true
		}
		if i, ok := arrayIndex(key); ok && i < len(v.a()) {
			return v.a()[i], true
		}
	case KindString:
		if isASCII(v.str) {
			if key == "length" {
				return Number(float64(len(v.str))), true
			}
			if i, ok := arrayIndex(key); ok && i < len(v.str) {
				return String(v.str[i : i+1]), true
			}
		}
	}
	return Value{}, false
}

// arrayIndex parses a canonical array index ("0", "12", not "01" or "+1").
func arrayIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// Evaluation errors.
var (
	// ErrStepBudget is returned when an evaluation exceeds its step budget.
	ErrStepBudget = errors.New("jsonlogic: evaluation step budget exceeded")
	// ErrTooLarge is returned when an evaluation builds a string longer than
	// MaxStringLen.
	ErrTooLarge = errors.New("jsonlogic: evaluation built a value that is too large")
)

// Eval evaluates the program against d and returns the JSONLogic result. An
// empty program evaluates to its literal ({} or null); use Match for the
// rule semantics. Errors are ErrStepBudget, ErrTooLarge, or an internal
// error recovered from a panic; Eval never panics.
func (p *Program) Eval(d Data) (v Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = Value{}, fmt.Errorf("jsonlogic: internal error: %v", r)
		}
	}()
	e := evaluator{data: d, max: p.maxSteps}
	v = e.eval(p.root, nil)
	if e.err != nil {
		return Value{}, e.err
	}
	return v, nil
}

// Match reports whether the condition holds: the result is truthy, or the
// condition is empty (a rule with no conditions always matches).
func (p *Program) Match(d Data) (ok bool, err error) {
	if p.empty {
		return true, nil
	}
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("jsonlogic: internal error: %v", r)
		}
	}()
	e := evaluator{data: d, max: p.maxSteps}
	ok = e.truthy(p.root, nil)
	if e.err != nil {
		return false, e.err
	}
	return ok, nil
}

// frame is the data seen by the body of map, filter, reduce, all, none and
// some: the current element, or {"current", "accumulator"} for reduce.
type frame struct {
	reduce bool
	cur    Value
	acc    Value
}

func (f *frame) lookup(path string) (Value, bool) {
	if !f.reduce {
		return walkPath(f.cur, path)
	}
	if path == "" {
		return Object(map[string]Value{"current": f.cur, "accumulator": f.acc}), true
	}
	head, rest, more := strings.Cut(path, ".")
	var v Value
	switch head {
	case "current":
		v = f.cur
	case "accumulator":
		v = f.acc
	default:
		return Value{}, false
	}
	if !more {
		return v, true
	}
	return walkPath(v, rest)
}

type evaluator struct {
	data  Data
	steps int
	max   int
	err   error
}

// heavy charges the step budget for the coercion work an array or object
// operand costs (JavaScript stringifies them), and checks the weight of
// built values.
func (e *evaluator) heavy(v Value) Value {
	if v.kind == KindArray || v.kind == KindObject {
		if v.num > MaxWeight {
			return e.fail(ErrTooLarge)
		}
		e.steps += int(v.num) / 8
		if e.steps > e.max {
			return e.fail(ErrStepBudget)
		}
	}
	return v
}

func (e *evaluator) fail(err error) Value {
	if e.err == nil {
		e.err = err
	}
	return Value{}
}

func (e *evaluator) lookupVar(n *node, f *frame) (Value, bool) {
	switch {
	case n.scoped:
		if f == nil {
			return Value{}, false
		}
		return f.lookup(n.vpath)
	case e.data == nil:
		return Value{}, false
	}
	return e.data.Lookup(n.vpath)
}

func (e *evaluator) lookupPath(scoped bool, path string, f *frame) (Value, bool) {
	if scoped {
		if f == nil {
			return Value{}, false
		}
		return f.lookup(path)
	}
	if e.data == nil {
		return Value{}, false
	}
	return e.data.Lookup(path)
}

func (e *evaluator) eval(n *node, f *frame) Value {
	e.steps++
	if e.steps > e.max {
		return e.fail(ErrStepBudget)
	}
	// The hot operations of rule conditions are handled here, in a small
	// function with a small stack frame; the rest is in evalOther.
	switch n.op {
	case opConst:
		return n.val
	case opVar:
		if e.data != nil {
			if v, ok := e.data.Var(n.varID); ok {
				return v
			}
		}
		if n.args[1] != nil {
			return e.eval(n.args[1], f)
		}
		return Value{}
	case opAnd:
		var v Value
		for _, a := range n.args {
			v = e.eval(a, f)
			if !v.Truthy() {
				return v
			}
		}
		return v
	case opOr:
		var v Value
		for _, a := range n.args {
			v = e.eval(a, f)
			if v.Truthy() {
				return v
			}
		}
		return v
	case opNot:
		return Bool(!e.truthy(n.args[0], f))
	case opNotNot:
		return Bool(e.truthy(n.args[0], f))
	case opEq, opNe, opStrictEq, opStrictNe, opGt, opGe:
		return Bool(e.compare(n, f))
	case opInSet:
		return Bool(n.set.contains(e.eval(n.args[0], f)))
	case opInList:
		return Bool(n.list.Contains(e.eval(n.args[0], f)))
	case opCIDR:
		v := e.eval(n.args[0], f)
		return Bool(v.kind == KindString && n.pfx.containsString(v.str))
	}
	return e.evalOther(n, f)
}

// truthy evaluates n in a boolean context (the root of Match, the operands
// of and/or/!, if conditions, all/none/some/filter bodies). Only truthiness
// matters there, so and/or need not carry their deciding operand and
// comparisons need not build a Value; this is the hot path of rules.
func (e *evaluator) truthy(n *node, f *frame) bool {
	e.steps++
	if e.steps > e.max {
		e.fail(ErrStepBudget)
		return false
	}
	switch n.op {
	case opConst:
		return n.val.Truthy()
	case opVar:
		if e.data != nil {
			if v, ok := e.data.Var(n.varID); ok {
				return v.Truthy()
			}
		}
		if n.args[1] != nil {
			return e.truthy(n.args[1], f)
		}
		return false
	case opIn:
		if y := n.args[1]; y.op == opConst && y.val.kind == KindArray {
			a := e.eval(n.args[0], f)
			return containsStrict(y.val.a(), &a)
		}
	case opAnd:
		for _, a := range n.args {
			if !e.truthy(a, f) {
				return false
			}
		}
		return true
	case opOr:
		for _, a := range n.args {
			if e.truthy(a, f) {
				return true
			}
		}
		return false
	case opNot:
		return !e.truthy(n.args[0], f)
	case opNotNot:
		return e.truthy(n.args[0], f)
	case opEq, opNe, opStrictEq, opStrictNe, opGt, opGe:
		return e.compare(n, f)
	case opLt, opLe:
		if len(n.args) == 2 {
			return e.compare(n, f)
		}
	case opInSet:
		return n.set.contains(e.eval(n.args[0], f))
	case opInList:
		return n.list.Contains(e.eval(n.args[0], f))
	case opCIDR:
		v := e.eval(n.args[0], f)
		return v.kind == KindString && n.pfx.containsString(v.str)
	}
	return e.eval(n, f).Truthy()
}

// compare evaluates a two-operand comparison, with a fast path for two
// scalars of the same kind (where JavaScript coerces nothing).
func (e *evaluator) compare(n *node, f *frame) bool {
	var a Value
	if x := n.args[0]; x.op == opVar && x.args[1] == nil && e.data != nil {
		// The common {"op":[{"var":"path"}, ...]}: read the variable
		// without a recursive call (an absent variable is null).
		e.steps++
		a, _ = e.data.Var(x.varID)
	} else {
		a = e.eval(x, f)
	}
	y := n.args[1]
	b := &y.val
	if y.op != opConst {
		bv := e.eval(y, f)
		b = &bv
	} else {
		e.steps++
	}
	if a.kind == b.kind && a.kind <= KindNumber {
		// null, booleans and numbers: num holds the whole value.
		switch n.op {
		case opEq, opStrictEq:
			return a.num == b.num
		case opNe, opStrictNe:
			return a.num != b.num
		case opGt:
			return a.num > b.num
		case opGe:
			return a.num >= b.num
		case opLt:
			return a.num < b.num
		case opLe:
			return a.num <= b.num
		}
	}
	if a.kind == KindString && b.kind == KindString {
		switch n.op {
		case opEq, opStrictEq:
			return a.str == b.str
		case opNe, opStrictNe:
			return a.str != b.str
		}
	}
	return e.compareSlow(n.op, a, *b)
}

func (e *evaluator) compareSlow(op opcode, a, b Value) bool {
	e.heavy(a)
	e.heavy(b)
	switch op {
	case opEq:
		return looseEqual(a, b)
	case opNe:
		return !looseEqual(a, b)
	case opStrictEq:
		return strictEqual(a, b)
	case opStrictNe:
		return !strictEqual(a, b)
	case opGt:
		return jsGT(a, b)
	case opGe:
		return jsGE(a, b)
	case opLt:
		return jsLT(a, b)
	case opLe:
		return jsLE(a, b)
	}
	return false
}

func (e *evaluator) evalOther(n *node, f *frame) Value {
	switch n.op {
	case opVarScoped:
		if v, ok := e.lookupVar(n, f); ok {
			return v
		}
		if n.args[1] != nil {
			return e.eval(n.args[1], f)
		}
		return Value{}
	case opVarDyn:
		pv := e.heavy(e.eval(n.args[0], f))
		path := ""
		switch pv.kind {
		case KindNull:
		case KindString:
			path = pv.str
		default:
			path = toString(pv)
		}
		if v, ok := e.lookupPath(n.scoped, path, f); ok {
			return v
		}
		if n.args[1] != nil {
			return e.eval(n.args[1], f)
		}
		return Value{}
	case opIf:
		i := 0
		for ; i+1 < len(n.args); i += 2 {
			if e.truthy(n.args[i], f) {
				return e.eval(n.args[i+1], f)
			}
		}
		if i < len(n.args) {
			return e.eval(n.args[i], f)
		}
		return Value{}
	case opLt, opLe:
		if len(n.args) == 2 {
			return Bool(e.compare(n, f))
		}
		cmp := jsLT
		if n.op == opLe {
			cmp = jsLE
		}
		a, b := e.heavy(e.eval(n.args[0], f)), e.heavy(e.eval(n.args[1], f))
		c := e.heavy(e.eval(n.args[2], f))
		return Bool(cmp(a, b) && cmp(b, c))
	case opMin, opMax:
		r := math.Inf(1)
		if n.op == opMax {
			r = math.Inf(-1)
		}
		for _, a := range n.args {
			x := toNumber(e.heavy(e.eval(a, f)))
			switch {
			case math.IsNaN(x) || math.IsNaN(r):
				r = math.NaN()
			case n.op == opMin && x < r, n.op == opMax && x > r:
				r = x
			}
		}
		return Number(r)
	case opAdd:
		sum := 0.0
		for _, a := range n.args {
			sum += parseFloat(e.heavy(e.eval(a, f)))
		}
		return Number(sum)
	case opMul:
		acc := e.eval(n.args[0], f)
		for _, a := range n.args[1:] {
			acc = Number(parseFloat(e.heavy(acc)) * parseFloat(e.heavy(e.eval(a, f))))
		}
		return acc
	case opSub:
		a := e.heavy(e.eval(n.args[0], f))
		if len(n.args) == 1 {
			return Number(-toNumber(a))
		}
		return Number(toNumber(a) - toNumber(e.heavy(e.eval(n.args[1], f))))
	case opDiv:
		return Number(toNumber(e.heavy(e.eval(n.args[0], f))) / toNumber(e.heavy(e.eval(n.args[1], f))))
	case opMod:
		return Number(math.Mod(toNumber(e.heavy(e.eval(n.args[0], f))), toNumber(e.heavy(e.eval(n.args[1], f)))))
	case opIn:
		return Bool(e.in(e.heavy(e.eval(n.args[0], f)), e.eval(n.args[1], f)))
	case opCat:
		var b strings.Builder
		for _, a := range n.args {
			v := e.heavy(e.eval(a, f))
			if e.err != nil {
				return Value{}
			}
			if v.kind != KindNull {
				b.WriteString(toString(v))
			}
			if b.Len() > MaxStringLen {
				return e.fail(ErrTooLarge)
			}
		}
		e.steps += b.Len() / 256
		return String(b.String())
	case opSubstr:
		src, start := e.heavy(e.eval(n.args[0], f)), e.heavy(e.eval(n.args[1], f))
		if src.kind == KindString {
			e.steps += len(src.str) / 256
		}
		if len(n.args) == 3 {
			l := e.eval(n.args[2], f)
			return String(jsSubstr(src, start, &l))
		}
		return String(jsSubstr(src, start, nil))
	case opMerge:
		out := []Value{}
		for _, a := range n.args {
			v := e.eval(a, f)
			if v.kind == KindArray {
				e.steps += len(v.a())
				if e.steps > e.max {
					return e.fail(ErrStepBudget)
				}
				out = append(out, v.a()...)
			} else {
				out = append(out, v)
			}
		}
		return e.heavy(Array(out))
	case opArray:
		out := make([]Value, len(n.args))
		for i, a := range n.args {
			out[i] = e.eval(a, f)
		}
		return e.heavy(Array(out))
	case opMissing:
		return e.missing(n, f)
	case opMissingSome:
		need := e.eval(n.args[0], f)
		opts := e.eval(n.args[1], f)
		var missing []Value
		if n.ids != nil {
			missing = e.missingCompiled(n.keys, n.ids)
		} else {
			missing = e.missingKeys(n.scoped, []Value{opts}, f)
		}
		var length float64
		switch opts.kind {
		case KindArray:
			length = float64(len(opts.a()))
		case KindString:
			length = float64(utf16Len(opts.str))
		default:
			length = math.NaN()
		}
		if jsGE(Number(length-float64(len(missing))), need) {
			return Array(nil)
		}
		return Array(missing)
	case opMap, opFilter, opAll, opNone, opSome:
		return e.iterate(n, f)
	case opReduce:
		src := e.eval(n.args[0], f)
		acc := e.eval(n.args[2], f)
		if src.kind != KindArray {
			return acc
		}
		fr := frame{reduce: true}
		for _, x := range src.a() {
			if e.err != nil {
				return Value{}
			}
			fr.cur, fr.acc = x, acc
			acc = e.eval(n.args[1], &fr)
		}
		return acc
	case opLog:
		return e.eval(n.args[0], f)
	}
	return e.fail(errors.New("jsonlogic: unknown opcode " + strconv.Itoa(int(n.op))))
}

// in is json-logic-js "in": substring search on strings, strict-equality
// membership on arrays, false otherwise.
func (e *evaluator) in(a, b Value) bool {
	switch b.kind {
	case KindString:
		if b.str == "" {
			return false // json-logic-js tests !b first
		}
		e.steps += len(b.str) / 256
		return strings.Contains(b.str, toString(a))
	case KindArray:
		e.steps += len(b.a()) / 16
		for _, x := range b.a() {
			if strictEqual(a, x) {
				return true
			}
		}
	}
	return false
}

func (e *evaluator) iterate(n *node, f *frame) Value {
	src := e.eval(n.args[0], f)
	if src.kind != KindArray {
		if n.op == opNone {
			return Bool(true)
		}
		if n.op == opMap || n.op == opFilter {
			return Array(nil)
		}
		return Bool(false)
	}
	var out []Value
	if n.op == opMap {
		out = make([]Value, 0, len(src.a()))
	}
	if len(src.a()) == 0 {
		switch n.op {
		case opAll, opSome:
			return Bool(false)
		case opNone:
			return Bool(true)
		}
	}
	var fr frame
	for _, x := range src.a() {
		if e.err != nil {
			return Value{}
		}
		fr.cur = x
		if n.op == opMap {
			out = append(out, e.eval(n.args[1], &fr))
			continue
		}
		r := e.truthy(n.args[1], &fr)
		switch n.op {
		case opFilter:
			if r {
				out = append(out, x)
			}
		case opAll:
			if !r {
				return Bool(false)
			}
		case opNone:
			if r {
				return Bool(false)
			}
		case opSome:
			if r {
				return Bool(true)
			}
		}
	}
	switch n.op {
	case opMap, opFilter:
		return e.heavy(Array(out))
	case opAll, opNone:
		return Bool(true)
	}
	return Bool(false)
}

func (e *evaluator) missing(n *node, f *frame) Value {
	if n.ids != nil {
		return Array(e.missingCompiled(n.keys, n.ids))
	}
	vals := make([]Value, len(n.args))
	for i, a := range n.args {
		vals[i] = e.eval(a, f)
	}
	return Array(e.missingKeys(n.scoped, vals, f))
}

func isMissing(v Value, ok bool) bool {
	return !ok || v.kind == KindNull || (v.kind == KindString && v.str == "")
}

// missingCompiled is missing over keys interned at compile time.
func (e *evaluator) missingCompiled(keys []Value, ids []int) []Value {
	out := []Value{}
	for i, k := range keys {
		e.steps++
		var v Value
		ok := false
		switch {
		case e.data == nil:
		case ids[i] < 0:
			v, ok = e.data.Lookup("")
		default:
			v, ok = e.data.Var(ids[i])
		}
		if isMissing(v, ok) {
			out = append(out, k)
		}
	}
	return out
}

// missingKeys is json-logic-js missing: the keys (the first argument if it
// is an array, else all arguments) whose var is null, "" or absent.
func (e *evaluator) missingKeys(scoped bool, args []Value, f *frame) []Value {
	keys := args
	if len(args) > 0 && args[0].kind == KindArray {
		keys = args[0].a()
	}
	out := []Value{}
	for _, k := range keys {
		e.steps++
		path := ""
		if k.kind != KindNull {
			path = toString(k)
		}
		if isMissing(e.lookupPath(scoped, path, f)) {
			out = append(out, k)
		}
	}
	return out
}

// containsStrict is Array.prototype.indexOf(a) !== -1 (=== membership).
func containsStrict(arr []Value, a *Value) bool {
	if a.kind <= KindString {
		for i := range arr {
			x := &arr[i]
			if x.kind == a.kind && x.num == a.num && x.str == a.str {
				return true
			}
		}
		return false
	}
	for i := range arr {
		if sameRef(*a, arr[i]) {
			return true
		}
	}
	return false
}
