package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-auth/vigil"
)

// handlerFunc is an HTTP handler that returns its error instead of writing
// it; see Server.handle.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h to http.Handler, writing any returned error in the
// Authsignal error format.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// requestState is what the middleware layers learn about a request while it
// is served, for the access log and the metrics. The outermost layer creates
// it; inner layers fill it in through the pointer in the context, because
// they see copies of the *http.Request.
type requestState struct {
	route    string // the pattern of the innermost matched route; "" if none
	tenantID string // the authenticated tenant; "" if none
}

type requestStateKey struct{}

// stateFrom returns the request's state; a throwaway one outside observe.
func stateFrom(ctx context.Context) *requestState {
	if st, ok := ctx.Value(requestStateKey{}).(*requestState); ok {
		return st
	}
	return &requestState{}
}

// routeHandler marks a handler registered through Server.mount.
type routeHandler struct{ h http.Handler }

// ServeHTTP records the matched pattern and serves the request, with the
// real writer when dispatch's mux called it.
func (rh routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rw, ok := w.(*routedWriter); ok {
		rw.routed = true
		w = rw.w
	}
	stateFrom(r.Context()).route = r.Pattern
	rh.h.ServeHTTP(w, r)
}

// routedWriter is the writer dispatch serves its mux with: a route
// (routeHandler) takes the real writer out of it, and whatever else the mux
// runs (its 404, 405 and redirect answers) writes into the probe, for
// dispatch to replace. The mux so matches a request once, where asking it
// for the handler first and then serving matched twice (4 % of the
// server's CPU on a track).
type routedWriter struct {
	probeWriter
	w      http.ResponseWriter
	routed bool
}

// dispatch serves r with mux, replacing the mux's plain-text answers with
// JSON errors: 405 method_not_allowed (keeping the Allow header) when the
// path exists for other methods, and 404 not_found otherwise, including for
// paths the mux would redirect (an API client must not be bounced to a
// cleaned path it did not ask for).
func (s *Server) dispatch(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			// Serve a non-canonical path ("//users", "/a/./b") as its
			// cleaned form instead of letting the mux redirect to it. The
			// surface, and so the authentication, is chosen on the cleaned
			// path.
			escaped := r.URL.EscapedPath()
			if cleaned := cleanPath(escaped); cleaned != escaped {
				rr, err := withPath(r, cleaned)
				if err != nil {
					s.writeError(w, r, errRouteNotFound)
					return
				}
				r = rr
			}
		}
		rw := &routedWriter{w: w}
		mux.ServeHTTP(rw, r) // sets r.Pattern and the path values
		if rw.routed {
			return
		}
		if rw.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rw.Header().Get("Allow"))
			s.writeError(w, r, vigil.Errorf(eMethodNotAllowed, "The %s method is not allowed on this path.", sanitizeMethod(r.Method)))
			return
		}
		s.writeError(w, r, errRouteNotFound)
	})
}

// cleanPath returns the canonical form of an escaped URL path, as ServeMux
// computes it: path.Clean, a leading slash, and the trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// withPath returns a shallow copy of r whose URL has the given escaped path.
func withPath(r *http.Request, escaped string) (*http.Request, error) {
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, err
	}
	u := *r.URL
	u.Path = unescaped
	u.RawPath = escaped
	rr := r.WithContext(r.Context())
	rr.URL = &u
	return rr, nil
}

// probeWriter captures what one of ServeMux's fallback handlers answers.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}
func (p *probeWriter) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	n, err := sw.ResponseWriter.Write(b)
	sw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// observe is the outermost layer. It assigns the request ID (echoed in the
// X-Request-Id response header), recovers panics into a JSON 500, records the
// metrics and writes one access-log line per request.
//
// The access log deliberately carries no path, query string, header or body:
// paths hold user IDs and idempotency keys, queries may hold tokens, and the
// Authorization header holds the secret. The route pattern identifies the
// endpoint.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set("X-Request-Id", id)
		st := &requestState{}
		ctx := context.WithValue(r.Context(), requestStateKey{}, st)
		ctx = vigil.NewContextWithRequestID(ctx, id)
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}

		func() {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
				if sw.status == 0 {
					s.writeError(sw, r, err)
					return
				}
				// The response has started; the client sees it cut short.
				s.logger.ErrorContext(ctx, "panic after response started",
					slog.String("request_id", id), slog.String("err", err.Error()))
			}()
			next.ServeHTTP(sw, r)
		}()

		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		route := st.route
		if route == "" {
			route = "unmatched"
		}
		method := sanitizeMethod(r.Method)
		s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		s.metrics.durations.WithLabelValues(route, method).Observe(elapsed.Seconds())
		s.logger.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("request_id", id),
			slog.String("method", method),
			slog.String("route", st.route),
			slog.Int("status", status),
			slog.Duration("duration", elapsed),
			slog.String("tenant_id", st.tenantID),
			slog.Int64("bytes", sw.bytes),
		)
	})
}

// validRequestID reports whether an incoming X-Request-Id is safe to adopt:
// 1 to 128 characters from [A-Za-z0-9._:-], so it can neither break a log
// line nor carry anything large.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// sanitizeMethod maps r.Method to a bounded set for logs and metric labels.
func sanitizeMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// requireServerSecret authenticates the Server API secret (contract §1):
// HTTP Basic with the secret as username and an empty password. On success
// the tenant goes into the request context; otherwise the request ends with
// the contract's exact 401 before any routing happens.
func (s *Server) requireServerSecret(next http.Handler) http.Handler {
	return s.requireKey(vigil.KeyServer, `Basic realm="Vigil Server API"`, next)
}

// requireKey authenticates a request with Basic auth: an active API key of
// the given kind as the user name and an empty password. It answers 401
// with the contract's fixed body (and challenge as WWW-Authenticate)
// otherwise, and serves next with the tenant in the context.
func (s *Server) requireKey(kind vigil.KeyKind, challenge string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret, password, ok := r.BasicAuth()
		if !ok || secret == "" || password != "" {
			w.Header().Set("WWW-Authenticate", challenge)
			s.writeError(w, r, errUnauthorized)
			return
		}
		tenantID, err := s.auth.authenticate(r.Context(), s.tenants, kind, secret)
		if err != nil {
			if vigil.ErrorCode(err) == vigil.EUNAUTHORIZED {
				w.Header().Set("WWW-Authenticate", challenge)
			}
			s.writeError(w, r, err)
			return
		}
		stateFrom(r.Context()).tenantID = tenantID
		next.ServeHTTP(w, r.WithContext(vigil.NewContextWithTenant(r.Context(), tenantID)))
	})
}

// requireJSONBody refuses request bodies that are not JSON on the methods
// that carry one: the Content-Type must be absent or application/json (or a
// +json type), with at most a UTF-8 charset. This also shuts out HTML form
// posts, which a browser may send cross-site.
func (s *Server) requireJSONBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONContentType(ct) {
				s.writeError(w, r, vigil.Errorf(eUnsupportedMediaType, "The request body must be JSON (Content-Type: application/json)."))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// isJSONContentType reports whether a Content-Type header names JSON in
// UTF-8.
func isJSONContentType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return false
	}
	return true
}
