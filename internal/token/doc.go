// Package token issues and verifies Vigil's challenge tokens: compact JWTs
// (RFC 7519) signed with HS256 (RFC 7518 §3.2) under a per-tenant key.
//
// Only Vigil verifies these tokens, so a symmetric key is enough, and it is
// about ten times cheaper than a signature scheme on the validate hot path.
// Keys are generated per tenant on first use, stored through
// vigil.SigningKeyService (which encrypts them) and named by the JWT "kid"
// header, so a rotated key keeps verifying the tokens it signed for
// RetiredKeyGrace while new tokens use the new key.
//
// The claims follow the TokenPayload type published by the Authsignal React
// Native SDK ("aud" = tenant ID, "sub" = user ID, "other" carrying tenantId,
// userId, actionCode, idempotencyKey and username), so SDKs that peek at
// claims keep working, plus a "kind" claim that tells the challenge token
// returned by track from the access token issued after a challenge.
//
// Verification is deliberately narrow: the header must be exactly the one
// Sign writes ({"alg":"HS256","typ":"JWT","kid":...}), which rejects "none",
// every other algorithm and any jku/x5u/jwk/crit header without parsing them.
// Every failure is a *vigil.Error with code EUNAUTHORIZED and the message
// "Invalid token."; only a storage failure while loading keys is reported
// as itself.
package token
