// Package rules evaluates an action's rules: (rules, action configuration,
// data points) -> decision and explanation. It is pure: no I/O, no clock,
// no database. The invariant callers rely on: a rule that fails to evaluate
// never leads to an implicit ALLOW.
//
// # Compiling
//
// Compile validates a rule list as the Management API must before saving it
// (a *Error names the rule and field, e.g. "rules[2].conditions/and/1", and
// carries vigil.EINVALID) and compiles the conditions of the active rules
// with internal/jsonlogic, sharing one variable table so that each data
// point has one index. Set.Vars is the union of the variables the active
// rules read: the data points to compute, lazily, each at most once per
// track. A Set is immutable and safe for concurrent use.
//
// # Semantics (Authsignal server API §6, issue 3 item 1)
//
//   - Only active rules are evaluated (inactive ones are validated only), in
//     ascending priority (0 first). A rule with empty conditions always
//     matches.
//   - Every active, non-shadow rule that matches is recorded: Decision.RuleIDs
//     and Decision.Rules, by priority.
//   - The matching rule with the lowest priority number decides and becomes
//     PriorityRuleID: its type is the Outcome; its verificationMethods (nil:
//     the configuration's, and then an empty defaultVerificationMethod is
//     the configuration's too), defaultVerificationMethod and
//     promptToEnrollVerificationMethods are the decision's.
//   - With no match, the configuration's DefaultOutcome, VerificationMethods,
//     DefaultVerificationMethod and PromptToEnrollMethods apply.
//   - Shadow rules are evaluated and, when they match, listed in
//     Output.shadowMatches with the outcome they would produce and whether
//     they would have decided; they are never in RuleIDs and never decide.
//
// # Fail safe (security guide F3)
//
// A rule whose evaluation fails (the step budget, a string built too large,
// a recovered panic in a data point) is counted as matching: it is recorded
// in RuleIDs, its entry in Output.rules has matched:true and the error, and
// if it is the first match it decides with decidedBy "ruleError". A failed
// CHALLENGE, REVIEW or BLOCK rule thus decides its own type, as if it had
// matched. A failed ALLOW rule decides the Set's safe outcome instead
// (SafeOutcome option; CHALLENGE by default; ALLOW is refused), with the
// rule's methods as a matching rule would. A failure in a rule after the
// deciding one cannot change the outcome (a lower priority number already
// decided) and is only recorded. A failed shadow rule only records its
// error. Evaluation is bounded per rule by jsonlogic's step budget
// (Options.MaxSteps), so a decision takes at most MaxRules times that;
// Compile rejects what is detectable at save time.
// Decide returns an error only for a nil or invalid configuration
// (ErrNilConfig), which the caller must not turn into an ALLOW either.
//
// # Decide and DecideTrace
//
// Decide is the hot path: it evaluates with Program.Match, and when no rule
// fails it reuses a cached explanation per set of matching rules (up to
// 1,024 sets per Set; beyond that it builds one per decision), so a
// decision costs one allocation (the *Decision). Its Output lists each
// rule's result but no data points. DecideTrace evaluates the same way and
// then also records every data point in Vars and, re-evaluating each rule
// that did not match with Program.Explain (EvalTrace without the list of
// variables read), the sub-conditions that failed. It produces the
// explanation stored with every tracked action, so it writes Output's JSON
// directly (the bytes json.Marshal would write for the Output value, with
// no reflection and no intermediate map) and allocates only the Decision,
// its Output and a few slabs per rule that did not match. Both decide
// identically by construction. Decisions share their slices and Output
// with each other and with the configuration: callers must not modify them.
//
// # Output
//
// Decision.Output is a JSON object (the Output type), never null:
//
//	{
//	  "version": 1,                       // OutputVersion
//	  "traced": true,                     // false from Decide
//	  "decidedBy": "rule",                // "rule" | "ruleError" | "default"
//	  "dataPoints": {                     // DecideTrace only: every var of the
//	    "device.isNew": true,             // active rules, by dotted path,
//	    "ip.address": "203.0.113.9",      // null when unavailable
//	    "user.email": null
//	  },
//	  "rules": [                          // every active rule, by priority
//	    {"ruleId": "r1", "name": "OFAC", "priority": 0, "type": "BLOCK",
//	     "matched": false,
//	     "failed": [                      // DecideTrace only, when not matched
//	       {"path": "/and/1", "op": "in", "args": ["NZ", ["KP", "IR"]], "value": false},
//	       {"path": "/and/2", "op": "in", "list": "blocked-emails", "args": ["a@b.c"], "value": false}
//	     ]},
//	    {"ruleId": "r2", "name": "New device", "priority": 5, "type": "CHALLENGE", "matched": true},
//	    {"ruleId": "r3", "name": "Watch", "priority": 7, "type": "BLOCK", "shadow": true, "matched": true},
//	    {"ruleId": "r4", "name": "Heavy", "priority": 9, "type": "REVIEW", "matched": true,
//	     "error": "jsonlogic: evaluation step budget exceeded"}
//	  ],
//	  "shadowMatches": [                  // shadow rules that would have matched
//	    {"ruleId": "r3", "name": "Watch", "priority": 7, "outcome": "BLOCK", "wouldDecide": false}
//	  ]
//	}
//
// A failed condition's path is the JSON Pointer of the node inside the
// rule's conditions (as in compile errors); args are the evaluated operands
// (operands over 256 bytes of JSON are summarized as {"truncated": true,
// "kind": "array", "length": n}); for an "and" the failing operand is listed,
// for an "or" every operand, for a "!" the negation itself; a condition
// whose root is not a logical operation or comparison reports path "" and
// its value. Fields are only ever added; an incompatible change bumps
// version.
//
// # Replaying
//
// Output.dataPoints replays: Points (ParsePoints) accepts the same dotted
// keys, and also nested objects ({"device": {"isNew": true}}), and
// Set.Data turns them into the jsonlogic.Data that Decide reads, so a draft
// rule set can be decided over stored actions. A data point the stored
// rules did not read is missing in the replay, which var, missing and
// missing_some treat like null.
package rules
