package jsonlogic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Limits enforced by Compile and Eval.
const (
	// MaxSourceSize is the largest condition Compile accepts, in bytes.
	MaxSourceSize = 64 << 10
	// MaxDepth is the deepest nesting of operations and array literals
	// Compile accepts.
	MaxDepth = 32
	// DefaultMaxSteps is the evaluation step budget used when
	// Options.MaxSteps is zero. A step is one node evaluation or one array
	// element copied.
	DefaultMaxSteps = 100_000
	// MaxStringLen bounds the strings cat can build during one evaluation.
	MaxStringLen = 1 << 20
	// MaxWeight bounds the arrays and objects an evaluation can build,
	// counted in nodes as if shared parts were copied.
	MaxWeight = 1 << 20
	// ValueListPrefix starts the var path that names a value list:
	// {"in":[<expr>,{"var":"valueLists.<alias>"}]}.
	ValueListPrefix = "valueLists."
)

// Options configures Compile. The zero Options is valid: no value lists, a
// private variable table and the default step budget.
type Options struct {
	// Lists resolves a value-list alias to its List. A condition naming an
	// alias for which Lists returns false (or with Lists nil) does not
	// compile.
	Lists func(alias string) (*List, bool)
	// Vars is the variable table the program's var indexes refer to. Share
	// one table between all the rules evaluated against one Data, so that
	// each data point has one index. Nil gives the program its own table.
	Vars *VarTable
	// MaxSteps is the evaluation step budget; 0 means DefaultMaxSteps.
	MaxSteps int
}

// CompileError reports a condition that cannot be compiled, with the path of
// the offending node: "/and/1/in/0" is the first argument of the in that is
// the second argument of the top-level and. Path segments are escaped as in
// JSON Pointer (RFC 6901 §3: "~" as "~0", "/" as "~1").
type CompileError struct {
	Path    string
	Message string
}

// Error implements error.
func (e *CompileError) Error() string {
	p := e.Path
	if p == "" {
		p = "/"
	}
	return "jsonlogic: " + p + ": " + e.Message
}

// VarTable interns variable paths to small integers. It is safe for
// concurrent use; paths are only ever added.
type VarTable struct {
	mu    sync.Mutex // guards the fields below
	names []string
	index map[string]int
}

// NewVarTable returns an empty table.
func NewVarTable() *VarTable { return &VarTable{index: map[string]int{}} }

// Names returns the interned paths; Data.Var(i) is asked for Names()[i].
func (t *VarTable) Names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.names...)
}

// snapshot returns the interned paths without copying them: paths are only
// appended, so the elements below the returned length never change.
func (t *VarTable) snapshot() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.names[:len(t.names):len(t.names)]
}

// Len returns the number of interned paths.
func (t *VarTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.names)
}

// Index returns the index of path, and false if no program uses it.
func (t *VarTable) Index(path string) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[path]
	return i, ok
}

func (t *VarTable) intern(path string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.index[path]; ok {
		return i
	}
	t.names = append(t.names, path)
	t.index[path] = len(t.names) - 1
	return len(t.names) - 1
}

// Program is a compiled condition. It is immutable and safe for concurrent
// use.
type Program struct {
	root     *node
	table    *VarTable
	vars     []string
	varIDs   []int
	empty    bool
	lookup   bool
	maxSteps int
	// traceNodes, traceKids and traceArgs size EvalTrace's allocations
	// (see traceSize).
	traceNodes, traceKids, traceArgs int
	scratch                          sync.Pool // *compareScratch, for EvalTrace
}

// Vars returns every constant variable path the program reads from the
// top-level data, in order of first reference (each once). Value-list
// references are not variables and are not listed.
func (p *Program) Vars() []string { return append([]string(nil), p.vars...) }

// VarIndexes returns, for each path of Vars, its index in the program's
// VarTable: the i that Data.Var receives.
func (p *Program) VarIndexes() []int { return append([]int(nil), p.varIDs...) }

// VarTable returns the table the program's var indexes refer to.
func (p *Program) VarTable() *VarTable { return p.table }

