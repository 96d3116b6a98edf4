// Package challenge runs the challenges of the Client API: it sends email
// and SMS codes and magic links (internal/delivery), checks answers
// (internal/otp), enrolls authenticators, and completes actions.
//
// The invariants callers rely on:
//   - A verification completes an action at most once, atomically with
//     its authenticator, its TOTP step or recovery code, and the device and
//     IP address it verified (vigil.ChallengeService.CompleteChallenge).
//   - Codes and link tokens exist in clear only in the message sent; they
//     are stored as keyed hashes bound to their tenant and challenge.
//   - Every wrong answer looks the same to the client (CODE_INVALID_OR_EXPIRED,
//     then MAX_ATTEMPTS_EXCEEDED when the challenge and its action fail);
//     the reason is logged.
//   - A method is used only if the action allows it for this user; a new
//     authenticator for an enrolled user needs a completed challenge or the
//     add:authenticators scope.
package challenge
