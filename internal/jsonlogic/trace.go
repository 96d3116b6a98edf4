package jsonlogic

import (
	"fmt"
	"slices"
)

// Trace explains one evaluation for the admin UI and for stored decisions.
type Trace struct {
	// Result is the value of the condition (true for an empty condition).
	Result Value `json:"result"`
	// Matched is Result's truthiness (or true for an empty condition).
	Matched bool `json:"matched"`
	// Vars lists every variable read, in the order first read.
	Vars []VarRead `json:"vars"`
	// Root is the outermost logical structure: and, or, !, !!, if and the
	// comparisons under them. It is nil when the condition's root is
	// another kind of operation.
	Root *TraceNode `json:"root,omitempty"`
	// Failed lists the conditions that made a non-matching result false:
	// the falsy operand of an and, every operand of a false or, a ! whose
	// operand held. It is empty when the condition matched.
	Failed []*TraceNode `json:"failed,omitempty"`
	// Err is the evaluation error, if any.
	Err string `json:"error,omitempty"`
}

// VarRead records one variable read.
type VarRead struct {
	Path  string `json:"path"`
	Value Value  `json:"value"`
	Found bool   `json:"found"`
}

// TraceNode is one traced operation.
type TraceNode struct {
	// Path locates the operation in the source, as in CompileError.
	Path string `json:"path"`
	// Op is the operator as written ("and", "==", "in", ...).
	Op string `json:"op"`
	// Value is what the operation evaluated to.
	Value Value `json:"value"`
	// Args are the evaluated operands of a comparison, in/cidr or
	// value-list test.
	Args []Value `json:"args,omitempty"`
	// List is the value-list alias of an in-list test.
	List string `json:"list,omitempty"`
	// Children are the traced operands of and/or/!/!!/if; operands that
	// short-circuiting skipped are absent.
	Children []*TraceNode `json:"children,omitempty"`
}

// EvalTrace evaluates like Eval while recording a Trace. It is slower than
// Eval (it allocates) and meant for explanations, not for the hot path;
// Eval itself pays nothing for tracing.
func (p *Program) EvalTrace(d Data) (v Value, t *Trace) { return p.evalTrace(d, true, nil) }

// Explain is EvalTrace without recording the variables read: the Trace's
// Vars is nil, everything else is EvalTrace's. It is for callers that
// record the data points themselves, and allocates less.
func (p *Program) Explain(d Data) (v Value, t *Trace) { return p.evalTrace(d, false, nil) }

// ExplainInto is Explain building its Trace in b instead of allocating it:
// the Trace returned is valid until b's next ExplainInto or Reset, which
// reuse its storage. Once b has grown to a program's size, explaining that
// program again allocates nothing. A TraceBuffer is not safe for
// concurrent use.
func (p *Program) ExplainInto(d Data, b *TraceBuffer) (v Value, t *Trace) {
	return p.evalTrace(d, false, b)
}

// A TraceBuffer holds what ExplainInto builds a Trace of, for reuse. The
// zero value is ready to use.
type TraceBuffer struct {
	t     Trace
	nodes []TraceNode  // the last trace's nodes (earlier ones' may follow)
	kids  []*TraceNode // its Children and Failed entries: the whole capacity may be in use
	args  []Value      // its Args (earlier ones' may follow)
}

// Reset clears b, so that it keeps nothing of the last trace alive; its
// storage stays for the next ExplainInto.
func (b *TraceBuffer) Reset() {
	b.t = Trace{}
	// Whole capacities: a shorter trace leaves a longer one's tail.
	clear(b.nodes[:cap(b.nodes)])
	clear(b.kids[:cap(b.kids)])
	clear(b.args[:cap(b.args)])
	b.nodes, b.kids, b.args = b.nodes[:0], b.kids[:0], b.args[:0]
}

