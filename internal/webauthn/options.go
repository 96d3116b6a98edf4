package webauthn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// The JSON shapes below are PublicKeyCredentialCreationOptionsJSON and
// PublicKeyCredentialRequestOptionsJSON (WebAuthn L3 §5.1.8 and its assertion counterpart) as
// @simplewebauthn/browser 13.x consumes them: binary members are base64url
// without padding, optional members are absent rather than null, and the
// credential lists are always present (possibly empty), as the Authsignal
// SDKs receive them.

type creationOptionsJSON struct {
	RP                     rpEntityJSON               `json:"rp"`
	User                   userEntityJSON             `json:"user"`
	Challenge              string                     `json:"challenge"`
	PubKeyCredParams       []credParamJSON            `json:"pubKeyCredParams"`
	Timeout                int64                      `json:"timeout"`
	ExcludeCredentials     []credentialDescriptorJSON `json:"excludeCredentials"`
	AuthenticatorSelection authenticatorSelectionJSON `json:"authenticatorSelection"`
	Attestation            string                     `json:"attestation"`
}

type rpEntityJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type userEntityJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
}

type credParamJSON struct {
	Alg  int64  `json:"alg"`
	Type string `json:"type"`
}

type credentialDescriptorJSON struct {
	ID         string   `json:"id"`
	Type       string   `json:"type"`
	Transports []string `json:"transports,omitempty"`
}

type authenticatorSelectionJSON struct {
	AuthenticatorAttachment Attachment       `json:"authenticatorAttachment,omitempty"`
	ResidentKey             string           `json:"residentKey"`
	RequireResidentKey      bool             `json:"requireResidentKey"`
	UserVerification        UserVerification `json:"userVerification"`
}

type requestOptionsJSON struct {
	Challenge        string                     `json:"challenge"`
	Timeout          int64                      `json:"timeout"`
	RPID             string                     `json:"rpId"`
	AllowCredentials []credentialDescriptorJSON `json:"allowCredentials"`
	UserVerification UserVerification           `json:"userVerification"`
}

// credentialAlgorithms is pubKeyCredParams, in order of preference: ES256
// (every passkey provider and security key), EdDSA (some security keys) and
// RS256 (Windows Hello on TPMs). Registration rejects any other algorithm
// (WebAuthn §7.1: the credential public key's alg must be one offered).
var credentialAlgorithms = []webauthncose.COSEAlgorithmIdentifier{
	webauthncose.AlgES256,
	webauthncose.AlgEdDSA,
	webauthncose.AlgRS256,
}

// RegistrationOptions tune BeginRegistration.
type RegistrationOptions struct {
	// Kind is Passkey or SecurityKey.
	Kind Kind

	// Attachment is authenticatorSelection.authenticatorAttachment for a
	// passkey. The zero value means no preference. The Client API's
	// authenticatorAttachment defaults to "platform" when the request omits
	// it and means no preference when it is null; the caller maps that. A
	// security key is always "cross-platform".
	Attachment Attachment

	// UserVerification defaults to "required" for a passkey and
	// "discouraged" for a security key.
	UserVerification UserVerification
}

// LoginOptions tune BeginLogin.
type LoginOptions struct {
	// Kind is Passkey or SecurityKey.
	Kind Kind

	// UserVerification defaults to "required" for a passkey and
	// "discouraged" for a security key.
	UserVerification UserVerification
}

