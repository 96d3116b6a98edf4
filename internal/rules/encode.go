package rules

import (
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// This file writes Output as JSON by hand: the bytes are exactly those
// json.Marshal writes for the Output value that describes the same
// decision (field order and omissions from the struct tags, dataPoints
// keys sorted, strings escaped as encoding/json escapes them), without
// building the Output, its map or its slices. TestOutputMatchesMarshal
// holds the two to the same bytes.

// scratch is the per-decision working memory, pooled per Set.
type scratch struct {
	buf   []byte
	res   []result
	vals  []jsonlogic.Value
	extra []point
	// traces holds the explanation of each rule (by index) that did not
	// match, built in storage reused from one decision to the next.
	traces []jsonlogic.TraceBuffer
}

// maxPooledBuf is the largest output buffer kept for reuse.
const maxPooledBuf = 64 << 10

func (s *Set) getScratch() *scratch {
	if sc, ok := s.pool.Get().(*scratch); ok {
		return sc
	}
	return &scratch{}
}

// putScratch clears sc (so that the pool keeps no trace or value alive) and
// returns it to the pool.
func (s *Set) putScratch(sc *scratch) {
	if cap(sc.buf) > maxPooledBuf {
		return
	}
	clear(sc.res)
	clear(sc.vals)
	clear(sc.extra)
	for i := range sc.traces {
		sc.traces[i].Reset()
	}
	sc.buf, sc.res, sc.vals, sc.extra = sc.buf[:0], sc.res[:0], sc.vals[:0], sc.extra[:0]
	s.pool.Put(sc)
}

// trace returns the TraceBuffer of rule i of n.
func (sc *scratch) trace(i, n int) *jsonlogic.TraceBuffer {
	if len(sc.traces) < n {
		sc.traces = make([]jsonlogic.TraceBuffer, n)
	}
	return &sc.traces[i]
}

// results returns n zeroed results.
func (sc *scratch) results(n int) []result {
	sc.res = slices.Grow(sc.res[:0], n)[:n]
	clear(sc.res)
	return sc.res
}

// encodeRule precomputes the constant parts of r's entries in Output.rules
// and Output.shadowMatches.
func encodeRule(r *rule) {
	var b []byte
	b = append(b, `{"ruleId":`...)
	b = appendString(b, r.id)
	b = append(b, `,"name":`...)
	b = appendString(b, r.name)
	b = append(b, `,"priority":`...)
	b = strconv.AppendInt(b, int64(r.priority), 10)
	common := len(b)
	b = append(b, `,"type":`...)
	b = appendString(b, string(r.typ))
	if r.shadow {
		b = append(b, `,"shadow":true`...)
	}
	b = append(b, `,"matched":`...)
	r.resultJSON = string(b)
	b = append(b[:common], `,"outcome":`...)
	b = appendString(b, string(r.typ))
	b = append(b, `,"wouldDecide":`...)
	r.shadowJSON = string(b)
}

// encodeVars precomputes the order of the data points in a traced output
// (encoding/json sorts map keys) and their encoded keys.
func (s *Set) encodeVars() {
	s.sortedVars = make([]int, len(s.vars))
	for j := range s.sortedVars {
		s.sortedVars[j] = j
	}
	slices.SortFunc(s.sortedVars, func(a, b int) int { return strings.Compare(s.vars[a], s.vars[b]) })
	s.varKeys = make([]string, len(s.vars))
	for _, j := range s.sortedVars {
		s.varKeys[j] = string(append(appendString(nil, s.vars[j]), ':'))
	}
}

// appendOutput appends the Output of the results res decided as t: traced
// with the data points pts, or untraced when pts is nil.
func (s *Set) appendOutput(b []byte, res []result, t *template, pts *points) []byte {
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, OutputVersion, 10)
	b = append(b, `,"traced":`...)
	b = strconv.AppendBool(b, pts != nil)
	b = append(b, `,"decidedBy":`...)
	switch {
	case t.decider == nil:
		b = appendString(b, DecidedByDefault)
	case t.deciderErr:
		b = appendString(b, DecidedByRuleError)
	default:
		b = appendString(b, DecidedByRule)
	}
	if pts != nil {
		b = append(b, `,"dataPoints":`...)
		b = s.appendPoints(b, pts)
	}
	b = append(b, `,"rules":[`...)
	for i, r := range s.rules {
		if i > 0 {
			b = append(b, ',')
		}
		rs := &res[i]
		matched := rs.counted(r)
		b = append(b, r.resultJSON...)
		b = strconv.AppendBool(b, matched)
		if rs.err != "" {
			b = append(b, `,"error":`...)
			b = appendString(b, rs.err)
		}
		if tr := rs.trace; tr != nil && !matched && rs.err == "" && tr.Err == "" {
			b = append(b, `,"failed":`...)
			b = appendFailed(b, tr)
		}
		b = append(b, '}')
	}
	b = append(b, `],"shadowMatches":[`...)
	first := true
	for i, r := range s.rules {
		if !r.shadow || !res[i].matched || res[i].err != "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, r.shadowJSON...)
		b = strconv.AppendBool(b, t.decider == nil || r.priority < t.decider.priority)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendPoints appends the data points as a JSON object, keys sorted: the
// variables' (in s.sortedVars order) merged with the extra paths.
func (s *Set) appendPoints(b []byte, pts *points) []byte {
	b = append(b, '{')
	vars, extra := s.sortedVars, pts.extra
	for n := 0; len(vars) > 0 || len(extra) > 0; n++ {
		if n > 0 {
			b = append(b, ',')
		}
		if len(vars) > 0 && (len(extra) == 0 || s.vars[vars[0]] < extra[0].path) {
			j := vars[0]
			vars = vars[1:]
			b = append(b, s.varKeys[j]...)
			b = pts.vals[j].AppendJSON(b)
			continue
		}
		b = appendString(b, extra[0].path)
		b = append(b, ':')
		b = extra[0].val.AppendJSON(b)
		extra = extra[1:]
	}
	return append(b, '}')
}

// appendFailed appends the failed conditions of a trace: its failed nodes,
// or its result at the root when the root is not traced (a bare var, say).
func appendFailed(b []byte, tr *jsonlogic.Trace) []byte {
	if len(tr.Failed) == 0 {
		b = append(b, `[{"path":"","value":`...)
		b = appendClipped(b, tr.Result)
		return append(b, "}]"...)
	}
	b = append(b, '[')
	for i, n := range tr.Failed {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"path":`...)
		b = appendString(b, n.Path)
		if n.Op != "" {
			b = append(b, `,"op":`...)
			b = appendString(b, n.Op)
		}
		if len(n.Args) > 0 {
			b = append(b, `,"args":[`...)
			for k, a := range n.Args {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendClipped(b, a)
			}
			b = append(b, ']')
		}
		if n.List != "" {
			b = append(b, `,"list":`...)
			b = appendString(b, n.List)
		}
		b = append(b, `,"value":`...)
		b = appendClipped(b, n.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendClipped appends clip(v): v itself when small enough, which is
// checked by encoding it.
func appendClipped(b []byte, v jsonlogic.Value) []byte {
	switch v.Kind() {
	case jsonlogic.KindString:
		if len(v.AsString()) > maxArgJSON {
			return clip(v).AppendJSON(b)
		}
	case jsonlogic.KindArray, jsonlogic.KindObject:
		start := len(b)
		if b = v.AppendJSON(b); len(b)-start > maxArgJSON {
			return clip(v).AppendJSON(b[:start])
		}
		return b
	}
	return v.AppendJSON(b)
}

// appendString appends s as json.Marshal writes a string.
func appendString(b []byte, s string) []byte { return jsonlogic.String(s).AppendJSON(b) }
