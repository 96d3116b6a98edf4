package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
)

// The Client API (contract client-api.md) is what browsers and mobile apps
// call with the token a track returned (Bearer) or with the tenant ID
// (Basic). Its rules differ from the Server API's: every answer is JSON
// (R1), an expired token is errorCode "expired_token" (R3), a new token is
// "accessToken" (R4), a wrong code is a 200 (R5), and browsers call it
// cross-origin (R7).

// clientOriginsTTL is how long the union of the tenants' allowed origins,
// which answers CORS preflights, is cached.
const clientOriginsTTL = 5 * time.Second

// clientSession is the authenticated caller of a Client API request.
type clientSession struct {
	tenant *vigil.Tenant
	sess   *challenge.Session // nil for Basic (tenant) authentication
}

type clientSessionKey struct{}

func sessionFrom(r *http.Request) *clientSession {
	cs, _ := r.Context().Value(clientSessionKey{}).(*clientSession)
	return cs
}

// clientHandler is a Client API handler that needs a token session.
type clientHandler func(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error

// clientRoutes registers the Client API on mux.
func (s *Server) clientRoutes(mux *http.ServeMux) {
	bearer := func(pattern string, h clientHandler) {
		s.route(mux, pattern, func(w http.ResponseWriter, r *http.Request) error {
			cs := sessionFrom(r)
			if cs == nil || cs.sess == nil {
				return challenge.ErrInvalidToken
			}
			return h(w, r, cs.sess)
		})
	}
	bearer("POST /v1/client/init", s.handleClientInit)
	bearer("GET /v1/client/user-authenticators", s.handleClientAuthenticators)
	bearer("POST /v1/client/user-authenticators/email-otp", s.enrollDestination(vigil.MethodEmailOTP, "email"))
	bearer("POST /v1/client/user-authenticators/email-magic-link", s.enrollDestination(vigil.MethodEmailMagicLink, "email"))
	bearer("POST /v1/client/user-authenticators/sms", s.enrollDestination(vigil.MethodSMS, "phoneNumber"))
	bearer("POST /v1/client/challenge/email-otp", s.challengeMethod(vigil.MethodEmailOTP))
	bearer("POST /v1/client/challenge/email-magic-link", s.challengeMethod(vigil.MethodEmailMagicLink))
	bearer("POST /v1/client/challenge/sms", s.challengeMethod(vigil.MethodSMS))
	bearer("POST /v1/client/verify/email-otp", s.verifyCode(vigil.MethodEmailOTP))
	bearer("POST /v1/client/verify/sms", s.verifyCode(vigil.MethodSMS))
	bearer("POST /v1/client/verify/email-magic-link/finalize", s.handleMagicLinkFinalize)
	bearer("POST /v1/client/user-authenticators/totp", s.handleTOTPEnroll)
	bearer("POST /v1/client/verify/totp", s.handleTOTPVerify)
	bearer("POST /v1/client/verify/recovery-code", s.handleRecoveryCodeVerify)
	bearer("POST /v1/client/user-authenticators/recovery-codes", s.handleRecoveryCodesRegenerate)
	s.clientRoutesWebAuthn(mux, bearer)
}

// requireClientAuth authenticates a Client API request: "Bearer <token>"
// (a track or access token) or "Basic base64(tenantId)" with or without a
// trailing colon (contract §1.1). It also applies the tenant's CORS policy.
// Every failure is JSON; an expired token is errorCode "expired_token".
func (s *Server) requireClientAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			s.clientPreflight(w, r)
			return
		}
		ctx, cs, err := s.clientAuthenticate(r)
		if err != nil {
			// The tenant is unknown, but a browser must be able to read
			// the error (an SDK acts on expired_token): answer any origin
			// some tenant allows, as the preflight did.
			if origin := r.Header.Get("Origin"); origin != "" && s.anyTenantAllows(r.Context(), origin) {
				h := w.Header()
				h.Add("Vary", "Origin")
				h.Set("Access-Control-Allow-Origin", origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			s.writeClientError(w, r, err)
			return
		}
		if err := s.clientCORS(w, r, cs.tenant); err != nil {
			s.writeClientError(w, r, err)
			return
		}
		stateFrom(r.Context()).tenantID = cs.tenant.ID
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, clientSessionKey{}, cs)))
	})
}

