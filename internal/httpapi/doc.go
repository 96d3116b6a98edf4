// Package httpapi serves Vigil's HTTP surfaces: the Authsignal-compatible
// Server API under /v1, the Management API under /v1/management (action
// configurations, rules and value lists; contract section 4), and the
// operational endpoints /healthz, /readyz and /metrics.
//
// The wire format of the Server API is the one the official Authsignal
// server SDKs expect (see the project's contract, server-api.md sections 0,
// 1 and 2); it lives only in this package. Handlers return errors and one
// writer (writeError) turns them into the contract's error body
// {"error","errorCode","errorDescription"}: only the messages of *vigil.Error
// values reach clients, anything else becomes a generic 500 with an error ID
// that is logged together with the details.
//
// The invariant callers must know: the Server API secret is checked before
// routing. Every request under /v1/ other than the /v1/management/ and
// /v1/client/ subtrees (which belong to surfaces with their own credentials)
// is answered with the contract's exact 401 unless it carries a valid Server
// API secret, whatever its path or method. Likewise every request under
// /v1/management needs a valid Management API secret (a Server API secret
// does not open it, nor a Management secret the Server API).
//
// /metrics is mounted on the same root handler as the API. It exposes only
// request counts, latencies and decision counts (no tenant or user data), but
// operators who do not want it public should block /metrics at their proxy
// or firewall.
package httpapi
