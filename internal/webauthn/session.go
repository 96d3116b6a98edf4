package webauthn

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// sessionVersion is bumped when the session encoding changes incompatibly;
// a stored session of another version is refused (it expires within
// minutes anyway).
const sessionVersion = 1

const (
	ceremonyRegistration = "registration"
	ceremonyLogin        = "login"
)

// sessionJSON is the stored ceremony state. go-webauthn's SessionData is kept
// whole, as its documentation requires, beside what this package adds: the
// ceremony, the kind, the relying party and our own expiry.
type sessionJSON struct {
	Version  int                    `json:"v"`
	Ceremony string                 `json:"ceremony"`
	Kind     Kind                   `json:"kind"`
	RPID     string                 `json:"rpId"`
	Expires  int64                  `json:"expires"` // Unix milliseconds
	Data     gowebauthn.SessionData `json:"data"`
}

func (rp *RelyingParty) newSession(ceremony string, kind Kind, data *gowebauthn.SessionData) ([]byte, error) {
	b, err := json.Marshal(sessionJSON{
		Version:  sessionVersion,
		Ceremony: ceremony,
		Kind:     kind,
		RPID:     rp.id,
		Expires:  rp.now().Add(rp.timeout).UnixMilli(),
		Data:     *data,
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: encode session: %w", err)
	}
	return b, nil
}

// openSession decodes a stored session for ceremony. A session that does not
// decode, or belongs to another ceremony or relying party, is a caller error
// (internal); an expired one is the client's (ErrInvalidCredential).
func (rp *RelyingParty) openSession(b []byte, ceremony string) (*sessionJSON, error) {
	var s sessionJSON
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("webauthn: decode session: %w", err)
	}
	switch {
	case s.Version != sessionVersion:
		return nil, fmt.Errorf("webauthn: session version %d, want %d", s.Version, sessionVersion)
	case s.Ceremony != ceremony:
		return nil, fmt.Errorf("webauthn: %s session used for %s", s.Ceremony, ceremony)
	case s.RPID != rp.id || s.Data.RelyingPartyID != rp.id:
		return nil, fmt.Errorf("webauthn: session for relying party %q used with %q", s.RPID, rp.id)
	case s.Kind != Passkey && s.Kind != SecurityKey:
		return nil, fmt.Errorf("webauthn: session has unknown kind %d", s.Kind)
	case s.Data.Challenge == "":
		return nil, errors.New("webauthn: session has no challenge")
	}
	if now := rp.now(); !now.Before(time.UnixMilli(s.Expires)) {
		return nil, invalid(fmt.Sprintf("challenge expired at %s", time.UnixMilli(s.Expires).UTC().Format(time.RFC3339)), nil)
	}
	return &s, nil
}
