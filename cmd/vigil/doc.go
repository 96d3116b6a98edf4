// Command vigil is the Vigil server and its operator tools: a self-hosted
// risk-based authentication server that speaks the Authsignal wire protocol.
//
// Usage:
//
//	vigil serve      run the server
//	vigil migrate    apply database migrations
//	vigil tenant …   create, list and rotate tenants' secrets
//	vigil version    print the version
//
// Settings come from flags and VIGIL_* environment variables; see Config.
//
// main only calls run, which takes the arguments, the environment (as a
// getenv function) and the output streams explicitly, so that end-to-end
// tests drive the real program in-process. Operator output that must be seen
// once, such as newly generated secrets, goes to stdout; logs go to stderr
// and never contain secrets.
package main
