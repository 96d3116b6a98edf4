// Package compat holds the compatibility tests that run the official
// Authsignal SDKs, unchanged, against a real Vigil server: the vigil binary is
// built from this module and started on loopback with a declarative config,
// and each SDK is pointed at it with only the base URL and the secret changed.
package compat
