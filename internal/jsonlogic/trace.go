package jsonlogic

import "fmt"

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
func (p *Program) EvalTrace(d Data) (v Value, t *Trace) {
	t = &Trace{}
	rd := &recordingData{inner: d, names: p.table.Names(), seen: map[string]bool{}}
	defer func() {
		if r := recover(); r != nil {
			v = Value{}
			t.Result, t.Matched, t.Err = Value{}, false, fmt.Sprintf("jsonlogic: internal error: %v", r)
		}
	}()
	e := evaluator{data: rd, max: p.maxSteps}
	if d == nil {
		e.data = nil
	}
	var root *TraceNode
	v, root = e.trace(p.root)
	rd.fill(t)
	if e.err != nil {
		t.Err = e.err.Error()
		return Value{}, t
	}
	t.Root = root
	t.Result = v
	t.Matched = v.Truthy() || p.empty
	if p.empty {
		t.Result = Bool(true)
	}
	if !t.Matched && root != nil {
		t.Failed = failed(root, nil)
	}
	return t.Result, t
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

// trace evaluates a top-level node, recording logical and comparison nodes.
func (e *evaluator) trace(n *node) (Value, *TraceNode) {
	if !traced(n.op) {
		return e.eval(n, nil), nil
	}
	tn := &TraceNode{Path: n.path, Op: n.name}
	child := func(a *node) Value {
		v, c := e.trace(a)
		if c == nil {
			c = &TraceNode{Path: a.path, Op: a.name, Value: v}
			if c.Op == "" {
				c.Op = "value"
			}
		}
		tn.Children = append(tn.Children, c)
		return v
	}
	switch n.op {
	case opAnd:
		for _, a := range n.args {
			tn.Value = child(a)
			if !tn.Value.Truthy() {
				break
			}
		}
	case opOr:
		for _, a := range n.args {
			tn.Value = child(a)
			if tn.Value.Truthy() {
				break
			}
		}
	case opNot:
		tn.Value = Bool(!child(n.args[0]).Truthy())
	case opNotNot:
		tn.Value = Bool(child(n.args[0]).Truthy())
	case opIf:
		i := 0
		done := false
		for ; i+1 < len(n.args); i += 2 {
			if child(n.args[i]).Truthy() {
				tn.Value = child(n.args[i+1])
				done = true
				break
			}
		}
		if !done && i < len(n.args) {
			tn.Value = child(n.args[i])
		}
	default:
		// Comparisons: evaluate the operands once, then apply the
		// operation to their values.
		tmp := *n
		tmp.args = make([]*node, len(n.args))
		for i, a := range n.args {
			v := e.eval(a, nil)
			tn.Args = append(tn.Args, v)
			tmp.args[i] = &node{op: opConst, val: v}
		}
		tn.List = n.alias
		tn.Value = e.eval(&tmp, nil)
	}
	return tn.Value, tn
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

// recordingData wraps a Data and records the variables read.
type recordingData struct {
	inner Data
	names []string
	seen  map[string]bool
	reads []VarRead
}

func (r *recordingData) record(path string, v Value, ok bool) {
	if r.seen[path] {
		return
	}
	r.seen[path] = true
	r.reads = append(r.reads, VarRead{Path: path, Value: v, Found: ok})
}

func (r *recordingData) Var(i int) (Value, bool) {
	v, ok := r.inner.Var(i)
	name := fmt.Sprintf("#%d", i)
	if i >= 0 && i < len(r.names) {
		name = r.names[i]
	}
	r.record(name, v, ok)
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
