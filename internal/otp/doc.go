// Package otp holds the primitives behind Vigil's one-time secrets: email
// and SMS codes, authenticator-app (TOTP) codes, recovery codes and magic
// link tokens. It is pure: it has no storage, no clock and no package state.
// Time is passed in (always the server's clock, never a time the client
// sent: ASVS 5.0 6.5.8), and randomness is an io.Reader argument, with nil
// meaning crypto/rand. Everything here is safe for concurrent use.
//
// What this package guarantees, and what it leaves to its caller:
//
//   - Generation is uniform. NewCode, NewRecoveryCodes, NewSecret and
//     NewToken draw from the reader by rejection sampling, so no digit or
//     letter is more likely than another (no modulo bias).
//
//   - Secrets are never stored in the clear. Email and SMS codes and magic
//     link tokens are stored as [Hasher.Sum], an HMAC-SHA256 under a server
//     key over the purpose, a scope and the code, and checked with
//     [Hasher.Equal] in constant time. The scope is the challenge the code
//     was issued for, so a code (or its stored hash) for one challenge never
//     verifies another (ASVS 5.0 6.6.2). Recovery codes, at 50 bits below the
//     112 bits NIST SP 800-63B §5.1.2.2 allows to be stored with a plain
//     hash, are stored with [Hasher.HashRecoveryCode]: the same HMAC, then
//     PBKDF2 with a per-code random salt (ASVS 5.0 6.5.2).
//
//   - TOTP follows RFC 6238 with SHA-1, 6 digits and 30-second steps, the
//     only parameters every authenticator app honours. [Verify] accepts the
//     current step and one step either side (RFC 6238 §5.2 recommends at
//     most one step of network delay; ASVS 5.0 6.5.5 asks for 30 seconds, and
//     the one step back is what lets a code typed at the end of its step
//     still work), and only a step later than the last one accepted, so a
//     code is used once (RFC 6238 §5.2, NIST SP 800-63B §5.1.4.2) and an
//     earlier code is refused after a later one was used.
//
//   - Single use, expiry and attempt limits need state, so they are the
//     caller's: store the step [Verify] returns, or mark a code consumed,
//     with a guarded update in the same transaction that checks it
//     ("UPDATE … SET last_used_step = ? WHERE id = ? AND last_used_step < ?",
//     "… SET consumed_at = ? WHERE … AND consumed_at IS NULL AND expires_at > ?"),
//     expire email and SMS codes after 10 minutes (NIST SP 800-63B §5.1.3.2),
//     allow at most 5 wrong codes per challenge and cap them per user across
//     challenges too (a new challenge must not mean new guesses), and refuse
//     every failure with the same message whatever its cause.
//
// Nothing in this package logs, and no error it returns contains a code,
// secret or token.
package otp