// UsesLookup reports whether the program can call Data.Lookup: it has a
// var with a computed path or a missing/missing_some with computed keys
// outside map/filter/reduce/all/none/some bodies.
func (p *Program) UsesLookup() bool { return p.lookup }

// Empty reports whether the condition was empty ({}, null, or no bytes);
// such a program always matches.
func (p *Program) Empty() bool { return p.empty }

// opcode identifies a compiled operation.
type opcode uint8

const (
	opConst opcode = iota
	opArray
	opVar       // constant path, top level: Data.Var(varID)
	opVarScoped // constant path, inside map/filter/...: the current element
	opVarDyn    // computed path
	opMissing
	opMissingSome
	opIf
	opEq
	opStrictEq
	opNe
	opStrictNe
	opNot
	opNotNot
	opAnd
	opOr
	opLt
	opLe
	opGt
	opGe
	opMin
	opMax
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opIn
	opInSet
	opInList
	opCat
	opSubstr
	opMerge
	opMap
	opFilter
	opReduce
	opAll
	opNone
	opSome
	opLog
	opCIDR
)

// node is one compiled operation.
type node struct {
	op     opcode
	name   string // the operator as written, for traces
	path   string // where the node sits in the source
	args   []*node
	val    Value // opConst
	varID  int   // opVar
	vpath  string
	scoped bool // evaluated against a map/filter/reduce frame
	set    *memberSet
	list   *List
	alias  string
	pfx    *prefixSet
	keys   []Value // opMissing, opMissingSome: constant keys
	ids    []int   // their VarTable indexes
}

type arity struct{ min, max int } // max < 0: unbounded

// operators lists every supported operator and its arity
// (https://jsonlogic.com/operations.html).
func operatorArity(op string) (opcode, arity, bool) {
	switch op {
	case "var":
		return opVar, arity{0, 2}, true
	case "missing":
		return opMissing, arity{0, -1}, true
	case "missing_some":
		return opMissingSome, arity{2, 2}, true
	case "if", "?:":
		return opIf, arity{0, -1}, true
	case "==":
		return opEq, arity{2, 2}, true
	case "===":
		return opStrictEq, arity{2, 2}, true
	case "!=":
		return opNe, arity{2, 2}, true
	case "!==":
		return opStrictNe, arity{2, 2}, true
	case "!":
		return opNot, arity{1, 1}, true
	case "!!":
		return opNotNot, arity{1, 1}, true
	case "and":
		return opAnd, arity{1, -1}, true
	case "or":
		return opOr, arity{1, -1}, true
	case "<":
		return opLt, arity{2, 3}, true
	case "<=":
		return opLe, arity{2, 3}, true
	case ">":
		return opGt, arity{2, 2}, true
	case ">=":
		return opGe, arity{2, 2}, true
	case "min":
		return opMin, arity{1, -1}, true
	case "max":
		return opMax, arity{1, -1}, true
	case "+":
		return opAdd, arity{1, -1}, true
	case "-":
		return opSub, arity{1, 2}, true
	case "*":
		return opMul, arity{1, -1}, true
	case "/":
		return opDiv, arity{2, 2}, true
	case "%":
		return opMod, arity{2, 2}, true
	case "in":
		return opIn, arity{2, 2}, true
	case "cat":
		return opCat, arity{0, -1}, true
	case "substr":
		return opSubstr, arity{2, 3}, true
	case "merge":
		return opMerge, arity{0, -1}, true
	case "map":
		return opMap, arity{2, 2}, true
	case "filter":
		return opFilter, arity{2, 2}, true
	case "reduce":
		return opReduce, arity{2, 3}, true
	case "all":
		return opAll, arity{2, 2}, true
	case "none":
		return opNone, arity{2, 2}, true
	case "some":
		return opSome, arity{2, 2}, true
	case "log":
		return opLog, arity{1, 1}, true
	case "cidr":
		return opCIDR, arity{2, 2}, true
	}
	return 0, arity{}, false
}

type compiler struct {
	opts    Options
	table   *VarTable
	vars    []string
	varIDs  []int
	seen    map[string]bool
	lookup  bool
	folding evaluator
}

