package webauthn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
)

// b64bytes is a JSON string holding base64url, the WebAuthn JSON encoding
// (WebAuthn L3 §5.1, toJSON), decoded leniently: padding is optional and the standard
// alphabet is accepted too, because the iOS SDK sends clientDataJSON in
// standard base64. A string mixing both alphabets is refused.
type b64bytes []byte

func (b *b64bytes) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*b = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("not a base64url string")
	}
	out, err := decodeBase64(s)
	if err != nil {
		return err
	}
	*b = out
	return nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawURLEncoding
	if strings.ContainsAny(s, "+/") {
		if strings.ContainsAny(s, "-_") {
			return nil, errors.New("base64 mixes the standard and URL alphabets")
		}
		enc = base64.RawStdEncoding
	}
	// Strict rejects non-zero trailing bits, so each value has one encoding.
	return enc.Strict().DecodeString(s)
}

// registrationResponseJSON is RegistrationResponseJSON (WebAuthn L3 §5.1).
// publicKey, publicKeyAlgorithm and authenticatorData are convenience copies
// of what attestationObject holds, so they are ignored.
type registrationResponseJSON struct {
	ID                      string          `json:"id"`
	RawID                   b64bytes        `json:"rawId"`
	Type                    string          `json:"type"`
	AuthenticatorAttachment *string         `json:"authenticatorAttachment"`
	ClientExtensionResults  json.RawMessage `json:"clientExtensionResults"`
	Response                struct {
		ClientDataJSON    b64bytes `json:"clientDataJSON"`
		AttestationObject b64bytes `json:"attestationObject"`
		Transports        []string `json:"transports"`
	} `json:"response"`
}

// authenticationResponseJSON is AuthenticationResponseJSON (WebAuthn L3 §5.1).
type authenticationResponseJSON struct {
	ID                      string          `json:"id"`
	RawID                   b64bytes        `json:"rawId"`
	Type                    string          `json:"type"`
	AuthenticatorAttachment *string         `json:"authenticatorAttachment"`
	ClientExtensionResults  json.RawMessage `json:"clientExtensionResults"`
	Response                struct {
		ClientDataJSON    b64bytes `json:"clientDataJSON"`
		AuthenticatorData b64bytes `json:"authenticatorData"`
		Signature         b64bytes `json:"signature"`
		UserHandle        b64bytes `json:"userHandle"`
	} `json:"response"`
}

// decodeJSON decodes exactly one JSON value from data into v.
func decodeJSON(data []byte, v any) error {
	if len(data) > maxResponseSize {
		return fmt.Errorf("response is %d bytes, more than %d", len(data), maxResponseSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the response")
	}
	return nil
}

// normalizeID returns the credential id member re-encoded as unpadded
// base64url, which go-webauthn's parser expects, after the same lenient
// decoding as the binary members.
func normalizeID(id string) (string, error) {
	if id == "" {
		return "", errors.New("missing id")
	}
	b, err := decodeBase64(id)
	if err != nil {
		return "", fmt.Errorf("id: %w", err)
	}
	return b64url(b), nil
}

func extensionOutputs(raw json.RawMessage) (protocol.AuthenticationExtensionsClientOutputs, error) {
	var out protocol.AuthenticationExtensionsClientOutputs
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("clientExtensionResults: %w", err)
	}
	return out, nil
}

func attachmentOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// parseRegistration decodes a RegistrationResponseJSON and hands it to
// go-webauthn's parser (CBOR attestation object, authenticator data).
func parseRegistration(data []byte) (*protocol.ParsedCredentialCreationData, error) {
	var r registrationResponseJSON
	if err := decodeJSON(data, &r); err != nil {
		return nil, invalid("malformed registration response", err)
	}
	id, err := normalizeID(r.ID)
	if err != nil {
		return nil, invalid("malformed registration response", err)
	}
	ext, err := extensionOutputs(r.ClientExtensionResults)
	if err != nil {
		return nil, invalid("malformed registration response", err)
	}
	if len(r.Response.ClientDataJSON) == 0 || len(r.Response.AttestationObject) == 0 {
		return nil, invalid("malformed registration response", errors.New("missing clientDataJSON or attestationObject"))
	}
	ccr := protocol.CredentialCreationResponse{
		PublicKeyCredential: protocol.PublicKeyCredential{
			Credential:              protocol.Credential{ID: id, Type: r.Type},
			RawID:                   protocol.URLEncodedBase64(r.RawID),
			ClientExtensionResults:  ext,
			AuthenticatorAttachment: attachmentOf(r.AuthenticatorAttachment),
		},
		AttestationResponse: protocol.AuthenticatorAttestationResponse{
			AuthenticatorResponse: protocol.AuthenticatorResponse{ClientDataJSON: protocol.URLEncodedBase64(r.Response.ClientDataJSON)},
			Transports:            cleanTransports(r.Response.Transports),
			AttestationObject:     protocol.URLEncodedBase64(r.Response.AttestationObject),
		},
	}
	parsed, err := ccr.Parse()
	if err != nil {
		// go-webauthn's Parse drops the cause of an attestation parse
		// failure; recover it for the log.
		if _, perr := ccr.AttestationResponse.Parse(); perr != nil {
			err = fmt.Errorf("%s: %w", detail(err), perr)
		}
		return nil, invalid("malformed registration response", err)
	}
	return parsed, nil
}

// parseAssertion decodes an AuthenticationResponseJSON and hands it to
// go-webauthn's parser.
func parseAssertion(data []byte) (*protocol.ParsedCredentialAssertionData, error) {
	var r authenticationResponseJSON
	if err := decodeJSON(data, &r); err != nil {
		return nil, invalid("malformed authentication response", err)
	}
	id, err := normalizeID(r.ID)
	if err != nil {
		return nil, invalid("malformed authentication response", err)
	}
	ext, err := extensionOutputs(r.ClientExtensionResults)
	if err != nil {
		return nil, invalid("malformed authentication response", err)
	}
	if len(r.Response.ClientDataJSON) == 0 || len(r.Response.AuthenticatorData) == 0 || len(r.Response.Signature) == 0 {
		return nil, invalid("malformed authentication response", errors.New("missing clientDataJSON, authenticatorData or signature"))
	}
	car := protocol.CredentialAssertionResponse{
		PublicKeyCredential: protocol.PublicKeyCredential{
			Credential:              protocol.Credential{ID: id, Type: r.Type},
			RawID:                   protocol.URLEncodedBase64(r.RawID),
			ClientExtensionResults:  ext,
			AuthenticatorAttachment: attachmentOf(r.AuthenticatorAttachment),
		},
		AssertionResponse: protocol.AuthenticatorAssertionResponse{
			AuthenticatorResponse: protocol.AuthenticatorResponse{ClientDataJSON: protocol.URLEncodedBase64(r.Response.ClientDataJSON)},
			AuthenticatorData:     protocol.URLEncodedBase64(r.Response.AuthenticatorData),
			Signature:             protocol.URLEncodedBase64(r.Response.Signature),
			UserHandle:            protocol.URLEncodedBase64(r.Response.UserHandle),
		},
	}
	parsed, err := car.Parse()
	if err != nil {
		return nil, invalid("malformed authentication response", err)
	}
	return parsed, nil
}
