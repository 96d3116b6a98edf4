package httpapi

import "net/http"

// routes builds the root handler. It is the one place that lists every route
// this package serves.
//
// There are two muxes. The root mux holds the operational endpoints and
// mounts whole API surfaces by prefix; each surface applies its own
// authentication before its own mux routes the request, so that an
// unauthenticated request learns nothing about which paths exist (contract
// §1: "Authenticate before routing").
func (s *Server) routes() http.Handler {
	// The Server API (contract §2), authenticated with the Server API secret.
	api := http.NewServeMux()
	s.route(api, "GET /v1/users/{userId}", s.handleUserGet)
	s.route(api, "GET /v1/users", s.handleUserQuery)
	s.route(api, "PATCH /v1/users/{userId}", s.handleUserUpdate)
	s.route(api, "POST /v1/users/{userId}", s.handleUserUpdate) // Ruby's update_user and identify
	s.route(api, "DELETE /v1/users/{userId}", s.handleUserDelete)
	s.route(api, "GET /v1/users/{userId}/authenticators", s.handleAuthenticatorList)
	s.route(api, "POST /v1/users/{userId}/authenticators", s.handleAuthenticatorEnroll)
	s.route(api, "DELETE /v1/users/{userId}/authenticators/{userAuthenticatorId}", s.handleAuthenticatorDelete)
	s.route(api, "POST /v1/users/authenticators", s.handleAuthenticatorBatchEnroll)
	s.route(api, "POST /v1/users/{userId}/actions/{action}", s.handleActionTrack)
	s.route(api, "GET /v1/users/{userId}/actions/{action}/{idempotencyKey}", s.handleActionGet)
	s.route(api, "PATCH /v1/users/{userId}/actions/{action}/{idempotencyKey}", s.handleActionUpdate)
	s.route(api, "GET /v1/users/{userId}/actions", s.handleActionQuery)
	s.route(api, "POST /v1/validate", s.handleValidate)
	s.route(api, "GET /v1/authenticators", s.handleAuthenticatorConfigList)
	if s.challenges != nil {
		s.route(api, "POST /v1/challenge", s.handleChallengeStart)
		s.route(api, "POST /v1/verify", s.handleChallengeVerify)
		s.route(api, "POST /v1/claim", s.handleChallengeClaim)
		s.route(api, "GET /v1/challenges", s.handleChallengeQuery)
		s.route(api, "POST /v1/challenges", s.handleChallengeQuery)
	}
	serverAPI := s.requireServerSecret(s.requireJSONBody(s.dispatch(api)))

	root := http.NewServeMux()
	s.route(root, "GET /healthz", s.handleHealthz)
	s.route(root, "GET /readyz", s.handleReadyz)
	if !s.cfg.SeparateMetrics {
		s.mount(root, "GET /metrics", s.metricsHandler())
	}

	// The Management API (contract §4), authenticated with the Management
	// API secret, before its own mux routes the request.
	mgmt := http.NewServeMux()
	s.managementRoutes(mgmt)
	managementAPI := s.requireManagementSecret(s.requireJSONBody(s.dispatch(mgmt)))
	s.mount(root, "/v1/management", managementAPI)
	s.mount(root, "/v1/management/", managementAPI)

	// The Client API (client-api.md), authenticated with a track or access
	// token or the tenant ID, with CORS, before its own mux routes. Without
	// a challenge service it answers a JSON 404 without asking for the
	// Server API secret.
	if s.challenges != nil {
		client := http.NewServeMux()
		s.clientRoutes(client)
		clientAPI := s.requireClientAuth(s.requireJSONBody(s.dispatch(client)))
		s.mount(root, "/v1/client", clientAPI)
		s.mount(root, "/v1/client/", clientAPI)
		s.mount(root, "GET /magic-link/{tenantId}/{token}", http.HandlerFunc(s.handleMagicLink))
		s.mount(root, "POST /magic-link/{tenantId}/{token}", http.HandlerFunc(s.handleMagicLink))
	} else {
		s.route(root, "/v1/client", s.handleNotFound)
		s.route(root, "/v1/client/", s.handleNotFound)
	}

	// The hosted challenge page: HTML, not JSON; it checks its own session.
	if s.hostedPage != nil {
		s.mount(root, "/challenge", s.hostedPage)
		s.mount(root, "/challenge/", s.hostedPage)
	}

	s.mount(root, "/v1", serverAPI)
	s.mount(root, "/v1/", serverAPI)

	return s.observe(s.dispatch(root))
}

// route registers a handler that returns errors on mux.
func (s *Server) route(mux *http.ServeMux, pattern string, h handlerFunc) {
	s.mount(mux, pattern, s.handle(h))
}

// mount registers a plain http.Handler on mux, marked as a real route so
// that dispatch can tell it from the mux's own 404, 405 and redirect
// handlers, and so that the access log and metrics see its pattern.
func (s *Server) mount(mux *http.ServeMux, pattern string, h http.Handler) {
	mux.Handle(pattern, routeHandler{h})
}
