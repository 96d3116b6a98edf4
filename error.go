package vigil

import (
	"errors"
	"fmt"
)

// Error codes. Each is also the wire code sent in the "error" and "errorCode"
// fields of an error body, so they use Authsignal's spelling where one exists.
const (
	EINVALID       = "invalid_request"   // the request is malformed or fails validation (400)
	EUNAUTHORIZED  = "unauthorized"      // missing or wrong credentials (401)
	EFORBIDDEN     = "forbidden"         // authenticated but not allowed (403)
	ENOTFOUND      = "not_found"         // the resource does not exist in this tenant (404)
	ECONFLICT      = "conflict"          // a uniqueness or concurrent-update conflict (409)
	ETOOLARGE      = "request_too_large" // the body exceeds the size limit (413)
	EUNPROCESSABLE = "unprocessable"     // well-formed but refused, e.g. an idempotency key reused with another payload (422)
	ETOOMANY       = "too_many_requests" // rate limited (429)
	EINTERNAL      = "internal_error"    // anything not deliberately marked client-safe (500)
	EUNAVAILABLE   = "unavailable"       // a dependency such as the database is down (503)
)

// Error is an error whose code and message are safe to show to an API client.
// Any other error is treated as internal: clients see a generic message and
// the details go only to the log.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("vigil error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of the first *Error in err's
// chain, a generic message for any other non-nil error, and "" for nil.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}
