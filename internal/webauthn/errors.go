package webauthn

import (
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
)

// Errors returned by the ceremonies. Use errors.Is: the Finish methods
// return errors that wrap these sentinels together with a detail meant for
// the log only.
var (
	// ErrInvalidCredential is the generic verification failure: a malformed
	// response, a wrong challenge, origin or RP ID hash, missing UP or UV
	// flags, a bad signature, an expired session and so on. The Client API
	// answers errorCode "invalid_credential".
	ErrInvalidCredential = errors.New("webauthn: invalid credential")

	// ErrUnknownCredential reports a credential ID that is not registered for
	// the user the lookup resolved (or for anyone). The Client API answers
	// errorCode "unknown_credential", on which the SDK calls
	// PublicKeyCredential.signalUnknownCredential.
	ErrUnknownCredential = errors.New("webauthn: unknown credential")

	// ErrCounterRegressed reports a signature counter that did not increase
	// under [CounterReject]. It matches ErrInvalidCredential too.
	ErrCounterRegressed = fmt.Errorf("%w: signature counter did not increase", ErrInvalidCredential)

	// ErrCredentialExists reports a registration of a credential the user
	// already holds (it was in excludeCredentials). It matches
	// ErrInvalidCredential too.
	ErrCredentialExists = fmt.Errorf("%w: credential already registered", ErrInvalidCredential)

	// ErrNoCredentials is returned by BeginLogin for a known user without
	// any credential to allow.
	ErrNoCredentials = errors.New("webauthn: user has no credentials")
)

// failure is a client-caused verification failure: it matches kind (one of
// the sentinels above) and carries the reason and the underlying error for
// the log.
type failure struct {
	kind   error
	reason string
	err    error
}

func (f *failure) Error() string {
	msg := f.kind.Error() + ": " + f.reason
	if f.err != nil {
		msg += ": " + detail(f.err)
	}
	return msg
}

// Unwrap lets errors.Is find both the sentinel and, for errors.As, the
// go-webauthn error underneath.
func (f *failure) Unwrap() []error {
	if f.err == nil {
		return []error{f.kind}
	}
	return []error{f.kind, f.err}
}

func invalid(reason string, err error) error {
	return &failure{kind: ErrInvalidCredential, reason: reason, err: err}
}

func unknown(reason string) error {
	return &failure{kind: ErrUnknownCredential, reason: reason}
}

// detail renders a go-webauthn error with its developer information, which
// its Error method leaves out.
func detail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s := pe.Details
		if pe.DevInfo != "" {
			s += " (" + pe.DevInfo + ")"
		}
		if pe.Err != nil && pe.Err.Error() != pe.Details {
			s += ": " + pe.Err.Error()
		}
		return s
	}
	return err.Error()
}
