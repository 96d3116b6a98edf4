package otp

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The fuzz targets cover every function that reads user input. Their seed
// corpora are in testdata/fuzz/<target>; run one with, for example,
//
//	go test -run '^$' -fuzz '^FuzzNormalizeCode$' -fuzztime 20s ./internal/otp/

// stripSeparators removes what NormalizeCode and NormalizeRecoveryCode
// ignore.
func stripSeparators(s string) string {
	return strings.NewReplacer(" ", "", "\t", "", "-", "").Replace(s)
}

func FuzzNormalizeCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, digits int) {
		got, ok := NormalizeCode(s, digits)
		if !ok {
			if got != "" {
				t.Fatalf("refused NormalizeCode(%q, %d) returned %q", s, digits, got)
			}
			return
		}
		if digits < MinDigits || digits > MaxDigits || len(s) > maxInput {
			t.Fatalf("NormalizeCode(%q, %d) accepted out-of-range input", s, digits)
		}
		if len(got) != digits || strings.Trim(got, decimal) != "" {
			t.Fatalf("NormalizeCode(%q, %d) = %q: not %d ASCII digits", s, digits, got, digits)
		}
		if got != stripSeparators(s) {
			t.Fatalf("NormalizeCode(%q, %d) = %q: dropped more than separators", s, digits, got)
		}
		if again, ok := NormalizeCode(got, digits); !ok || again != got {
			t.Fatalf("NormalizeCode not idempotent: %q → %q → %q, %v", s, got, again, ok)
		}
	})
}

func FuzzNormalizeRecoveryCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := NormalizeRecoveryCode(s)
		if !ok {
			if got != "" {
				t.Fatalf("refused NormalizeRecoveryCode(%q) returned %q", s, got)
			}
			return
		}
		if len(s) > maxInput || len(got) != recoveryLen {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q", s, got)
		}
		for i := 0; i < len(got); i++ {
			if strings.IndexByte(recoveryAlphabet, got[i]) < 0 {
				t.Fatalf("NormalizeRecoveryCode(%q) = %q: %q is not in the alphabet", s, got, got[i])
			}
		}
		if len(stripSeparators(s)) != recoveryLen {
			t.Fatalf("NormalizeRecoveryCode(%q) = %q: dropped more than separators", s, got)
		}
		for _, variant := range []string{got, got[:5] + "-" + got[5:], strings.ToUpper(s), strings.ToLower(s)} {
			if again, ok := NormalizeRecoveryCode(variant); !ok || again != got {
				t.Fatalf("NormalizeRecoveryCode(%q) = %q, %v; want %q as for %q", variant, again, ok, got, s)
			}
		}
	})
}

func FuzzDecodeSecret(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		secret, err := DecodeSecret(s)
		if err != nil {
			if secret != nil {
				t.Fatalf("DecodeSecret(%q) returned %x with error %v", s, secret, err)
			}
			return
		}
		if len(secret) < MinSecretSize || len(secret) > MaxSecretSize {
			t.Fatalf("DecodeSecret(%q) returned %d bytes", s, len(secret))
		}
		enc := EncodeSecret(secret)
		if want := strings.ToUpper(strings.TrimRight(strings.ReplaceAll(s, " ", ""), "=")); enc != want {
			t.Fatalf("DecodeSecret(%q) accepted a non-canonical spelling of %q", s, enc)
		}
		if back, err := DecodeSecret(enc); err != nil || !bytes.Equal(back, secret) {
			t.Fatalf("DecodeSecret(EncodeSecret(%x)) = %x, %v", secret, back, err)
		}
	})
}

func FuzzVerifyTOTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix, lastUsedStep int64) {
		now := time.Unix(unix, 0)
		step, ok := VerifyTOTP(secret, code, now, lastUsedStep)
		if !ok {
			if step != 0 {
				t.Fatalf("refused VerifyTOTP returned step %d", step)
			}
			return
		}
		cur := stepAt(now)
		if step < 0 || step < cur-TOTPSkew || step > cur+TOTPSkew || step <= lastUsedStep {
			t.Fatalf("VerifyTOTP(at step %d, last %d) accepted step %d", cur, lastUsedStep, step)
		}
		norm, _ := NormalizeCode(code, TOTPDigits)
		if want := HOTP(secret, uint64(step), TOTPDigits); norm != want {
			t.Fatalf("VerifyTOTP accepted %q for step %d, whose code is %q", code, step, want)
		}
		if _, again := VerifyTOTP(secret, code, now, step); again {
			t.Fatalf("VerifyTOTP accepted %q twice", code)
		}
	})
}

func FuzzValidToken(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if !ValidToken(s) {
			return
		}
		if len(s) != 43 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("ValidToken(%q) = true", s)
		}
	})
}