// Compile validates a JSONLogic condition and compiles it. raw must be one
// JSON value of at most MaxSourceSize bytes; an empty condition ({}, null or
// no bytes at all) compiles to a program that always matches. Errors are
// *CompileError.
func Compile(raw []byte, opts Options) (p *Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, &CompileError{Message: fmt.Sprintf("internal error: %v", r)}
		}
	}()
	if len(raw) > MaxSourceSize {
		return nil, &CompileError{Message: fmt.Sprintf("condition is %d bytes, more than the limit of %d", len(raw), MaxSourceSize)}
	}
	table := opts.Vars
	if table == nil {
		table = NewVarTable()
	}
	maxSteps := opts.MaxSteps
	if maxSteps <= 0 {
		maxSteps = DefaultMaxSteps
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return &Program{root: &node{op: opConst}, table: table, empty: true, maxSteps: maxSteps}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, &CompileError{Message: "invalid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &CompileError{Message: "invalid JSON: trailing data after the condition"}
	}
	c := &compiler{opts: opts, table: table, seen: map[string]bool{}}
	c.folding = evaluator{max: maxSteps}
	root, err := c.compile(x, "", 1, false)
	if err != nil {
		return nil, err
	}
	p = &Program{root: root, table: table, vars: c.vars, varIDs: c.varIDs, lookup: c.lookup, maxSteps: maxSteps}
	p.traceNodes, p.traceKids, p.traceArgs = traceSize(root)
	if m, ok := x.(map[string]any); x == nil || ok && len(m) == 0 {
		p.empty = true
	}
	return p, nil
}

// MustCompile is Compile for conditions known to be valid (tests, examples);
// it panics on error.
func MustCompile(raw string, opts Options) *Program {
	p, err := Compile([]byte(raw), opts)
	if err != nil {
		panic(err)
	}
	return p
}

func escapeSeg(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func errAt(path, format string, args ...any) error {
	return &CompileError{Path: path, Message: fmt.Sprintf(format, args...)}
}

func (c *compiler) compile(x any, path string, depth int, scoped bool) (*node, error) {
	if depth > MaxDepth {
		return nil, errAt(path, "nesting deeper than %d levels", MaxDepth)
	}
	switch t := x.(type) {
	case []any:
		n := &node{op: opArray, path: path, name: "array"}
		for i, e := range t {
			a, err := c.compile(e, path+"/"+strconv.Itoa(i), depth+1, scoped)
			if err != nil {
				return nil, err
			}
			n.args = append(n.args, a)
		}
		return c.fold(n), nil
	case map[string]any:
		if len(t) == 0 {
			return &node{op: opConst, path: path, val: Object(nil)}, nil
		}
		if len(t) > 1 {
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, strconv.Quote(k))
			}
			sort.Strings(keys)
			return nil, errAt(path, "an operation must be an object with exactly one key, got %s", strings.Join(keys, ", "))
		}
		for op, rawArgs := range t {
			return c.operation(op, rawArgs, path, depth, scoped)
		}
	}
	v, err := FromGo(x)
	if err != nil {
		return nil, errAt(path, "%v", err)
	}
	return &node{op: opConst, path: path, val: v}, nil
}

