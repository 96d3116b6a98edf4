package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
)

// Client API: passkeys and security keys (contract client-api.md §2.1,
// §2.2). Passkey options come wrapped as {challengeId, options}; security
// key options and responses are bare.

// maxWebAuthnJSON bounds a WebAuthn response in a request.
const maxWebAuthnJSON = 64 << 10

// clientRoutesWebAuthn registers the WebAuthn routes. The routes that
// accept both a token and the tenant ID take the session from the request.
func (s *Server) clientRoutesWebAuthn(mux *http.ServeMux, bearer func(string, clientHandler)) {
	either := func(pattern string, h func(w http.ResponseWriter, r *http.Request, cs *clientSession) error) {
		s.route(mux, pattern, func(w http.ResponseWriter, r *http.Request) error {
			cs := sessionFrom(r)
			if cs == nil {
				return challenge.ErrInvalidToken
			}
			return h(w, r, cs)
		})
	}
	for _, suffix := range []string{"", "/web"} {
		bearer("POST /v1/client/user-authenticators/passkey/registration-options"+suffix, s.handlePasskeyRegistrationOptions)
		either("POST /v1/client/challenge"+suffix, s.handlePasskeyChallenge)
		either("POST /v1/client/user-authenticators/passkey/authentication-options"+suffix, s.handlePasskeyAuthenticationOptions)
	}
	bearer("POST /v1/client/user-authenticators/passkey", s.handlePasskeyAdd)
	either("POST /v1/client/verify/passkey", s.handlePasskeyVerify)
	either("GET /v1/client/user-authenticators/passkey", s.handlePasskeyAvailable)
	bearer("POST /v1/client/user-authenticators/security-key/registration-options", s.handleSecurityKeyRegistrationOptions)
	bearer("POST /v1/client/user-authenticators/security-key", s.handleSecurityKeyAdd)
	bearer("POST /v1/client/user-authenticators/security-key/authentication-options", s.handleSecurityKeyAuthenticationOptions)
	bearer("POST /v1/client/verify/security-key", s.handleSecurityKeyVerify)
}

type optionsResponse struct {
	ChallengeID string          `json:"challengeId"`
	Options     json.RawMessage `json:"options"`
}

// handlePasskeyRegistrationOptions serves POST
// .../passkey/registration-options: {username?, displayName?,
// authenticatorAttachment?}. A missing attachment means "platform" (the
// SDK's default), null means no preference.
func (s *Server) handlePasskeyRegistrationOptions(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	username, err := f.str("username", maxAttrBytes)
	if err != nil {
		return err
	}
	display, err := f.str("displayName", maxAttrBytes)
	if err != nil {
		return err
	}
	attachment := "platform"
	if f.has("authenticatorAttachment") {
		if attachment, err = f.str("authenticatorAttachment", 32); err != nil {
			return err
		}
		if attachment != "" && attachment != "platform" && attachment != "cross-platform" {
			return vigil.Errorf(vigil.EINVALID, "authenticatorAttachment must be platform, cross-platform or null.")
		}
	}
	id, opts, err := s.challenges.RegistrationOptions(r.Context(), sess, vigil.MethodPasskey, username, display, attachment)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, optionsResponse{ChallengeID: id, Options: opts})
}

type webauthnVerifyResponse struct {
	IsVerified          bool               `json:"isVerified"`
	AccessToken         string             `json:"accessToken,omitempty"`
	UserAuthenticatorID string             `json:"userAuthenticatorId,omitempty"`
	UserID              string             `json:"userId,omitempty"`
	Username            string             `json:"username,omitempty"`
	UserDisplayName     string             `json:"userDisplayName,omitempty"`
	UserAuthenticator   *userAuthenticator `json:"userAuthenticator,omitempty"`
	FailureReason       string             `json:"failureReason,omitempty"`
	RecoveryCodes       []string           `json:"recoveryCodes,omitempty"`
}

