package webauthn

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// FinishRegistrationOptions tune FinishRegistration.
type FinishRegistrationOptions struct {
	// ConditionalCreate accepts a response without the user-presence flag,
	// as a conditional create (the SDK's useAutoRegister, sent as
	// conditionalCreate: true) legitimately produces (WebAuthn L3 §5.1.3).
	ConditionalCreate bool
}

// FinishRegistration verifies a RegistrationResponseJSON against the session
// from BeginRegistration (WebAuthn §7.1) and returns the credential to
// store. It checks the ceremony type, the challenge, the exact origin, the
// RP ID hash, the UP flag (unless conditional) and the UV flag when the
// session required it, the credential algorithm against pubKeyCredParams,
// the backup flags, and the attestation statement as far as go-webauthn
// verifies its format (none, packed including self, tpm, android-key, apple,
// fido-u2f...), without trust anchors: we ask for no attestation.
//
// Client-caused failures match ErrInvalidCredential; a credential the user
// already holds matches ErrCredentialExists too. The response's
// authenticatorAttachment and transports are recorded as reported.
func (rp *RelyingParty) FinishRegistration(user *User, session, response []byte, opts FinishRegistrationOptions) (*Credential, error) {
	if err := user.validate(); err != nil {
		return nil, err
	}
	s, err := rp.openSession(session, ceremonyRegistration)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(s.Data.UserID, user.ID) {
		return nil, errors.New("webauthn: registration session belongs to another user")
	}
	parsed, err := parseRegistration(response)
	if err != nil {
		return nil, err
	}
	if origin := parsed.Response.CollectedClientData.Origin; !rp.originAllowed(origin) {
		return nil, invalid(fmt.Sprintf("origin %q is not allowed", origin), nil)
	}

	data := s.Data
	if opts.ConditionalCreate {
		data.Mediation = protocol.MediationConditional
	}
	lc, err := rp.wa.CreateCredential(newLibraryUser(user), data, parsed)
	if err != nil {
		return nil, invalid("registration verification failed", err)
	}
	if user.credential(lc.ID) != nil {
		return nil, &failure{kind: ErrCredentialExists, reason: fmt.Sprintf("credential %s is already registered to the user", b64url(lc.ID))}
	}

	flags := parsed.Response.AttestationObject.AuthData.Flags
	return &Credential{
		ID:                lc.ID,
		PublicKey:         lc.PublicKey,
		AttestationType:   lc.AttestationType,
		AttestationFormat: lc.AttestationFormat,
		AAGUID:            lc.Authenticator.AAGUID,
		SignCount:         lc.Authenticator.SignCount,
		Transports:        cleanTransports(parsed.Raw.AttestationResponse.Transports),
		BackupEligible:    flags.HasBackupEligible(),
		BackupState:       flags.HasBackupState(),
		UserPresent:       flags.HasUserPresent(),
		UserVerified:      flags.HasUserVerified(),
		Attachment:        Attachment(parsed.AuthenticatorAttachment),
	}, nil
}

// LookupFunc resolves the owner of a credential for FinishLogin: the user
// whose Credentials contain credentialID, with all of that user's
// credentials of the ceremony's kind. userHandle is the handle the
// authenticator returned; it is always present for a discoverable sign-in
// and may be empty otherwise. Resolve by credential ID within the tenant,
// not by userHandle: a passkey created through the Authsignal iOS SDK
// carries the UTF-8 bytes of base64url(User.ID) as its handle, not User.ID
// (FinishLogin accepts both).
//
// Return (nil, nil) or an error matching ErrUnknownCredential when no user
// holds the credential. Any other error is treated as internal and returned
// wrapped, not as a verification failure.
type LookupFunc func(credentialID, userHandle []byte) (*User, error)

// LoginResult is a verified assertion. Store SignCount and BackupState on
// the credential.
type LoginResult struct {
	// User is the user the lookup resolved, the credential's owner.
	User *User
	// CredentialID is the credential that signed.
	CredentialID []byte
	// SignCount is the counter to store: the presented one, or the stored
	// one when it did not increase.
	SignCount uint32
	// CounterRegressed reports a counter that did not increase (both zero
	// is not a regression): a possible cloned authenticator.
	CounterRegressed bool
	// UserPresent and UserVerified are the assertion's UP and UV flags.
	UserPresent, UserVerified bool
	// BackupEligible and BackupState are the assertion's BE and BS flags.
	BackupEligible, BackupState bool
	// Attachment is the authenticatorAttachment the client reported, if any.
	Attachment Attachment
}

