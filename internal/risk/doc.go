// Package risk is Vigil's track pipeline: it implements vigil.ActionTracker
// on top of the vigil service interfaces, so it knows nothing about HTTP or
// SQL.
//
// Track runs these steps, in order:
//
//  1. validate the input (EINVALID naming the field);
//  2. replay: with a caller-supplied idempotency key, an existing action with
//     the same request fingerprint is returned as it was (same token), and
//     one with another fingerprint is EUNPROCESSABLE;
//  3. load the action configuration (an unknown action code gets a fresh
//     configuration with default outcome ALLOW, stored atomically with the
//     action);
//  4. load the user's authenticators;
//  5. evaluate: an Evaluator turns configuration and input into a
//     vigil.Decision. DefaultEvaluator applies the configuration's default;
//     the rules engine is another Evaluator and plugs in here;
//  6. decide: the outcome's state, the methods the user may use and whether
//     the user is enrolled;
//  7. store the action, and sign its challenge token.
//
// A CHALLENGE for a user without authenticators is CHALLENGE_REQUIRED with
// IsEnrolled false: the user enrolls a first factor with the token (trust
// on first use).
//
// Validate verifies a token and reports the state of its action; IsValid is
// true only for the one call that consumes a CHALLENGE_SUCCEEDED action.
package risk