// evalTrace is EvalTrace, recording Vars if vars is set. The trace's nodes,
// their children and their operands are carved from slabs sized at compile
// time (traceSize): buf's, reused, when buf is not nil (Explain only).
func (p *Program) evalTrace(d Data, vars bool, buf *TraceBuffer) (v Value, t *Trace) {
	tr := tracer{e: evaluator{data: d, max: p.maxSteps}, p: p}
	var rd *recordingData
	switch {
	case vars:
		st := &traceState{}
		t, rd = &st.t, &st.rd
		*rd = recordingData{inner: d, names: p.table.snapshot(), reads: make([]VarRead, 0, len(p.vars))}
		if d != nil {
			tr.e.data = rd
		}
	case buf != nil:
		// The slabs are written over from their start; what lies past
		// this trace's end stays until the caller's Reset.
		buf.t = Trace{}
		t = &buf.t
	default:
		t = &Trace{}
	}
	if buf != nil {
		tr.nodes = slices.Grow(buf.nodes[:0], p.traceNodes)
		tr.kids = slices.Grow(buf.kids[:0], p.traceKids+p.traceNodes)
		tr.args = slices.Grow(buf.args[:0], p.traceArgs)
	} else {
		tr.nodes = make([]TraceNode, 0, p.traceNodes)
		tr.kids = make([]*TraceNode, 0, p.traceKids+p.traceNodes)
		tr.args = make([]Value, 0, p.traceArgs)
	}
	defer func() {
		tr.release()
		if buf != nil {
			// The slabs, with what this trace put in them, for Reset
			// to clear.
			buf.nodes, buf.kids, buf.args = tr.nodes, tr.kids, tr.args
		}
		if rd != nil {
			rd.inner = nil // the Trace must not keep the data alive
		}
		if r := recover(); r != nil {
			v = Value{}
			t.Result, t.Matched, t.Err = Value{}, false, fmt.Sprintf("jsonlogic: internal error: %v", r)
		}
	}()
	var root *TraceNode
	v, root = tr.trace(p.root)
	if rd != nil {
		rd.fill(t)
	}
	if tr.e.err != nil {
		t.Err = tr.e.err.Error()
		return Value{}, t
	}
	t.Root = root
	t.Result = v
	t.Matched = v.Truthy() || p.empty
	if p.empty {
		t.Result = Bool(true)
	}
	if !t.Matched && root != nil {
		// Each node is listed at most once: the rest of kids suffices.
		t.Failed = failed(root, tr.kids[len(tr.kids):len(tr.kids):cap(tr.kids)])
		if len(t.Failed) == 0 {
			t.Failed = nil
		}
	}
	return t.Result, t
}

// traceState is the Trace and the recording of the variables it lists,
// allocated together.
type traceState struct {
	t  Trace
	rd recordingData
}

// compareScratch holds the constant operands of the comparison
// tracer.compare is applying (evaluating constants never traces, so one set
// per evaluation suffices): ptrs[i] is &consts[i], and only the consts'
// values change. Programs pool them.
type compareScratch struct {
	consts [3]node
	ptrs   [3]*node
}

func newCompareScratch() *compareScratch {
	cs := &compareScratch{}
	for i := range cs.ptrs {
		cs.consts[i].op = opConst
		cs.ptrs[i] = &cs.consts[i]
	}
	return cs
}

func traced(op opcode) bool {
	switch op {
	case opAnd, opOr, opNot, opNotNot, opIf,
		opEq, opStrictEq, opNe, opStrictNe, opLt, opLe, opGt, opGe,
		opIn, opInSet, opInList, opCIDR:
		return true
	}
	return false
}

// traceSize bounds what tracing n builds: the TraceNodes, the Children
// entries and the Args entries.
func traceSize(n *node) (nodes, kids, args int) {
	if !traced(n.op) {
		return 0, 0, 0
	}
	nodes = 1
	switch n.op {
	case opAnd, opOr, opNot, opNotNot, opIf:
		kids = len(n.args)
		for _, a := range n.args {
			if !traced(a.op) {
				nodes++ // the "value" node standing for it
				continue
			}
			an, ak, aa := traceSize(a)
			nodes, kids, args = nodes+an, kids+ak, args+aa
		}
	default:
		args = len(n.args)
	}
	return nodes, kids, args
}

// tracer evaluates a program while building its TraceNodes out of slabs
// (sized by traceSize; append falls back to the heap past their capacity).
type tracer struct {
	e     evaluator
	p     *Program
	cs    *compareScratch // from p.scratch, on first use
	nodes []TraceNode
	kids  []*TraceNode
	args  []Value
}

// release returns the comparison scratch, cleared, to the program's pool.
func (tr *tracer) release() {
	if tr.cs != nil {
		for i := range tr.cs.consts {
			tr.cs.consts[i].val = Value{}
		}
		tr.p.scratch.Put(tr.cs)
		tr.cs = nil
	}
}

func (tr *tracer) node(path, op string) *TraceNode {
	if len(tr.nodes) == cap(tr.nodes) {
		return &TraceNode{Path: path, Op: op}
	}
	tr.nodes = append(tr.nodes, TraceNode{Path: path, Op: op})
	return &tr.nodes[len(tr.nodes)-1]
}

// kidSlice returns an empty slice with room for n children.
func (tr *tracer) kidSlice(n int) []*TraceNode {
	if cap(tr.kids)-len(tr.kids) < n {
		return make([]*TraceNode, 0, n)
	}
	k := len(tr.kids)
	tr.kids = tr.kids[:k+n]
	return tr.kids[k : k : k+n]
}

// argSlice returns an empty slice with room for n operands.
func (tr *tracer) argSlice(n int) []Value {
	if cap(tr.args)-len(tr.args) < n {
		return make([]Value, 0, n)
	}
	k := len(tr.args)
	tr.args = tr.args[:k+n]
	return tr.args[k : k : k+n]
}

