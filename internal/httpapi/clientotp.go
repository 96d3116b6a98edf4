package httpapi

import (
	"net/http"
	"strings"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
)

// Client API: email and SMS codes, magic links, authenticator apps and
// recovery codes (contract client-api.md §2.3-2.7).

// verifyResponse is VerifyResponse (contract §2): a wrong code is
// isVerified false with a failureReason, not an error (R5).
type verifyResponse struct {
	IsVerified        bool               `json:"isVerified"`
	AccessToken       string             `json:"accessToken,omitempty"`
	FailureReason     string             `json:"failureReason,omitempty"`
	UserAuthenticator *userAuthenticator `json:"userAuthenticator,omitempty"`
	// RecoveryCodes are Vigil's: the codes generated at the first
	// enrollment, shown once.
	RecoveryCodes []string `json:"recoveryCodes,omitempty"`
}

func newVerifyResponse(res *challenge.Result) verifyResponse {
	out := verifyResponse{IsVerified: res.IsVerified, AccessToken: res.AccessToken, FailureReason: res.FailureReason,
		RecoveryCodes: res.RecoveryCodes}
	if res.Authenticator != nil {
		ua := clientAuthenticator(res.Authenticator)
		out.UserAuthenticator = &ua
	}
	return out
}

// clientAuthenticator is an Authenticator as the Client API shows it: the
// email address and phone number masked (contract §2).
func clientAuthenticator(a *vigil.Authenticator) userAuthenticator {
	ua := newUserAuthenticator(a)
	ua.Email = maskEmail(a.Email)
	ua.PhoneNumber = maskPhone(a.PhoneNumber)
	return ua
}

// maskEmail keeps the first character of the local part and the domain:
// "ada@example.com" -> "a**@example.com".
func maskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at < 1 {
		return e
	}
	return e[:1] + strings.Repeat("*", at-1) + e[at:]
}

// maskPhone keeps the last four digits: "+64211234567" -> "*******4567".
func maskPhone(p string) string {
	if len(p) <= 4 {
		return p
	}
	return strings.Repeat("*", len(p)-4) + p[len(p)-4:]
}

type initResponse struct {
	ChallengeOptions challengeOptions `json:"challengeOptions"`
}

type challengeOptions struct {
	Token                     string   `json:"token"`
	DefaultVerificationMethod string   `json:"defaultVerificationMethod,omitempty"`
	VerificationMethods       []string `json:"verificationMethods,omitempty"`
	User                      initUser `json:"user"`
}

type initUser struct {
	Email       string `json:"email,omitempty"`
	PhoneNumber string `json:"phoneNumber,omitempty"`
}

// handleClientInit serves POST /v1/client/init (contract §2.11): the
// methods the token's action allows.
func (s *Server) handleClientInit(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	if err := s.decodeJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	a := sess.Action
	return writeJSON(w, http.StatusOK, initResponse{ChallengeOptions: challengeOptions{
		Token:                     bearerToken(r),
		DefaultVerificationMethod: string(a.DefaultMethod),
		VerificationMethods:       methodStrings(a.AllowedMethods),
		User:                      initUser{Email: a.Context.Email, PhoneNumber: a.Context.PhoneNumber},
	}})
}

func bearerToken(r *http.Request) string {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return tok
}

