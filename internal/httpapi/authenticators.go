package httpapi

import (
	"encoding/base32"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/useragent"
)

// Limits on enrolled authenticators.
const (
	maxBatchEnroll       = 1000
	minOTPSecretBytes    = 16   // 128 bits, RFC 4226 §4 R6
	maxOTPSecretBytes    = 128  // far above any real seed
	maxCredentialIDBytes = 1023 // WebAuthn L3 §5.4.3 credential ID limit
	maxPublicKeyBytes    = 4096 // a COSE key is well under this
	maxTransports        = 16
)

// userAuthenticator is the wire UserAuthenticator object (contract §2.3).
type userAuthenticator struct {
	UserID              string                   `json:"userId"`
	UserAuthenticatorID string                   `json:"userAuthenticatorId"`
	VerificationMethod  vigil.VerificationMethod `json:"verificationMethod"`
	CreatedAt           string                   `json:"createdAt"`
	VerifiedAt          string                   `json:"verifiedAt,omitempty"`
	LastVerifiedAt      string                   `json:"lastVerifiedAt,omitempty"`
	PhoneNumber         string                   `json:"phoneNumber,omitempty"`
	Email               string                   `json:"email,omitempty"`
	Username            string                   `json:"username,omitempty"`
	DisplayName         string                   `json:"displayName,omitempty"`
	IsDefault           bool                     `json:"isDefault,omitempty"`
	WebauthnCredential  *webauthnCredential      `json:"webauthnCredential,omitempty"` // this spelling: node, .NET, Java, Ruby
}

// webauthnCredential is the wire form of a passkey or security key.
type webauthnCredential struct {
	CredentialID            string                     `json:"credentialId"`
	DeviceID                string                     `json:"deviceId"`
	Name                    string                     `json:"name"`
	AAGUID                  string                     `json:"aaguid,omitempty"`
	CredentialBackedUp      bool                       `json:"credentialBackedUp"`
	CredentialDeviceType    string                     `json:"credentialDeviceType,omitempty"`
	AuthenticatorAttachment string                     `json:"authenticatorAttachment,omitempty"`
	ParsedUserAgent         *useragent.ParsedUserAgent `json:"parsedUserAgent,omitempty"`
}

// uaParser parses the user agents of passkey registrations for display.
var uaParser = useragent.New(1000)

func newUserAuthenticator(a *vigil.Authenticator) userAuthenticator {
	out := userAuthenticator{
		UserID:              a.UserID,
		UserAuthenticatorID: a.ID,
		VerificationMethod:  a.Method,
		CreatedAt:           formatTime(a.CreatedAt),
		VerifiedAt:          formatTime(a.VerifiedAt),
		LastVerifiedAt:      formatTime(a.LastVerifiedAt),
		PhoneNumber:         a.PhoneNumber,
		Email:               a.Email,
		Username:            a.Username,
		DisplayName:         a.DisplayName,
		IsDefault:           a.IsDefault,
	}
	if c := a.Credential; c != nil {
		out.WebauthnCredential = &webauthnCredential{
			CredentialID:            c.CredentialID,
			DeviceID:                c.DeviceID,
			Name:                    c.Name,
			AAGUID:                  c.AAGUID,
			CredentialBackedUp:      c.BackedUp,
			CredentialDeviceType:    c.DeviceType,
			AuthenticatorAttachment: c.Attachment,
		}
		if c.UserAgent != "" {
			p := uaParser.Parse(c.UserAgent).ParsedUserAgent()
			out.WebauthnCredential.ParsedUserAgent = &p
		}
	}
	return out
}

