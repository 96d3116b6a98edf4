// Package vigil holds Vigil's domain vocabulary: tenants, users, authenticators,
// actions and their configurations, decisions and the service interfaces that
// the adapters under internal/ implement.
//
// Vigil is a self-hosted risk-based authentication server that speaks the
// Authsignal wire protocol. This package knows nothing about that protocol,
// HTTP or SQL: it imports only the standard library, and the wire spellings
// live in internal/httpapi.
//
// Every service method is tenant-scoped: the tenant comes from the context
// (see NewContextWithTenant) and a method called without one fails closed
// with EUNAUTHORIZED.
package vigil