// trace evaluates a top-level node, recording logical and comparison nodes.
func (tr *tracer) trace(n *node) (Value, *TraceNode) {
	if !traced(n.op) {
		return tr.e.eval(n, nil), nil
	}
	tn := tr.node(n.path, n.name)
	switch n.op {
	case opAnd:
		for _, a := range n.args {
			tn.Value = tr.child(tn, n, a)
			if !tn.Value.Truthy() {
				break
			}
		}
	case opOr:
		for _, a := range n.args {
			tn.Value = tr.child(tn, n, a)
			if tn.Value.Truthy() {
				break
			}
		}
	case opNot:
		tn.Value = Bool(!tr.child(tn, n, n.args[0]).Truthy())
	case opNotNot:
		tn.Value = Bool(tr.child(tn, n, n.args[0]).Truthy())
	case opIf:
		i := 0
		done := false
		for ; i+1 < len(n.args); i += 2 {
			if tr.child(tn, n, n.args[i]).Truthy() {
				tn.Value = tr.child(tn, n, n.args[i+1])
				done = true
				break
			}
		}
		if !done && i < len(n.args) {
			tn.Value = tr.child(tn, n, n.args[i])
		}
	default:
		tr.compare(tn, n)
	}
	return tn.Value, tn
}

// child traces a, an operand of n, and appends its node to tn's children.
func (tr *tracer) child(tn *TraceNode, n, a *node) Value {
	v, c := tr.trace(a)
	if c == nil {
		op := a.name
		if op == "" {
			op = "value"
		}
		c = tr.node(a.path, op)
		c.Value = v
	}
	if tn.Children == nil {
		tn.Children = tr.kidSlice(len(n.args))
	}
	tn.Children = append(tn.Children, c)
	return v
}

// compare traces a comparison: it evaluates the operands once, then applies
// the operation to their values.
func (tr *tracer) compare(tn *TraceNode, n *node) {
	if tr.cs == nil {
		tr.cs, _ = tr.p.scratch.Get().(*compareScratch)
		if tr.cs == nil {
			tr.cs = newCompareScratch()
		}
	}
	tmp := *n
	if len(n.args) <= len(tr.cs.ptrs) {
		tmp.args = tr.cs.ptrs[:len(n.args)]
	} else {
		tmp.args = make([]*node, len(n.args))
		copy(tmp.args, tr.cs.ptrs[:])
	}
	tn.Args = tr.argSlice(len(n.args))
	for i, a := range n.args {
		v := tr.e.eval(a, nil)
		tn.Args = append(tn.Args, v)
		if i < len(tr.cs.consts) {
			tr.cs.consts[i].val = v
		} else {
			tmp.args[i] = &node{op: opConst, val: v}
		}
	}
	tn.List = n.alias
	tn.Value = tr.e.eval(&tmp, nil)
}

// failed walks a false node down to the conditions responsible.
func failed(n *TraceNode, out []*TraceNode) []*TraceNode {
	if n.Value.Truthy() {
		return out
	}
	switch n.Op {
	case "and":
		if len(n.Children) > 0 {
			return failed(n.Children[len(n.Children)-1], out)
		}
	case "or":
		for _, c := range n.Children {
			out = failed(c, out)
		}
		return out
	case "!!":
		if len(n.Children) == 1 {
			return failed(n.Children[0], out)
		}
	}
	return append(out, n)
}

// recordingData wraps a Data and records the variables read, each once.
type recordingData struct {
	inner Data
	names []string // the VarTable's paths
	reads []VarRead
	seen  map[string]bool // nil while reads is short enough to scan
}

// maxScan is the number of reads recordingData scans for a repeat before it
// indexes them in a map.
const maxScan = 16

func (r *recordingData) record(path string, v Value, ok bool) {
	if r.seen != nil {
		if r.seen[path] {
			return
		}
		r.seen[path] = true
	} else {
		for i := range r.reads {
			if r.reads[i].Path == path {
				return
			}
		}
		if len(r.reads) == maxScan {
			r.seen = make(map[string]bool, 2*maxScan)
			for _, x := range r.reads {
				r.seen[x.Path] = true
			}
			r.seen[path] = true
		}
	}
	r.reads = append(r.reads, VarRead{Path: path, Value: v, Found: ok})
}

func (r *recordingData) Var(i int) (Value, bool) {
	v, ok := r.inner.Var(i)
	if i >= 0 && i < len(r.names) {
		r.record(r.names[i], v, ok)
	} else {
		r.record(fmt.Sprintf("#%d", i), v, ok)
	}
	return v, ok
}

func (r *recordingData) Lookup(path string) (Value, bool) {
	v, ok := r.inner.Lookup(path)
	r.record(path, v, ok)
	return v, ok
}

func (r *recordingData) fill(t *Trace) {
	t.Vars = r.reads
	if t.Vars == nil {
		t.Vars = []VarRead{}
	}
}