// handleAuthenticatorList serves GET /v1/users/{userId}/authenticators: a
// JSON array, [] for a user without authenticators or an unknown user.
func (s *Server) handleAuthenticatorList(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	auths, err := s.authenticators.FindAuthenticators(r.Context(), userID)
	if err != nil {
		return err
	}
	out := make([]userAuthenticator, 0, len(auths))
	for _, a := range auths {
		out = append(out, newUserAuthenticator(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

// enrollRequest is the body of POST /v1/users/{userId}/authenticators and
// one item of the batch endpoint (which adds userId).
type enrollRequest struct {
	UserID              string                   `json:"userId"` // batch only
	VerificationMethod  vigil.VerificationMethod `json:"verificationMethod"`
	PhoneNumber         string                   `json:"phoneNumber"`
	Email               string                   `json:"email"`
	OTPURI              string                   `json:"otpUri"`
	IsDefault           *bool                    `json:"isDefault"`
	CredentialID        string                   `json:"credentialId"`
	CredentialPublicKey string                   `json:"credentialPublicKey"`
	// The contract did not capture the name of the signature counter; the
	// WebAuthn name and SimpleWebAuthn's are both accepted.
	SignCount  *uint32  `json:"signCount"`
	Counter    *uint32  `json:"counter"`
	Name       string   `json:"name"`
	AAGUID     string   `json:"aaguid"`
	Transports []string `json:"transports"`
	DeviceID   string   `json:"deviceId"`
	UserAgent  string   `json:"userAgent"`
}

// toAuthenticator validates req for userID and builds the authenticator to
// store. Errors are EINVALID.
func (req *enrollRequest) toAuthenticator(userID string) (*vigil.Authenticator, error) {
	a := &vigil.Authenticator{UserID: userID, Method: req.VerificationMethod}
	if req.IsDefault != nil {
		a.IsDefault = *req.IsDefault
	}
	switch req.VerificationMethod {
	case "":
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'verificationMethod' is required.")
	case vigil.MethodSMS, vigil.MethodWhatsApp:
		if req.PhoneNumber == "" {
			return nil, vigil.Errorf(vigil.EINVALID, "The field 'phoneNumber' is required for %s.", req.VerificationMethod)
		}
		// Phone numbers are not format-checked: the SDK tests send
		// non-strict numbers (contract §2.2, §2.3).
		if err := checkString("phoneNumber", req.PhoneNumber, maxAttrBytes); err != nil {
			return nil, err
		}
		a.PhoneNumber = req.PhoneNumber
	case vigil.MethodEmailOTP, vigil.MethodEmailMagicLink:
		if req.Email == "" {
			return nil, vigil.Errorf(vigil.EINVALID, "The field 'email' is required for %s.", req.VerificationMethod)
		}
		if err := checkString("email", req.Email, maxAttrBytes); err != nil {
			return nil, err
		}
		if !strings.Contains(req.Email, "@") {
			return nil, vigil.Errorf(vigil.EINVALID, "The field 'email' must be an email address.")
		}
		a.Email = req.Email
	case vigil.MethodAuthenticatorApp:
		secret, err := parseOTPURI(req.OTPURI)
		if err != nil {
			return nil, err
		}
		a.OTPSecret = secret
	case vigil.MethodPasskey, vigil.MethodSecurityKey:
		c, err := req.credential()
		if err != nil {
			return nil, err
		}
		a.Credential = c
	default:
		if req.VerificationMethod.Valid() {
			return nil, vigil.Errorf(vigil.EINVALID, "The verification method %s cannot be enrolled through this endpoint.", req.VerificationMethod)
		}
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'verificationMethod' is not a known verification method.")
	}
	return a, nil
}

// credential validates the WebAuthn fields of req.
func (req *enrollRequest) credential() (*vigil.WebAuthnCredential, error) {
	if req.CredentialID == "" {
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'credentialId' is required for %s.", req.VerificationMethod)
	}
	id, err := decodeBase64URL(req.CredentialID)
	if err != nil || len(id) == 0 || len(id) > maxCredentialIDBytes {
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'credentialId' must be base64url of 1 to %d bytes.", maxCredentialIDBytes)
	}
	if req.CredentialPublicKey == "" {
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'credentialPublicKey' is required for %s.", req.VerificationMethod)
	}
	pk, err := decodeBase64URL(req.CredentialPublicKey)
	if err != nil || len(pk) == 0 || len(pk) > maxPublicKeyBytes {
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'credentialPublicKey' must be base64url of 1 to %d bytes.", maxPublicKeyBytes)
	}
	for _, f := range []struct{ name, v string }{
		{"name", req.Name}, {"aaguid", req.AAGUID}, {"deviceId", req.DeviceID},
	} {
		if err := checkString(f.name, f.v, maxAttrBytes); err != nil {
			return nil, err
		}
	}
	if err := checkString("userAgent", req.UserAgent, maxLongAttrBytes); err != nil {
		return nil, err
	}
	if len(req.Transports) > maxTransports {
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'transports' has more than %d items.", maxTransports)
	}
	for _, t := range req.Transports {
		if err := checkString("transports", t, 64); err != nil {
			return nil, err
		}
	}
	c := &vigil.WebAuthnCredential{
		// Stored in one canonical spelling (unpadded base64url) so that the
		// same credential cannot be registered twice under two spellings.
		CredentialID: base64.RawURLEncoding.EncodeToString(id),
		PublicKey:    pk,
		AAGUID:       req.AAGUID,
		Name:         req.Name,
		DeviceID:     req.DeviceID,
		Transports:   req.Transports,
		UserAgent:    req.UserAgent,
	}
	switch {
	case req.SignCount != nil:
		c.SignCount = *req.SignCount
	case req.Counter != nil:
		c.SignCount = *req.Counter
	}
	return c, nil
}

// decodeBase64URL decodes base64url with or without padding.
func decodeBase64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// parseOTPURI extracts the seed of an otpauth:// URI (Key Uri Format, as
// written by authenticator apps). Only what Vigil's TOTP verifier does is
// accepted: TOTP with SHA1, 6 digits and a 30-second period; a URI asking
// for anything else is refused rather than silently enrolled with
// parameters that would never verify.
func parseOTPURI(raw string) ([]byte, error) {
	invalid := func(why string) error {
		return vigil.Errorf(vigil.EINVALID, "The field 'otpUri' %s.", why)
	}
	if raw == "" {
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'otpUri' is required for AUTHENTICATOR_APP.")
	}
	if len(raw) > maxLongAttrBytes {
		return nil, invalid("is too long")
	}
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "otpauth") {
		return nil, invalid("must be an otpauth:// URI")
	}
	if !strings.EqualFold(u.Host, "totp") {
		return nil, invalid("must be a TOTP (otpauth://totp/) URI")
	}
	q := u.Query()
	if alg := q.Get("algorithm"); alg != "" && !strings.EqualFold(alg, "SHA1") {
		return nil, invalid("must use the SHA1 algorithm")
	}
	if d := q.Get("digits"); d != "" && d != "6" {
		return nil, invalid("must use 6 digits")
	}
	if p := q.Get("period"); p != "" && p != "30" {
		return nil, invalid("must use a 30-second period")
	}
	enc := strings.ToUpper(strings.TrimRight(strings.ReplaceAll(q.Get("secret"), " ", ""), "="))
	if enc == "" {
		return nil, invalid("must carry a secret")
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enc)
	if err != nil {
		return nil, invalid("secret must be base32")
	}
	if len(secret) < minOTPSecretBytes || len(secret) > maxOTPSecretBytes {
		return nil, invalid("secret must be 128 bits or longer")
	}
	return secret, nil
}

// enrollResponse is the body of POST /v1/users/{userId}/authenticators:
// wrapped, as the SDKs read it (contract §2.3). Recovery codes are not
// generated by this endpoint, so the recoveryCodes key is absent.
type enrollResponse struct {
	Authenticator userAuthenticator `json:"authenticator"`
}

// handleAuthenticatorEnroll serves POST /v1/users/{userId}/authenticators:
// it stores an authenticator the application has already verified, creating
// the user if absent.
func (s *Server) handleAuthenticatorEnroll(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	var req enrollRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := req.toAuthenticator(userID)
	if err != nil {
		return err
	}
	a.VerifiedAt = s.now()
	if err := s.authenticators.CreateAuthenticator(r.Context(), a); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, enrollResponse{Authenticator: newUserAuthenticator(a)})
}

// handleAuthenticatorDelete serves
// DELETE /v1/users/{userId}/authenticators/{userAuthenticatorId}: 404 if the
// user has no such authenticator.
func (s *Server) handleAuthenticatorDelete(w http.ResponseWriter, r *http.Request) error {
	userID, err := pathUserID(r)
	if err != nil {
		return err
	}
	id := r.PathValue("userAuthenticatorId")
	if err := checkID("userAuthenticatorId", id); err != nil {
		return err
	}
	if err := s.authenticators.DeleteAuthenticator(r.Context(), userID, id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, successResponse{Success: true})
}

// batchEnrollRequest is the body of POST /v1/users/authenticators.
type batchEnrollRequest struct {
	Authenticators []enrollRequest `json:"authenticators"`
}

// batchFailure reports one item of a batch that was not stored.
type batchFailure struct {
	UserID           string `json:"userId"`
	CredentialID     string `json:"credentialId"`
	ErrorCode        string `json:"errorCode"`
	ErrorDescription string `json:"errorDescription"`
}

// batchEnrollResponse is the body of POST /v1/users/authenticators.
type batchEnrollResponse struct {
	Total     int            `json:"total"`
	Succeeded int            `json:"succeeded"`
	Failed    int            `json:"failed"`
	Failures  []batchFailure `json:"failures"`
}

// handleAuthenticatorBatchEnroll serves POST /v1/users/authenticators: up to
// 1000 already-verified passkeys, each stored or refused independently. An
// invalid item is reported in failures, not as a 400 for the whole batch.
func (s *Server) handleAuthenticatorBatchEnroll(w http.ResponseWriter, r *http.Request) error {
	var req batchEnrollRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Authenticators) > maxBatchEnroll {
		return vigil.Errorf(vigil.EINVALID, "The field 'authenticators' has more than %d items.", maxBatchEnroll)
	}
	resp := batchEnrollResponse{Total: len(req.Authenticators), Failures: []batchFailure{}}
	fail := func(item *enrollRequest, err error) {
		resp.Failures = append(resp.Failures, batchFailure{
			UserID:           item.UserID,
			CredentialID:     item.CredentialID,
			ErrorCode:        vigil.ErrorCode(err),
			ErrorDescription: vigil.ErrorMessage(err),
		})
	}
	var valid []*vigil.Authenticator
	var items []*enrollRequest // items[i] produced valid[i]
	now := s.now()
	for i := range req.Authenticators {
		item := &req.Authenticators[i]
		if err := checkID("userId", item.UserID); err != nil {
			fail(item, err)
			continue
		}
		if item.VerificationMethod != vigil.MethodPasskey {
			fail(item, vigil.Errorf(vigil.EINVALID, "The field 'verificationMethod' must be PASSKEY."))
			continue
		}
		a, err := item.toAuthenticator(item.UserID)
		if err != nil {
			fail(item, err)
			continue
		}
		a.VerifiedAt = now
		valid = append(valid, a)
		items = append(items, item)
	}
	if len(valid) > 0 {
		errs, err := s.authenticators.CreateAuthenticators(r.Context(), valid)
		if err != nil {
			return err
		}
		if len(errs) != len(valid) {
			return errors.New("CreateAuthenticators returned a result count that does not match its input")
		}
		for i, err := range errs {
			switch vigil.ErrorCode(err) {
			case "":
				resp.Succeeded++
			case vigil.ECONFLICT:
				fail(items[i], vigil.Errorf(vigil.ECONFLICT, "Credential already exists for a different user."))
			case vigil.EINTERNAL:
				// Details go to the log only; the item reports a generic error.
				s.logger.ErrorContext(r.Context(), "batch enroll item failed",
					slog.String("request_id", vigil.RequestIDFromContext(r.Context())),
					slog.String("err", err.Error()))
				fail(items[i], err)
			default:
				fail(items[i], err)
			}
		}
	}
	resp.Failed = len(resp.Failures)
	return writeJSON(w, http.StatusOK, resp)
}

// authenticatorConfig is one item of GET /v1/authenticators.
type authenticatorConfig struct {
	AuthenticatorID    string                   `json:"authenticatorId"`
	VerificationMethod vigil.VerificationMethod `json:"verificationMethod"`
	IsActive           bool                     `json:"isActive"`
}

// tenantMethods lists the verification methods Vigil implements, in the
// order they are reported.
func tenantMethods() []vigil.VerificationMethod {
	var out []vigil.VerificationMethod
	for _, m := range []vigil.VerificationMethod{
		vigil.MethodSMS, vigil.MethodEmailOTP, vigil.MethodEmailMagicLink, vigil.MethodAuthenticatorApp,
		vigil.MethodPasskey, vigil.MethodSecurityKey, vigil.MethodPush, vigil.MethodVeriff,
		vigil.MethodIProov, vigil.MethodIDVerse, vigil.MethodPalmBiometricsRR, vigil.MethodRecoveryCode,
		vigil.MethodDevice, vigil.MethodWhatsApp,
	} {
		if m.Implemented() {
			out = append(out, m)
		}
	}
	return out
}

// handleAuthenticatorConfigList serves GET /v1/authenticators, the tenant's
// authenticator configurations. Vigil has no per-tenant authenticator
// settings yet: every method Vigil implements (vigil.VerificationMethod
// Implemented) is active for every tenant, and that is what this reports.
// Each configuration's ID is a name-based UUID (v5) of the tenant and the
// method, so it is stable across restarts and distinct between tenants.
func (s *Server) handleAuthenticatorConfigList(w http.ResponseWriter, r *http.Request) error {
	tenantID, err := vigil.RequireTenant(r.Context())
	if err != nil {
		return err
	}
	methods := tenantMethods()
	out := make([]authenticatorConfig, 0, len(methods))
	for _, m := range methods {
		out = append(out, authenticatorConfig{
			AuthenticatorID:    authenticatorConfigID(tenantID, m),
			VerificationMethod: m,
			IsActive:           true,
		})
	}
	return writeJSON(w, http.StatusOK, out)
}

// authenticatorConfigID derives the stable ID of a tenant's configuration
// for method m.
func authenticatorConfigID(tenantID string, m vigil.VerificationMethod) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:vigil:tenant:"+url.PathEscape(tenantID)+":authenticator:"+string(m))).String()
}
