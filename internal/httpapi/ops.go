package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-auth/vigil"
)

// readyTimeout bounds the readiness check.
const readyTimeout = 2 * time.Second

type statusResponse struct {
	Status string `json:"status"`
}

// handleHealthz reports that the process is up. It checks nothing else, so
// that an orchestrator does not restart a server whose database is briefly
// unreachable.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, statusResponse{Status: "ok"})
}

// handleReadyz reports whether the server can serve traffic: 200 when
// Deps.Ready succeeds, 503 unavailable otherwise.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			// The cause goes to the log through writeError, not to the client.
			return &unavailableError{err: err}
		}
	}
	return writeJSON(w, http.StatusOK, statusResponse{Status: "ok"})
}

// unavailableError wraps a failed readiness check as a client-safe 503
// while keeping the cause for the log.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return "not ready: " + e.err.Error() }

// Unwrap exposes the client-safe *vigil.Error to vigil.ErrorCode.
func (e *unavailableError) Unwrap() []error {
	return []error{vigil.Errorf(vigil.EUNAVAILABLE, "The server is not ready."), e.err}
}

// metricsHandler serves the injected registry in the Prometheus exposition
// format.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		Registry: s.registry, // promhttp's own error counters
	})
}

// handleNotFound answers a JSON 404. It stands in for the surfaces that are
// mounted later (Management API, Client API).
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) error {
	return errRouteNotFound
}