// BeginRegistration starts a registration ceremony (WebAuthn L3 §7.1) for
// user. It returns PublicKeyCredentialCreationOptionsJSON, which the Client
// API sends as {challengeId, options} for a passkey and bare for a security
// key, and the session bytes to store server-side for FinishRegistration.
//
// A passkey asks for a discoverable credential (residentKey "required"); a
// security key for a cross-platform one that need not be discoverable.
// user.Credentials become excludeCredentials.
func (rp *RelyingParty) BeginRegistration(user *User, opts RegistrationOptions) (options, session []byte, err error) {
	if err := user.validate(); err != nil {
		return nil, nil, err
	}
	if user.Name == "" {
		return nil, nil, errors.New("webauthn: user name is required")
	}
	uv, err := resolveUV(opts.Kind, opts.UserVerification)
	if err != nil {
		return nil, nil, err
	}
	sel := authenticatorSelectionJSON{UserVerification: uv}
	switch opts.Kind {
	case Passkey:
		if opts.Attachment != "" && opts.Attachment != AttachmentPlatform && opts.Attachment != AttachmentCrossPlatform {
			return nil, nil, fmt.Errorf("webauthn: unknown attachment %q", opts.Attachment)
		}
		sel.AuthenticatorAttachment = opts.Attachment
		sel.ResidentKey = string(protocol.ResidentKeyRequirementRequired)
		sel.RequireResidentKey = true
	case SecurityKey:
		sel.AuthenticatorAttachment = AttachmentCrossPlatform
		sel.ResidentKey = string(protocol.ResidentKeyRequirementDiscouraged)
	}

	params := make([]protocol.CredentialParameter, len(credentialAlgorithms))
	jsonParams := make([]credParamJSON, len(credentialAlgorithms))
	for i, alg := range credentialAlgorithms {
		params[i] = protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: alg}
		jsonParams[i] = credParamJSON{Alg: int64(alg), Type: "public-key"}
	}
	exclude := make([]credentialDescriptorJSON, len(user.Credentials))
	for i := range user.Credentials {
		exclude[i] = user.Credentials[i].descriptor()
	}

	rrk := sel.RequireResidentKey
	creation, data, err := rp.wa.BeginRegistration(newLibraryUser(user),
		gowebauthn.WithCredentialParameters(params),
		gowebauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		gowebauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			AuthenticatorAttachment: protocol.AuthenticatorAttachment(sel.AuthenticatorAttachment),
			RequireResidentKey:      &rrk,
			ResidentKey:             protocol.ResidentKeyRequirement(sel.ResidentKey),
			UserVerification:        protocol.UserVerificationRequirement(uv),
		}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: begin registration: %w", err)
	}

	options, err = json.Marshal(creationOptionsJSON{
		RP:                     rpEntityJSON{ID: rp.id, Name: rp.name},
		User:                   userEntityJSON{ID: b64url(user.ID), Name: user.Name, DisplayName: user.displayName()},
		Challenge:              creation.Response.Challenge.String(),
		PubKeyCredParams:       jsonParams,
		Timeout:                rp.timeout.Milliseconds(),
		ExcludeCredentials:     exclude,
		AuthenticatorSelection: sel,
		Attestation:            string(protocol.PreferNoAttestation),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: encode options: %w", err)
	}
	session, err = rp.newSession(ceremonyRegistration, opts.Kind, data)
	if err != nil {
		return nil, nil, err
	}
	return options, session, nil
}

// BeginLogin starts an authentication ceremony (WebAuthn L3 §7.2). With a nil
// user it is a discoverable (usernameless) passkey sign-in: allowCredentials
// is empty and FinishLogin identifies the user from the credential and its
// userHandle. With a user (a step-up with a track token, or any security
// key) allowCredentials lists user.Credentials and FinishLogin accepts only
// one of them; ErrNoCredentials if there are none.
//
// It returns PublicKeyCredentialRequestOptionsJSON and the session bytes to
// store server-side for FinishLogin.
func (rp *RelyingParty) BeginLogin(user *User, opts LoginOptions) (options, session []byte, err error) {
	uv, err := resolveUV(opts.Kind, opts.UserVerification)
	if err != nil {
		return nil, nil, err
	}
	withUV := gowebauthn.WithUserVerification(protocol.UserVerificationRequirement(uv))

	var (
		assertion *protocol.CredentialAssertion
		data      *gowebauthn.SessionData
		allow     = []credentialDescriptorJSON{}
	)
	if user == nil {
		if opts.Kind != Passkey {
			return nil, nil, fmt.Errorf("webauthn: a %v sign-in needs a user", opts.Kind)
		}
		assertion, data, err = rp.wa.BeginDiscoverableLogin(withUV)
	} else {
		if err := user.validate(); err != nil {
			return nil, nil, err
		}
		if len(user.Credentials) == 0 {
			return nil, nil, ErrNoCredentials
		}
		for i := range user.Credentials {
			allow = append(allow, user.Credentials[i].descriptor())
		}
		assertion, data, err = rp.wa.BeginLogin(newLibraryUser(user), withUV)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: begin login: %w", err)
	}

	options, err = json.Marshal(requestOptionsJSON{
		Challenge:        assertion.Response.Challenge.String(),
		Timeout:          rp.timeout.Milliseconds(),
		RPID:             rp.id,
		AllowCredentials: allow,
		UserVerification: uv,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("webauthn: encode options: %w", err)
	}
	session, err = rp.newSession(ceremonyLogin, opts.Kind, data)
	if err != nil {
		return nil, nil, err
	}
	return options, session, nil
}

func resolveUV(kind Kind, uv UserVerification) (UserVerification, error) {
	if kind != Passkey && kind != SecurityKey {
		return "", fmt.Errorf("webauthn: unknown kind %v", kind)
	}
	if uv == "" {
		return kind.defaultUV(), nil
	}
	if !uv.valid() {
		return "", fmt.Errorf("webauthn: unknown user verification requirement %q", uv)
	}
	return uv, nil
}

func b64url(b []byte) string {
	return base64.RawURLEncoding.EncodeToString(b)
}