func registrationResponse(sess *challenge.Session, res *challenge.Result) webauthnVerifyResponse {
	out := webauthnVerifyResponse{IsVerified: res.IsVerified, AccessToken: res.AccessToken,
		FailureReason: res.FailureReason, RecoveryCodes: res.RecoveryCodes}
	if res.IsVerified {
		out.UserID = sess.Claims.UserID
	}
	if res.Authenticator != nil {
		ua := clientAuthenticator(res.Authenticator)
		out.UserAuthenticator, out.UserAuthenticatorID = &ua, ua.UserAuthenticatorID
	}
	return out
}

// handlePasskeyAdd serves POST /v1/client/user-authenticators/passkey:
// {registrationCredential, conditionalCreate?, challengeId?}.
func (s *Server) handlePasskeyAdd(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	if err := f.required("registrationCredential"); err != nil {
		return err
	}
	cred := f["registrationCredential"]
	if len(cred) > maxWebAuthnJSON {
		return vigil.Errorf(vigil.ETOOLARGE, "registrationCredential is too large.")
	}
	id, err := f.str("challengeId", maxAttrBytes)
	if err != nil {
		return err
	}
	conditional := false
	if f.set("conditionalCreate") {
		if conditional, err = f.boolean("conditionalCreate"); err != nil {
			return err
		}
	}
	res, err := s.challenges.Register(r.Context(), sess, vigil.MethodPasskey, id, cred, conditional, r.Header.Get("User-Agent"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registrationResponse(sess, res))
}

// handlePasskeyChallenge serves POST /v1/client/challenge: {action?,
// idempotencyKey?} starts a usernameless passkey sign-in for an action.
func (s *Server) handlePasskeyChallenge(w http.ResponseWriter, r *http.Request, cs *clientSession) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	action, err := f.str("action", maxAttrBytes)
	if err != nil {
		return err
	}
	key, err := f.str("idempotencyKey", maxAttrBytes)
	if err != nil {
		return err
	}
	if key != "" {
		if err := checkID("idempotencyKey", key); err != nil {
			return err
		}
	}
	id, err := s.challenges.StartPasskeyChallenge(r.Context(), action, key)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, challengeResponse{ChallengeID: id})
}

// handlePasskeyAuthenticationOptions serves POST
// .../passkey/authentication-options: with a token, the user's passkeys;
// with the tenant ID, a usernameless request ({challengeId?}).
func (s *Server) handlePasskeyAuthenticationOptions(w http.ResponseWriter, r *http.Request, cs *clientSession) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	id, err := f.str("challengeId", maxAttrBytes)
	if err != nil {
		return err
	}
	id, opts, err := s.challenges.AuthenticationOptions(r.Context(), cs.tenant, cs.sess, vigil.MethodPasskey, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, optionsResponse{ChallengeID: id, Options: opts})
}

// handlePasskeyVerify serves POST /v1/client/verify/passkey:
// {authenticationCredential, deviceId?, challengeId?}.
func (s *Server) handlePasskeyVerify(w http.ResponseWriter, r *http.Request, cs *clientSession) error {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return err
	}
	if err := f.required("authenticationCredential"); err != nil {
		return err
	}
	cred := f["authenticationCredential"]
	if len(cred) > maxWebAuthnJSON {
		return vigil.Errorf(vigil.ETOOLARGE, "authenticationCredential is too large.")
	}
	id, err := f.str("challengeId", maxAttrBytes)
	if err != nil {
		return err
	}
	device, err := f.str("deviceId", maxAttrBytes)
	if err != nil {
		return err
	}
	return s.webauthnVerify(w, r, cs, vigil.MethodPasskey, id, cred, device)
}

