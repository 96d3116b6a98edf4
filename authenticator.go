package vigil

import (
	"context"
	"time"
)

// Authenticator is a verified factor a user can be challenged with: an email
// address, a phone number, an authenticator app seed or a WebAuthn credential.
type Authenticator struct {
	ID             string
	TenantID       string
	UserID         string
	Method         VerificationMethod
	Email          string
	PhoneNumber    string
	Username       string
	DisplayName    string
	IsDefault      bool
	OTPSecret      []byte              // AUTHENTICATOR_APP seed; stored encrypted
	Credential     *WebAuthnCredential // PASSKEY and SECURITY_KEY only
	CreatedAt      time.Time
	VerifiedAt     time.Time // zero: never
	LastVerifiedAt time.Time // zero: never
}

// WebAuthnCredential is the public part of a passkey or security key.
type WebAuthnCredential struct {
	CredentialID   string // base64url, as sent on the wire
	PublicKey      []byte // COSE key
	SignCount      uint32
	AAGUID         string
	Name           string
	DeviceID       string
	Transports     []string
	BackupEligible bool
	BackedUp       bool
	DeviceType     string // "singleDevice" or "multiDevice"
	Attachment     string // "platform" or "cross-platform"
	UserAgent      string // raw user agent at registration
}

// AuthenticatorService manages the authenticators of the tenant in the
// context.
type AuthenticatorService interface {
	// FindAuthenticators returns a user's authenticators ordered by creation
	// time; an empty slice for an unknown user.
	FindAuthenticators(ctx context.Context, userID string) ([]*Authenticator, error)

	// CreateAuthenticator stores a, creating the user if absent, in one
	// transaction, and fills in a.ID and a.CreatedAt. If the user already has
	// an authenticator of the same method for the same email address or phone
	// number, that one is updated and returned in a instead. ECONFLICT if a
	// WebAuthn credential ID is already registered in the tenant.
	CreateAuthenticator(ctx context.Context, a *Authenticator) error

	// CreateAuthenticators stores each of as like CreateAuthenticator, each
	// independently of the others, and returns one error (or nil) per item.
	CreateAuthenticators(ctx context.Context, as []*Authenticator) ([]error, error)

	// DeleteAuthenticator removes one authenticator. ENOTFOUND if the user has
	// no authenticator with that ID.
	DeleteAuthenticator(ctx context.Context, userID, id string) error
}
