package delivery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-auth/vigil"
)

func TestValidate(t *testing.T) {
	ok := func(k Kind, to string) Message {
		return Message{Kind: k, To: to, Code: "123456", Link: "https://id.acme.test/m?t=1", ExpiresIn: time.Minute}
	}
	tests := []struct {
		name    string
		channel string
		change  func(*Message)
		base    Message
		wantErr bool
	}{
		{"email otp", "email", nil, ok(EmailOTP, "ana@example.test"), false},
		{"magic link", "email", func(m *Message) { m.Code = "" }, ok(EmailMagicLink, "ana@example.test"), false},
		{"sms", "sms", nil, ok(SMSOTP, "+64211234567"), false},
		{"unicode address", "email", nil, ok(EmailOTP, "jörg@bücher.example"), false},
		{"zero kind", "email", nil, ok(0, "ana@example.test"), true},
		{"sms kind by email", "email", nil, ok(SMSOTP, "ana@example.test"), true},
		{"email kind by sms", "sms", nil, ok(EmailOTP, "+64211234567"), true},
		{"empty code", "email", func(m *Message) { m.Code = "" }, ok(EmailOTP, "ana@example.test"), true},
		{"code with space", "email", func(m *Message) { m.Code = "12 34" }, ok(EmailOTP, "ana@example.test"), true},
		{"code with newline", "sms", func(m *Message) { m.Code = "12\n34" }, ok(SMSOTP, "+64211234567"), true},
		{"empty link", "email", func(m *Message) { m.Link = "" }, ok(EmailMagicLink, "ana@example.test"), true},
		{"relative link", "email", func(m *Message) { m.Link = "/m?t=1" }, ok(EmailMagicLink, "ana@example.test"), true},
		{"script link", "email", func(m *Message) { m.Link = "javascript:alert(1)" }, ok(EmailMagicLink, "ana@example.test"), true},
		{"link with credentials", "email", func(m *Message) { m.Link = "https://u:p@id.acme.test/" }, ok(EmailMagicLink, "ana@example.test"), true},
		{"link with newline", "email", func(m *Message) { m.Link = "https://id.acme.test/\r\nX: y" }, ok(EmailMagicLink, "ana@example.test"), true},
		{"no expiry", "email", func(m *Message) { m.ExpiresIn = 0 }, ok(EmailOTP, "ana@example.test"), true},
		{"control in user ID", "email", func(m *Message) { m.UserID = "u\x00" }, ok(EmailOTP, "ana@example.test"), true},
		{"control in locale", "email", func(m *Message) { m.Locale = "en\n" }, ok(EmailOTP, "ana@example.test"), true},
		{"phone without plus", "sms", nil, ok(SMSOTP, "64211234567"), true},
		{"phone too long", "sms", nil, ok(SMSOTP, "+1234567890123456"), true},
		{"phone with letters", "sms", nil, ok(SMSOTP, "+6421CALLME"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.base
			if tt.change != nil {
				tt.change(&m)
			}
			err := validate("test", tt.channel, &m)
			if (err != nil) != tt.wantErr {
				t.Fatalf("validate = %v, want error: %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrInvalidMessage) || !errors.Is(err, ErrDelivery) {
				t.Errorf("error %v: want ErrInvalidMessage and ErrDelivery", err)
			}
			if strings.Contains(err.Error(), "123456") || strings.Contains(err.Error(), "t=1") {
				t.Errorf("error %q reveals the code or link", err)
			}
		})
	}
}

// TestErrorsForClients checks what a caller's error writer sees: the
// *vigil.Error found first in the chain.
func TestErrorsForClients(t *testing.T) {
	tests := []struct {
		err      error
		wantCode string
	}{
		{failed("smtp", errors.New("535 authentication failed")), vigil.EUNAVAILABLE},
		{invalid("smtp", "bad recipient"), vigil.EINVALID},
	}
	for _, tt := range tests {
		if got := vigil.ErrorCode(tt.err); got != tt.wantCode {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.wantCode)
		}
		if msg := vigil.ErrorMessage(tt.err); strings.Contains(msg, "smtp") || strings.Contains(msg, "535") {
			t.Errorf("ErrorMessage(%v) = %q reveals details", tt.err, msg)
		}
		if !strings.HasPrefix(tt.err.Error(), "delivery: smtp: ") {
			t.Errorf("Error() = %q, want the provider and details for the log", tt.err.Error())
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{EmailOTP: "email_otp", EmailMagicLink: "email_magic_link", SMSOTP: "sms_otp", 0: "kind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
