// Package webauthn runs the WebAuthn registration and authentication
// ceremonies for Vigil's PASSKEY and SECURITY_KEY verification methods, on
// top of github.com/go-webauthn/webauthn. It produces the option objects the
// @authsignal/browser SDK hands to @simplewebauthn/browser 13.x
// (PublicKeyCredentialCreationOptionsJSON and
// PublicKeyCredentialRequestOptionsJSON) and verifies the
// RegistrationResponseJSON and AuthenticationResponseJSON it posts back.
//
// The package is pure logic: it stores nothing. A [RelyingParty] holds one
// tenant's relying party ID, name and exact origin list; the caller (the
// challenge service) keeps the ceremony session bytes and the credentials.
//
// The invariants callers rely on:
//
//   - Session bytes returned by BeginRegistration and BeginLogin are
//     server-side state. They are not signed or encrypted, so they must never
//     be sent to or accepted from a client. Each session carries its own
//     random 32-byte challenge, its ceremony, relying party ID, user binding,
//     user-verification requirement and expiry (default 5 minutes, enforced
//     by the Finish methods against the injected clock).
//   - A session is single-use, and the caller enforces it: delete (consume)
//     it in the same transaction that records the result, before or
//     regardless of the outcome of Finish. This package cannot see a replay
//     of the same session; it does reject any response whose clientDataJSON
//     challenge is not the session's (WebAuthn L3 §7.1 step 8, §7.2 step 11).
//   - Origins are compared exactly, byte for byte, against the canonical
//     origins given to [NewRelyingParty] (never by suffix), after
//     go-webauthn's own scheme-and-host comparison. crossOrigin and topOrigin
//     are rejected (WebAuthn L2 §7.2 step 9, L3 topOrigin).
//   - Every error a client can cause matches exactly one of
//     [ErrUnknownCredential] (the credential is not registered: Authsignal's
//     errorCode "unknown_credential") or [ErrInvalidCredential] (everything
//     else: "invalid_credential"). The wrapped detail is for the log only;
//     clients must not be able to tell the failures apart. Any other error
//     (a lookup failure, a corrupt session, misuse) is internal.
//   - A signature counter that does not increase (WebAuthn L2 §7.2 step 17;
//     both zero is allowed) is never ignored: under [CounterReject]
//     FinishLogin fails with [ErrCounterRegressed], under [CounterReview] it
//     succeeds with [LoginResult.CounterRegressed] set so the caller can send
//     the action to REVIEW. Either way the returned sign count is the maximum
//     seen, which the caller should store with a monotonic update
//     (max(stored, new)) so that concurrent sign-ins cannot lower it.
//   - Credential IDs are unique per tenant; FinishRegistration only rejects
//     a credential the user already holds ([ErrCredentialExists]). The store
//     must enforce tenant-wide uniqueness.
//
// The package does not parse the User-Agent recorded with a new credential;
// internal/useragent produces Authsignal's parsedUserAgent from the request.
//
// The methods of [RelyingParty] are safe for concurrent use.
package webauthn