func (s *Server) webauthnVerify(w http.ResponseWriter, r *http.Request, cs *clientSession, m vigil.VerificationMethod, challengeID string, cred []byte, device string) error {
	res, err := s.challenges.VerifyWebAuthn(r.Context(), cs.tenant, cs.sess, m, challengeID, cred, challenge.AuthenticateRequest{
		IPAddress: clientIP(r), UserAgent: r.Header.Get("User-Agent"), DeviceID: device})
	if err != nil {
		return err
	}
	out := webauthnVerifyResponse{IsVerified: res.IsVerified, AccessToken: res.AccessToken, FailureReason: res.FailureReason}
	if res.IsVerified {
		out.UserID, out.UserAuthenticatorID = res.UserID, res.UserAuthenticatorID
		out.Username, out.UserDisplayName = res.Username, res.DisplayName
	}
	return writeJSON(w, http.StatusOK, out)
}

// clientIP is the address of the browser that called: the connection's
// peer (Vigil does not trust forwarding headers by default).
func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

type passkeyAvailable struct {
	CredentialID string `json:"credentialId"`
	VerifiedAt   string `json:"verifiedAt,omitempty"`
}

// handlePasskeyAvailable serves GET
// /v1/client/user-authenticators/passkey?credentialIds=a,b (or
// credentialId=a): the first of the credentials registered in the tenant,
// 404 if none.
func (s *Server) handlePasskeyAvailable(w http.ResponseWriter, r *http.Request, cs *clientSession) error {
	q := r.URL.Query()
	ids := strings.Split(q.Get("credentialIds"), ",")
	if one := q.Get("credentialId"); one != "" {
		ids = append(ids, one)
	}
	for _, id := range ids {
		if id = strings.TrimSpace(id); id == "" || len(id) > 1024 {
			continue
		}
		a, err := s.challenges.FindCredential(r.Context(), id)
		if vigil.ErrorCode(err) == vigil.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, passkeyAvailable{CredentialID: id, VerifiedAt: formatTime(a.VerifiedAt)})
	}
	return vigil.Errorf(vigil.ENOTFOUND, "No such credential.")
}

// handleSecurityKeyRegistrationOptions serves POST
// .../security-key/registration-options: bare creation options.
func (s *Server) handleSecurityKeyRegistrationOptions(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	if err := s.decodeJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	_, opts, err := s.challenges.RegistrationOptions(r.Context(), sess, vigil.MethodSecurityKey, "", "", "cross-platform")
	if err != nil {
		return err
	}
	return writeRawJSON(w, opts)
}

// rawBody reads a bare WebAuthn response body.
func (s *Server) rawBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := s.decodeJSON(w, r, &raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, vigil.Errorf(vigil.EINVALID, "The request body must be the WebAuthn response.")
	}
	if len(raw) > maxWebAuthnJSON {
		return nil, vigil.Errorf(vigil.ETOOLARGE, "The WebAuthn response is too large.")
	}
	return raw, nil
}

// handleSecurityKeyAdd serves POST /v1/client/user-authenticators/security-key
// with the bare RegistrationResponseJSON.
func (s *Server) handleSecurityKeyAdd(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	raw, err := s.rawBody(w, r)
	if err != nil {
		return err
	}
	res, err := s.challenges.Register(r.Context(), sess, vigil.MethodSecurityKey, "", raw, false, r.Header.Get("User-Agent"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, registrationResponse(sess, res))
}

// handleSecurityKeyAuthenticationOptions serves POST
// .../security-key/authentication-options: bare request options.
func (s *Server) handleSecurityKeyAuthenticationOptions(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	if err := s.decodeJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	_, opts, err := s.challenges.AuthenticationOptions(r.Context(), sess.Tenant, sess, vigil.MethodSecurityKey, "")
	if err != nil {
		return err
	}
	return writeRawJSON(w, opts)
}

// handleSecurityKeyVerify serves POST /v1/client/verify/security-key with
// the bare AuthenticationResponseJSON.
func (s *Server) handleSecurityKeyVerify(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	raw, err := s.rawBody(w, r)
	if err != nil {
		return err
	}
	return s.webauthnVerify(w, r, sessionFrom(r), vigil.MethodSecurityKey, "", raw, "")
}

// writeRawJSON writes an already encoded JSON body.
func writeRawJSON(w http.ResponseWriter, body []byte) error {
	writeBody(w, http.StatusOK, body)
	return nil
}