func (c *compiler) operation(op string, rawArgs any, path string, depth int, scoped bool) (*node, error) {
	opPath := path + "/" + escapeSeg(op)
	code, ar, ok := operatorArity(op)
	if !ok {
		return nil, errAt(path, "unknown operator %q", op)
	}
	var raws []any
	argPath := func(i int) string { return opPath + "/" + strconv.Itoa(i) }
	if list, isList := rawArgs.([]any); isList {
		raws = list
	} else {
		raws = []any{rawArgs}
		argPath = func(int) string { return opPath }
	}
	if len(raws) < ar.min || (ar.max >= 0 && len(raws) > ar.max) {
		return nil, errAt(opPath, "operator %q takes %s, got %d", op, ar, len(raws))
	}
	n := &node{op: code, name: op, path: path, scoped: scoped}

	// Operators whose later arguments run against each array element.
	switch code {
	case opMap, opFilter, opReduce, opAll, opNone, opSome:
		if isScalar(raws[0]) {
			return nil, errAt(argPath(0), "%s needs an array or an expression, got %s", op, describe(raws[0]))
		}
		src, err := c.compile(raws[0], argPath(0), depth+1, scoped)
		if err != nil {
			return nil, err
		}
		body, err := c.compile(raws[1], argPath(1), depth+1, true)
		if err != nil {
			return nil, err
		}
		n.args = []*node{src, body}
		if code == opReduce {
			init := &node{op: opConst, path: argPath(2)}
			if len(raws) == 3 {
				if init, err = c.compile(raws[2], argPath(2), depth+1, scoped); err != nil {
					return nil, err
				}
			}
			n.args = append(n.args, init)
		}
		return c.fold(n), nil
	case opVar:
		return c.variable(n, raws, argPath, depth, scoped)
	case opIn:
		if ref, ok := listRef(raws[1]); ok {
			return c.inList(n, raws, ref, argPath, depth, scoped)
		}
		if isScalar(raws[1]) {
			if _, isStr := raws[1].(string); !isStr {
				return nil, errAt(argPath(1), "in needs an array or a string, got %s", describe(raws[1]))
			}
		}
	case opMissingSome:
		if isScalar(raws[1]) {
			return nil, errAt(argPath(1), "missing_some needs an array of paths, got %s", describe(raws[1]))
		}
	case opCIDR:
		return c.cidr(n, raws, argPath, depth, scoped)
	}

	for i, r := range raws {
		a, err := c.compile(r, argPath(i), depth+1, scoped)
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, a)
	}
	switch code {
	case opMissing:
		if !scoped {
			n.keys, n.ids = c.internKeys(n.args)
			c.lookup = c.lookup || n.ids == nil
		}
	case opMissingSome:
		if !scoped {
			if n.args[1].op == opConst {
				n.keys, n.ids = c.internKeys(n.args[1:])
			}
			c.lookup = c.lookup || n.ids == nil
		}
	case opIn:
		if s := n.args[1]; s.op == opConst && s.val.kind == KindArray && len(s.val.a()) > 8 {
			n.op = opInSet
			n.set = newMemberSet(s.val.a())
		}
	}
	return c.fold(n), nil
}

func (a arity) String() string {
	plural := func(n int) string {
		if n == 1 {
			return "1 argument"
		}
		return strconv.Itoa(n) + " arguments"
	}
	switch {
	case a.max < 0:
		return "at least " + plural(a.min)
	case a.min == a.max:
		return plural(a.min)
	}
	return fmt.Sprintf("%d to %d arguments", a.min, a.max)
}

func isScalar(x any) bool {
	switch x.(type) {
	case nil, bool, string, json.Number:
		return true
	}
	return false
}

func describe(x any) string {
	switch t := x.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "the number " + string(t)
	case string:
		return "the string " + strconv.Quote(t)
	}
	return "a value"
}

// internKeys records the constant keys of a missing operation as variables,
// returning the keys and their VarTable indexes (-1 for a null key), or nils
// if a key is computed.
func (c *compiler) internKeys(args []*node) ([]Value, []int) {
	var keys []Value
	if len(args) > 0 && args[0].op == opConst && args[0].val.kind == KindArray {
		keys = args[0].val.a()
	} else {
		for _, a := range args {
			if a.op != opConst {
				return nil, nil
			}
			keys = append(keys, a.val)
		}
	}
	ids := make([]int, len(keys))
	for i, k := range keys {
		switch k.kind {
		case KindNull:
			ids[i] = -1
		case KindArray, KindObject:
			return nil, nil
		default:
			ids[i] = c.addVar(toString(k))
		}
	}
	return keys, ids
}

func (c *compiler) addVar(path string) int {
	id := c.table.intern(path)
	if !c.seen[path] {
		c.seen[path] = true
		c.vars = append(c.vars, path)
		c.varIDs = append(c.varIDs, id)
	}
	return id
}