// handleClientAuthenticators serves GET /v1/client/user-authenticators:
// the user's authenticators, masked.
func (s *Server) handleClientAuthenticators(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	auths, err := s.authenticators.FindAuthenticators(r.Context(), sess.Claims.UserID)
	if err != nil {
		return err
	}
	out := make([]userAuthenticator, 0, len(auths))
	for _, a := range auths {
		out = append(out, clientAuthenticator(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

type enrollClientResponse struct {
	UserAuthenticatorID string `json:"userAuthenticatorId"`
	UserID              string `json:"userId"`
	ChallengeID         string `json:"challengeId,omitempty"`
}

// enrollDestination serves POST /v1/client/user-authenticators/{email-otp,
// email-magic-link,sms}: {email} or {phoneNumber}; sends a code or link.
func (s *Server) enrollDestination(m vigil.VerificationMethod, field string) clientHandler {
	return func(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
		f, err := s.decodeFields(w, r)
		if err != nil {
			return err
		}
		if err := f.required(field); err != nil {
			return err
		}
		dest, err := f.str(field, maxAttrBytes)
		if err != nil {
			return err
		}
		res, err := s.challenges.Enroll(r.Context(), sess, m, dest)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, enrollClientResponse{UserAuthenticatorID: res.UserAuthenticatorID,
			UserID: sess.Claims.UserID, ChallengeID: res.ChallengeID})
	}
}

type challengeResponse struct {
	ChallengeID string `json:"challengeId"`
}

// challengeMethod serves POST /v1/client/challenge/{email-otp,sms,
// email-magic-link}: sends a code or link to the enrolled authenticator;
// an empty body (R8) or {userAuthenticatorId}.
func (s *Server) challengeMethod(m vigil.VerificationMethod) clientHandler {
	return func(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
		f, err := s.decodeFields(w, r)
		if err != nil {
			return err
		}
		authID, err := f.str("userAuthenticatorId", maxAttrBytes)
		if err != nil {
			return err
		}
		id, err := s.challenges.Challenge(r.Context(), sess, m, authID)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, challengeResponse{ChallengeID: id})
	}
}

// verificationCode reads {verificationCode}.
func (s *Server) verificationCode(w http.ResponseWriter, r *http.Request) (string, error) {
	f, err := s.decodeFields(w, r)
	if err != nil {
		return "", err
	}
	if err := f.required("verificationCode"); err != nil {
		return "", err
	}
	return f.str("verificationCode", 64)
}

// verifyCode serves POST /v1/client/verify/{email-otp,sms}.
func (s *Server) verifyCode(m vigil.VerificationMethod) clientHandler {
	return func(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
		code, err := s.verificationCode(w, r)
		if err != nil {
			return err
		}
		res, err := s.challenges.VerifyCode(r.Context(), sess, m, code)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, newVerifyResponse(res))
	}
}

// handleMagicLinkFinalize serves POST
// /v1/client/verify/email-magic-link/finalize, which the SDK polls every
// second: isVerified false until the emailed link was opened.
func (s *Server) handleMagicLinkFinalize(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	if err := s.decodeJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	res, err := s.challenges.FinalizeMagicLink(r.Context(), sess)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newVerifyResponse(res))
}

type totpEnrollResponse struct {
	UserAuthenticatorID string `json:"userAuthenticatorId"`
	UserID              string `json:"userId"`
	URI                 string `json:"uri"`
	Secret              string `json:"secret"`
}

// handleTOTPEnroll serves POST /v1/client/user-authenticators/totp: a new
// seed as an otpauth:// URI and in base32.
func (s *Server) handleTOTPEnroll(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	if err := s.decodeJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	res, err := s.challenges.EnrollTOTP(r.Context(), sess)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, totpEnrollResponse{UserAuthenticatorID: res.UserAuthenticatorID,
		UserID: sess.Claims.UserID, URI: res.URI, Secret: res.Secret})
}

// handleTOTPVerify serves POST /v1/client/verify/totp.
func (s *Server) handleTOTPVerify(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	code, err := s.verificationCode(w, r)
	if err != nil {
		return err
	}
	res, err := s.challenges.VerifyTOTP(r.Context(), sess, code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newVerifyResponse(res))
}

// handleRecoveryCodeVerify serves POST /v1/client/verify/recovery-code
// (Vigil): {verificationCode}.
func (s *Server) handleRecoveryCodeVerify(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	code, err := s.verificationCode(w, r)
	if err != nil {
		return err
	}
	res, err := s.challenges.VerifyRecoveryCode(r.Context(), sess, code)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newVerifyResponse(res))
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recoveryCodes"`
}

// handleRecoveryCodesRegenerate serves POST
// /v1/client/user-authenticators/recovery-codes (Vigil): replaces the
// user's recovery codes and shows the new ones, once.
func (s *Server) handleRecoveryCodesRegenerate(w http.ResponseWriter, r *http.Request, sess *challenge.Session) error {
	if err := s.decodeJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	codes, err := s.challenges.RegenerateRecoveryCodes(r.Context(), sess)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, recoveryCodesResponse{RecoveryCodes: codes})
}
