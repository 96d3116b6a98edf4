package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-auth/vigil"
)

// Kind is what a Message carries and over which channel.
type Kind int

// The kinds of message. The zero Kind is invalid.
const (
	EmailOTP       Kind = iota + 1 // a one-time code sent by email
	EmailMagicLink                 // a magic link sent by email
	SMSOTP                         // a one-time code sent by SMS
)

// String returns the template and log name of k: "email_otp",
// "email_magic_link", "sms_otp", or "kind(N)" for an invalid Kind.
func (k Kind) String() string {
	switch k {
	case EmailOTP:
		return "email_otp"
	case EmailMagicLink:
		return "email_magic_link"
	case SMSOTP:
		return "sms_otp"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// verificationMethod is the Authsignal verification method of k, sent in
// webhook payloads.
func (k Kind) verificationMethod() string {
	switch k {
	case EmailOTP:
		return "EMAIL_OTP"
	case EmailMagicLink:
		return "EMAIL_MAGIC_LINK"
	case SMSOTP:
		return "SMS"
	}
	return ""
}

// Message is one code or link to deliver. Senders never modify it, so the
// caller can send the same Message again after a failure.
type Message struct {
	Kind Kind

	// To is the recipient: a bare email address ("ana@example.com", no
	// display name) for the email kinds, an E.164 phone number
	// ("+64211234567") for SMSOTP.
	To string

	// Code is the one-time code (EmailOTP, SMSOTP).
	Code string

	// Link is the absolute http(s) magic link URL (EmailMagicLink).
	Link string

	// Locale is the user's BCP 47 language tag ("pt-BR", "de"); templates
	// are chosen by exact tag, then by language, then English
	// (see Templates).
	Locale string

	// TenantName says who the message is from ("Acme"); shown in subject
	// and body. Default "Vigil".
	TenantName string

	// TenantID, ActionCode, UserID and IdempotencyKey identify the challenge;
	// they are sent in webhook payloads and available to templates.
	TenantID       string
	ActionCode     string
	UserID         string
	IdempotencyKey string

	// ExpiresIn is how long the code or link stays valid; the message
	// states it in whole minutes, rounded up. Must be positive.
	ExpiresIn time.Duration
}

// EmailSender delivers the email kinds of Message (EmailOTP,
// EmailMagicLink).
type EmailSender interface {
	// SendEmail returns nil once the provider has accepted m. Any failure,
	// including an invalid m, is an error for which
	// errors.Is(err, ErrDelivery) holds; an invalid m also satisfies
	// errors.Is(err, ErrInvalidMessage).
	SendEmail(ctx context.Context, m *Message) error
}

// SMSSender delivers SMSOTP messages.
type SMSSender interface {
	// SendSMS returns nil once the provider has accepted m. Errors are as
	// for EmailSender.SendEmail.
	SendSMS(ctx context.Context, m *Message) error
}

// ErrDelivery is in the chain of every error a sender returns. As a
// *vigil.Error it carries a client-safe code (unavailable) and message, so a
// caller may return the error as is; the details in the rest of the chain
// are for the log only.
var ErrDelivery = &vigil.Error{Code: vigil.EUNAVAILABLE, Message: "The message could not be delivered."}

// ErrInvalidMessage is, besides ErrDelivery, in the chain of the errors for a
// Message that cannot be sent as given: a malformed recipient, a missing code
// or link, a line break where a header would carry it. Its code is
// invalid_request. It is found first by errors.As, so the client sees it.
var ErrInvalidMessage = &vigil.Error{Code: vigil.EINVALID, Message: "The message cannot be sent to this recipient."}

// sendError is what senders return: errors.Is finds ErrDelivery (and
// ErrInvalidMessage when invalid is set) and the cause.
type sendError struct {
	provider string
	invalid  bool
	err      error
}

func (e *sendError) Error() string {
	return "delivery: " + e.provider + ": " + e.err.Error()
}

func (e *sendError) Unwrap() []error {
	if e.invalid {
		return []error{ErrInvalidMessage, ErrDelivery, e.err}
	}
	return []error{ErrDelivery, e.err}
}

// failed wraps a provider failure.
func failed(provider string, err error) error {
	return &sendError{provider: provider, err: err}
}

// invalid wraps a refusal to send m as given.
func invalid(provider, format string, args ...any) error {
	return &sendError{provider: provider, invalid: true, err: fmt.Errorf(format, args...)}
}

// e164 is an E.164 phone number: "+", a non-zero digit, up to 14 more.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// validate checks m for a sender of the given channel ("email" or "sms").
// The messages of its errors never contain the code or the link.
func validate(provider, channel string, m *Message) error {
	if m == nil {
		return invalid(provider, "nil message")
	}
	switch channel {
	case "email":
		if m.Kind != EmailOTP && m.Kind != EmailMagicLink {
			return invalid(provider, "%v is not an email kind", m.Kind)
		}
		if err := validEmail(m.To); err != nil {
			return invalid(provider, "recipient: %v", err)
		}
	case "sms":
		if m.Kind != SMSOTP {
			return invalid(provider, "%v is not an SMS kind", m.Kind)
		}
		if !e164.MatchString(m.To) {
			return invalid(provider, "recipient is not an E.164 phone number")
		}
	}
	switch m.Kind {
	case EmailOTP, SMSOTP:
		if m.Code == "" || len(m.Code) > 64 || strings.IndexFunc(m.Code, notPrintable) >= 0 {
			return invalid(provider, "missing or malformed code")
		}
	case EmailMagicLink:
		if err := validLink(m.Link); err != nil {
			return invalid(provider, "link: %v", err)
		}
	}
	if m.ExpiresIn <= 0 {
		return invalid(provider, "ExpiresIn must be positive")
	}
	for name, v := range map[string]string{
		"TenantName": m.TenantName, "TenantID": m.TenantID, "ActionCode": m.ActionCode,
		"UserID": m.UserID, "IdempotencyKey": m.IdempotencyKey, "Locale": m.Locale,
	} {
		if strings.IndexFunc(v, unicode.IsControl) >= 0 {
			return invalid(provider, "%s contains a control character", name)
		}
	}
	return nil
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) || r == ' ' }

// validEmail accepts a bare address (RFC 5322 addr-spec) and nothing that
// could smuggle a header or a second recipient.
func validEmail(s string) error {
	if s == "" {
		return errors.New("empty address")
	}
	if strings.ContainsAny(s, "\r\n") {
		return errors.New("line break in address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return errors.New("malformed address")
	}
	if a.Address != s || a.Name != "" {
		return errors.New("not a bare address")
	}
	return nil
}

// validLink accepts an absolute http or https URL without credentials.
func validLink(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if strings.IndexFunc(s, notPrintable) >= 0 {
		return errors.New("contains spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("malformed")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("not an absolute http(s) URL")
	}
	return nil
}

// minutes is d in whole minutes, rounded up, at least 1.
func minutes(d time.Duration) int {
	n := int((d + time.Minute - 1) / time.Minute)
	return max(n, 1)
}

// isLoopback reports whether host names this machine: "localhost" or a
// loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
