package otp_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/vigil-auth/vigil/internal/otp"
)

// Enrolling an authenticator app and accepting each of its codes once.
func ExampleVerifyTOTP() {
	// In production: secret, err := otp.NewSecret(nil), stored encrypted.
	secret := []byte("12345678901234567890")
	uri, err := otp.KeyURI("Vigil", "alice@example.com", secret)
	if err != nil {
		panic(err)
	}
	fmt.Println(uri)

	now := time.Unix(1111111111, 0) // the server's clock
	var lastUsedStep int64          // stored with the authenticator
	step, ok := otp.VerifyTOTP(secret, "050 471", now, lastUsedStep)
	fmt.Println(ok)
	lastUsedStep = step // with UPDATE … WHERE last_used_step < step

	_, ok = otp.VerifyTOTP(secret, "050471", now, lastUsedStep)
	fmt.Println(ok)
	// Output:
	// otpauth://totp/Vigil:alice@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Vigil&algorithm=SHA1&digits=6&period=30
	// true
	// false
}

// Issuing an email code bound to one challenge, and checking what the user
// typed.
func ExampleHasher_Equal() {
	h, err := otp.NewHasher(bytes.Repeat([]byte{0x42}, otp.MinKeySize)) // a server secret in production
	if err != nil {
		panic(err)
	}
	code, err := otp.NewCode(nil, 6) // sent by email, never stored or logged
	if err != nil {
		panic(err)
	}
	stored := h.Sum(otp.PurposeEmailOTP, "tenant_1/challenge_1", code)

	typed := code[:3] + " " + code[3:]
	norm, ok := otp.NormalizeCode(typed, 6)
	fmt.Println(ok && h.Equal(stored, otp.PurposeEmailOTP, "tenant_1/challenge_1", norm))
	fmt.Println(h.Equal(stored, otp.PurposeEmailOTP, "tenant_1/challenge_2", norm))
	// Output:
	// true
	// false
}
