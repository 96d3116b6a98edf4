package httpapi

import (
	"crypto/rand"
	"log/slog"
	"net/http"

	"github.com/vigil-auth/vigil"
)

// Wire error codes of this package that have no domain counterpart.
const (
	eMethodNotAllowed     = "method_not_allowed"     // 405
	eUnsupportedMediaType = "unsupported_media_type" // 415
)

// unauthorizedMessage is the errorDescription of every 401, byte for byte
// what the SDK test suites assert (contract §1).
const unauthorizedMessage = "The request is unauthorized. Check that your API key and region base URL are correctly configured."

var (
	errUnauthorized  = vigil.Errorf(vigil.EUNAUTHORIZED, unauthorizedMessage)
	errRouteNotFound = vigil.Errorf(vigil.ENOTFOUND, "No such endpoint.")
)

// statusFor maps an error code to its HTTP status. Codes not listed are
// treated as internal.
func statusFor(code string) int {
	switch code {
	case vigil.EINVALID:
		return http.StatusBadRequest
	case vigil.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case vigil.EFORBIDDEN:
		return http.StatusForbidden
	case vigil.ENOTFOUND:
		return http.StatusNotFound
	case eMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case vigil.ECONFLICT:
		return http.StatusConflict
	case vigil.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case eUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case vigil.EUNPROCESSABLE:
		return http.StatusUnprocessableEntity
	case vigil.ETOOMANY:
		return http.StatusTooManyRequests
	case vigil.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorResponse is the contract's error body (§0 "Error body"): both code
// keys, because some SDKs read "error" and others "errorCode".
type errorResponse struct {
	Error            string `json:"error"`
	ErrorCode        string `json:"errorCode"`
	ErrorDescription string `json:"errorDescription"`
}

// writeError is the only place that turns an error into an HTTP response.
// A *vigil.Error with a known code is sent as is (every 401 with the
// contract's fixed message); anything else is logged once with a fresh
// error ID and answered with a generic 500 that quotes the ID.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if writeChallengeError(w, err) {
		return
	}
	code := vigil.ErrorCode(err)
	msg := vigil.ErrorMessage(err)
	status := statusFor(code)
	switch status {
	case http.StatusUnauthorized:
		msg = unauthorizedMessage
	case http.StatusServiceUnavailable:
		s.logger.WarnContext(r.Context(), "dependency unavailable",
			slog.String("request_id", vigil.RequestIDFromContext(r.Context())),
			slog.String("route", stateFrom(r.Context()).route),
			slog.String("err", err.Error()))
	case http.StatusInternalServerError:
		id := rand.Text()
		s.logger.ErrorContext(r.Context(), "internal error",
			slog.String("error_id", id),
			slog.String("request_id", vigil.RequestIDFromContext(r.Context())),
			slog.String("route", stateFrom(r.Context()).route),
			slog.String("tenant_id", stateFrom(r.Context()).tenantID),
			slog.String("err", err.Error()))
		code = vigil.EINTERNAL
		msg = "An internal error occurred. Error ID: " + id + "."
	}
	body, mErr := marshalJSON(errorResponse{Error: code, ErrorCode: code, ErrorDescription: msg})
	if mErr != nil {
		// Cannot happen for three strings; keep the response JSON anyway.
		body = []byte(`{"error":"internal_error","errorCode":"internal_error","errorDescription":"An internal error occurred."}`)
		status = http.StatusInternalServerError
	}
	writeBody(w, status, body)
}
