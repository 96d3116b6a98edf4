package webauthn

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// Kind is the Vigil verification method a ceremony is for.
type Kind uint8

const (
	// Passkey is a discoverable, user-verifying credential (PASSKEY).
	Passkey Kind = iota + 1
	// SecurityKey is a roaming authenticator used as a second factor
	// (SECURITY_KEY).
	SecurityKey
)

// String returns the Authsignal verificationMethod name of k.
func (k Kind) String() string {
	switch k {
	case Passkey:
		return "PASSKEY"
	case SecurityKey:
		return "SECURITY_KEY"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Attachment is an authenticator attachment modality (WebAuthn §5.4.5).
type Attachment string

// Attachment values. The zero value means no preference (in options) or not
// reported (in responses).
const (
	AttachmentPlatform      Attachment = "platform"
	AttachmentCrossPlatform Attachment = "cross-platform"
)

// UserVerification is a user verification requirement (WebAuthn §5.8.6).
// The zero value selects the default of the ceremony's Kind.
type UserVerification string

// UserVerification values.
const (
	UVRequired    UserVerification = "required"
	UVPreferred   UserVerification = "preferred"
	UVDiscouraged UserVerification = "discouraged"
)

// defaultUV is the user verification a Kind asks for when the caller does
// not choose. A passkey sign-in is a complete, single-step authentication,
// so it must prove the user (biometric or PIN), not just possession: the
// credential counts as phishing-resistant multi-factor only with UV. A
// security key is a second factor after the user was identified, where a
// touch is the norm and asking for a PIN on every use is not.
func (k Kind) defaultUV() UserVerification {
	if k == Passkey {
		return UVRequired
	}
	return UVDiscouraged
}

func (uv UserVerification) valid() bool {
	return uv == UVRequired || uv == UVPreferred || uv == UVDiscouraged
}

// User is the account a ceremony is for, with the credentials it holds.
type User struct {
	// ID is the user handle (WebAuthn §5.4.3): 1 to 64 opaque bytes,
	// sent base64url-encoded as user.id and returned by discoverable
	// credentials as userHandle. It should be random, not personal data.
	ID []byte

	// Name is user.name, the account identifier shown in the passkey picker
	// (for example the email address). It must not be empty.
	Name string

	// DisplayName is user.displayName; defaults to Name.
	DisplayName string

	// Credentials are the user's registered credentials of the ceremony's
	// kind: excludeCredentials at registration, allowCredentials at a login
	// for a known user, and the keys assertions are verified with.
	Credentials []Credential
}

// credential returns the user's credential with the given ID, or nil.
func (u *User) credential(id []byte) *Credential {
	for i := range u.Credentials {
		if bytes.Equal(u.Credentials[i].ID, id) {
			return &u.Credentials[i]
		}
	}
	return nil
}

// Credential is the stored part of a registered WebAuthn credential. It is
// JSON-serializable for storage (byte slices as standard base64).
type Credential struct {
	// ID is the credential ID (rawId); the wire form is base64url.
	ID []byte `json:"id"`
	// PublicKey is the COSE_Key credential public key.
	PublicKey []byte `json:"publicKey"`
	// AttestationType is the attestation type verified at registration, in
	// FIDO metadata terms: "none", "basic_surrogate" (self attestation),
	// "basic_full", "attca" and so on.
	AttestationType string `json:"attestationType,omitempty"`
	// AttestationFormat is the attestation statement format ("none",
	// "packed", ...).
	AttestationFormat string `json:"attestationFormat,omitempty"`
	// AAGUID identifies the authenticator model (16 bytes; all zero when the
	// authenticator or client hides it). See AAGUIDName.
	AAGUID []byte `json:"aaguid,omitempty"`
	// SignCount is the last signature counter seen.
	SignCount uint32 `json:"signCount"`
	// Transports are the transport hints reported at registration.
	Transports []string `json:"transports,omitempty"`
	// BackupEligible (BE) says the credential can be synced; it never changes.
	BackupEligible bool `json:"backupEligible"`
	// BackupState (BS) says the credential is currently backed up; update it
	// from LoginResult.BackupState.
	BackupState bool `json:"backupState"`
	// UserPresent (UP) was set at registration.
	UserPresent bool `json:"userPresent"`
	// UserVerified (UV) was set at registration.
	UserVerified bool `json:"userVerified"`
	// Attachment is the attachment the client reported at registration.
	Attachment Attachment `json:"attachment,omitempty"`
}

// DeviceType returns Authsignal's credentialDeviceType: "multiDevice" for a
// backup-eligible (synced) credential, "singleDevice" otherwise.
func (c *Credential) DeviceType() string {
	if c.BackupEligible {
		return "multiDevice"
	}
	return "singleDevice"
}

// AAGUIDString returns the AAGUID in its canonical UUID form, or "" when it
// is not 16 bytes.
func (c *Credential) AAGUIDString() string {
	return FormatAAGUID(c.AAGUID)
}

// descriptor is the credential as it appears in excludeCredentials and
// allowCredentials.
func (c *Credential) descriptor() credentialDescriptorJSON {
	return credentialDescriptorJSON{ID: b64url(c.ID), Type: "public-key", Transports: c.Transports}
}

// toLibrary converts c to go-webauthn's credential record.
func (c *Credential) toLibrary() gowebauthn.Credential {
	var flags protocol.AuthenticatorFlags
	if c.UserPresent {
		flags |= protocol.FlagUserPresent
	}
	if c.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if c.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return gowebauthn.Credential{
		ID:                c.ID,
		PublicKey:         c.PublicKey,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
		Transport:         transports,
		Flags:             gowebauthn.NewCredentialFlags(flags),
		Authenticator: gowebauthn.Authenticator{
			AAGUID:     c.AAGUID,
			SignCount:  c.SignCount,
			Attachment: protocol.AuthenticatorAttachment(c.Attachment),
		},
	}
}

// knownTransports are the AuthenticatorTransport values (WebAuthn §5.8.4)
// kept from a registration response; anything else a client sends is dropped
// rather than stored and echoed back in allowCredentials.
var knownTransports = []string{"usb", "nfc", "ble", "smart-card", "hybrid", "internal"}

func cleanTransports(in []string) []string {
	var out []string
	for _, t := range in {
		if slices.Contains(knownTransports, t) && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// libraryUser adapts a User to go-webauthn's User interface.
type libraryUser struct {
	u     *User
	creds []gowebauthn.Credential
}

func newLibraryUser(u *User) *libraryUser {
	lu := &libraryUser{u: u, creds: make([]gowebauthn.Credential, len(u.Credentials))}
	for i := range u.Credentials {
		lu.creds[i] = u.Credentials[i].toLibrary()
	}
	return lu
}

func (lu *libraryUser) WebAuthnID() []byte                           { return lu.u.ID }
func (lu *libraryUser) WebAuthnName() string                         { return lu.u.Name }
func (lu *libraryUser) WebAuthnDisplayName() string                  { return lu.u.displayName() }
func (lu *libraryUser) WebAuthnCredentials() []gowebauthn.Credential { return lu.creds }

func (u *User) displayName() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name
}

// validate checks the fields every ceremony needs.
func (u *User) validate() error {
	if u == nil {
		return errors.New("webauthn: nil user")
	}
	if n := len(u.ID); n < 1 || n > 64 {
		return fmt.Errorf("webauthn: user handle is %d bytes, want 1..64", n)
	}
	return nil
}