// varPathOf returns the constant path of a var argument; ok is false when
// the path is computed.
func varPath(x any) (path string, whole bool, ok bool) {
	switch t := x.(type) {
	case nil:
		return "", true, true
	case string:
		return t, t == "", true
	case json.Number:
		v, err := FromGo(t)
		if err != nil {
			return "", false, false
		}
		return toString(v), false, true
	case bool:
		return strconv.FormatBool(t), false, true
	}
	return "", false, false
}

func (c *compiler) variable(n *node, raws []any, argPath func(int) string, depth int, scoped bool) (*node, error) {
	var rawPath any
	if len(raws) > 0 {
		rawPath = raws[0]
	}
	path, _, constant := varPath(rawPath)
	if constant && strings.HasPrefix(path, ValueListPrefix) {
		return nil, errAt(argPath(0), "value list %q can only be used as the second argument of in", strings.TrimPrefix(path, ValueListPrefix))
	}
	if len(raws) == 2 {
		def, err := c.compile(raws[1], argPath(1), depth+1, scoped)
		if err != nil {
			return nil, err
		}
		n.args = []*node{nil, def}
	} else {
		n.args = []*node{nil, nil}
	}
	switch {
	case !constant:
		p, err := c.compile(rawPath, argPath(0), depth+1, scoped)
		if err != nil {
			return nil, err
		}
		n.op = opVarDyn
		n.args[0] = p
		c.lookup = c.lookup || !scoped
	case scoped:
		n.op = opVarScoped
		n.vpath = path
	default:
		n.op = opVar
		n.vpath = path
		n.varID = c.addVar(path)
	}
	return n, nil
}

func listRef(x any) (string, bool) {
	m, ok := x.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	v, ok := m["var"]
	if !ok {
		return "", false
	}
	if a, isArr := v.([]any); isArr && len(a) == 1 {
		v = a[0]
	}
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, ValueListPrefix) {
		return "", false
	}
	return strings.TrimPrefix(s, ValueListPrefix), true
}

func (c *compiler) inList(n *node, raws []any, alias string, argPath func(int) string, depth int, scoped bool) (*node, error) {
	var l *List
	ok := false
	if c.opts.Lists != nil {
		l, ok = c.opts.Lists(alias)
	}
	if !ok || l == nil {
		return nil, errAt(argPath(1), "unknown value list %q", alias)
	}
	a, err := c.compile(raws[0], argPath(0), depth+1, scoped)
	if err != nil {
		return nil, err
	}
	n.op = opInList
	n.args = []*node{a}
	n.list = l
	n.alias = alias
	return n, nil
}

func (c *compiler) cidr(n *node, raws []any, argPath func(int) string, depth int, scoped bool) (*node, error) {
	var ranges []string
	switch t := raws[1].(type) {
	case string:
		ranges = []string{t}
	case []any:
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, errAt(argPath(1), "cidr needs a literal CIDR range or an array of them, got %s", describe(e))
			}
			ranges = append(ranges, s)
		}
	default:
		return nil, errAt(argPath(1), "cidr needs a literal CIDR range or an array of them, got %s", describe(raws[1]))
	}
	ps := &prefixSet{}
	for _, r := range ranges {
		p, err := parsePrefix(r)
		if err != nil {
			return nil, errAt(argPath(1), "invalid CIDR range %q", r)
		}
		ps.add(p)
	}
	a, err := c.compile(raws[0], argPath(0), depth+1, scoped)
	if err != nil {
		return nil, err
	}
	n.args = []*node{a}
	n.pfx = ps
	return c.fold(n), nil
}

// parsePrefix accepts "10.0.0.0/8", "2001:db8::/32" and plain addresses
// (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			if p.Bits() < 0 {
				return netip.Prefix{}, errors.New("invalid mapped prefix")
			}
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// fold replaces a node whose arguments are all constants by its value.
func (c *compiler) fold(n *node) *node {
	switch n.op {
	case opVar, opVarScoped, opVarDyn, opMissing, opMissingSome, opInList, opLog:
		return n
	}
	for _, a := range n.args {
		if a != nil && a.op != opConst {
			return n
		}
	}
	e := c.folding
	v := e.eval(n, nil)
	if e.err != nil {
		return n
	}
	return &node{op: opConst, name: n.name, path: n.path, val: v, scoped: n.scoped}
}
