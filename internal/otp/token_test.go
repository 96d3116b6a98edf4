package otp

import (
	"errors"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	tok, err := NewToken(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 || !ValidToken(tok) {
		t.Errorf("NewToken = %q (%d chars), ValidToken = %v", tok, len(tok), ValidToken(tok))
	}
	other, _ := NewToken(nil)
	if other == tok {
		t.Error("two tokens are equal")
	}
	if got, _ := NewToken(constant(0xff)); got != strings.Repeat("_", 42)+"8" {
		t.Errorf("NewToken(all 0xff) = %q", got)
	}
	if _, err := NewToken(failing{}); !errors.Is(err, errFailing) {
		t.Errorf("NewToken(failing reader) error = %v, want %v", err, errFailing)
	}
}

func TestValidToken(t *testing.T) {
	good, _ := NewToken(chacha(5))
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"Good", good, true},
		{"AllZero", strings.Repeat("A", 43), true},
		{"Empty", "", false},
		{"Short", good[:42], false},
		{"Long", good + "A", false},
		{"Padded", good + "=", false},
		{"StdAlphabet", strings.Repeat("+", 42) + "A", false},
		{"StrayBits", strings.Repeat("A", 42) + "B", false}, // last symbol carries 2 unused bits
		{"Space", " " + good[1:], false},
		{"CarriageReturns", good[:16] + strings.Repeat("\r", 11) + good[16:32], false}, // skipped by encoding/base64: 24 bytes
		{"Newline", good[:42] + "\n", false},
		{"NonASCII", "é" + good[2:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidToken(tt.in); got != tt.want {
				t.Errorf("ValidToken(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTokenHash(t *testing.T) {
	h := testHasher(t)
	tok, _ := NewToken(nil)
	sum := h.Sum(PurposeMagicLink, "tenant/ch_1", tok)
	if !h.Equal(sum, PurposeMagicLink, "tenant/ch_1", tok) {
		t.Error("token does not match its own sum")
	}
	if h.Equal(sum, PurposeEmailOTP, "tenant/ch_1", tok) {
		t.Error("token sum matches under another purpose")
	}
}