func (s *Server) clientAuthenticate(r *http.Request) (context.Context, *clientSession, error) {
	authz := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(authz, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer") && cred != "":
		ctx, sess, err := s.challenges.Authenticate(r.Context(), strings.TrimSpace(cred))
		if err != nil {
			return ctx, nil, err
		}
		return ctx, &clientSession{tenant: sess.Tenant, sess: sess}, nil
	case strings.EqualFold(scheme, "Basic") && cred != "":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return r.Context(), nil, challenge.ErrInvalidToken
		}
		id, _, _ := strings.Cut(string(raw), ":")
		if decoded, err := url.PathUnescape(id); err == nil {
			id = decoded // the browser SDK encodeURIComponent()s the tenant ID
		}
		if id == "" || len(id) > 64 {
			return r.Context(), nil, challenge.ErrInvalidToken
		}
		t, err := s.tenants.FindTenantByID(r.Context(), id)
		if vigil.ErrorCode(err) == vigil.ENOTFOUND {
			return r.Context(), nil, challenge.ErrInvalidToken
		} else if err != nil {
			return r.Context(), nil, err
		}
		return vigil.NewContextWithTenant(r.Context(), t.ID), &clientSession{tenant: t}, nil
	}
	return r.Context(), nil, challenge.ErrInvalidToken
}

// writeClientError answers a Client API error: the token and credential
// errors with the SDK's codes (contract R3, §2.1), everything else as the
// Server API does.
func (s *Server) writeClientError(w http.ResponseWriter, r *http.Request, err error) {
	if !writeChallengeError(w, err) {
		s.writeError(w, r, err)
	}
}

// writeChallengeError writes the Client API's own errors and reports
// whether err was one.
func writeChallengeError(w http.ResponseWriter, err error) bool {
	switch {
	case errors.Is(err, challenge.ErrExpiredToken):
		_ = writeJSON(w, http.StatusUnauthorized, errorResponse{Error: "expired_token", ErrorCode: "expired_token",
			ErrorDescription: "The token has expired. Track the action again to get a new one."})
	case errors.Is(err, challenge.ErrInvalidToken):
		_ = writeJSON(w, http.StatusUnauthorized, errorResponse{Error: "invalid_token", ErrorCode: "invalid_token",
			ErrorDescription: "The token is missing or invalid."})
	case errors.Is(err, challenge.ErrInvalidCredential), errors.Is(err, challenge.ErrUnknownCredential):
		code := vigil.ErrorMessage(err)
		_ = writeJSON(w, http.StatusBadRequest, errorResponse{Error: code, ErrorCode: code,
			ErrorDescription: "The credential could not be verified."})
	default:
		return false
	}
	return true
}

// clientOrigins caches the union of every tenant's allowed origins, for
// preflights (which carry no credentials, so no tenant).
type clientOrigins struct {
	mu      sync.Mutex
	origins map[string]bool
	until   time.Time
}

// publicOrigin is the origin of the public URL, always allowed.
func (s *Server) publicOrigin() string {
	if s.publicURL == nil {
		return ""
	}
	return s.publicURL.Scheme + "://" + s.publicURL.Host
}

// anyTenantAllows reports whether some tenant allows origin.
func (s *Server) anyTenantAllows(ctx context.Context, origin string) bool {
	if origin == s.publicOrigin() {
		return true
	}
	c := &s.originCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := s.now(); c.origins == nil || now.After(c.until) {
		ts, err := s.tenants.FindTenants(ctx)
		if err != nil {
			return c.origins[origin] // keep the last known list
		}
		c.origins = map[string]bool{}
		for _, t := range ts {
			for _, o := range t.Client.AllowedOrigins {
				c.origins[o] = true
			}
		}
		c.until = now.Add(clientOriginsTTL)
	}
	return c.origins[origin]
}

// clientPreflight answers a CORS preflight of the Client API.
func (s *Server) clientPreflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin == "" || !s.anyTenantAllows(r.Context(), origin) {
		s.writeError(w, r, vigil.Errorf(vigil.EFORBIDDEN, "This origin may not call the Client API."))
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// clientCORS allows a cross-origin request from an origin the tenant
// allows, and refuses one from any other origin.
func (s *Server) clientCORS(w http.ResponseWriter, r *http.Request, t *vigil.Tenant) error {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	if origin == "" {
		return nil // not a browser's cross-origin call
	}
	if origin != s.publicOrigin() && !slices.Contains(t.Client.AllowedOrigins, origin) {
		return vigil.Errorf(vigil.EFORBIDDEN, "This origin may not call the Client API for this tenant.")
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Allow-Credentials", "true")
	return nil
}