// FinishLogin verifies an AuthenticationResponseJSON against the session
// from BeginLogin (WebAuthn L2 §7.2, with L3's additions): the allow list,
// the credential's owner and userHandle (steps 1-3), the ceremony type,
// challenge and exact origin (7-9, no crossOrigin or topOrigin), the RP ID
// hash, UP, and UV when required (11-13), the signature (16), the signature
// counter (17), and L3's backup flags (BE unchanged since registration, no
// BS without BE).
//
// For a discoverable session (BeginLogin with a nil user) a userHandle is
// required, and any userHandle must name the resolved user: equal its ID,
// or equal base64url(ID) as text, the form the Authsignal iOS SDK stores.
// For a session bound to a user the resolved user must be that user.
//
// A credential no user holds matches ErrUnknownCredential; other
// client-caused failures match ErrInvalidCredential. Under CounterReject a
// counter regression fails with an error matching ErrCounterRegressed and
// still returns the result, so the caller can flag the credential; otherwise
// the result is nil whenever the error is not.
func (rp *RelyingParty) FinishLogin(session, response []byte, lookup LookupFunc) (*LoginResult, error) {
	s, err := rp.openSession(session, ceremonyLogin)
	if err != nil {
		return nil, err
	}
	parsed, err := parseAssertion(response)
	if err != nil {
		return nil, err
	}
	if origin := parsed.Response.CollectedClientData.Origin; !rp.originAllowed(origin) {
		return nil, invalid(fmt.Sprintf("origin %q is not allowed", origin), nil)
	}
	discoverable := len(s.Data.UserID) == 0
	handle := parsed.Response.UserHandle
	if discoverable && len(handle) == 0 {
		return nil, invalid("discoverable sign-in without a userHandle", nil)
	}

	user, err := lookup(parsed.RawID, handle)
	switch {
	case errors.Is(err, ErrUnknownCredential), err == nil && user == nil:
		return nil, unknown(fmt.Sprintf("no user holds credential %s", b64url(parsed.RawID)))
	case err != nil:
		return nil, fmt.Errorf("webauthn: look up credential: %w", err)
	}
	if err := user.validate(); err != nil {
		return nil, fmt.Errorf("webauthn: lookup returned an invalid user: %w", err)
	}
	stored := user.credential(parsed.RawID)
	if stored == nil {
		return nil, unknown(fmt.Sprintf("credential %s is not registered to the resolved user", b64url(parsed.RawID)))
	}
	if !discoverable && !bytes.Equal(user.ID, s.Data.UserID) {
		return nil, invalid("credential belongs to another user than the session's", nil)
	}
	if len(handle) > 0 {
		if !handleMatches(handle, user.ID) {
			return nil, invalid("userHandle does not match the credential's owner", nil)
		}
		// go-webauthn compares the handle with the user ID byte for byte.
		parsed.Response.UserHandle = user.ID
	}

	lu := newLibraryUser(user)
	var lc *gowebauthn.Credential
	if discoverable {
		_, lc, err = rp.wa.ValidatePasskeyLogin(func(_, _ []byte) (gowebauthn.User, error) { return lu, nil }, s.Data, parsed)
	} else {
		lc, err = rp.wa.ValidateLogin(lu, s.Data, parsed)
	}
	if err != nil {
		return nil, invalid("assertion verification failed", err)
	}

	flags := parsed.Response.AuthenticatorData.Flags
	res := &LoginResult{
		User:             user,
		CredentialID:     stored.ID,
		SignCount:        lc.Authenticator.SignCount,
		CounterRegressed: lc.Authenticator.CloneWarning,
		UserPresent:      flags.HasUserPresent(),
		UserVerified:     flags.HasUserVerified(),
		BackupEligible:   flags.HasBackupEligible(),
		BackupState:      flags.HasBackupState(),
		Attachment:       Attachment(parsed.AuthenticatorAttachment),
	}
	if res.CounterRegressed && rp.counterPolicy == CounterReject {
		return res, &failure{kind: ErrCounterRegressed, reason: fmt.Sprintf("stored %d, presented %d",
			stored.SignCount, parsed.Response.AuthenticatorData.Counter)}
	}
	return res, nil
}

// handleMatches reports whether an assertion's userHandle names the user
// with handle id. Besides id itself it accepts the UTF-8 bytes of
// base64url(id): the Authsignal iOS SDK passes user.id to the authenticator
// as a UTF-8 string instead of decoding it (client-api.md §2.1), so a
// passkey it created carries that form, also when used later in a browser.
// The userHandle is not signed, and the credential is verified by its own
// key either way, so this costs nothing.
func handleMatches(handle, id []byte) bool {
	return bytes.Equal(handle, id) || string(handle) == b64url(id)
}
