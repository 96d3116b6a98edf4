// Package app is the application side of the seed's sign-in flow, as a
// small web application that uses Vigil for risk-based step-up
// authentication:
//
//  1. The login form checks a username and password against a toy
//     in-memory user table (see User).
//  2. Only then does it call Vigil's track for the action signIn, with the
//     user's email, IP address, user agent, a device ID from a long-lived
//     cookie, and redirectUrl = PublicURL + "/callback".
//  3. On ALLOW the user is signed in; on BLOCK or REVIEW_REQUIRED they are
//     not; on CHALLENGE_REQUIRED the login is remembered as pending in the
//     session cookie and the browser goes to the hosted challenge page,
//     track's url.
//  4. The hosted page sends the browser back to /callback?token=…, and the
//     user is signed in only when validateChallenge says that the
//     challenge of exactly the pending action succeeded.
//
// The one invariant: a browser is signed in as a user only after that
// browser gave the user's password and then either Vigil allowed the
// sign-in or a challenge of that very sign-in was validated (once). A
// token alone signs nobody in.
//
// The Server API is called with net/http as the wire contract describes;
// the official Authsignal Go SDK does the same and can replace vigil.go
// with only the API URL and the secret changed.
//
// Sessions are signed cookies (HttpOnly, SameSite=Lax, Secure over
// HTTPS), forms carry a CSRF token bound to the session, and cross-origin
// POSTs are refused. New returns an http.Handler, so tests run the
// application in-process with httptest.
package app
