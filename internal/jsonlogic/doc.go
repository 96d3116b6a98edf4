// Package jsonlogic is a compiled JSONLogic engine for Vigil's rule
// conditions (https://jsonlogic.com/operations.html, with the semantics of
// the reference implementation json-logic-js, checked against the official
// test suite https://jsonlogic.com/tests.json).
//
// A condition is compiled once, when a rule is saved or loaded, with
// Compile; the resulting *Program is immutable, safe for concurrent use and
// evaluated on every track with Eval or Match. Evaluation parses no JSON,
// allocates no maps and reads variables through the Data interface by small
// integer indexes into a VarTable, so the caller computes only the data
// points the rules read (Program.Vars), each at most once per decision.
// EvalTrace evaluates with a Trace of the variables read and of the
// sub-condition that failed, for the admin UI; Explain is the same without
// the variables, for stored decisions that record the data points
// themselves. Eval pays nothing for either.
//
// # Operators
//
// var (default value, dotted paths, array indexes, "" for the whole data,
// computed paths), missing, missing_some, if and ?:, ==, ===, !=, !==, !,
// !!, and, or, <, <=, >, >= (with the three-argument "between" forms of <
// and <=), min, max, +, -, *, /, %, in, cat, substr, merge, map, filter,
// reduce, all, none, some, and log (which returns its argument and logs
// nothing). Truthiness is JSONLogic's (https://jsonlogic.com/truthy.html):
// 0, NaN, "", [], null and false are falsy, "0" and {} are truthy. == and the
// arithmetic and comparison operators coerce as JavaScript does (ECMA-262
// §7.1, §7.2.13, §7.2.14), exactly as json-logic-js: + and * use parseFloat,
// - / % < and friends use Number(), [1] == "1" holds, [1] == [1] does not
// (objects compare by reference), and a lone {"*":[x]} returns x unchanged.
//
// Division by zero and other non-finite results follow JavaScript
// (Infinity, -Infinity, NaN); NaN is falsy, and non-finite numbers marshal
// as JSON null, as JSON.stringify writes them. Strings compare by UTF-16
// code units and substr counts UTF-16 code units.
//
// Vigil extensions:
//
//   - Value lists: {"in":[<expr>,{"var":"valueLists.<alias>"}]} tests
//     membership in the tenant's value list with that alias, and
//     {"!":{"in":[<expr>,{"var":"valueLists.<alias>"}]}} is "not in list".
//     The encoding is plain JSONLogic, so it round-trips through storage and
//     the Management API unchanged. Compile binds the alias through
//     Options.Lists (an unknown alias does not compile) to a *List whose
//     contents can be swapped atomically without recompiling. Membership is a
//     hash lookup; list items that are CIDR ranges or IP addresses match IP
//     address strings by prefix. A valueLists.<alias> var anywhere else does
//     not compile.
//   - cidr: {"cidr":[<ip expr>,"10.0.0.0/8"]} is true when the expression is
//     an IPv4 or IPv6 address string inside the literal range; the second
//     argument may also be an array of ranges or addresses. Ranges are
//     checked at compile time.
//
// # Limits
//
// Compile rejects, with a *CompileError naming the offending node's path
// (e.g. "/and/1/in/0"): invalid JSON, sources over MaxSourceSize (64 KiB,
// which also bounds literal arrays), nesting deeper than MaxDepth (32)
// operations and array literals, unknown operators, wrong arity, scalars
// where an operator needs an array or expression (map, filter, reduce, all,
// none, some, missing_some, in), objects with more than one key, invalid
// cidr ranges and unknown value lists. Eval counts steps (node evaluations
// and copied array elements) and stops with ErrStepBudget past
// Options.MaxSteps (100,000 by default); cat stops with ErrTooLarge past
// MaxStringLen. Eval never panics: a panic is recovered and returned as an
// error.
//
// An empty condition ({}, null, or no bytes) compiles to a program that
// always matches: Match returns true and EvalTrace reports true, while Eval
// returns the literal itself as JSONLogic defines.
package jsonlogic
