package otp

import (
	"testing"
	"time"
)

// BenchmarkHasherEqual is the cost of checking an email or SMS code.
func BenchmarkHasherEqual(b *testing.B) {
	h := testHasher(b)
	sum := h.Sum(PurposeEmailOTP, "tenant/ch_1", "123456")
	b.ReportAllocs()
	for b.Loop() {
		if h.Equal(sum, PurposeEmailOTP, "tenant/ch_1", "654321") {
			b.Fatal("wrong code matched")
		}
	}
}

// BenchmarkTOTPVerify is the cost of checking an authenticator app code:
// three HMAC-SHA1s, whatever the outcome.
func BenchmarkTOTPVerify(b *testing.B) {
	now := time.Unix(1111111111, 0)
	code := TOTP(seedSHA1, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := VerifyTOTP(seedSHA1, code, now, 0); !ok {
			b.Fatal("code refused")
		}
	}
}

// BenchmarkMatchRecoveryCode is the cost of checking a recovery code
// against a full set of RecoveryCodeCount hashes: one PBKDF2 per hash, at
// the production iteration count.
func BenchmarkMatchRecoveryCode(b *testing.B) {
	h, err := NewHasher(testHasher(b).key)
	if err != nil {
		b.Fatal(err)
	}
	codes, err := NewRecoveryCodes(chacha(6), RecoveryCodeCount)
	if err != nil {
		b.Fatal(err)
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		if hashes[i], err = h.HashRecoveryCode(nil, "s", c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := h.MatchRecoveryCode(hashes, "s", codes[9]); !ok {
			b.Fatal("code refused")
		}
	}
}

// BenchmarkNewCode is the cost of a 6-digit code from crypto/rand.
func BenchmarkNewCode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewCode(nil, 6); err != nil {
			b.Fatal(err)
		}
	}
}
